//! The contexts table: contexts and their delivery state, and the records that share it
//! (idempotency keys, FChat updates seen, bot states, alert groups' messages, the SNS
//! unsubscriptions of an app), told apart by `kind`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::*;

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
        super::conversations::put_conversation(&mut item, &context.conversation);
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
        if self.put_unless_live(item, now).await? {
            return Ok(IdempotencyClaim::Claimed);
        }
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
                Ok(match context.may_send(now) {
                    Err(refusal) => SendClaim::refused(context, refusal),
                    // The lease ran out between the write and the read: the next try claims it.
                    Ok(()) => SendClaim::Leased(now + 1),
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
                clickable,
            } => {
                // Only a message with buttons goes into the index: only clicks look it up.
                let attribute = if *clickable {
                    CONTEXTS_MESSAGE_ATTRIBUTE
                } else {
                    CONTEXTS_MESSAGE_REF_ATTRIBUTE
                };
                self.update_status(
                    id,
                    &format!("SET #st = :to, {attribute} = :m, settled_at = :now, #exp = :until REMOVE lease_until, last_error"),
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
                    &[
                        (":to", s(DeliveryStatus::Queued.as_str())),
                        (":e", s(error)),
                    ],
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

    async fn alert_thread(
        &self,
        key: &str,
        now: UnixTime,
    ) -> Result<Option<AlertThread>, StoreError> {
        let Some(item) = self
            .get(&self.tables.contexts, CONTEXTS_KEY, &alert_thread_id(key))
            .await?
        else {
            return Ok(None);
        };
        if optional_text(&item, KIND).as_deref() != Some(KIND_ALERT_THREAD) {
            return Ok(None);
        }
        let thread: AlertThread = serde_json::from_str(&text(&item, "thread")?)
            .map_err(|e| StoreError::Corrupt(format!("alert thread: {e}")))?;
        // The table's TTL deletes late (and moto never does): an expired one is absent.
        Ok(Some(thread).filter(|t| t.expires_at > now))
    }

    async fn put_alert_thread(&self, thread: &AlertThread) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(CONTEXTS_KEY.into(), s(&alert_thread_id(&thread.key)));
        item.insert(KIND.into(), s(KIND_ALERT_THREAD));
        item.insert(
            "thread".into(),
            s(&serde_json::to_string(thread).expect("a thread always serialises")),
        );
        item.insert(EXPIRY_ATTRIBUTE.into(), n(thread.expires_at));
        self.put(&self.tables.contexts, item).await
    }

    async fn lock_alert_thread(
        &self,
        key: &str,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.put_marker_once(
            &alert_thread_lock_id(key),
            KIND_ALERT_THREAD_LOCK,
            until,
            now,
        )
        .await
    }

    async fn unlock_alert_thread(&self, key: &str) -> Result<(), StoreError> {
        self.delete(
            &self.tables.contexts,
            CONTEXTS_KEY,
            &alert_thread_lock_id(key),
        )
        .await
    }

    async fn note_sns_unsubscription(
        &self,
        app: &str,
        topic_arn: &str,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        // One item per app, one attribute per topic: a single UpdateItem adds (or refreshes)
        // this topic's note without reading the item, and moves the item's TTL to this note's.
        self.client
            .update_item()
            .table_name(&self.tables.contexts)
            .key(CONTEXTS_KEY, s(&sns_unsubscribed_id(app)))
            .update_expression("SET #kind = :kind, #app = :app, #topic = :at, #exp = :until")
            .expression_attribute_names("#kind", KIND)
            .expression_attribute_names("#app", "app")
            .expression_attribute_names("#topic", format!("{SNS_TOPIC_PREFIX}{topic_arn}"))
            .expression_attribute_names("#exp", EXPIRY_ATTRIBUTE)
            .expression_attribute_values(":kind", s(KIND_SNS_UNSUBSCRIBED))
            .expression_attribute_values(":app", s(app))
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(
                ":until",
                n(at.saturating_add(SNS_UNSUBSCRIPTION_RETENTION_SECONDS)),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn sns_unsubscriptions(
        &self,
        app: &str,
        now: UnixTime,
    ) -> Result<BTreeMap<String, UnixTime>, StoreError> {
        let Some(item) = self
            .get(
                &self.tables.contexts,
                CONTEXTS_KEY,
                &sns_unsubscribed_id(app),
            )
            .await?
        else {
            return Ok(BTreeMap::new());
        };
        if optional_text(&item, KIND).as_deref() != Some(KIND_SNS_UNSUBSCRIBED) {
            return Ok(BTreeMap::new());
        }
        let mut topics = BTreeMap::new();
        for (name, value) in &item {
            let Some(topic) = name.strip_prefix(SNS_TOPIC_PREFIX) else {
                continue;
            };
            let at: UnixTime = value
                .as_n()
                .ok()
                .and_then(|at| at.parse().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("{name} is not a whole number")))?;
            // Each note by its own time, not only the item's TTL: the table's TTL deletes
            // late (and moto never does), and a note written to an item that had expired but
            // was not deleted yet would otherwise bring its older notes back.
            if at.saturating_add(SNS_UNSUBSCRIPTION_RETENTION_SECONDS) > now {
                topics.insert(topic.to_owned(), at);
            }
        }
        Ok(topics)
    }
}

/// The item of an app's SNS unsubscriptions: one per app, whatever its name's length or
/// characters.
fn sns_unsubscribed_id(app: &str) -> String {
    derived_key("sns-unsubscribed", app)
}

/// The attributes of an app's SNS unsubscriptions item that are notes: `topic:<topic ARN>`,
/// the Unix time SNS confirmed the unsubscription.
const SNS_TOPIC_PREFIX: &str = "topic:";

fn alert_thread_lock_id(key: &str) -> String {
    derived_key("alert-thread-lock", key)
}

fn alert_thread_id(key: &str) -> String {
    derived_key("alert-thread", key)
}

fn bot_state_id(chat_id: &str) -> String {
    derived_key("bot-state", chat_id)
}

fn update_key(update_id: &str) -> String {
    derived_key("update", update_id)
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
        self.put_unless_live(item, now).await
    }

    /// Puts `item` unless an unexpired item holds its key; `false` if one does. An expired
    /// item that DynamoDB has not deleted yet does not hold the key.
    async fn put_unless_live(&self, item: Item, now: UnixTime) -> Result<bool, StoreError> {
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

pub(super) fn context_from_item(item: &Item) -> Result<Context, StoreError> {
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
        fchat_message_id: optional_text(item, CONTEXTS_MESSAGE_ATTRIBUTE)
            .or_else(|| optional_text(item, CONTEXTS_MESSAGE_REF_ATTRIBUTE)),
        created_at: optional_number(item, "created_at")?.unwrap_or_default(),
        expires_at,
        deliver_by: optional_number(item, DELIVER_BY)?.unwrap_or(expires_at),
        reply_window_seconds: optional_number(item, REPLY_WINDOW)?
            .unwrap_or(DEFAULT_CONTEXT_TTL_SECONDS),
        lease_until: optional_number(item, "lease_until")?,
        conversation: super::conversations::conversation_from_item(item)?,
    })
}

fn idempotency_id(app: &str, key_hash: &str) -> String {
    format!("idempotency#{app}#{key_hash}")
}
