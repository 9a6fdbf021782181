//! Tenants for the local stack: groups, apps and the users FChat knows, from a JSON file.

use std::path::Path;

use crate::admin::{create_app, create_group, NewApp};
use anyhow::{bail, Context as _, Result};
use gateway::api::validate::is_valid_email;
use gateway::domain::Group;
use gateway::ports::{AppStore, GroupStore};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub groups: Vec<SeedGroup>,
    #[serde(default)]
    pub apps: Vec<SeedApp>,
    /// The people FChat knows (the FChat simulator's directory).
    #[serde(default)]
    pub users: Vec<SeedUser>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGroup {
    pub id: String,
    pub beatchat_id: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApp {
    pub name: String,
    pub token: String,
    pub group: Option<String>,
    #[serde(default)]
    pub user_messaging: bool,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub context_ttl_seconds: Option<u64>,
    /// How long its messages are retried until FChat takes them (default a day).
    pub delivery_window_seconds: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub email: String,
    pub fchat_id: String,
    pub name: Option<String>,
}

fn yes() -> bool {
    true
}

impl Seed {
    pub fn load(path: &Path) -> Result<Seed> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the seed file {}", path.display()))?;
        let seed: Seed = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid seed file", path.display()))?;
        seed.check()?;
        Ok(seed)
    }

    fn check(&self) -> Result<()> {
        for app in &self.apps {
            if app.name.is_empty()
                || app.name.contains('/')
                || app.token.is_empty()
                || app.token.contains('/')
            {
                bail!(
                    "app {:?}: name and token must be non-empty path segments",
                    app.name
                );
            }
            if let Some(group) = &app.group {
                if !self.groups.iter().any(|g| &g.id == group) {
                    bail!("app {}: group {group} is not in the seed file", app.name);
                }
            }
        }
        for user in &self.users {
            if !is_valid_email(&user.email.trim().to_lowercase()) {
                bail!("user {:?}: not a valid email address", user.email);
            }
        }
        Ok(())
    }

    /// Gives every app without a `webhook_url` its own path on the local demo receiver at
    /// `receiver` (`http://127.0.0.1:9002` gives `http://127.0.0.1:9002/webhook/{app}`), so
    /// that its users' replies and clicks show up there. Apps with a `webhook_url` keep it.
    pub fn point_webhooks_at(&mut self, receiver: &str) {
        for app in self.apps.iter_mut().filter(|app| app.webhook_url.is_none()) {
            app.webhook_url = Some(fchat_simulator::receiver::app_webhook_url(
                receiver, &app.name,
            ));
        }
    }

    /// Writes the groups and apps through the operator's own code (`fchat-admin`'s): tokens
    /// hashed, groups checked, webhook URLs checked as the gateway will.
    pub async fn load_into(&self, groups: &dyn GroupStore, apps: &dyn AppStore) -> Result<()> {
        for group in &self.groups {
            let group = Group {
                id: group.id.clone(),
                beatchat_id: group.beatchat_id.clone(),
                active: group.active,
                name: group.name.clone(),
            };
            create_group(groups, group).await?;
        }
        for app in &self.apps {
            let new = NewApp {
                name: app.name.clone(),
                group: app.group.clone(),
                user_messaging: app.user_messaging,
                webhook_url: app.webhook_url.clone(),
                context_ttl_seconds: app.context_ttl_seconds,
                delivery_window_seconds: app.delivery_window_seconds,
            };
            let secret = app
                .webhook_secret
                .clone()
                .unwrap_or_else(gateway::credentials::generate_webhook_secret);
            create_app(apps, groups, new, &app.token, &secret, true).await?;
        }
        Ok(())
    }
}
