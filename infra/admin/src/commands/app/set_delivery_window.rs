use anyhow::Result;
use gateway::ports::AppStore;

use crate::checks::check_delivery_window;
use crate::cli::seconds;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// A new delivery window (1 s to 7 days) for the app's next messages: how long they are retried
/// until FChat takes them
#[derive(clap::Args, Debug)]
pub struct SetDeliveryWindow {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// The window, in seconds
    #[arg(value_name = "SECONDS", value_parser = seconds)]
    seconds: u64,
}

impl Run for SetDeliveryWindow {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        app.delivery_window_seconds = check_delivery_window(self.seconds)?;
        admin.store.put_app(&app).await?;
        output(
            admin.view(&app).await?,
            format!(
                "app {}: new messages are retried for {} s until FChat takes them",
                app.name, self.seconds
            ),
        )
    }
}
