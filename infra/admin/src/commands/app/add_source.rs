use anyhow::{bail, Context as _, Result};
use gateway::domain::sources::hooks::{HookSource, HookVerify, MAX_HOOKS_PER_APP};
use gateway::ports::AppStore;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// Adds (or replaces) a custom source: any JSON webhook posted to
/// `/{app}/{token}/hooks/{name}` becomes a message through the template. The templates are
/// checked against the sample body first; a refusal changes nothing. Secrets are read from an
/// environment variable, never from the command line
#[derive(clap::Args, Debug)]
pub struct AddSource {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// The source's name, the last segment of its route (a-z, 0-9, - and _)
    #[arg(value_name = "NAME")]
    name: String,
    /// The message template (minijinja over `body` and `headers`)
    #[arg(long, value_name = "FILE")]
    template: String,
    /// A body the sender posts, to check the templates against (JSON)
    #[arg(long, value_name = "FILE")]
    sample: String,
    /// A header of the sample, `NAME: VALUE` (repeatable), as `headers` shows it
    #[arg(long = "sample-header", value_name = "NAME: VALUE")]
    sample_headers: Vec<String>,
    /// How requests are signed: `hmac-sha256:HEADER` (GitHub's `sha256=<hex>`, or bare hex)
    /// or `standard-webhooks` (with a whsec_ secret); needs --secret-env
    #[arg(long, value_name = "SCHEME", requires = "secret_env")]
    verify: Option<String>,
    /// The environment variable holding the signing secret
    #[arg(long, value_name = "VAR", requires = "verify")]
    secret_env: Option<String>,
    /// A template rendering the group key: events of one key share a message
    #[arg(long, value_name = "TEMPLATE")]
    group_by: Option<String>,
    /// A template rendering `true` when the event resolves its group
    #[arg(long, value_name = "TEMPLATE")]
    resolved_when: Option<String>,
}

impl Run for AddSource {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        let template = std::fs::read_to_string(&self.template)
            .with_context(|| format!("cannot read {}", self.template))?;
        let sample =
            std::fs::read(&self.sample).with_context(|| format!("cannot read {}", self.sample))?;
        let headers = self
            .sample_headers
            .iter()
            .map(|header| match header.split_once(':') {
                Some((name, value)) if !name.trim().is_empty() => {
                    Ok((name.trim().to_owned(), value.trim().to_owned()))
                }
                _ => bail!("--sample-header {header:?}: expected NAME: VALUE"),
            })
            .collect::<Result<Vec<_>>>()?;
        let verify = match (&self.verify, &self.secret_env) {
            (Some(scheme), Some(variable)) => {
                let secret = std::env::var(variable)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .with_context(|| {
                        format!("--secret-env: the environment variable {variable} is not set")
                    })?;
                Some(
                    HookVerify::parse(scheme, secret)
                        .with_context(|| format!("--verify {scheme:?}"))?,
                )
            }
            _ => None,
        };
        let source = HookSource {
            name: self.name.clone(),
            template,
            verify,
            group_by: self.group_by.filter(|t| !t.trim().is_empty()),
            resolved_when: self.resolved_when.filter(|t| !t.trim().is_empty()),
        };
        source
            .check(&sample, &headers)
            .with_context(|| format!("source {:?} refused", self.name))?;
        if !app.hooks.contains_key(&source.name) && app.hooks.len() >= MAX_HOOKS_PER_APP {
            bail!(
                "app {} has {MAX_HOOKS_PER_APP} sources already, the most one app may have",
                app.name
            );
        }
        let preview = source
            .render(&serde_json::from_slice(&sample)?, &headers)
            .text;
        let name = source.name.clone();
        let signed = source.verify.as_ref().map(HookVerify::describe);
        app.hooks.insert(name.clone(), source);
        admin.store.put_app(&app).await?;
        output(
            admin.view(&app).await?,
            format!(
                "app {}: POST /{}/<token>/hooks/{name} now renders JSON bodies{}; the sample becomes:\n{preview}",
                app.name,
                app.name,
                signed.map(|s| format!(" signed with {s}")).unwrap_or_default(),
            ),
        )
    }
}
