//! Every metric the functions emit: one file each, registered once in [`ALL`] (docs/metrics.md
//! lists the same, a test keeps them equal).

mod alert_actions;
mod alert_notifications;
mod bot_replies;
mod delivery_attempts;
mod delivery_latency;
mod delivery_retries;
mod messages_accepted;
mod messages_dead_lettered;
mod messages_delivered;
mod messages_expired;
mod messages_failed;
mod messages_refused;
mod silences_created;
mod sns_confirmations;
mod sns_refusals;
mod webhook_forwards;
mod webhook_latency;

pub use alert_actions::ALERT_ACTIONS;
pub use alert_notifications::ALERT_NOTIFICATIONS;
pub use bot_replies::BOT_REPLIES;
pub use delivery_attempts::DELIVERY_ATTEMPTS;
pub use delivery_latency::DELIVERY_LATENCY;
pub use delivery_retries::DELIVERY_RETRIES;
pub use messages_accepted::MESSAGES_ACCEPTED;
pub use messages_dead_lettered::MESSAGES_DEAD_LETTERED;
pub use messages_delivered::MESSAGES_DELIVERED;
pub use messages_expired::MESSAGES_EXPIRED;
pub use messages_failed::MESSAGES_FAILED;
pub use messages_refused::MESSAGES_REFUSED;
pub use silences_created::SILENCES_CREATED;
pub use sns_confirmations::SNS_CONFIRMATIONS;
pub use sns_refusals::SNS_REFUSALS;
pub use webhook_forwards::WEBHOOK_FORWARDS;
pub use webhook_latency::WEBHOOK_LATENCY;

use super::Metric;

/// The registry: every metric, in the order docs/metrics.md lists them.
pub const ALL: &[&Metric] = &[
    &MESSAGES_ACCEPTED,
    &MESSAGES_REFUSED,
    &ALERT_NOTIFICATIONS,
    &SNS_CONFIRMATIONS,
    &SNS_REFUSALS,
    &MESSAGES_DELIVERED,
    &DELIVERY_LATENCY,
    &DELIVERY_ATTEMPTS,
    &DELIVERY_RETRIES,
    &MESSAGES_FAILED,
    &MESSAGES_EXPIRED,
    &MESSAGES_DEAD_LETTERED,
    &ALERT_ACTIONS,
    &SILENCES_CREATED,
    &WEBHOOK_FORWARDS,
    &WEBHOOK_LATENCY,
    &BOT_REPLIES,
];
