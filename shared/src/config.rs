//! The functions' configuration, read once per cold start from the environment that
//! `template.yaml` (or the local stack) sets, and validated with a clear message.

use std::collections::HashMap;

use crate::tables::TableNames;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: TableNames,
    pub delivery_queue_url: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {0} is not set; the deployment (template.yaml) or the local stack sets it")]
pub struct ConfigError(pub &'static str);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            vars.get(name)
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .ok_or(ConfigError(name))
        };
        Ok(Config {
            tables: TableNames {
                apps: get("APPS_TABLE")?,
                groups: get("GROUPS_TABLE")?,
                users: get("USERS_TABLE")?,
                contexts: get("CONTEXTS_TABLE")?,
            },
            delivery_queue_url: get("DELIVERY_QUEUE_URL")?,
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
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(Config::from_vars(&vars).unwrap().tables.contexts, "c");
        vars.insert("USERS_TABLE".into(), " ".into());
        assert_eq!(Config::from_vars(&vars), Err(ConfigError("USERS_TABLE")));
    }
}
