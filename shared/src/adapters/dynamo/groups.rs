//! The groups table: a group by id and by its FChat chat (`beatchat_id`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::*;

#[async_trait]
impl GroupStore for DynamoStore {
    async fn group(&self, id: &str) -> Result<Option<Group>, StoreError> {
        let Some(item) = self.get(&self.tables.groups, GROUPS_KEY, id).await? else {
            return Ok(None);
        };
        Ok(Some(Group {
            id: text(&item, GROUPS_KEY)?,
            beatchat_id: optional_text(&item, GROUPS_BEATCHAT_ATTRIBUTE),
            active: flag(&item, "active", false),
            name: optional_text(&item, "name"),
        }))
    }

    async fn put_group(&self, group: &Group) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(GROUPS_KEY.into(), s(&group.id));
        if let Some(beatchat_id) = &group.beatchat_id {
            item.insert(GROUPS_BEATCHAT_ATTRIBUTE.into(), s(beatchat_id));
        }
        item.insert("active".into(), AttributeValue::Bool(group.active));
        if let Some(name) = &group.name {
            item.insert("name".into(), s(name));
        }
        self.put(&self.tables.groups, item).await
    }

    async fn delete_group(&self, id: &str) -> Result<(), StoreError> {
        self.delete(&self.tables.groups, GROUPS_KEY, id).await
    }

    async fn groups_by_beatchat_id(&self, beatchat_id: &str) -> Result<Vec<Group>, StoreError> {
        let ids = self
            .keys_by_index(
                &self.tables.groups,
                GROUPS_BEATCHAT_INDEX,
                GROUPS_BEATCHAT_ATTRIBUTE,
                beatchat_id,
                GROUPS_KEY,
            )
            .await?;
        let mut groups = Vec::new();
        for id in ids {
            groups.extend(self.group(&id).await?);
        }
        Ok(groups)
    }
}
