//! What conversations add (`docs/conversations.md`), priced from the billing rules as the
//! floor of the design is: each write and read named with what it pays for, items within
//! 1 KiB, full batches of ten on the delivery queue. An app's edit or deletion is a request
//! of its own; a click's answer, a single-use keyboard's first answer and the answers after
//! it add to the click they come with.

use std::fmt::Write as _;

use anyhow::Result;

use crate::cost::{self, FULL_BATCH};

/// One thing conversations do, and the requests it adds.
pub struct ConversationAction {
    pub name: &'static str,
    /// A request of its own at the front door (the send API), with an ingest invocation and a
    /// tenth of a delivery invocation, an SQS send and a tenth of a receive and a delete.
    pub queued: bool,
    pub writes: &'static [(&'static str, f64)],
    pub reads: &'static [(&'static str, f64)],
    /// What else it does, at no AWS price.
    pub note: &'static str,
}

pub const CONVERSATION_ACTIONS: [ConversationAction; 5] = [
    ConversationAction {
        name: "an edit or a deletion through the send API (`PATCH`, `DELETE`)",
        queued: true,
        writes: &[
            (
                "its place in the message's line (one conditional UpdateItem): changes apply in order",
                1.0,
            ),
            (
                "the change applied, recorded: the status route shows it, a repeat does nothing",
                1.0,
            ),
        ],
        reads: &[
            (
                "the app, by its token's index, then its item (eventually consistent)",
                1.0,
            ),
            ("the message's context at delivery (strongly consistent)", 1.0),
            (
                "its group or user at delivery, for the chat (eventually consistent)",
                0.5,
            ),
        ],
        note: "one FChat call (`editMessageText`, `editMessageReplyMarkup` or `deleteMessage`)",
    },
    ConversationAction {
        name: "a click, answered",
        queued: false,
        writes: &[],
        reads: &[],
        note: "one FChat call (`answerCallbackQuery`), a few milliseconds of the callback's duration",
    },
    ConversationAction {
        name: "the first click on a single-use keyboard",
        queued: false,
        writes: &[
            ("the first answer (one conditional UpdateItem): who clicked first wins", 1.0),
            ("the message without its buttons, with who answered, recorded", 1.0),
        ],
        reads: &[(
            "the message's context, read again to plan its edit (strongly consistent)",
            1.0,
        )],
        note: "one FChat call (`editMessageText`)",
    },
    ConversationAction {
        name: "a later click on an answered keyboard",
        queued: false,
        writes: &[(
            "the conditional write that finds the answer in (a failed condition is billed)",
            1.0,
        )],
        reads: &[("the first answer, read back (strongly consistent)", 1.0)],
        note: "no forward to the app's webhook",
    },
    ConversationAction {
        name: "a click's answer with an `edit`",
        queued: false,
        writes: &[("the edit, recorded", 1.0)],
        reads: &[("the clicked message's context (strongly consistent)", 1.0)],
        note: "one FChat call",
    },
];

/// Dollars per million of `action`, behind `door`.
pub fn per_million(action: &ConversationAction, door: cost::FrontDoor) -> f64 {
    let writes: f64 = action.writes.iter().map(|(_, units)| units).sum();
    let reads: f64 = action.reads.iter().map(|(_, units)| units).sum();
    let queued = if action.queued {
        door_price(door)
            + (1.0 + 1.0 / FULL_BATCH) * cost::price("Lambda requests")
            + (1.0 + 2.0 / FULL_BATCH) * cost::price("SQS FIFO requests")
    } else {
        0.0
    };
    queued
        + writes * cost::price("DynamoDB on-demand writes")
        + reads * cost::price("DynamoDB on-demand reads")
}

fn door_price(door: cost::FrontDoor) -> f64 {
    match door {
        cost::FrontDoor::HttpApi => cost::price("API Gateway HTTP API requests"),
        cost::FrontDoor::FunctionUrl => cost::price("Lambda function URL requests"),
    }
}

/// The cost document's section on conversations.
pub fn section(md: &mut String) -> Result<()> {
    writeln!(
        md,
        "## Conversations: edits, deletions and clicks' answers\n"
    )?;
    writeln!(
        md,
        "Priced from the billing rules, as the floor is: items within 1 KiB, full batches of \
         {FULL_BATCH:.0}, nothing logged and no duration. An app's edit or deletion is a \
         request of its own (its ingest invocation, a tenth of a delivery invocation, an SQS \
         send and a tenth of a receive and of a delete); the rest adds to the click it comes \
         with (the click's own request, invocation, index query and forward are the same as \
         before).\n"
    )?;
    writeln!(
        md,
        "| Per million | HTTP API | function URL | what else |\n|---|---|---|---|"
    )?;
    for action in &CONVERSATION_ACTIONS {
        writeln!(
            md,
            "| {} | {:.3} | {:.3} | {} |",
            action.name,
            per_million(action, cost::FrontDoor::HttpApi),
            per_million(action, cost::FrontDoor::FunctionUrl),
            action.note
        )?;
    }
    writeln!(md)?;
    for action in &CONVERSATION_ACTIONS {
        if action.writes.is_empty() && action.reads.is_empty() {
            continue;
        }
        writeln!(md, "{}:\n", capitalised(action.name))?;
        for (what, units) in action.writes {
            writeln!(md, "- write, {units:.0} WRU: {what}")?;
        }
        for (what, units) in action.reads {
            writeln!(md, "- read, {units:.1} RRU: {what}")?;
        }
        writeln!(md)?;
    }
    writeln!(
        md,
        "A message with buttons also keeps its text and buttons in its context, so that a \
         click can change it: written with the context, it makes the send's three writes \
         larger, never more numerous. The end-to-end run's user question keeps 235 bytes more \
         (its text, two buttons and their data; the item is 477 bytes when written, measured on \
         the local stack), within 1 KiB, so its figures above are unchanged; each further KiB a message's text and buttons add costs its \
         three writes a unit each, ${:.3} per million. A message without buttons keeps \
         nothing more.\n",
        3.0 * cost::price("DynamoDB on-demand writes")
    )?;
    Ok(())
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_costs_its_request_and_the_rest_only_their_writes_and_reads() {
        let edit = &CONVERSATION_ACTIONS[0];
        // The HTTP API, 1.1 invocations, 1.2 SQS (FIFO) requests, 2 writes, 2.5 read units.
        let expected = 1.0 + 1.1 * 0.2 + 1.2 * 0.5 + 2.0 * 0.625 + 2.5 * 0.125;
        let priced = per_million(edit, cost::FrontDoor::HttpApi);
        assert!((priced - expected).abs() < 1e-9, "{priced}");
        assert!((priced - per_million(edit, cost::FrontDoor::FunctionUrl) - 1.0).abs() < 1e-9);
        let answered = &CONVERSATION_ACTIONS[1];
        assert_eq!(per_million(answered, cost::FrontDoor::HttpApi), 0.0);
        let first = &CONVERSATION_ACTIONS[2];
        assert!((per_million(first, cost::FrontDoor::HttpApi) - 1.375).abs() < 1e-9);
        let later = &CONVERSATION_ACTIONS[3];
        assert!((per_million(later, cost::FrontDoor::FunctionUrl) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn the_section_names_every_action() {
        let mut md = String::new();
        section(&mut md).unwrap();
        for action in &CONVERSATION_ACTIONS {
            assert!(md.contains(action.name), "{}", action.name);
        }
        if std::env::var_os("PRINT_COST_SECTION").is_some() {
            println!("{md}");
        }
    }
}
