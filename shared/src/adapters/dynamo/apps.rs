//! The apps table: an app by name, by its token's hash (current or previous), by group.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::*;
use crate::domain::sources::hooks::{HookSource, HookVerify};

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
        if !app.alert_templates.is_empty() {
            item.insert(
                APPS_ALERT_TEMPLATES_ATTRIBUTE.into(),
                AttributeValue::M(
                    app.alert_templates
                        .iter()
                        .map(|(source, template)| (source.clone(), s(template)))
                        .collect(),
                ),
            );
        }
        if app.alerting.reminders {
            item.insert("alert_reminders".into(), AttributeValue::Bool(true));
        }
        if let Some(link) = &app.alerting.alertmanager {
            item.insert("alertmanager_url".into(), s(&link.url));
            match &link.auth {
                None => {}
                Some(AlertmanagerAuth::Bearer(token)) => {
                    item.insert("alertmanager_bearer".into(), s(token));
                }
                Some(AlertmanagerAuth::Basic { user, password }) => {
                    item.insert("alertmanager_user".into(), s(user));
                    item.insert("alertmanager_password".into(), s(password));
                }
            }
        }
        if !app.sns.allowed_topics.is_empty() {
            item.insert(
                APPS_SNS_TOPICS_ATTRIBUTE.into(),
                AttributeValue::Ss(app.sns.allowed_topics.iter().cloned().collect()),
            );
        }
        if !app.hooks.is_empty() {
            item.insert(
                APPS_HOOKS_ATTRIBUTE.into(),
                AttributeValue::M(
                    app.hooks
                        .iter()
                        .map(|(name, hook)| (name.clone(), hook_item(hook)))
                        .collect(),
                ),
            );
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

pub(super) fn app_from_item(item: &Item) -> Result<App, StoreError> {
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
        alert_templates: match item.get(APPS_ALERT_TEMPLATES_ATTRIBUTE) {
            Some(AttributeValue::M(templates)) => templates
                .iter()
                .filter_map(|(source, template)| {
                    Some((source.clone(), template.as_s().ok()?.clone()))
                })
                .collect(),
            _ => Default::default(),
        },
        alerting: Alerting {
            reminders: flag(item, "alert_reminders", false),
            alertmanager: optional_text(item, "alertmanager_url").map(|url| AlertmanagerLink {
                url,
                auth: match (
                    optional_text(item, "alertmanager_bearer"),
                    optional_text(item, "alertmanager_user"),
                    optional_text(item, "alertmanager_password"),
                ) {
                    (Some(token), _, _) => Some(AlertmanagerAuth::Bearer(token)),
                    (None, Some(user), Some(password)) => {
                        Some(AlertmanagerAuth::Basic { user, password })
                    }
                    _ => None,
                },
            }),
        },
        sns: crate::domain::sources::aws_events::SnsSettings {
            allowed_topics: match item.get(APPS_SNS_TOPICS_ATTRIBUTE) {
                Some(AttributeValue::Ss(topics)) => topics.iter().cloned().collect(),
                _ => Default::default(),
            },
        },
        hooks: match item.get(APPS_HOOKS_ATTRIBUTE) {
            Some(AttributeValue::M(hooks)) => hooks
                .iter()
                .filter_map(|(name, hook)| Some((name.clone(), hook_from_item(name, hook)?)))
                .collect(),
            _ => Default::default(),
        },
    })
}

/// One custom source as a map attribute: its templates, and its `--verify` setting with the
/// secret beside it (as the app's webhook secrets are kept).
fn hook_item(hook: &HookSource) -> AttributeValue {
    let mut map = Item::new();
    map.insert("template".into(), s(&hook.template));
    if let Some(template) = &hook.group_by {
        map.insert("group_by".into(), s(template));
    }
    if let Some(template) = &hook.resolved_when {
        map.insert("resolved_when".into(), s(template));
    }
    if let Some(verify) = &hook.verify {
        map.insert("verify".into(), s(&verify.describe()));
        let secret = match verify {
            HookVerify::HmacSha256 { secret, .. } | HookVerify::StandardWebhooks { secret } => {
                secret
            }
        };
        map.insert("secret".into(), s(secret));
    }
    AttributeValue::M(map)
}

/// A custom source read back; one that no longer reads (an edited item) is left out, and its
/// route answers 404, rather than accepting unverified requests.
fn hook_from_item(name: &str, item: &AttributeValue) -> Option<HookSource> {
    let AttributeValue::M(map) = item else {
        return None;
    };
    let field = |key: &str| map.get(key).and_then(|v| v.as_s().ok()).cloned();
    let verify = match (field("verify"), field("secret")) {
        (None, _) => None,
        (Some(scheme), Some(secret)) => Some(HookVerify::parse(&scheme, secret).ok()?),
        (Some(_), None) => return None,
    };
    Some(HookSource {
        name: name.to_owned(),
        template: field("template")?,
        verify,
        group_by: field("group_by"),
        resolved_when: field("resolved_when"),
    })
}

/// The SNS topics an app accepts (a string set; absent: any topic). An item may still carry
/// `sns_unsubscribed`, where the unsubscriptions SNS confirmed were once noted: it is ignored
/// (and dropped when the operator next changes the app); they are noted in the contexts table
/// now ([`ContextStore::sns_unsubscriptions`]).
const APPS_SNS_TOPICS_ATTRIBUTE: &str = "sns_topics";

/// The apps' custom sources: a map from source name to its settings.
const APPS_HOOKS_ATTRIBUTE: &str = "hooks";

/// The apps' own alert templates: a map from source name to template text.
const APPS_ALERT_TEMPLATES_ATTRIBUTE: &str = "alert_templates";
