use anyhow::Result;
use gateway::ports::AppStore;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// Disables an app: its requests answer as an unknown app's (404), nothing else changes
#[derive(clap::Args, Debug)]
pub struct Disable {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
}

impl Run for Disable {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        app.active = false;
        admin.store.put_app(&app).await?;
        output(
            admin.view(&app).await?,
            format!("app {} disabled", app.name),
        )
    }
}
