//! What the tests on moto's server share: the emulator with the template's tables and queues,
//! the store on them, and an app to put in it. Each test file uses part of it.
#![allow(dead_code)]

use fchat_local::harness::LocalAws;
use gateway::credentials::sha256_hex;
use gateway::domain::App;
use gateway::dynamo::DynamoStore;

/// The tests' clock.
pub const NOW: u64 = 1_800_000_000;

/// Moto on a free loopback port with everything `template.yaml` declares.
pub async fn moto() -> LocalAws {
    LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)")
}

/// [`moto`] and the store on its tables.
pub async fn dynamo() -> (LocalAws, DynamoStore) {
    let aws = moto().await;
    let store = aws.store();
    (aws, store)
}

/// An active app sending to the group `ops` and to users, with a webhook and two secrets; its
/// token is `token`, stored hashed.
pub fn app(name: &str, token: &str) -> App {
    App {
        name: name.into(),
        token_hash: sha256_hex(token.as_bytes()),
        group_id: Some("ops".into()),
        user_messaging: true,
        webhook_url: Some("https://hooks.example.com/fchat".into()),
        webhook_secrets: vec!["whsec_a".into(), "whsec_b".into()],
        context_ttl_seconds: 120,
        delivery_window_seconds: 3_600,
        active: true,
        previous_token: None,
        older_secrets_until: None,
        alert_templates: Default::default(),
        alerting: Default::default(),
        sns: Default::default(),
        hooks: Default::default(),
    }
}
