//! The DynamoDB adapter of the store ports. Items are plain attributes; JSON documents
//! (parameters) are stored as strings so they round-trip exactly.

pub mod tables;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use serde_json::{Map, Value};

use crate::adapters::dynamo::tables::*;
use crate::domain::credentials::sha256_hex;
use crate::domain::{
    App, Context, DeliveryStatus, Group, IdempotencyRecord, Target, UnixTime, User,
    DEFAULT_CONTEXT_TTL_SECONDS, DEFAULT_DELIVERY_WINDOW_SECONDS, UNDELIVERED_RETENTION_SECONDS,
};
use crate::ports::{
    AppStore, AttemptOutcome, ContextStore, GroupStore, IdempotencyClaim, SendClaim, StoreError,
    UserStore,
};

type Item = HashMap<String, AttributeValue>;

/// Items of the contexts table carry their kind: contexts and idempotency records share it.
const KIND: &str = "kind";
const KIND_CONTEXT: &str = "context";
const KIND_IDEMPOTENCY: &str = "idempotency";
const KIND_UNKNOWN_USER: &str = "unknown_user";
const KIND_UPDATE: &str = "update";
const KIND_BOT_STATE: &str = "bot_state";
/// A context's delivery window end and reply window.
const DELIVER_BY: &str = "deliver_by";
const REPLY_WINDOW: &str = "reply_window_seconds";

/// DynamoDB refuses a key, or an index's key, that is empty or longer than this many bytes,
/// even to look it up. Such a value names no item: reads find nothing, deletes do nothing.
const MAX_KEY_BYTES: usize = 2048;

fn can_be_key(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_KEY_BYTES
}

/// The key of a short-lived fact about an outside value (FChat's update and chat ids, an
/// email): its SHA-256, so that any value, of any length or characters, makes a valid key.
fn derived_key(kind: &str, value: &str) -> String {
    format!("{kind}#{}", sha256_hex(value.as_bytes()))
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        DynamoStore { client, tables }
    }

    async fn get(&self, table: &str, key: &str, value: &str) -> Result<Option<Item>, StoreError> {
        if !can_be_key(value) {
            return Ok(None);
        }
        let output = self
            .client
            .get_item()
            .table_name(table)
            .key(key, s(value))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    async fn put(&self, table: &str, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The table keys an index holds for `value`.
    async fn keys_by_index(
        &self,
        table: &str,
        index: &str,
        attribute: &str,
        value: &str,
        key: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        if !can_be_key(value) {
            return Ok(keys);
        }
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(table)
                .index_name(index)
                .key_condition_expression("#a = :v")
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":v", s(value))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items.unwrap_or_default() {
                keys.push(text(&item, key)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(keys);
            }
        }
    }

    async fn delete(&self, table: &str, key: &str, value: &str) -> Result<(), StoreError> {
        if !can_be_key(value) {
            return Ok(());
        }
        self.client
            .delete_item()
            .table_name(table)
            .key(key, s(value))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl AppStore for DynamoStore {
    async fn app_by_name(&self, name: &str) -> Result<Option<App>, StoreError> {
        self.get(&self.tables.apps, APPS_KEY, name)
            .await?
            .map(|item| app_from_item(&item))
            .transpose()
    }

    async fn app_by_token_hash(&self, token_hash: &str) -> Result<Option<App>, StoreError> {
        // The current token first; during a rotation's grace period, the previous one.
        for (index, attribute) in [
            (APPS_TOKEN_INDEX, APPS_TOKEN_ATTRIBUTE),
            (APPS_PREVIOUS_TOKEN_INDEX, APPS_PREVIOUS_TOKEN_ATTRIBUTE),
        ] {
            let names = self
                .keys_by_index(&self.tables.apps, index, attribute, token_hash, APPS_KEY)
                .await?;
            // The index projects keys only: read the whole item from the table.
            if let Some(name) = names.first() {
                return self.app_by_name(name).await;
            }
        }
        Ok(None)
    }

    async fn put_app(&self, app: &App) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(APPS_KEY.into(), s(&app.name));
        item.insert(APPS_TOKEN_ATTRIBUTE.into(), s(&app.token_hash));
        if let Some(group) = &app.group_id {
            item.insert(APPS_GROUP_ATTRIBUTE.into(), s(group));
        }
        item.insert(
            "user_messaging".into(),
            AttributeValue::Bool(app.user_messaging),
        );
        if let Some(url) = &app.webhook_url {
            item.insert("webhook_url".into(), s(url));
        }
        if !app.webhook_secrets.is_empty() {
            item.insert(
                "webhook_secrets".into(),
                AttributeValue::L(app.webhook_secrets.iter().map(|x| s(x)).collect()),
            );
        }
        item.insert("context_ttl_seconds".into(), n(app.context_ttl_seconds));
        item.insert(
            "delivery_window_seconds".into(),
            n(app.delivery_window_seconds),
        );
        item.insert("active".into(), AttributeValue::Bool(app.active));
        if let Some(until) = app.older_secrets_until {
            item.insert("older_secrets_until".into(), n(until));
        }
        if let Some((hash, until)) = &app.previous_token {
            item.insert(APPS_PREVIOUS_TOKEN_ATTRIBUTE.into(), s(hash));
            item.insert("previous_token_until".into(), n(*until));
        }
        self.put(&self.tables.apps, item).await
    }

    async fn apps_by_group(&self, group_id: &str) -> Result<Vec<App>, StoreError> {
        let names = self
            .keys_by_index(
                &self.tables.apps,
                APPS_GROUP_INDEX,
                APPS_GROUP_ATTRIBUTE,
                group_id,
                APPS_KEY,
            )
            .await?;
        let mut apps = Vec::new();
        for name in names {
            apps.extend(self.app_by_name(&name).await?);
        }
        Ok(apps)
    }
}

fn app_from_item(item: &Item) -> Result<App, StoreError> {
    Ok(App {
        name: text(item, APPS_KEY)?,
        token_hash: text(item, APPS_TOKEN_ATTRIBUTE)?,
        group_id: optional_text(item, APPS_GROUP_ATTRIBUTE),
        user_messaging: flag(item, "user_messaging", false),
        webhook_url: optional_text(item, "webhook_url"),
        webhook_secrets: match item.get("webhook_secrets") {
            Some(AttributeValue::L(list)) => {
                list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
            }
            _ => Vec::new(),
        },
        context_ttl_seconds: optional_number(item, "context_ttl_seconds")?
            .unwrap_or(DEFAULT_CONTEXT_TTL_SECONDS),
        delivery_window_seconds: optional_number(item, "delivery_window_seconds")?
            .unwrap_or(DEFAULT_DELIVERY_WINDOW_SECONDS),
        active: flag(item, "active", true),
        older_secrets_until: optional_number(item, "older_secrets_until")?,
        previous_token: match optional_text(item, APPS_PREVIOUS_TOKEN_ATTRIBUTE) {
            Some(hash) => Some((
                hash,
                optional_number(item, "previous_token_until")?.unwrap_or_default(),
            )),
            None => None,
        },
    })
}

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

#[async_trait]
impl ContextStore for DynamoStore {
    async fn create_context(&self, context: &Context) -> Result<(), StoreError> {
        let (target_kind, target_id) = match &context.target {
            Target::Group(id) => ("group", id),
            Target::User(email) => ("user", email),
        };
        let mut item = Item::new();
        item.insert(CONTEXTS_KEY.into(), s(&context.id));
        item.insert(KIND.into(), s(KIND_CONTEXT));
        item.insert("app".into(), s(&context.app));
        item.insert("target_kind".into(), s(target_kind));
        item.insert("target_id".into(), s(target_id));
        item.insert("parameters".into(), s(&json_text(&context.parameters)));
        item.insert("status".into(), s(context.status.as_str()));
        item.insert("attempts".into(), n(context.attempts.into()));
        if let Some(error) = &context.last_error {
            item.insert("last_error".into(), s(error));
        }
        if let Some(message_id) = &context.fchat_message_id {
            item.insert(CONTEXTS_MESSAGE_ATTRIBUTE.into(), s(message_id));
        }
        item.insert("created_at".into(), n(context.created_at));
        item.insert(EXPIRY_ATTRIBUTE.into(), n(context.expires_at));
        item.insert(DELIVER_BY.into(), n(context.deliver_by));
        item.insert(REPLY_WINDOW.into(), n(context.reply_window_seconds));
        self.put(&self.tables.contexts, item).await
    }

    async fn context(&self, id: &str, now: UnixTime) -> Result<Option<Context>, StoreError> {
        Ok(self
            .context_record(id)
            .await?
            .filter(|c| c.expires_at > now))
    }

    async fn delete_context(&self, id: &str) -> Result<(), StoreError> {
        self.delete(&self.tables.contexts, CONTEXTS_KEY, id).await
    }

    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: UnixTime,
    ) -> Result<IdempotencyClaim, StoreError> {
        let id = idempotency_id(&record.app, &record.key_hash);
        let mut item = Item::new();
        item.insert(CONTEXTS_KEY.into(), s(&id));
        item.insert(KIND.into(), s(KIND_IDEMPOTENCY));
        item.insert("app".into(), s(&record.app));
        item.insert("key_hash".into(), s(&record.key_hash));
        item.insert("request_hash".into(), s(&record.request_hash));
        item.insert("context_id".into(), s(&record.context_id));
        item.insert("parameters".into(), s(&json_text(&record.parameters)));
        item.insert(EXPIRY_ATTRIBUTE.into(), n(record.expires_at));
        // An expired record that DynamoDB has not deleted yet does not hold the key.
        let written = self
            .client
            .put_item()
            .table_name(&self.tables.contexts)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id) OR #exp <= :now")
            .expression_attribute_names("#id", CONTEXTS_KEY)
            .expression_attribute_names("#exp", EXPIRY_ATTRIBUTE)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match written {
            Ok(_) => Ok(IdempotencyClaim::Claimed),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let item = self
                    .get(&self.tables.contexts, CONTEXTS_KEY, &id)
                    .await?
                    .ok_or_else(|| StoreError::Unavailable("idempotency record vanished".into()))?;
                Ok(IdempotencyClaim::Existing(IdempotencyRecord {
                    app: text(&item, "app")?,
                    key_hash: text(&item, "key_hash")?,
                    request_hash: text(&item, "request_hash")?,
                    context_id: text(&item, "context_id")?,
                    parameters: json_object(&text(&item, "parameters")?)?,
                    expires_at: optional_number(&item, EXPIRY_ATTRIBUTE)?.unwrap_or_default(),
                }))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn release_idempotency(&self, app: &str, key_hash: &str) -> Result<(), StoreError> {
        let id = idempotency_id(app, key_hash);
        self.delete(&self.tables.contexts, CONTEXTS_KEY, &id).await
    }

    async fn context_record(&self, id: &str) -> Result<Option<Context>, StoreError> {
        match self.get(&self.tables.contexts, CONTEXTS_KEY, id).await? {
            Some(item) if optional_text(&item, KIND).as_deref() == Some(KIND_CONTEXT) => {
                context_from_item(&item).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn begin_sending(
        &self,
        id: &str,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> Result<SendClaim, StoreError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.tables.contexts)
            .key(CONTEXTS_KEY, s(id))
            .update_expression(
                "SET #st = :sending, lease_until = :lease, attempts = if_not_exists(attempts, :zero) + :one",
            )
            .condition_expression(
                "#kind = :context AND (#by > :now OR (attribute_not_exists(#by) AND #exp > :now)) AND (#st = :queued OR (#st = :sending AND lease_until <= :now))",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_names("#by", DELIVER_BY)
            .expression_attribute_names("#exp", EXPIRY_ATTRIBUTE)
            .expression_attribute_values(":sending", s(DeliveryStatus::Sending.as_str()))
            .expression_attribute_values(":queued", s(DeliveryStatus::Queued.as_str()))
            .expression_attribute_values(":context", s(KIND_CONTEXT))
            .expression_attribute_values(":lease", n(lease_until))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match claimed {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(SendClaim::Claimed(context_from_item(&item)?))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let Some(context) = self.context_record(id).await? else {
                    return Ok(SendClaim::Gone);
                };
                Ok(match (context.status, context.lease_until) {
                    (DeliveryStatus::Sending, Some(until)) if until > now => {
                        SendClaim::Leased(until)
                    }
                    _ if context.delivery_window_passed(now) => SendClaim::WindowPassed(context),
                    // The lease ran out between the write and the read: the next try claims it.
                    (DeliveryStatus::Queued | DeliveryStatus::Sending, _) => {
                        SendClaim::Leased(now + 1)
                    }
                    (settled, _) => SendClaim::Settled(settled),
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn finish_sending(
        &self,
        id: &str,
        outcome: &AttemptOutcome,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        match outcome {
            AttemptOutcome::Sent {
                fchat_message_id,
                reply_until,
            } => {
                self.update_status(
                    id,
                    "SET #st = :to, fchat_message_id = :m, settled_at = :now, #exp = :until REMOVE lease_until, last_error",
                    "#st = :sending",
                    &[
                        (":to", s(DeliveryStatus::Sent.as_str())),
                        (":m", s(fchat_message_id)),
                        (":now", n(now)),
                        (":until", n(*reply_until)),
                    ],
                )
                .await
            }
            AttemptOutcome::WillRetry { error } => {
                self.update_status(
                    id,
                    "SET #st = :to, last_error = :e REMOVE lease_until",
                    "#st = :sending",
                    &[(":to", s(DeliveryStatus::Queued.as_str())), (":e", s(error))],
                )
                .await
            }
            AttemptOutcome::Failed { error } => {
                self.settle(id, DeliveryStatus::Failed, error, now).await
            }
            AttemptOutcome::Expired { error } => {
                self.settle(id, DeliveryStatus::Expired, error, now).await
            }
        }
    }

    async fn requeue(
        &self,
        id: &str,
        deliver_by: UnixTime,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        self.update_status(
            id,
            "SET #st = :to, #by = :by, #exp = :until REMOVE lease_until, settled_at",
            "#kind = :context AND #st <> :sent",
            &[
                (":to", s(DeliveryStatus::Queued.as_str())),
                (":by", n(deliver_by)),
                (":until", n(expires_at)),
                (":context", s(KIND_CONTEXT)),
                (":sent", s(DeliveryStatus::Sent.as_str())),
            ],
        )
        .await
    }

    async fn context_by_message_id(
        &self,
        fchat_message_id: &str,
    ) -> Result<Option<Context>, StoreError> {
        let ids = self
            .keys_by_index(
                &self.tables.contexts,
                CONTEXTS_MESSAGE_INDEX,
                CONTEXTS_MESSAGE_ATTRIBUTE,
                fchat_message_id,
                CONTEXTS_KEY,
            )
            .await?;
        match ids.first() {
            Some(id) => self.context_record(id).await,
            None => Ok(None),
        }
    }

    async fn claim_update(
        &self,
        update_id: &str,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.put_marker_once(&update_key(update_id), KIND_UPDATE, until, now)
            .await
    }

    async fn release_update(&self, update_id: &str) -> Result<(), StoreError> {
        self.delete(&self.tables.contexts, CONTEXTS_KEY, &update_key(update_id))
            .await
    }

    async fn bot_state(&self, chat_id: &str) -> Result<Option<String>, StoreError> {
        let item = self
            .get(&self.tables.contexts, CONTEXTS_KEY, &bot_state_id(chat_id))
            .await?;
        Ok(item.and_then(|item| optional_text(&item, "state")))
    }

    async fn set_bot_state(&self, chat_id: &str, state: Option<&str>) -> Result<(), StoreError> {
        match state {
            Some(state) => {
                let mut item = Item::new();
                item.insert(CONTEXTS_KEY.into(), s(&bot_state_id(chat_id)));
                item.insert(KIND.into(), s(KIND_BOT_STATE));
                item.insert("state".into(), s(state));
                self.put(&self.tables.contexts, item).await
            }
            None => {
                self.delete(&self.tables.contexts, CONTEXTS_KEY, &bot_state_id(chat_id))
                    .await
            }
        }
    }
}

fn bot_state_id(chat_id: &str) -> String {
    derived_key("bot-state", chat_id)
}

fn update_key(update_id: &str) -> String {
    derived_key("update", update_id)
}

/// Listings for the operator (`fchat-admin`): full scans, never on a request's path.
impl DynamoStore {
    async fn scan(&self, table: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    pub async fn all_apps(&self) -> Result<Vec<App>, StoreError> {
        let mut apps: Vec<App> = self
            .scan(&self.tables.apps)
            .await?
            .iter()
            .map(app_from_item)
            .collect::<Result<_, _>>()?;
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(apps)
    }

    pub async fn all_groups(&self) -> Result<Vec<Group>, StoreError> {
        let mut groups = Vec::new();
        for item in self.scan(&self.tables.groups).await? {
            groups.extend(self.group(&text(&item, GROUPS_KEY)?).await?);
        }
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(groups)
    }

    pub async fn all_users(&self) -> Result<Vec<User>, StoreError> {
        let mut users = Vec::new();
        for item in self.scan(&self.tables.users).await? {
            users.extend(self.user(&text(&item, USERS_KEY)?).await?);
        }
        users.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(users)
    }
}

impl DynamoStore {
    /// Puts a short-lived marker unless an unexpired one exists; `false` if one does.
    async fn put_marker_once(
        &self,
        id: &str,
        kind: &str,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut item = Item::new();
        item.insert(CONTEXTS_KEY.into(), s(id));
        item.insert(KIND.into(), s(kind));
        item.insert(EXPIRY_ATTRIBUTE.into(), n(until));
        let written = self
            .client
            .put_item()
            .table_name(&self.tables.contexts)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id) OR #exp <= :now")
            .expression_attribute_names("#id", CONTEXTS_KEY)
            .expression_attribute_names("#exp", EXPIRY_ATTRIBUTE)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// `queued` or `sending` becomes a final status without a delivery; the record stays
    /// readable (and redrivable) for [`UNDELIVERED_RETENTION_SECONDS`].
    async fn settle(
        &self,
        id: &str,
        status: DeliveryStatus,
        error: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let values = [
            (":to", s(status.as_str())),
            (":now", n(now)),
            (":e", s(error)),
            (":until", n(now + UNDELIVERED_RETENTION_SECONDS)),
            (":queued", s(DeliveryStatus::Queued.as_str())),
        ];
        self.update_status(
            id,
            "SET #st = :to, last_error = :e, settled_at = :now, #exp = :until REMOVE lease_until",
            "#st = :queued OR #st = :sending",
            &values,
        )
        .await
    }

    async fn update_status(
        &self,
        id: &str,
        update: &str,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.contexts)
            .key(CONTEXTS_KEY, s(id))
            .update_expression(update)
            .condition_expression(format!("attribute_exists(#id) AND ({condition})"))
            .expression_attribute_names("#id", CONTEXTS_KEY)
            .expression_attribute_names("#st", "status");
        if condition.contains(":sending") {
            request = request
                .expression_attribute_values(":sending", s(DeliveryStatus::Sending.as_str()));
        }
        if update.contains("#exp") {
            request = request.expression_attribute_names("#exp", EXPIRY_ATTRIBUTE);
        }
        if update.contains("#by") {
            request = request.expression_attribute_names("#by", DELIVER_BY);
        }
        if condition.contains("#kind") {
            request = request.expression_attribute_names("#kind", KIND);
        }
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn context_from_item(item: &Item) -> Result<Context, StoreError> {
    let target_id = text(item, "target_id")?;
    let target = match text(item, "target_kind")?.as_str() {
        "group" => Target::Group(target_id),
        "user" => Target::User(target_id),
        other => return Err(StoreError::Corrupt(format!("target kind {other}"))),
    };
    let status = text(item, "status")?;
    let expires_at = optional_number(item, EXPIRY_ATTRIBUTE)?.unwrap_or_default();
    Ok(Context {
        id: text(item, CONTEXTS_KEY)?,
        app: text(item, "app")?,
        target,
        parameters: json_object(&text(item, "parameters")?)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery status {status}")))?,
        attempts: optional_number(item, "attempts")?.unwrap_or_default() as u32,
        last_error: optional_text(item, "last_error"),
        fchat_message_id: optional_text(item, CONTEXTS_MESSAGE_ATTRIBUTE),
        created_at: optional_number(item, "created_at")?.unwrap_or_default(),
        expires_at,
        deliver_by: optional_number(item, DELIVER_BY)?.unwrap_or(expires_at),
        reply_window_seconds: optional_number(item, REPLY_WINDOW)?
            .unwrap_or(DEFAULT_CONTEXT_TTL_SECONDS),
        lease_until: optional_number(item, "lease_until")?,
    })
}

fn idempotency_id(app: &str, key_hash: &str) -> String {
    format!("idempotency#{app}#{key_hash}")
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn text(item: &Item, name: &str) -> Result<String, StoreError> {
    optional_text(item, name).ok_or_else(|| StoreError::Corrupt(format!("{name} is missing")))
}

fn optional_text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn optional_number(item: &Item, name: &str) -> Result<Option<u64>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(value)) => value
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("{name} is not a whole number"))),
        Some(_) => Err(StoreError::Corrupt(format!("{name} is not a number"))),
    }
}

fn flag(item: &Item, name: &str, default: bool) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(default)
}

fn json_text(object: &Map<String, Value>) -> String {
    serde_json::to_string(object).expect("a JSON object always serialises")
}

fn json_object(text: &str) -> Result<Map<String, Value>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("parameters: {e}")))
}

fn unavailable<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(&error).to_string())
}
