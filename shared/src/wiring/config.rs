//! The functions' configuration, read once per cold start from the environment that
//! `template.yaml` (or the local stack) sets, and validated with a clear message.

use std::collections::HashMap;
use std::time::Duration;

use crate::adapters::dynamo::tables::TableNames;

/// The delivery function's timeout when `DELIVERY_TIMEOUT_SECONDS` is not set.
pub const DEFAULT_DELIVERY_TIMEOUT_SECONDS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: TableNames,
    pub delivery_queue_url: String,
    /// The delivery queue's dead-letter queue: the delivery function moves jobs there that
    /// retrying cannot help.
    pub delivery_dlq_url: Option<String>,
    pub fchat: FChatConfig,
    /// The delivery function's timeout: how long one attempt may hold a context.
    pub delivery_lease: Duration,
    /// The operator's cap on the wait between two delivery attempts (each app's delivery
    /// window sets the schedule below it).
    pub max_retry_delay: Duration,
    /// The longest wait between two attempts at forwarding an event to an app.
    pub max_forward_delay: Duration,
    /// What a user is told when they act on an expired message.
    pub expired_text: String,
    /// Whether delivery paces each chat to FChat's limits (`FCHAT_PACING`, on unless `off`):
    /// off only where FChat has no limits, as the local FChat by default.
    pub fchat_pacing: bool,
    /// Lets app webhooks be plain `http` on loopback: for the local stack only.
    pub webhook_allow_loopback: bool,
    /// Lets SNS's signing certificates and `SubscribeURL`s be plain `http` on 127.0.0.1
    /// (`SNS_ALLOW_LOOPBACK`): for the local stack's end-to-end tests only.
    pub sns_allow_loopback: bool,
}

/// What a user is told when they click a button of an expired message, by default.
pub const DEFAULT_EXPIRED_TEXT: &str = "This action has expired.";

/// FChat's bot API. The secrets are not here: only the names of the SSM Parameter Store
/// `SecureString` parameters that hold them, read once per cold start (`crate::adapters::secrets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FChatConfig {
    pub api_url: String,
    /// The parameter that holds the bot's token (`FCHAT_BOT_TOKEN_PARAMETER`).
    pub bot_token_parameter: String,
    /// The parameter that holds the secret FChat sends in `X-FChat-Secret` when it calls the
    /// gateway back (`FCHAT_CALLBACK_SECRET_PARAMETER`): the callback function's only.
    pub callback_secret_parameter: Option<String>,
}

/// The variable that names the bot token's parameter.
pub const BOT_TOKEN_PARAMETER: &str = "FCHAT_BOT_TOKEN_PARAMETER";
/// The variable that names the callback secret's parameter.
pub const CALLBACK_SECRET_PARAMETER: &str = "FCHAT_CALLBACK_SECRET_PARAMETER";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "configuration: {0} is not set; the deployment (template.yaml) or the local stack sets it"
    )]
    Missing(&'static str),
    #[error("configuration: {0} must be {1}")]
    Invalid(&'static str, &'static str),
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            vars.get(name)
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .ok_or(ConfigError::Missing(name))
        };
        let api_url = get("FCHAT_API_URL")?;
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(ConfigError::Invalid("FCHAT_API_URL", "an http(s) URL"));
        }
        let lease_seconds = match vars.get("DELIVERY_TIMEOUT_SECONDS") {
            None => DEFAULT_DELIVERY_TIMEOUT_SECONDS,
            Some(value) => value
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or(ConfigError::Invalid(
                    "DELIVERY_TIMEOUT_SECONDS",
                    "a positive whole number",
                ))?,
        };
        let seconds = |name: &'static str, default: Duration| match vars.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
                .ok_or(ConfigError::Invalid(name, "a positive whole number")),
        };
        let max_retry_delay = seconds(
            "DELIVERY_MAX_RETRY_DELAY_SECONDS",
            crate::services::delivery::MAX_RETRY_DELAY,
        )?;
        let max_forward_delay = seconds(
            "FORWARD_MAX_RETRY_DELAY_SECONDS",
            crate::services::forwarding::FORWARD_RETRY_DELAYS
                [crate::services::forwarding::FORWARD_RETRY_DELAYS.len() - 1],
        )?;
        let flag = |name: &'static str| match vars.get(name).map(String::as_str) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ConfigError::Invalid(name, "true or false")),
        };
        let fchat_pacing = match vars.get("FCHAT_PACING").map(String::as_str) {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => return Err(ConfigError::Invalid("FCHAT_PACING", "on or off")),
        };
        let webhook_allow_loopback = flag("WEBHOOK_ALLOW_LOOPBACK")?;
        let sns_allow_loopback = flag("SNS_ALLOW_LOOPBACK")?;
        Ok(Config {
            tables: TableNames {
                apps: get("APPS_TABLE")?,
                groups: get("GROUPS_TABLE")?,
                users: get("USERS_TABLE")?,
                contexts: get("CONTEXTS_TABLE")?,
            },
            delivery_queue_url: get("DELIVERY_QUEUE_URL")?,
            delivery_dlq_url: get("DELIVERY_DLQ_URL").ok(),
            fchat: FChatConfig {
                api_url,
                bot_token_parameter: get(BOT_TOKEN_PARAMETER)?,
                callback_secret_parameter: vars
                    .get(CALLBACK_SECRET_PARAMETER)
                    .filter(|v| !v.trim().is_empty())
                    .cloned(),
            },
            delivery_lease: Duration::from_secs(lease_seconds),
            max_retry_delay,
            max_forward_delay,
            expired_text: vars
                .get("EXPIRED_ACTION_TEXT")
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .unwrap_or_else(|| DEFAULT_EXPIRED_TEXT.to_owned()),
            fchat_pacing,
            webhook_allow_loopback,
            sns_allow_loopback,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let mut vars: HashMap<String, String> = [
            ("APPS_TABLE", "a"),
            ("GROUPS_TABLE", "g"),
            ("USERS_TABLE", "u"),
            ("CONTEXTS_TABLE", "c"),
            ("DELIVERY_QUEUE_URL", "http://q"),
            ("FCHAT_API_URL", "http://127.0.0.1:9001"),
            ("FCHAT_BOT_TOKEN_PARAMETER", "/gw/bot"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = Config::from_vars(&vars).unwrap();
        assert_eq!(config.tables.contexts, "c");
        assert_eq!(config.delivery_lease, Duration::from_secs(30));
        assert_eq!(config.fchat.bot_token_parameter, "/gw/bot");
        assert_eq!(config.fchat.callback_secret_parameter, None);
        assert_eq!(config.expired_text, DEFAULT_EXPIRED_TEXT);
        assert!(!config.webhook_allow_loopback);
        // Loopback SNS hosts only when the local stack says so.
        assert!(!config.sns_allow_loopback);
        vars.insert("SNS_ALLOW_LOOPBACK".into(), "yes".into());
        assert_eq!(
            Config::from_vars(&vars),
            Err(ConfigError::Invalid("SNS_ALLOW_LOOPBACK", "true or false"))
        );
        vars.insert("SNS_ALLOW_LOOPBACK".into(), "true".into());
        assert!(Config::from_vars(&vars).unwrap().sns_allow_loopback);
        vars.remove("SNS_ALLOW_LOOPBACK");
        vars.insert("DELIVERY_TIMEOUT_SECONDS".into(), "0".into());
        assert!(matches!(
            Config::from_vars(&vars),
            Err(ConfigError::Invalid(..))
        ));
        vars.insert("DELIVERY_TIMEOUT_SECONDS".into(), "45".into());
        vars.insert("FCHAT_API_URL".into(), "ftp://x".into());
        assert!(matches!(
            Config::from_vars(&vars),
            Err(ConfigError::Invalid(..))
        ));
        vars.insert("FCHAT_API_URL".into(), "https://fchat.example.com".into());
        assert_eq!(
            Config::from_vars(&vars).unwrap().delivery_lease,
            Duration::from_secs(45)
        );
        vars.insert("USERS_TABLE".into(), " ".into());
        assert_eq!(
            Config::from_vars(&vars),
            Err(ConfigError::Missing("USERS_TABLE"))
        );
        vars.insert("USERS_TABLE".into(), "u".into());
        vars.insert(CALLBACK_SECRET_PARAMETER.into(), "/gw/callback".into());
        assert_eq!(
            Config::from_vars(&vars)
                .unwrap()
                .fchat
                .callback_secret_parameter
                .as_deref(),
            Some("/gw/callback")
        );
        // A secret's value in the environment is not configuration: only the name counts.
        vars.remove(BOT_TOKEN_PARAMETER);
        vars.insert("FCHAT_BOT_TOKEN".into(), "a-token".into());
        assert_eq!(
            Config::from_vars(&vars),
            Err(ConfigError::Missing(BOT_TOKEN_PARAMETER))
        );
    }
}
