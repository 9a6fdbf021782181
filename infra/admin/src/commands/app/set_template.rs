use anyhow::Result;
use gateway::domain::sources::aws_events::TemplateKind;
use gateway::ports::AppStore;

use crate::checks::read_template;
use crate::cli::template_kind;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// The app's own message template for a source: an alert source or an AWS event kind (the
/// possible values below). Checked first: a syntax error is refused with its line, and nothing
/// changes
#[derive(clap::Args, Debug)]
pub struct SetTemplate {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// The source whose messages it renders
    #[arg(value_name = "SOURCE", value_parser = template_kind())]
    source: TemplateKind,
    /// The template (minijinja)
    #[arg(value_name = "FILE")]
    file: String,
}

impl Run for SetTemplate {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        let source = self.source;
        let template = read_template(source, &self.file)?;
        app.alert_templates.insert(source.name().into(), template);
        admin.store.put_app(&app).await?;
        output(
            admin.view(&app).await?,
            format!(
                "app {}: {source} alerts now use the template from {} (try `app render-template {} {source}`)",
                app.name, self.file, app.name
            ),
        )
    }
}
