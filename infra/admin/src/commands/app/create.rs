use anyhow::Result;
use gateway::credentials::{generate_token, generate_webhook_secret};
use serde_json::json;

use crate::checks::{create_app, NewApp};
use crate::cli::positive;
use crate::commands::Run;
use crate::{output, Admin, Output};

/// A new app. Prints its token and webhook secret once (only the token's hash is stored)
#[derive(clap::Args, Debug)]
pub struct Create {
    /// The app's name, the send route's /{app_name}/ (no '/', not . or ..)
    #[arg(long, value_name = "APP")]
    name: String,
    /// The group its group messages go to
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// It may message users (POST /{token}/fchat)
    #[arg(long)]
    user_messaging: bool,
    /// Where its users' replies and clicks go (https; checked as the gateway will call it)
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
    /// The reply window: how long clicks and replies reach the app after FChat took a message [default: 300]
    #[arg(long, value_name = "SECONDS", value_parser = positive)]
    context_ttl: Option<u64>,
    /// How long its messages are retried until FChat takes them, at most 7 days [default: 86400]
    #[arg(long, value_name = "SECONDS", value_parser = positive)]
    delivery_window: Option<u64>,
}

impl Run for Create {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let new = NewApp {
            name: self.name,
            group: self.group,
            user_messaging: self.user_messaging,
            webhook_url: self.webhook_url,
            context_ttl_seconds: self.context_ttl,
            delivery_window_seconds: self.delivery_window,
        };
        let token = generate_token();
        let secret = generate_webhook_secret();
        let app = create_app(
            &admin.store,
            &admin.store,
            new,
            &token,
            &secret,
            admin.local,
        )
        .await?;
        let mut view = admin.view(&app).await?;
        view["token"] = json!(token);
        view["webhook_secret"] = json!(secret);
        let text = format!(
            "app {} created. Shown once, keep them safe:\n  token:          {token}\n  webhook secret: {secret}",
            app.name
        );
        output(view, text)
    }
}
