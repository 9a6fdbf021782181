use anyhow::{bail, Result};
use gateway::ports::AppStore;

use crate::cli::topic_arn;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// Removes an SNS topic from those the app accepts (the last one removed: any topic again)
#[derive(clap::Args, Debug)]
pub struct DisallowTopic {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// The topic's ARN
    #[arg(value_name = "TOPIC_ARN", value_parser = topic_arn)]
    arn: String,
}

impl Run for DisallowTopic {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        let arn = &self.arn;
        if !app.sns.allowed_topics.remove(arn) {
            bail!("app {} does not list {arn}", app.name);
        }
        let text = if app.sns.allowed_topics.is_empty() {
            format!("app {} accepts SNS messages of any topic again", app.name)
        } else {
            format!("app {} no longer accepts SNS messages of {arn}", app.name)
        };
        admin.store.put_app(&app).await?;
        output(admin.view(&app).await?, text)
    }
}
