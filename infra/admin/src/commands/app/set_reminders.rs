use anyhow::Result;
use gateway::ports::AppStore;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// Whether a repeat of a firing alert group posts a reminder reply (on) or nothing (off, the
/// default)
#[derive(clap::Args, Debug)]
pub struct SetReminders {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// on or off
    #[arg(value_name = "ON_OR_OFF", value_parser = ["on", "off"])]
    setting: String,
}

impl Run for SetReminders {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        app.alerting.reminders = self.setting == "on";
        admin.store.put_app(&app).await?;
        let text = if app.alerting.reminders {
            format!(
                "app {}: a repeat of a firing group posts a reminder reply",
                app.name
            )
        } else {
            format!("app {}: a repeat of a firing group posts nothing", app.name)
        };
        output(admin.view(&app).await?, text)
    }
}
