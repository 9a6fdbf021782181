//! The local stack's provisioning of the template's secrets into moto's Parameter Store.

use std::collections::HashMap;

use fchat_local::harness::LocalAws;
use fchat_local::provision::provision;
use fchat_local::template::Template;
use gateway::config::BOT_TOKEN_PARAMETER;

fn template() -> Template {
    Template::load(&fchat_local::workspace_root().join("template.yaml")).unwrap()
}

async fn value(aws: &LocalAws, name: &str) -> String {
    aws_sdk_ssm::Client::new(&aws.sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap()
        .value
        .unwrap()
}

#[tokio::test]
async fn secrets_are_put_under_the_names_the_functions_get_and_replaced_on_a_rerun() {
    let aws = LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)");
    let name = format!("/local-{}/bot", std::process::id());
    let token = format!("token-{}", std::process::id());
    let parameters = HashMap::from([
        ("FChatApiUrl".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("FChatBotTokenParameter".to_owned(), name.clone()),
        ("FCHAT_BOT_TOKEN".to_owned(), token.clone()),
        ("FCHAT_CALLBACK_SECRET".to_owned(), "one".to_owned()),
    ]);
    let provisioned = provision(&aws.sdk, &template(), "again-", &parameters)
        .await
        .unwrap();
    assert_eq!(provisioned.environment[BOT_TOKEN_PARAMETER], name);
    assert!(provisioned.secure_parameters.contains(&name));
    assert!(!provisioned.environment.values().any(|v| v == &token));
    assert_eq!(value(&aws, &name).await, token);

    // `make dev` restarted with another token: the parameter takes it.
    let mut parameters = parameters;
    parameters.insert("FCHAT_BOT_TOKEN".into(), "rotated".into());
    provision(&aws.sdk, &template(), "again-", &parameters)
        .await
        .unwrap();
    assert_eq!(value(&aws, &name).await, "rotated");
}

#[tokio::test]
async fn a_secret_without_a_value_is_named_in_the_error() {
    let aws = LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)");
    let parameters = HashMap::from([
        ("FChatApiUrl".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("FCHAT_CALLBACK_SECRET".to_owned(), "one".to_owned()),
    ]);
    let Err(error) = provision(&aws.sdk, &template(), "other-", &parameters).await else {
        panic!("provisioned without a bot token")
    };
    let error = error.to_string();
    assert!(error.contains("--param FCHAT_BOT_TOKEN="), "{error}");
}
