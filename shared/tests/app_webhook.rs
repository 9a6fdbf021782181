//! The app webhook adapter over real sockets, towards the demo receiver, which checks
//! signatures with its own implementation of the Standard Webhooks spec.

use std::time::Duration;

use fchat_simulator::receiver::{Receiver, ReceiverConfig};
use gateway::adapters::webhook::guard::OutboundPolicy;
use gateway::adapters::webhook::sender::HttpWebhooks;
use gateway::ports::{WebhookOutcome, WebhookSender};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test]
async fn a_webhook_id_no_header_can_carry_is_sent_as_a_stable_digest_and_signed_with_it() {
    let app = Receiver::on_loopback(ReceiverConfig::checked_with(SECRET))
        .await
        .unwrap();
    let webhooks = HttpWebhooks::new(
        OutboundPolicy {
            allow_loopback: true,
        },
        Duration::from_secs(5),
    );
    let body = br#"{"update_id":"u-\u0000\n-3","event":"message","app":"ops-bot"}"#;
    // What a forward queued by an older version carries: the update's id as it came.
    for attempt in 0..2 {
        let outcome = webhooks
            .post(&app.url(), &[SECRET.into()], "u-\u{0}\n-3.ops-bot", body)
            .await;
        assert!(
            matches!(outcome, WebhookOutcome::Delivered { status: 200, .. }),
            "attempt {attempt}: {outcome:?}"
        );
    }
    let events = app.events();
    assert_eq!(events.len(), 2);
    let id = |n: usize| {
        events[n]
            .headers
            .iter()
            .find(|(name, _)| name == "webhook-id")
            .map(|(_, value)| value.clone())
            .unwrap()
    };
    assert!(
        events.iter().all(|e| e.verified),
        "{:?}",
        events[0].invalid_reason
    );
    assert!(id(0).starts_with("msg_"), "{}", id(0));
    assert_eq!(id(0), id(1), "the same id on every attempt");
}
