use anyhow::Result;
use gateway::credentials::generate_webhook_secret;
use gateway::ports::AppStore;
use serde_json::json;

use crate::checks::DEFAULT_GRACE_SECONDS;
use crate::cli::positive;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// A new webhook signing secret, printed once: events carry both signatures for the grace
/// period, or until --finish
#[derive(clap::Args, Debug)]
pub struct RotateSecret {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// How long both secrets sign [default: 86400]
    #[arg(long, value_name = "SECONDS", value_parser = positive)]
    grace: Option<u64>,
    /// Only the newest secret signs from now on
    #[arg(long)]
    finish: bool,
}

impl Run for RotateSecret {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        if self.finish {
            app.webhook_secrets.truncate(1);
            app.older_secrets_until = None;
            admin.store.put_app(&app).await?;
            return output(
                admin.view(&app).await?,
                format!("app {}: only the newest webhook secret signs now", app.name),
            );
        }
        let grace = self.grace.unwrap_or(DEFAULT_GRACE_SECONDS);
        let secret = generate_webhook_secret();
        // Both secrets sign until the grace period ends: the app switches when it is ready.
        app.webhook_secrets.insert(0, secret.clone());
        app.webhook_secrets.truncate(2);
        app.older_secrets_until = Some((admin.now)() + grace);
        admin.store.put_app(&app).await?;
        let mut view = admin.view(&app).await?;
        view["webhook_secret"] = json!(secret);
        let text = format!(
            "app {}: new webhook secret (shown once): {secret}\nevents carry both signatures for {grace} more seconds (or until `app rotate-secret {} --finish`)",
            app.name, app.name
        );
        output(view, text)
    }
}
