//! The DynamoDB adapter of the store ports. Items are plain attributes; JSON documents
//! (parameters) are stored as strings so they round-trip exactly.

mod apps;
mod contexts;
mod conversations;
mod groups;
pub mod tables;
mod users;

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::{Map, Value};

use crate::adapters::dynamo::tables::*;
use crate::domain::credentials::sha256_hex;
use crate::domain::sources::alert_thread::AlertThread;
use crate::domain::sources::aws_events::SNS_UNSUBSCRIPTION_RETENTION_SECONDS;
use crate::domain::{
    Alerting, AlertmanagerAuth, AlertmanagerLink, App, Context, DeliveryStatus, Group,
    IdempotencyRecord, Target, UnixTime, User, DEFAULT_CONTEXT_TTL_SECONDS,
    DEFAULT_DELIVERY_WINDOW_SECONDS, UNDELIVERED_RETENTION_SECONDS,
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
const KIND_ALERT_THREAD: &str = "alert_thread";
const KIND_ALERT_THREAD_LOCK: &str = "alert_thread_lock";
const KIND_SNS_UNSUBSCRIBED: &str = "sns_unsubscribed";
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

    /// Reads one item. Contexts are read strongly consistent: their state moves with every
    /// attempt. The tenants' tables (apps, groups, users) change by the operator's hand or
    /// once per new user; an eventually consistent read, at half the price, sees such a change
    /// within about a second.
    async fn get(&self, table: &str, key: &str, value: &str) -> Result<Option<Item>, StoreError> {
        if !can_be_key(value) {
            return Ok(None);
        }
        let output = self
            .client
            .get_item()
            .table_name(table)
            .key(key, s(value))
            .consistent_read(table == self.tables.contexts)
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
            .map(apps::app_from_item)
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
