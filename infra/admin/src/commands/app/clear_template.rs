use anyhow::Result;
use gateway::domain::sources::aws_events::TemplateKind;
use gateway::ports::AppStore;

use crate::cli::template_kind;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// Back to the built-in template for a source
#[derive(clap::Args, Debug)]
pub struct ClearTemplate {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// The source (alertmanager, grafana, or an AWS event kind)
    #[arg(value_name = "SOURCE", value_parser = template_kind())]
    source: TemplateKind,
}

impl Run for ClearTemplate {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        let source = self.source;
        let had = app.alert_templates.remove(source.name()).is_some();
        admin.store.put_app(&app).await?;
        let text = if had {
            format!(
                "app {}: {source} alerts use the built-in template again",
                app.name
            )
        } else {
            format!(
                "app {} had no {source} template: the built-in one is used",
                app.name
            )
        };
        output(admin.view(&app).await?, text)
    }
}
