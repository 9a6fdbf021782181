use anyhow::Result;
use gateway::ports::ContextStore;
use serde_json::json;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// The SNS topics the app accepts, and those SNS confirmed unsubscribing it from (kept 400 days)
#[derive(clap::Args, Debug)]
pub struct Topics {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
}

impl Run for Topics {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let app = admin.app(&self.app).await?;
        let text = if app.sns.allowed_topics.is_empty() {
            format!("app {} accepts SNS messages of any topic", app.name)
        } else {
            app.sns
                .allowed_topics
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        };
        let unsubscribed = admin
            .store
            .sns_unsubscriptions(&app.name, (admin.now)())
            .await?;
        output(
            json!({"app": app.name, "sns_topics": app.sns.allowed_topics, "sns_unsubscribed": unsubscribed}),
            text,
        )
    }
}
