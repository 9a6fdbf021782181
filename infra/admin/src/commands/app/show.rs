use anyhow::Result;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// One app: its group, webhook, windows, templates, Alertmanager and SNS topics (never a hash
/// or a secret)
#[derive(clap::Args, Debug)]
pub struct Show {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
}

impl Run for Show {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let app = admin.app(&self.app).await?;
        let view = admin.view(&app).await?;
        output(view.clone(), serde_json::to_string_pretty(&view)?)
    }
}
