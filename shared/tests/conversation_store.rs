//! The conversation part of the store contract (`ConversationStore`): each scenario runs
//! against `MemoryStore` and against `DynamoStore` on moto's server, as `store_contract.rs`
//! does. The decisions that must not race (a single-use keyboard's first click, a change's
//! place in line) are proven with many callers at once.

use std::sync::Arc;

use gateway::domain::conversation::{Buttons, ChangeRefusal, FirstAnswer, Shown};
use gateway::domain::message::{Button, MessageContent};
use gateway::domain::{Context, DeliveryStatus, Target};
use gateway::ports::{AttemptOutcome, ContextStore, ConversationStore, RecordedChange, SendClaim};
use serde_json::{json, Map};

mod common;
use common::{app, dynamo, NOW};

macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(std::sync::Arc::new(gateway::memory::MemoryStore::default())).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    let (_aws, store) = super::dynamo().await;
                    super::$scenario(std::sync::Arc::new(store)).await;
                }
            )*
        }
    };
}

contract!(
    a_message_with_buttons_keeps_what_it_shows_and_a_plain_one_nothing,
    the_first_of_many_concurrent_clicks_wins_and_the_rest_learn_who,
    changes_take_their_places_in_order_and_a_deletion_closes_the_line,
    only_the_sending_app_may_change_a_delivered_message,
    a_change_is_recorded_once_and_only_on_what_was_seen,
    a_voided_change_reopens_the_line,
);

fn question() -> MessageContent {
    MessageContent {
        text: "Deploy 42?".into(),
        keyboard: vec![vec![
            Button {
                text: "Approve".into(),
                callback_data: json!({"action": "approve"}),
            },
            Button {
                text: "Reject".into(),
                callback_data: json!("reject"),
            },
        ]],
    }
}

/// A context of `owner`'s, named anew, with `content`'s conversation; queued.
async fn queued<S: ContextStore>(store: &S, owner: &str, content: &MessageContent) -> Context {
    let mut context = Context::queued(
        &app(owner, "tok"),
        Target::Group(format!("g-{}", gateway::domain::new_context_id())),
        Map::new(),
        NOW,
    );
    context.conversation = gateway::domain::conversation::Conversation::new(content, true, false);
    store.create_context(&context).await.unwrap();
    context
}

/// The same, delivered as FChat's message `m-...`.
async fn sent<S: ContextStore>(store: &S, owner: &str, content: &MessageContent) -> Context {
    let context = queued(store, owner, content).await;
    assert!(matches!(
        store
            .begin_sending(&context.id, NOW, NOW + 30)
            .await
            .unwrap(),
        SendClaim::Claimed(_)
    ));
    let outcome = AttemptOutcome::Sent {
        fchat_message_id: format!("m-{}", &context.id[..8]),
        reply_until: NOW + 600,
        clickable: !content.keyboard.is_empty(),
    };
    assert!(store
        .finish_sending(&context.id, &outcome, NOW)
        .await
        .unwrap());
    store.context_record(&context.id).await.unwrap().unwrap()
}

fn answer(by: &str) -> FirstAnswer {
    FirstAnswer {
        by: by.into(),
        button: Some("Approve".into()),
        update: format!("update-of-{by}"),
    }
}

async fn a_message_with_buttons_keeps_what_it_shows_and_a_plain_one_nothing<S: ContextStore>(
    store: Arc<S>,
) {
    let kept = sent(store.as_ref(), "ops", &question()).await;
    assert_eq!(
        kept.conversation.shown,
        Some(Shown {
            text: Some("Deploy 42?".into()),
            keyboard: question().keyboard,
            single_use: true
        })
    );
    assert_eq!(kept.conversation.version(), 1);
    let plain = sent(
        store.as_ref(),
        "ops",
        &MessageContent {
            text: "hi".into(),
            keyboard: vec![],
        },
    )
    .await;
    assert_eq!(plain.conversation, Default::default());
}

async fn the_first_of_many_concurrent_clicks_wins_and_the_rest_learn_who<
    S: ContextStore + 'static,
>(
    store: Arc<S>,
) {
    let context = sent(store.as_ref(), "ops", &question()).await;
    let clickers: Vec<String> = (0..8).map(|i| format!("user {i}")).collect();
    let claims = futures_util::future::join_all(clickers.iter().map(|by| {
        let (store, id, mine) = (store.clone(), context.id.clone(), answer(by));
        tokio::spawn(async move { store.claim_first_answer(&id, &mine).await.unwrap() })
    }))
    .await;
    let firsts: Vec<FirstAnswer> = claims
        .into_iter()
        .map(|claim| claim.unwrap().expect("the context exists"))
        .collect();
    // Every clicker is told the same first answer, and it is one of theirs.
    assert!(firsts.iter().all(|first| *first == firsts[0]));
    assert!(clickers.contains(&firsts[0].by));
    let record = store.context_record(&context.id).await.unwrap().unwrap();
    assert_eq!(record.conversation.answered.as_ref(), Some(&firsts[0]));
    // FChat's repeat of the winning click is the same answer; a message that is gone, none.
    assert_eq!(
        store
            .claim_first_answer(&context.id, &firsts[0])
            .await
            .unwrap(),
        Some(firsts[0].clone())
    );
    assert_eq!(
        store
            .claim_first_answer("no-such-context", &answer("x"))
            .await
            .unwrap(),
        None
    );
}

async fn changes_take_their_places_in_order_and_a_deletion_closes_the_line<
    S: ContextStore + 'static,
>(
    store: Arc<S>,
) {
    // Changes accepted while the message still waits for FChat, many at once.
    let context = queued(store.as_ref(), "ops", &question()).await;
    let accepted = futures_util::future::join_all((0..6).map(|_| {
        let (store, id) = (store.clone(), context.id.clone());
        tokio::spawn(async move { store.accept_change(&id, "ops", false, NOW).await.unwrap() })
    }))
    .await;
    let mut places: Vec<u32> = accepted
        .into_iter()
        .map(|a| a.unwrap().expect("accepted").seq)
        .collect();
    places.sort_unstable();
    assert_eq!(places, vec![1, 2, 3, 4, 5, 6]);
    let deletion = store
        .accept_change(&context.id, "ops", true, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deletion.seq, 7);
    assert!(deletion.context.conversation.delete_accepted);
    for delete in [false, true] {
        assert_eq!(
            store
                .accept_change(&context.id, "ops", delete, NOW)
                .await
                .unwrap(),
            Err(ChangeRefusal::Deleted)
        );
    }
    let record = store.context_record(&context.id).await.unwrap().unwrap();
    assert_eq!(record.conversation.pending_changes(), 7);
}

async fn only_the_sending_app_may_change_a_delivered_message<S: ContextStore>(store: Arc<S>) {
    let context = sent(store.as_ref(), "ops", &question()).await;
    let accept = |app: &'static str, now: u64| {
        let (store, id) = (store.clone(), context.id.clone());
        async move {
            store
                .accept_change(&id, app, false, now)
                .await
                .unwrap()
                .map(|a| a.seq)
        }
    };
    assert_eq!(accept("other", NOW).await, Err(ChangeRefusal::NotFound));
    // Its context lives until its reply window ends (NOW + 600).
    assert_eq!(accept("ops", NOW + 600).await, Err(ChangeRefusal::NotFound));
    assert_eq!(accept("ops", NOW + 599).await, Ok(1));
    assert_eq!(
        store
            .accept_change("no-such-message", "ops", false, NOW)
            .await
            .unwrap(),
        Err(ChangeRefusal::NotFound)
    );
    assert_eq!(
        store
            .accept_change(&"x".repeat(3000), "ops", true, NOW)
            .await
            .unwrap(),
        Err(ChangeRefusal::NotFound)
    );

    // A message FChat refused has nothing to change.
    let refused = queued(store.as_ref(), "ops", &question()).await;
    let failed = AttemptOutcome::Failed {
        error: "400 chat not found".into(),
    };
    assert!(store
        .finish_sending(&refused.id, &failed, NOW)
        .await
        .unwrap());
    assert_eq!(
        store
            .accept_change(&refused.id, "ops", false, NOW)
            .await
            .unwrap()
            .map(|a| a.seq),
        Err(ChangeRefusal::NotDelivered)
    );

    // Nor may an alert group's message change but with its alerts.
    let mut alert = Context::queued(
        &app("ops", "tok"),
        Target::Group("g".into()),
        Map::new(),
        NOW,
    );
    alert.conversation = gateway::domain::conversation::Conversation::new(&question(), false, true);
    store.create_context(&alert).await.unwrap();
    assert_eq!(
        store
            .accept_change(&alert.id, "ops", false, NOW)
            .await
            .unwrap()
            .map(|a| a.seq),
        Err(ChangeRefusal::AlertGroup)
    );
    assert_eq!(
        store
            .context_record(&alert.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        DeliveryStatus::Queued
    );
}

async fn a_change_is_recorded_once_and_only_on_what_was_seen<S: ContextStore>(store: Arc<S>) {
    let context = sent(store.as_ref(), "ops", &question()).await;
    assert_eq!(
        store
            .accept_change(&context.id, "ops", false, NOW)
            .await
            .unwrap()
            .map(|a| a.seq),
        Ok(1)
    );
    store
        .claim_first_answer(&context.id, &answer("Ann"))
        .await
        .unwrap();
    let undo = vec![vec![Button {
        text: "Undo".into(),
        callback_data: json!("undo"),
    }]];
    let edited = RecordedChange {
        text: Some("Deploy 42: approved".into()),
        buttons: Some(Buttons {
            keyboard: undo.clone(),
            single_use: false,
        }),
        edited: true,
        deleted: false,
        seq: Some(1),
        clears_answer: true,
        error: None,
    };
    // Planned on a message with one edit: another change came first.
    assert!(!store.record_change(&context.id, 1, &edited).await.unwrap());
    assert!(store.record_change(&context.id, 0, &edited).await.unwrap());
    // The same change again (another copy of its job): never recorded twice.
    assert!(!store.record_change(&context.id, 1, &edited).await.unwrap());
    let record = store.context_record(&context.id).await.unwrap().unwrap();
    let conversation = &record.conversation;
    let now_shown = Shown {
        text: Some("Deploy 42: approved".into()),
        keyboard: undo,
        single_use: false,
    };
    assert_eq!(conversation.shown.as_ref(), Some(&now_shown));
    assert_eq!(
        (conversation.version(), conversation.changes_applied),
        (2, 1)
    );
    assert_eq!(conversation.answered, None);
    assert_eq!(conversation.pending_changes(), 0);

    // A click's change FChat refused: the message as it was, and why.
    let refused = RecordedChange {
        text: None,
        buttons: None,
        edited: false,
        deleted: false,
        seq: None,
        clears_answer: false,
        error: Some("400 Bad Request: message can't be edited".into()),
    };
    assert!(store.record_change(&context.id, 1, &refused).await.unwrap());
    let deleted = RecordedChange {
        deleted: true,
        error: None,
        ..refused
    };
    assert!(store.record_change(&context.id, 1, &deleted).await.unwrap());
    let record = store.context_record(&context.id).await.unwrap().unwrap();
    assert!(record.conversation.deleted);
    assert_eq!(record.conversation.change_error, None);
    assert_eq!(record.conversation.version(), 2);
    // What a change leaves out stays: the text it did not set, the buttons it did.
    assert_eq!(record.conversation.shown, Some(now_shown));
    let answered = RecordedChange {
        text: None,
        buttons: Some(Buttons::default()),
        edited: true,
        deleted: false,
        seq: None,
        clears_answer: false,
        error: None,
    };
    assert!(store
        .record_change(&context.id, 1, &answered)
        .await
        .unwrap());
    let record = store.context_record(&context.id).await.unwrap().unwrap();
    let shown = record.conversation.shown.unwrap();
    assert_eq!(shown.text.as_deref(), Some("Deploy 42: approved"));
    assert!(shown.keyboard.is_empty() && !shown.single_use);
    assert!(!store
        .record_change("no-such-message", 0, &edited)
        .await
        .unwrap());
}

async fn a_voided_change_reopens_the_line<S: ContextStore>(store: Arc<S>) {
    let context = sent(store.as_ref(), "ops", &question()).await;
    let seq = |accepted: Result<gateway::ports::AcceptedChange, ChangeRefusal>| {
        accepted.expect("accepted").seq
    };
    assert_eq!(
        seq(store
            .accept_change(&context.id, "ops", false, NOW)
            .await
            .unwrap()),
        1
    );
    assert_eq!(
        seq(store
            .accept_change(&context.id, "ops", true, NOW)
            .await
            .unwrap()),
        2
    );
    // The deletion's job could not be queued: it never applies, and the message may change.
    store.void_change(&context.id, 2, true).await.unwrap();
    store
        .void_change("no-such-message", 1, false)
        .await
        .unwrap();
    assert_eq!(
        seq(store
            .accept_change(&context.id, "ops", false, NOW)
            .await
            .unwrap()),
        3
    );
    let record = store.context_record(&context.id).await.unwrap().unwrap();
    let conversation = &record.conversation;
    assert_eq!(conversation.pending_changes(), 2);
    assert_eq!(conversation.next_change(), 1);
    assert!(!conversation.delete_accepted);
    assert_eq!(conversation.void_changes, [2].into());
}

/// The largest context the send API writes now keeps its buttons beside its parameters: both
/// at their limits (parameters at 64 KiB as stored, buttons just within the queue's 256 KiB
/// job), the item is still well inside DynamoDB's 400 KB, and so is an edit's record of them.
#[tokio::test]
async fn the_largest_context_with_buttons_fits_a_dynamodb_item() {
    use gateway::domain::job::MAX_JOB_BYTES;
    let (_aws, store) = dynamo().await;
    let mut parameters = Map::new();
    parameters.insert("p".into(), json!("a".repeat(64 * 1024 - 8)));
    // Strings do not grow when written back: 30 buttons of data as large as a job allows.
    let data = "d".repeat((MAX_JOB_BYTES - 8 * 1024) / 30);
    let content = MessageContent {
        text: "ệ".repeat(2000),
        keyboard: vec![(0..30)
            .map(|i| Button {
                text: format!("b{i}"),
                callback_data: json!(data),
            })
            .collect()],
    };
    let mut context = Context::queued(
        &app("big", "tok"),
        Target::User("u@example.com".into()),
        parameters,
        NOW,
    );
    context.conversation = gateway::domain::conversation::Conversation::new(&content, true, false);
    let shown = context.conversation.shown.clone().unwrap();
    assert!(serde_json::to_string(&shown.keyboard).unwrap().len() > MAX_JOB_BYTES - 16 * 1024);
    store.create_context(&context).await.unwrap();
    let read = store.context_record(&context.id).await.unwrap().unwrap();
    assert_eq!(read.conversation.shown.as_ref(), Some(&shown));
    // An edit of the text alone writes the text alone; new buttons as large again replace
    // the old (on DynamoDB; moto counts the old value beside the new, and refuses such a pair
    // of keyboards over about 340 KB).
    let edited = RecordedChange {
        text: Some("ệ".repeat(2000)),
        buttons: None,
        edited: true,
        deleted: false,
        seq: None,
        clears_answer: false,
        error: Some("e".repeat(1000)),
    };
    assert!(store.record_change(&context.id, 0, &edited).await.unwrap());
    let read = store.context_record(&context.id).await.unwrap().unwrap();
    assert_eq!(read.conversation.shown.as_ref(), Some(&shown));
}
