//! The ids the emulator hands out, random as Lambda's: request ids (v4 UUIDs), X-Ray trace
//! headers and log stream names.

use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

pub(super) fn epoch_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// An invocation's or an Invoke API answer's request id: a random (v4) UUID, as Lambda's.
pub(super) fn request_id() -> String {
    Uuid::new_v4().to_string()
}

/// A log stream name in Lambda's shape: `local/[$LATEST]` and 32 random hex digits.
pub(super) fn log_stream_name() -> String {
    format!("local/[$LATEST]{}", Uuid::new_v4().simple())
}

/// An X-Ray trace header: the epoch seconds and 96 random bits, a random 64-bit parent id,
/// not sampled.
pub(super) fn trace_id() -> String {
    let seconds = epoch_millis() / 1000;
    let (root, parent) = (Uuid::new_v4().simple(), Uuid::new_v4().simple());
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        seconds as u32,
        &root.to_string()[..24],
        &parent.to_string()[..16]
    )
}
