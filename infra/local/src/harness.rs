//! For tests: emulated AWS with everything `template.yaml` declares, on a free loopback port.

use std::collections::HashMap;

use anyhow::Result;
use gateway::config::Config;

use crate::moto::Moto;
use crate::provision::{provision, Provisioned, Template};

/// The bot token of the local stack and the tests.
pub const LOCAL_BOT_TOKEN: &str = "local-bot-token";

pub struct LocalAws {
    pub moto: Moto,
    pub sdk: aws_config::SdkConfig,
    pub provisioned: Provisioned,
    pub config: Config,
}

impl LocalAws {
    /// Starts moto and creates the template's tables and queues in it, with FChat's URL
    /// pointing nowhere.
    pub async fn start() -> Result<LocalAws> {
        Self::start_with_fchat("http://127.0.0.1:9").await
    }

    /// As [`LocalAws::start`], with FChat (or its simulator) at `fchat_url`.
    pub async fn start_with_fchat(fchat_url: &str) -> Result<LocalAws> {
        let moto = Moto::start()?;
        let sdk = moto.sdk_config().await;
        let template = Template::load(&crate::workspace_root().join("template.yaml"))?;
        let parameters = HashMap::from([
            ("FChatApiUrl".to_owned(), fchat_url.to_owned()),
            ("FChatBotToken".to_owned(), LOCAL_BOT_TOKEN.to_owned()),
        ]);
        let provisioned = provision(&sdk, &template, "", &parameters).await?;
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
