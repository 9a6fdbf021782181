use anyhow::{anyhow, Context as _, Result};
use gateway::domain::sources::aws_events::TemplateKind;
use serde_json::json;

use crate::checks::{read_template, render_sample};
use crate::cli::template_kind;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// A dry run: the message a notification becomes with FILE, else the app's template, else the
/// built-in one; the notification is the JSON file of --payload, else a sample of SOURCE
#[derive(clap::Args, Debug)]
pub struct RenderTemplate {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// The source (alertmanager, grafana, or an AWS event kind)
    #[arg(value_name = "SOURCE", value_parser = template_kind())]
    source: TemplateKind,
    /// A template to try before setting it
    #[arg(value_name = "FILE")]
    file: Option<String>,
    /// A notification the operator's own tool sent (JSON)
    #[arg(long, value_name = "FILE")]
    payload: Option<String>,
}

impl Run for RenderTemplate {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let app = admin.app(&self.app).await?;
        let source = self.source;
        let template = match &self.file {
            Some(file) => Some(read_template(source, file)?),
            None => app.alert_templates.get(source.name()).cloned(),
        };
        let text = match &self.payload {
            Some(file) => {
                let body = std::fs::read(file)
                    .with_context(|| format!("cannot read the payload {file}"))?;
                source
                    .render_payload(&body, template.as_deref())
                    .map_err(|e| anyhow!("{file}: {e}"))?
            }
            None => render_sample(source, template.as_deref()),
        };
        output(
            json!({"app": app.name, "source": source.name(), "custom": template.is_some(), "text": text}),
            text,
        )
    }
}
