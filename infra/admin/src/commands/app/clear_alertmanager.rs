use anyhow::Result;
use gateway::ports::AppStore;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// Forgets the app's Alertmanager: no more silence buttons
#[derive(clap::Args, Debug)]
pub struct ClearAlertmanager {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
}

impl Run for ClearAlertmanager {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        app.alerting.alertmanager = None;
        admin.store.put_app(&app).await?;
        output(
            admin.view(&app).await?,
            format!("app {}: no silence buttons any more", app.name),
        )
    }
}
