use anyhow::Result;
use gateway::ports::AppStore;

use crate::cli::topic_arn;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// Adds an SNS topic to those the app accepts on /sns (none listed: any topic)
#[derive(clap::Args, Debug)]
pub struct AllowTopic {
    /// The app's name
    #[arg(value_name = "APP")]
    app: String,
    /// The topic's ARN (arn:aws:sns:REGION:ACCOUNT:NAME)
    #[arg(value_name = "TOPIC_ARN", value_parser = topic_arn)]
    arn: String,
}

impl Run for AllowTopic {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut app = admin.app(&self.app).await?;
        app.sns.allowed_topics.insert(self.arn.clone());
        admin.store.put_app(&app).await?;
        let text = format!("app {} accepts SNS messages of {}", app.name, self.arn);
        output(admin.view(&app).await?, text)
    }
}
