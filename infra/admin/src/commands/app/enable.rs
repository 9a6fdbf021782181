use anyhow::Result;
use gateway::ports::AppStore;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// Enables an app: its token works again
#[derive(clap::Args, Debug)]
pub struct Enable {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
}

impl Run for Enable {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        app.active = true;
        admin.store.put_app(&app).await?;
        output(admin.view(&app).await?, format!("app {} enabled", app.name))
    }
}
