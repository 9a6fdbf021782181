use anyhow::Result;
use gateway::ports::ContextStore;
use serde_json::{json, Value};

use crate::commands::Run;
use crate::views::{app_view, plain};
use crate::{output, Admin, Output};

/// Every app, never with a hash or a secret
#[derive(clap::Args, Debug)]
pub struct List {}

impl Run for List {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let now = (admin.now)();
        let mut apps: Vec<Value> = Vec::new();
        for app in admin.store.all_apps().await? {
            let unsubscribed = admin.store.sns_unsubscriptions(&app.name, now).await?;
            apps.push(app_view(&app, &unsubscribed, now));
        }
        let text = apps
            .iter()
            .map(|a| {
                format!(
                    "{} group={} active={}",
                    plain(&a["name"]),
                    plain(&a["group"]),
                    a["active"]
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        output(json!(apps), text)
    }
}
