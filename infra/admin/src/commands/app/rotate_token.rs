use anyhow::Result;
use gateway::credentials::{generate_token, sha256_hex};
use gateway::ports::AppStore;
use serde_json::json;

use crate::checks::DEFAULT_GRACE_SECONDS;
use crate::cli::positive;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// A new token, printed once; the old one keeps working for the grace period
#[derive(clap::Args, Debug)]
pub struct RotateToken {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// How long the old token keeps working [default: 86400]
    #[arg(long, value_name = "SECONDS", value_parser = positive)]
    grace: Option<u64>,
}

impl Run for RotateToken {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        let grace = self.grace.unwrap_or(DEFAULT_GRACE_SECONDS);
        let token = generate_token();
        let until = (admin.now)() + grace;
        app.previous_token = Some((app.token_hash.clone(), until));
        app.token_hash = sha256_hex(token.as_bytes());
        admin.store.put_app(&app).await?;
        let mut view = admin.view(&app).await?;
        view["token"] = json!(token);
        let text = format!(
            "app {}: new token (shown once): {token}\nthe old token works for {grace} more seconds",
            app.name
        );
        output(view, text)
    }
}
