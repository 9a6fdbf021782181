use crate::metrics::{Metric, Unit};

pub const BOT_REPLIES: Metric = Metric {
    name: "BotReplies",
    unit: Unit::Count,
    dimensions: &["Function"],
    meaning: "A reply in a webhook's answer queued as a new message into the chat.",
};
