use anyhow::{bail, Result};
use gateway::ports::AppStore;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// Removes a custom source: its route answers 404 from then on
#[derive(clap::Args, Debug)]
pub struct RemoveSource {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// The source's name
    #[arg(value_name = "NAME")]
    name: String,
}

impl Run for RemoveSource {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        if app.hooks.remove(&self.name).is_none() {
            bail!("app {} has no source {:?}", app.name, self.name);
        }
        admin.store.put_app(&app).await?;
        output(
            admin.view(&app).await?,
            format!("app {}: source {} removed", app.name, self.name),
        )
    }
}
