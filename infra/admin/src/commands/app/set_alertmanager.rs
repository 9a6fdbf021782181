use anyhow::{anyhow, bail, Context as _, Result};
use gateway::adapters::webhook::guard::{check_url, OutboundPolicy};
use gateway::domain::{AlertmanagerAuth, AlertmanagerLink};
use gateway::ports::AppStore;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// The app's Alertmanager: firing Alertmanager groups get Silence 1h/24h buttons. Credentials
/// are read from an environment variable, never from the command line
#[derive(clap::Args, Debug)]
pub struct SetAlertmanager {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// Alertmanager's base URL (reached through the webhooks' SSRF guard)
    #[arg(value_name = "URL")]
    url: String,
    /// A bearer token, from this environment variable
    #[arg(long, value_name = "VAR")]
    bearer_env: Option<String>,
    /// Basic authentication's user (with --password-env)
    #[arg(long, value_name = "USER")]
    basic_user: Option<String>,
    /// Basic authentication's password, from this environment variable
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
}

impl Run for SetAlertmanager {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        let url = &self.url;
        check_url(
            url,
            OutboundPolicy {
                allow_loopback: admin.local,
            },
        )
        .map_err(|e| anyhow!("invalid Alertmanager URL {url:?}: {e}"))?;
        let from_env = |flag: &str, variable: &str| -> Result<String> {
            std::env::var(variable)
                .ok()
                .filter(|v| !v.is_empty())
                .with_context(|| format!("{flag}: the environment variable {variable} is not set"))
        };
        let auth = match (&self.bearer_env, &self.basic_user, &self.password_env) {
            (None, None, None) => None,
            (Some(variable), None, None) => Some(AlertmanagerAuth::Bearer(from_env(
                "--bearer-env",
                variable,
            )?)),
            (None, Some(user), Some(variable)) => Some(AlertmanagerAuth::Basic {
                user: user.clone(),
                password: from_env("--password-env", variable)?,
            }),
            _ => bail!("give either --bearer-env VAR, or --basic-user U with --password-env VAR"),
        };
        app.alerting.alertmanager = Some(AlertmanagerLink {
            url: url.trim_end_matches('/').to_owned(),
            auth,
        });
        admin.store.put_app(&app).await?;
        output(
            admin.view(&app).await?,
            format!(
                "app {}: firing Alertmanager groups can be silenced from the chat through {url}",
                app.name
            ),
        )
    }
}
