//! The functions' secrets read from SSM Parameter Store against a real emulator (moto's server on
//! loopback), provisioned from `template.yaml` as the local stack does it.

use aws_sdk_ssm::types::ParameterType;
use fchat_local::harness::{LocalAws, LOCAL_BOT_TOKEN, LOCAL_CALLBACK_SECRET};
use gateway::config::{BOT_TOKEN_PARAMETER, CALLBACK_SECRET_PARAMETER};
use gateway::ssm::{read_secret, SecretError};

mod common;
use common::moto;

fn ssm(aws: &LocalAws) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&aws.sdk)
}

/// A parameter name no one created, different in every run.
fn unknown_name(label: &str) -> String {
    format!("/gw-{}/{label}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn the_functions_get_names_and_the_values_are_secure_strings_in_ssm() {
    let aws = moto().await;
    let fchat = &aws.config.fchat;
    // The configuration holds names only: no value is in the functions' environment.
    for value in aws.provisioned.environment.values() {
        assert_ne!(value, LOCAL_BOT_TOKEN);
        assert_ne!(value, LOCAL_CALLBACK_SECRET);
    }
    assert!(fchat.bot_token_parameter.starts_with('/'));
    let callback_parameter = fchat.callback_secret_parameter.clone().unwrap();
    assert_ne!(callback_parameter, fchat.bot_token_parameter);

    let ssm = ssm(&aws);
    let stored = ssm
        .get_parameter()
        .name(&fchat.bot_token_parameter)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap();
    assert_eq!(stored.r#type, Some(ParameterType::SecureString));

    let token = gateway::wiring::bot_token(&ssm, &aws.config).await.unwrap();
    assert_eq!(token.expose(), LOCAL_BOT_TOKEN);
    let (token, secret) = gateway::wiring::callback_secrets(&ssm, &aws.config)
        .await
        .unwrap();
    assert_eq!(token.expose(), LOCAL_BOT_TOKEN);
    assert_eq!(secret.expose(), LOCAL_CALLBACK_SECRET);
    let shown = format!("{token:?} {secret:?}");
    assert!(!shown.contains(LOCAL_BOT_TOKEN) && !shown.contains(LOCAL_CALLBACK_SECRET));
}

#[tokio::test]
async fn a_changed_value_is_read_by_the_next_cold_start() {
    let aws = moto().await;
    let ssm = ssm(&aws);
    let rotated = format!("rotated-{}", uuid::Uuid::new_v4().simple());
    ssm.put_parameter()
        .name(&aws.config.fchat.bot_token_parameter)
        .value(&rotated)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let token = gateway::wiring::bot_token(&ssm, &aws.config).await.unwrap();
    assert_eq!(token.expose(), rotated);
}

#[tokio::test]
async fn a_missing_parameter_stops_the_cold_start_naming_it_without_any_value() {
    let aws = moto().await;
    let missing = unknown_name("bot-token");
    let mut config = aws.config.clone();
    config.fchat.bot_token_parameter = missing.clone();

    let error = read_secret(&ssm(&aws), BOT_TOKEN_PARAMETER, &missing)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SecretError::NotFound {
            variable: BOT_TOKEN_PARAMETER,
            name: missing.clone()
        }
    );

    // What each function's cold start reports: the parameter and its variable, no secret.
    let errors = [
        gateway::wiring::ingest(&aws.sdk, &config).await.err(),
        gateway::wiring::delivery(&aws.sdk, &config).await.err(),
        gateway::wiring::callback(&aws.sdk, &config).await.err(),
    ];
    for error in errors {
        let text = format!("{:?}", error.expect("the cold start fails"));
        assert!(text.contains(&missing), "{text}");
        assert!(text.contains(BOT_TOKEN_PARAMETER), "{text}");
        assert!(text.contains("does not exist"), "{text}");
        assert!(!text.contains(LOCAL_CALLBACK_SECRET), "{text}");
    }

    // The callback secret's parameter: missing from SSM, or not named at all.
    let mut config = aws.config.clone();
    let missing = unknown_name("callback-secret");
    config.fchat.callback_secret_parameter = Some(missing.clone());
    let text = format!(
        "{:?}",
        gateway::wiring::callback(&aws.sdk, &config)
            .await
            .err()
            .unwrap()
    );
    assert!(
        text.contains(&missing) && text.contains(CALLBACK_SECRET_PARAMETER),
        "{text}"
    );
    assert!(!text.contains(LOCAL_BOT_TOKEN), "{text}");
    config.fchat.callback_secret_parameter = None;
    let text = gateway::wiring::callback(&aws.sdk, &config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains(CALLBACK_SECRET_PARAMETER), "{text}");
}

#[tokio::test]
async fn a_plain_or_empty_parameter_is_refused_without_showing_it() {
    let aws = moto().await;
    let ssm = ssm(&aws);
    let plain = unknown_name("plain");
    let plain_value = format!("plain-{}", uuid::Uuid::new_v4().simple());
    ssm.put_parameter()
        .name(&plain)
        .value(&plain_value)
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    let error = read_secret(&ssm, BOT_TOKEN_PARAMETER, &plain)
        .await
        .unwrap_err();
    assert!(matches!(error, SecretError::NotSecure { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains(&plain) && text.contains("SecureString"),
        "{text}"
    );
    assert!(!text.contains(&plain_value), "{text}");

    let blank = unknown_name("blank");
    ssm.put_parameter()
        .name(&blank)
        .value(" ")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read_secret(&ssm, CALLBACK_SECRET_PARAMETER, &blank).await,
        Err(SecretError::Empty {
            variable: CALLBACK_SECRET_PARAMETER,
            name: blank
        })
    );
}

#[tokio::test]
async fn an_unreachable_parameter_store_is_reported_with_the_parameter() {
    let aws = moto().await;
    // Nothing listens there: SSM cannot be reached at all.
    let port = fchat_local::moto::free_port().unwrap();
    let sdk = fchat_local::moto::local_sdk_config(&format!("http://127.0.0.1:{port}"))
        .await
        .into_builder()
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let name = &aws.config.fchat.bot_token_parameter;
    let error = read_secret(&aws_sdk_ssm::Client::new(&sdk), BOT_TOKEN_PARAMETER, name)
        .await
        .unwrap_err();
    assert!(matches!(error, SecretError::Unreadable { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains(name) && text.contains("cannot be read"),
        "{text}"
    );
}
