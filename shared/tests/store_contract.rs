//! The store contract: every scenario runs against `MemoryStore` and against `DynamoStore` on
//! moto's server (loopback), with the tables `template.yaml` declares. What the services rely on
//! from a store is written here once, so the in-memory store cannot drift from DynamoDB.

use gateway::credentials::sha256_hex;
use gateway::domain::sources::aws_events::SNS_UNSUBSCRIPTION_RETENTION_SECONDS;
use gateway::domain::{
    App, Context, DeliveryStatus, Group, IdempotencyRecord, Target, User,
    UNDELIVERED_RETENTION_SECONDS,
};
use gateway::memory::MemoryStore;
use gateway::ports::{
    AppStore, AttemptOutcome, ContextStore, GroupStore, IdempotencyClaim, SendClaim, UserStore,
};
use serde_json::{json, Map};

mod common;
use common::{app, dynamo, NOW};

/// Every store port at once, as both adapters implement them.
trait Store: AppStore + GroupStore + UserStore + ContextStore {}
impl<S: AppStore + GroupStore + UserStore + ContextStore> Store for S {}

/// Runs each scenario once per store, as `memory::<scenario>` and `dynamodb::<scenario>`.
macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(&gateway::memory::MemoryStore::default()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let (_aws, store) = super::dynamo().await;
                    super::$scenario(&store).await;
                }
            )*
        }
    };
}

contract!(
    apps_are_found_by_name_and_by_token_hash_without_a_scan,
    groups_users_and_contexts_round_trip_and_expired_contexts_read_as_absent,
    an_idempotency_key_is_claimed_once_until_it_expires_or_is_released,
    incoming_events_find_their_context_group_and_apps_through_indexes,
    updates_are_claimed_once_and_bot_state_is_kept_per_chat,
    keys_from_outside_input_work_whatever_their_length_or_characters,
    a_value_that_cannot_be_a_key_names_nothing,
    delivery_and_reply_windows,
    one_attempt_holds_the_lease_and_a_crashed_one_is_taken_over,
    only_a_message_with_buttons_is_found_by_its_fchat_message_id,
    an_apps_alert_templates_are_kept_changed_and_cleared,
    an_apps_alert_settings_and_its_alert_groups_round_trip_and_expire,
    an_apps_sns_topics_are_kept,
    an_apps_sns_unsubscriptions_are_noted_beside_it_and_expire,
);

fn context(id: &str, expires_at: u64) -> Context {
    let mut parameters = Map::new();
    parameters.insert("ticket".into(), json!({"id": 42, "tags": ["a", "ệ"]}));
    Context {
        id: id.into(),
        app: "alerts".into(),
        target: Target::User("a@b.co".into()),
        parameters,
        status: DeliveryStatus::Queued,
        attempts: 0,
        last_error: None,
        fchat_message_id: None,
        created_at: NOW,
        expires_at,
        deliver_by: expires_at,
        reply_window_seconds: 90,
        lease_until: None,
        conversation: Default::default(),
    }
}

async fn apps_are_found_by_name_and_by_token_hash_without_a_scan<S: Store>(store: &S) {
    let alerts = app("alerts", "tok-1");
    store.put_app(&alerts).await.unwrap();
    store.put_app(&app("other", "tok-2")).await.unwrap();

    assert_eq!(
        store.app_by_name("alerts").await.unwrap(),
        Some(alerts.clone())
    );
    assert_eq!(store.app_by_name("nobody").await.unwrap(), None);
    assert_eq!(
        store
            .app_by_token_hash(&sha256_hex(b"tok-1"))
            .await
            .unwrap(),
        Some(alerts)
    );
    assert_eq!(
        store
            .app_by_token_hash(&sha256_hex(b"tok-3"))
            .await
            .unwrap(),
        None
    );
}

async fn groups_users_and_contexts_round_trip_and_expired_contexts_read_as_absent<S: Store>(
    store: &S,
) {
    let group = Group {
        id: "ops".into(),
        beatchat_id: Some("b-1".into()),
        active: false,
        name: Some("Ops".into()),
    };
    store.put_group(&group).await.unwrap();
    assert_eq!(store.group("ops").await.unwrap(), Some(group));
    assert_eq!(store.group("none").await.unwrap(), None);

    let user = User {
        email: "a@b.co".into(),
        fchat_id: "f-1".into(),
        name: Some("Nguyễn".into()),
        created_at: NOW,
        last_context_id: None,
    };
    store.put_user(&user).await.unwrap();
    assert_eq!(store.user("a@b.co").await.unwrap(), Some(user.clone()));
    store.set_last_context("a@b.co", "c-9").await.unwrap();
    store.set_last_context("nobody@b.co", "c-9").await.unwrap();
    assert_eq!(
        store
            .user("a@b.co")
            .await
            .unwrap()
            .unwrap()
            .last_context_id
            .as_deref(),
        Some("c-9")
    );
    assert_eq!(store.user("nobody@b.co").await.unwrap(), None);

    let live = context("c-live", NOW + 300);
    store.create_context(&live).await.unwrap();
    assert_eq!(store.context("c-live", NOW).await.unwrap(), Some(live));
    // The emulator, like DynamoDB for up to two days, still holds an expired item.
    store
        .create_context(&context("c-old", NOW - 1))
        .await
        .unwrap();
    assert_eq!(store.context("c-old", NOW).await.unwrap(), None);
    assert_eq!(store.context("c-live", NOW + 300).await.unwrap(), None);

    store.delete_context("c-live").await.unwrap();
    assert_eq!(store.context("c-live", NOW).await.unwrap(), None);
}

async fn an_idempotency_key_is_claimed_once_until_it_expires_or_is_released<S: Store>(store: &S) {
    let record = IdempotencyRecord {
        app: "alerts".into(),
        key_hash: sha256_hex(b"order-7"),
        request_hash: "r1".into(),
        context_id: "c-1".into(),
        parameters: Map::new(),
        expires_at: NOW + 86_400,
    };
    assert_eq!(
        store.claim_idempotency(&record, NOW).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    let second = IdempotencyRecord {
        context_id: "c-2".into(),
        ..record.clone()
    };
    assert_eq!(
        store.claim_idempotency(&second, NOW + 10).await.unwrap(),
        IdempotencyClaim::Existing(record.clone())
    );
    // The same key of another app is another key.
    let elsewhere = IdempotencyRecord {
        app: "other".into(),
        ..record.clone()
    };
    assert_eq!(
        store.claim_idempotency(&elsewhere, NOW).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    // An idempotency record is never mistaken for a context.
    assert_eq!(
        store
            .context(&format!("idempotency#alerts#{}", record.key_hash), NOW)
            .await
            .unwrap(),
        None
    );
    // Expired but not yet deleted: the key is free again.
    assert_eq!(
        store
            .claim_idempotency(&second, NOW + 86_400)
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
    store
        .release_idempotency("alerts", &record.key_hash)
        .await
        .unwrap();
    assert_eq!(
        store.claim_idempotency(&record, NOW).await.unwrap(),
        IdempotencyClaim::Claimed
    );
}

async fn incoming_events_find_their_context_group_and_apps_through_indexes<S: Store>(store: &S) {
    // A click finds the context of the message it belongs to, expired or not.
    let mut sent = context("c-1", NOW + 300);
    sent.fchat_message_id = Some("m-7".into());
    store.create_context(&sent).await.unwrap();
    store
        .create_context(&context("c-2", NOW - 5))
        .await
        .unwrap();
    assert_eq!(
        store.context_by_message_id("m-7").await.unwrap(),
        Some(sent)
    );
    assert_eq!(store.context_by_message_id("m-8").await.unwrap(), None);

    // A room event finds its group by beatchat id, and the group's apps.
    for (id, beatchat) in [("ops", "b-ops"), ("sec", "b-sec")] {
        let group = Group {
            id: id.into(),
            beatchat_id: Some(beatchat.into()),
            active: true,
            name: None,
        };
        store.put_group(&group).await.unwrap();
    }
    let groups = store.groups_by_beatchat_id("b-ops").await.unwrap();
    assert_eq!(
        groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        vec!["ops"]
    );
    store.put_app(&app("alerts", "t1")).await.unwrap();
    store
        .put_app(&App {
            group_id: Some("sec".into()),
            ..app("siem", "t2")
        })
        .await
        .unwrap();
    let apps = store.apps_by_group("ops").await.unwrap();
    assert_eq!(
        apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        vec!["alerts"]
    );
    assert!(store.apps_by_group("none").await.unwrap().is_empty());
}

async fn updates_are_claimed_once_and_bot_state_is_kept_per_chat<S: Store>(store: &S) {
    assert!(store.claim_update("u-1", NOW + 60, NOW).await.unwrap());
    assert!(!store.claim_update("u-1", NOW + 60, NOW + 1).await.unwrap());
    assert!(
        store
            .claim_update("u-1", NOW + 120, NOW + 60)
            .await
            .unwrap(),
        "an expired claim is free"
    );
    store.release_update("u-1").await.unwrap();
    assert!(store.claim_update("u-1", NOW + 60, NOW).await.unwrap());

    assert_eq!(store.bot_state("chat-1").await.unwrap(), None);
    store
        .set_bot_state("chat-1", Some("awaiting_reason"))
        .await
        .unwrap();
    assert_eq!(
        store.bot_state("chat-1").await.unwrap().as_deref(),
        Some("awaiting_reason")
    );
    assert_eq!(store.bot_state("chat-2").await.unwrap(), None);
    store.set_bot_state("chat-1", None).await.unwrap();
    assert_eq!(store.bot_state("chat-1").await.unwrap(), None);
}

async fn keys_from_outside_input_work_whatever_their_length_or_characters<S: Store>(store: &S) {
    // FChat's update ids: longer than DynamoDB's 2048-byte keys, or with control characters.
    let long = format!("upd-{}", "ệ".repeat(1000));
    assert!(long.len() > 2048);
    for update_id in [long.as_str(), "u-\u{0}\n-1", "u-\r\n"] {
        assert!(store.claim_update(update_id, NOW + 60, NOW).await.unwrap());
        assert!(
            !store
                .claim_update(update_id, NOW + 60, NOW + 1)
                .await
                .unwrap(),
            "{update_id:?} is claimed once"
        );
        store.release_update(update_id).await.unwrap();
        assert!(store.claim_update(update_id, NOW + 60, NOW).await.unwrap());
    }
    assert!(
        store
            .claim_update("u-\u{0}\n-2", NOW + 60, NOW)
            .await
            .unwrap(),
        "a different id is a different update"
    );

    // Bot state per chat, for chat ids of any length.
    let long_chat = "c".repeat(3000);
    store
        .set_bot_state(&long_chat, Some("awaiting_reason"))
        .await
        .unwrap();
    store
        .set_bot_state("chat\n1", Some("picking"))
        .await
        .unwrap();
    assert_eq!(
        store.bot_state(&long_chat).await.unwrap().as_deref(),
        Some("awaiting_reason")
    );
    assert_eq!(
        store.bot_state("chat\n1").await.unwrap().as_deref(),
        Some("picking")
    );
    assert_eq!(store.bot_state("chat").await.unwrap(), None);
    store.set_bot_state(&long_chat, None).await.unwrap();
    assert_eq!(store.bot_state(&long_chat).await.unwrap(), None);

    // FChat's "no such user" remembered for any address.
    let long_email = format!("{}@example.com", "n".repeat(2100));
    store
        .remember_unknown(&long_email, NOW + 600)
        .await
        .unwrap();
    assert!(store.known_unknown(&long_email, NOW).await.unwrap());
    assert!(!store.known_unknown("n@example.com", NOW).await.unwrap());
}

async fn a_value_that_cannot_be_a_key_names_nothing<S: Store>(store: &S) {
    // Empty, or over DynamoDB's 2048 bytes: DynamoDB refuses such a key even to look it up.
    let huge = "h".repeat(3000);
    let mut sent = context("c-1", NOW + 300);
    sent.fchat_message_id = Some("m-1".into());
    store.create_context(&sent).await.unwrap();
    for absent in ["", huge.as_str()] {
        assert_eq!(store.app_by_name(absent).await.unwrap(), None);
        assert_eq!(store.app_by_token_hash(absent).await.unwrap(), None);
        assert!(store.apps_by_group(absent).await.unwrap().is_empty());
        assert_eq!(store.group(absent).await.unwrap(), None);
        assert!(store
            .groups_by_beatchat_id(absent)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.user(absent).await.unwrap(), None);
        store.set_last_context(absent, "c-1").await.unwrap();
        assert_eq!(store.context(absent, NOW).await.unwrap(), None);
        assert_eq!(store.context_record(absent).await.unwrap(), None);
        assert_eq!(store.context_by_message_id(absent).await.unwrap(), None);
        store.delete_context(absent).await.unwrap();
    }
    assert_eq!(
        store.context_by_message_id("m-1").await.unwrap(),
        Some(sent)
    );
}

/// A message's two clocks, as every context store must keep them: attempts within the
/// delivery window, `expired` with why after it (never under a live lease), the reply window
/// from when FChat took it, and the operator's redrive.
async fn delivery_and_reply_windows<S: Store>(store: &S) {
    let mut late = context("w-late", NOW + 400);
    (late.deliver_by, late.reply_window_seconds) = (NOW + 100, 300);
    store.create_context(&late).await.unwrap();
    let SendClaim::Claimed(claimed) = store
        .begin_sending("w-late", NOW + 10, NOW + 40)
        .await
        .unwrap()
    else {
        panic!("not claimed within the window")
    };
    assert_eq!(claimed.attempts, 1);
    let retry = AttemptOutcome::WillRetry {
        error: "503 Service Unavailable".into(),
    };
    assert!(store
        .finish_sending("w-late", &retry, NOW + 11)
        .await
        .unwrap());
    let SendClaim::WindowPassed(found) = store
        .begin_sending("w-late", NOW + 100, NOW + 130)
        .await
        .unwrap()
    else {
        panic!("claimed after the window")
    };
    assert_eq!(
        (found.status, found.last_error.as_deref()),
        (DeliveryStatus::Queued, Some("503 Service Unavailable"))
    );
    let expired = AttemptOutcome::Expired {
        error: "not delivered within its delivery window".into(),
    };
    assert!(store
        .finish_sending("w-late", &expired, NOW + 100)
        .await
        .unwrap());
    let record = store.context_record("w-late").await.unwrap().unwrap();
    assert_eq!(
        (
            record.status,
            record.last_error.as_deref(),
            record.expires_at
        ),
        (
            DeliveryStatus::Expired,
            Some("not delivered within its delivery window"),
            NOW + 100 + UNDELIVERED_RETENTION_SECONDS
        )
    );
    assert_eq!(
        store
            .begin_sending("w-late", NOW + 101, NOW + 131)
            .await
            .unwrap(),
        SendClaim::Settled(DeliveryStatus::Expired)
    );

    // The operator's redrive: a new window, then FChat takes it and the reply window starts.
    assert!(store
        .requeue("w-late", NOW + 1_000, NOW + 1_300)
        .await
        .unwrap());
    assert!(matches!(
        store
            .begin_sending("w-late", NOW + 500, NOW + 530)
            .await
            .unwrap(),
        SendClaim::Claimed(_)
    ));
    let sent = AttemptOutcome::Sent {
        fchat_message_id: "m-late".into(),
        reply_until: NOW + 800,
        clickable: true,
    };
    assert!(store
        .finish_sending("w-late", &sent, NOW + 500)
        .await
        .unwrap());
    assert!(store.context("w-late", NOW + 799).await.unwrap().is_some());
    assert_eq!(store.context("w-late", NOW + 800).await.unwrap(), None);
    assert!(!store
        .requeue("w-late", NOW + 2_000, NOW + 2_300)
        .await
        .unwrap());

    // An attempt that holds its lease past the window's end is left to finish.
    let mut leased = context("w-leased", NOW + 400);
    (leased.deliver_by, leased.reply_window_seconds) = (NOW + 100, 300);
    store.create_context(&leased).await.unwrap();
    assert!(matches!(
        store
            .begin_sending("w-leased", NOW + 90, NOW + 120)
            .await
            .unwrap(),
        SendClaim::Claimed(_)
    ));
    assert_eq!(
        store
            .begin_sending("w-leased", NOW + 105, NOW + 135)
            .await
            .unwrap(),
        SendClaim::Leased(NOW + 120)
    );
    assert!(matches!(
        store
            .begin_sending("w-leased", NOW + 121, NOW + 151)
            .await
            .unwrap(),
        SendClaim::WindowPassed(_)
    ));
}

/// One attempt at a time: a second attempt waits for the first one's lease; an attempt that
/// crashed without recording its outcome is taken over once its lease runs out; a message
/// FChat took is never claimed again, and a late outcome does not change it.
async fn one_attempt_holds_the_lease_and_a_crashed_one_is_taken_over<S: Store>(store: &S) {
    store
        .create_context(&context("l-1", NOW + 3_600))
        .await
        .unwrap();
    let SendClaim::Claimed(first) = store.begin_sending("l-1", NOW, NOW + 30).await.unwrap() else {
        panic!("a queued message is not claimed")
    };
    assert_eq!(
        (first.status, first.attempts, first.lease_until),
        (DeliveryStatus::Sending, 1, Some(NOW + 30))
    );
    assert_eq!(
        store.begin_sending("l-1", NOW + 5, NOW + 35).await.unwrap(),
        SendClaim::Leased(NOW + 30)
    );

    // The first attempt crashed: nothing was recorded. Its lease runs out; the next takes over.
    let SendClaim::Claimed(second) = store
        .begin_sending("l-1", NOW + 30, NOW + 60)
        .await
        .unwrap()
    else {
        panic!("an expired lease is not taken over")
    };
    assert_eq!(second.attempts, 2);
    let sent = AttemptOutcome::Sent {
        fchat_message_id: "m-1".into(),
        reply_until: NOW + 400,
        clickable: true,
    };
    assert!(store.finish_sending("l-1", &sent, NOW + 31).await.unwrap());
    assert_eq!(
        store
            .begin_sending("l-1", NOW + 61, NOW + 91)
            .await
            .unwrap(),
        SendClaim::Settled(DeliveryStatus::Sent)
    );

    // A late outcome of the crashed attempt changes nothing.
    for late in [
        AttemptOutcome::WillRetry {
            error: "503 Service Unavailable".into(),
        },
        AttemptOutcome::Failed {
            error: "400 Bad Request".into(),
        },
    ] {
        assert!(!store.finish_sending("l-1", &late, NOW + 62).await.unwrap());
    }
    let record = store.context_record("l-1").await.unwrap().unwrap();
    assert_eq!(
        (
            record.status,
            record.fchat_message_id.as_deref(),
            record.last_error,
            record.lease_until,
            record.expires_at
        ),
        (DeliveryStatus::Sent, Some("m-1"), None, None, NOW + 400)
    );

    // A context that does not exist.
    assert_eq!(
        store.begin_sending("l-none", NOW, NOW + 30).await.unwrap(),
        SendClaim::Gone
    );
    assert!(!store.finish_sending("l-none", &sent, NOW).await.unwrap());
}

/// The in-memory store's failure switches, on which the services' unit tests rely.
#[tokio::test]
async fn the_memory_stores_failure_switches_turn_on_and_off() {
    use gateway::memory::Fault;
    let store = MemoryStore::default();
    store.put_app(&app("alerts", "tok-1")).await.unwrap();
    store
        .create_context(&context("f-1", NOW + 300))
        .await
        .unwrap();
    store.fail(Fault::Apps, "AccessDeniedException");
    assert!(store.app_by_name("alerts").await.is_err());
    assert!(store.context("f-1", NOW).await.is_ok(), "only apps fail");
    store.heal(Fault::Apps);
    assert!(store.app_by_name("alerts").await.unwrap().is_some());

    store.fail(Fault::FinishSending, "the function crashed");
    assert!(matches!(
        store.begin_sending("f-1", NOW, NOW + 30).await.unwrap(),
        SendClaim::Claimed(_)
    ));
    let sent = AttemptOutcome::Sent {
        fchat_message_id: "m-f".into(),
        reply_until: NOW + 300,
        clickable: true,
    };
    assert!(store.finish_sending("f-1", &sent, NOW).await.is_err());
    store.heal(Fault::FinishSending);
    assert!(store.finish_sending("f-1", &sent, NOW).await.unwrap());
}

/// Only clicks look a message up by its FChat message id, so only a message with buttons is
/// indexed by it; the status shows the id of every message FChat took.
async fn only_a_message_with_buttons_is_found_by_its_fchat_message_id<S: Store>(store: &S) {
    for (id, message_id, clickable) in [("b-1", "m-buttons", true), ("p-1", "m-plain", false)] {
        store
            .create_context(&context(id, NOW + 3_600))
            .await
            .unwrap();
        assert!(matches!(
            store.begin_sending(id, NOW, NOW + 30).await.unwrap(),
            SendClaim::Claimed(_)
        ));
        let sent = AttemptOutcome::Sent {
            fchat_message_id: message_id.into(),
            reply_until: NOW + 600,
            clickable,
        };
        assert!(store.finish_sending(id, &sent, NOW + 1).await.unwrap());
        let shown = store.context(id, NOW + 2).await.unwrap().unwrap();
        assert_eq!(shown.fchat_message_id.as_deref(), Some(message_id));
    }
    let found = store.context_by_message_id("m-buttons").await.unwrap();
    assert_eq!(found.map(|c| c.id).as_deref(), Some("b-1"));
    assert_eq!(store.context_by_message_id("m-plain").await.unwrap(), None);
}

async fn an_apps_alert_templates_are_kept_changed_and_cleared<S: Store>(store: &S) {
    let mut app = app("noc-7", "tok-noc-7");
    let grafana = "{# ệ \"quoted\" #}\n{{ status|upper }}: {% for a in alerts %}{{ a.labels.host }} {% endfor %}";
    app.alert_templates.insert("grafana".into(), grafana.into());
    app.alert_templates
        .insert("alertmanager".into(), "{{ alertname }} x{{ total }}".into());
    store.put_app(&app).await.unwrap();
    assert_eq!(store.app_by_name("noc-7").await.unwrap(), Some(app.clone()));

    // One changed, the other cleared: the rest of the app stays as it was.
    app.alert_templates.remove("grafana");
    app.alert_templates.insert(
        "alertmanager".into(),
        "[{{ status }}] {{ alertname }}".into(),
    );
    store.put_app(&app).await.unwrap();
    let read = store.app_by_name("noc-7").await.unwrap().unwrap();
    assert_eq!(read, app);
    assert_eq!(read.alert_templates.len(), 1);

    app.alert_templates.clear();
    store.put_app(&app).await.unwrap();
    let read = store
        .app_by_token_hash(&sha256_hex(b"tok-noc-7"))
        .await
        .unwrap()
        .unwrap();
    assert!(read.alert_templates.is_empty());
    assert_eq!(read, app);
}

async fn an_apps_alert_settings_and_its_alert_groups_round_trip_and_expire<S: Store>(store: &S) {
    use gateway::domain::sources::alert_thread::{AlertThread, ChatSilence};
    use gateway::domain::{AlertmanagerAuth, AlertmanagerLink};

    // Settings, with each kind of credentials.
    let mut app = app("pager-ệ", "tok-pager");
    for auth in [
        None,
        Some(AlertmanagerAuth::Bearer("am-\"token\"".into())),
        Some(AlertmanagerAuth::Basic {
            user: "ops".into(),
            password: "p@ss:word".into(),
        }),
    ] {
        app.alerting.reminders = auth.is_some();
        app.alerting.alertmanager = Some(AlertmanagerLink {
            url: "https://am.example.com/sub".into(),
            auth,
        });
        store.put_app(&app).await.unwrap();
        assert_eq!(
            store.app_by_name(&app.name).await.unwrap(),
            Some(app.clone())
        );
    }
    app.alerting = Default::default();
    store.put_app(&app).await.unwrap();
    assert_eq!(
        store.app_by_name(&app.name).await.unwrap(),
        Some(app.clone())
    );

    // A group's message: kept until it expires, then absent even if not yet purged.
    let key = sha256_hex(b"some group");
    let thread = AlertThread {
        key: key.clone(),
        app: app.name.clone(),
        chat_id: "room ệ 1".into(),
        message_id: "m-77".into(),
        fingerprint: "f".into(),
        resolved: false,
        at_ms: 1,
        labels: [("alertname".to_owned(), "Disk \"full\"".to_owned())].into(),
        content: gateway::message::MessageContent {
            text: "FIRING".into(),
            keyboard: Vec::new(),
        },
        silence: Some(ChatSilence {
            silence_id: "s-1".into(),
            update_id: "u-1".into(),
            note: "Silenced".into(),
            until: NOW + 60,
        }),
        expires_at: NOW + 100,
    };
    assert_eq!(store.alert_thread(&key, NOW).await.unwrap(), None);
    store.put_alert_thread(&thread).await.unwrap();
    assert_eq!(
        store.alert_thread(&key, NOW).await.unwrap(),
        Some(thread.clone())
    );
    assert_eq!(store.alert_thread(&key, NOW + 100).await.unwrap(), None);
    let moved = AlertThread {
        message_id: "m-78".into(),
        resolved: true,
        silence: None,
        ..thread
    };
    store.put_alert_thread(&moved).await.unwrap();
    assert_eq!(store.alert_thread(&key, NOW).await.unwrap(), Some(moved));
    // One delivery holds a group at a time, until it lets go or its hold runs out.
    assert!(store.lock_alert_thread(&key, NOW + 30, NOW).await.unwrap());
    assert!(!store
        .lock_alert_thread(&key, NOW + 40, NOW + 10)
        .await
        .unwrap());
    assert!(store
        .lock_alert_thread(&sha256_hex(b"another group"), NOW + 30, NOW)
        .await
        .unwrap());
    assert!(store
        .lock_alert_thread(&key, NOW + 60, NOW + 30)
        .await
        .unwrap());
    store.unlock_alert_thread(&key).await.unwrap();
    assert!(store
        .lock_alert_thread(&key, NOW + 90, NOW + 31)
        .await
        .unwrap());
    // Another key names nothing.
    assert_eq!(
        store
            .alert_thread(&sha256_hex(b"other"), NOW)
            .await
            .unwrap(),
        None
    );
}

async fn an_apps_sns_topics_are_kept<S: Store>(store: &S) {
    let mut app = app("cloud-9", "tok-cloud-9");
    store.put_app(&app).await.unwrap();
    assert_eq!(
        store.app_by_name("cloud-9").await.unwrap().unwrap().sns,
        Default::default()
    );
    for topic in [
        "arn:aws:sns:eu-west-1:123456789012:alarms",
        "arn:aws-cn:sns:cn-north-1:123456789012:ops.fifo",
    ] {
        app.sns.allowed_topics.insert(topic.into());
    }
    store.put_app(&app).await.unwrap();
    assert_eq!(
        store.app_by_name("cloud-9").await.unwrap(),
        Some(app.clone())
    );
    app.sns = Default::default();
    store.put_app(&app).await.unwrap();
    assert_eq!(store.app_by_name("cloud-9").await.unwrap(), Some(app));
}

async fn an_apps_sns_unsubscriptions_are_noted_beside_it_and_expire<S: Store>(store: &S) {
    const DAY: u64 = 24 * 60 * 60;
    let old = "arn:aws:sns:eu-west-1:123456789012:old";
    let fifo = "arn:aws-cn:sns:cn-north-1:123456789012:ops.fifo";
    let app = app("cloud-9", "tok-cloud-9");
    store.put_app(&app).await.unwrap();
    assert!(store
        .sns_unsubscriptions("cloud-9", NOW)
        .await
        .unwrap()
        .is_empty());

    // Noted without the app's record changing; another app's are its own.
    store
        .note_sns_unsubscription("cloud-9", old, NOW)
        .await
        .unwrap();
    store
        .note_sns_unsubscription("cloud-9", fifo, NOW + 10)
        .await
        .unwrap();
    store
        .note_sns_unsubscription("other", old, NOW + 20)
        .await
        .unwrap();
    assert_eq!(
        store
            .sns_unsubscriptions("cloud-9", NOW + 30)
            .await
            .unwrap(),
        [(old.to_owned(), NOW), (fifo.to_owned(), NOW + 10)].into()
    );
    assert_eq!(
        store.sns_unsubscriptions("other", NOW + 30).await.unwrap(),
        [(old.to_owned(), NOW + 20)].into()
    );
    assert_eq!(store.app_by_name("cloud-9").await.unwrap(), Some(app));
    assert!(store
        .sns_unsubscriptions("nobody", NOW)
        .await
        .unwrap()
        .is_empty());

    // A topic noted again keeps its latest time; each note lasts the retention from its own.
    let later = NOW + 100 * DAY;
    store
        .note_sns_unsubscription("cloud-9", old, later)
        .await
        .unwrap();
    let end = NOW + 10 + SNS_UNSUBSCRIPTION_RETENTION_SECONDS;
    assert_eq!(
        store.sns_unsubscriptions("cloud-9", end - 1).await.unwrap(),
        [(old.to_owned(), later), (fifo.to_owned(), NOW + 10)].into()
    );
    assert_eq!(
        store.sns_unsubscriptions("cloud-9", end).await.unwrap(),
        [(old.to_owned(), later)].into()
    );
    // All expired: absent, though the table's TTL has not deleted them (moto never does).
    assert!(store
        .sns_unsubscriptions("cloud-9", later + SNS_UNSUBSCRIPTION_RETENTION_SECONDS)
        .await
        .unwrap()
        .is_empty());
    // A note after they expired does not bring the older ones back.
    let much_later = later + SNS_UNSUBSCRIPTION_RETENTION_SECONDS + DAY;
    store
        .note_sns_unsubscription("cloud-9", fifo, much_later)
        .await
        .unwrap();
    assert_eq!(
        store
            .sns_unsubscriptions("cloud-9", much_later)
            .await
            .unwrap(),
        [(fifo.to_owned(), much_later)].into()
    );

    // Any app name makes a key.
    let long = "ệ#".repeat(2000);
    store
        .note_sns_unsubscription(&long, old, NOW)
        .await
        .unwrap();
    assert_eq!(
        store.sns_unsubscriptions(&long, NOW).await.unwrap(),
        [(old.to_owned(), NOW)].into()
    );
}
