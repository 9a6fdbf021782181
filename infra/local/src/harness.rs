//! For tests: emulated AWS with everything `template.yaml` declares, on a free loopback port.

use anyhow::Result;
use gateway::config::Config;

use crate::moto::Moto;
use crate::provision::{provision, Provisioned, Template};

pub struct LocalAws {
    pub moto: Moto,
    pub sdk: aws_config::SdkConfig,
    pub provisioned: Provisioned,
    pub config: Config,
}

impl LocalAws {
    /// Starts moto and creates the template's tables and queues in it.
    pub async fn start() -> Result<LocalAws> {
        let moto = Moto::start()?;
        let sdk = moto.sdk_config().await;
        let template = Template::load(&crate::workspace_root().join("template.yaml"))?;
        let provisioned = provision(&sdk, &template, "").await?;
        let config = Config::from_vars(&provisioned.environment)?;
        Ok(LocalAws {
            moto,
            sdk,
            provisioned,
            config,
        })
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// Receives what is on a queue now (up to 10 messages), leaving it there.
    pub async fn peek(&self, queue_url: &str) -> Result<Vec<String>> {
        let output = self
            .sqs()
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect())
    }
}
