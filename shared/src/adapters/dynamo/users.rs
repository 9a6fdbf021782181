//! The users table: users by email, their last context, and the emails FChat does not know.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl UserStore for DynamoStore {
    async fn user(&self, email: &str) -> Result<Option<User>, StoreError> {
        let Some(item) = self.get(&self.tables.users, USERS_KEY, email).await? else {
            return Ok(None);
        };
        Ok(Some(User {
            email: text(&item, USERS_KEY)?,
            fchat_id: text(&item, "fchat_id")?,
            name: optional_text(&item, "name"),
            created_at: optional_number(&item, "created_at")?.unwrap_or_default(),
            last_context_id: optional_text(&item, "last_context_id"),
        }))
    }

    async fn put_user(&self, user: &User) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(USERS_KEY.into(), s(&user.email));
        item.insert("fchat_id".into(), s(&user.fchat_id));
        if let Some(name) = &user.name {
            item.insert("name".into(), s(name));
        }
        item.insert("created_at".into(), n(user.created_at));
        if let Some(context_id) = &user.last_context_id {
            item.insert("last_context_id".into(), s(context_id));
        }
        self.put(&self.tables.users, item).await
    }

    async fn set_last_context(&self, email: &str, context_id: &str) -> Result<(), StoreError> {
        if !can_be_key(email) {
            return Ok(());
        }
        let updated = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key(USERS_KEY, s(email))
            .update_expression("SET last_context_id = :c")
            .condition_expression("attribute_exists(#k)")
            .expression_attribute_names("#k", USERS_KEY)
            .expression_attribute_values(":c", s(context_id))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            // A user the gateway does not know has no conversation to remember.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    // Short-lived facts live in the contexts table, which has a TTL.
    async fn remember_unknown(&self, email: &str, until: UnixTime) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(CONTEXTS_KEY.into(), s(&unknown_user_id(email)));
        item.insert(KIND.into(), s(KIND_UNKNOWN_USER));
        item.insert(EXPIRY_ATTRIBUTE.into(), n(until));
        self.put(&self.tables.contexts, item).await
    }

    async fn known_unknown(&self, email: &str, now: UnixTime) -> Result<bool, StoreError> {
        let item = self
            .get(&self.tables.contexts, CONTEXTS_KEY, &unknown_user_id(email))
            .await?;
        Ok(item.is_some_and(|item| {
            optional_text(&item, KIND).as_deref() == Some(KIND_UNKNOWN_USER)
                && optional_number(&item, EXPIRY_ATTRIBUTE)
                    .ok()
                    .flatten()
                    .is_some_and(|until| until > now)
        }))
    }
}

fn unknown_user_id(email: &str) -> String {
    derived_key("unknown-user", email)
}
