use anyhow::Result;
use gateway::ports::AppStore;

use crate::checks::check_webhook_url;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// Where the app's users' replies and clicks go: https, no private address (checked as the
/// gateway will call it; try it with `app test-webhook`)
#[derive(clap::Args, Debug)]
pub struct SetWebhook {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// The webhook's URL
    #[arg(value_name = "URL")]
    url: String,
}

impl Run for SetWebhook {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        check_webhook_url(&self.url, admin.local)?;
        app.webhook_url = Some(self.url.clone());
        admin.store.put_app(&app).await?;
        output(
            admin.view(&app).await?,
            format!("app {} now posts events to {}", app.name, self.url),
        )
    }
}
