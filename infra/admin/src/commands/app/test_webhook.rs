use std::time::Duration;

use anyhow::{Context as _, Result};
use gateway::adapters::webhook::guard::OutboundPolicy;

use crate::cli::positive;
use crate::commands::Run;
use crate::webhook_check::check;
use crate::{Admin, Output};

/// Sends a signed `ping` event to the app's webhook, as the gateway sends events, and shows the
/// answer, the time and the checklist: url, dns, connect, tls, timeout, status, and signature
/// (when the app echoes "signature_verified"). Exits non-zero when a step failed
#[derive(clap::Args, Debug)]
pub struct TestWebhook {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// How long the answer may take [default: 5, the gateway's webhook timeout]
    #[arg(long, value_name = "SECONDS", value_parser = positive)]
    timeout: Option<u64>,
}

impl Run for TestWebhook {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let app = admin.app(&self.app).await?;
        let url = app.webhook_url.clone().with_context(|| {
            format!(
                "app {} has no webhook URL (app set-webhook {} URL)",
                app.name, app.name
            )
        })?;
        let timeout = self
            .timeout
            .map(Duration::from_secs)
            .unwrap_or(gateway::services::forwarding::WEBHOOK_TIMEOUT);
        let policy = OutboundPolicy {
            allow_loopback: admin.local,
        };
        let report = check(
            &app.name,
            &url,
            app.signing_secrets((admin.now)()),
            policy,
            admin.lookup.clone(),
            timeout,
        )
        .await;
        Ok(Output {
            json: report.to_json(&app.name),
            text: report.to_text(&app.name),
            success: report.failed_step().is_none(),
        })
    }
}
