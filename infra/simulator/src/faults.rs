//! Misbehaviour on demand: the fault switches of `sendMessage` and how a call's fate is drawn
//! from them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::lock;
use crate::state::State;

/// How long a "hung" call holds its connection: longer than any sane client timeout, short
/// enough that a forgotten simulator does not pile up connections forever.
pub(crate) const HANG: Duration = Duration::from_secs(60);

/// Misbehaviour to inject, so the gateway's handling of a flaky FChat can be tested.
///
/// Counters apply to `sendMessage` and `editMessageText` and are consumed one per call: after the latency, the
/// first non-zero of `drop_next`, `hang_next`, `rate_limit_next`, `fail_next` (in that order)
/// decides the call's fate and is decremented. They act before authentication and validation,
/// as an overloaded or broken front end would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Added to every FChat API request (not to the `/_sim/` control endpoints, so that a
    /// test can always reset a slow simulator quickly).
    #[serde(default)]
    pub latency_ms: u64,
    /// The next N `sendMessage` calls fail with `fail_status`.
    #[serde(default)]
    pub fail_next: u32,
    /// Status of a simulated failure; an invalid HTTP status falls back to 500.
    #[serde(default = "default_fail_status")]
    pub fail_status: u16,
    /// The next N `sendMessage` calls answer 429 with `parameters.retry_after`.
    #[serde(default)]
    pub rate_limit_next: u32,
    /// Seconds announced by a simulated 429.
    #[serde(default = "default_retry_after")]
    pub retry_after: u64,
    /// The next N `sendMessage` calls close the connection without any answer.
    #[serde(default)]
    pub drop_next: u32,
    /// The next N `sendMessage` calls never answer: the connection is held open about 60 s.
    #[serde(default)]
    pub hang_next: u32,
    /// `editMessageText` answers 400 "message can't be edited", as FChat does for a message
    /// too old to edit.
    #[serde(default)]
    pub refuse_edits: bool,
}

fn default_fail_status() -> u16 {
    500
}

fn default_retry_after() -> u64 {
    1
}

/// Written by hand rather than derived so that `Faults { fail_next: 1, ..Default::default() }`
/// fails with 500 and rate-limits for 1 s, exactly like the same JSON without those fields.
impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            fail_next: 0,
            fail_status: default_fail_status(),
            rate_limit_next: 0,
            retry_after: default_retry_after(),
            drop_next: 0,
            hang_next: 0,
            refuse_edits: false,
        }
    }
}

/// What a `sendMessage` or `editMessageText` call turns into once the faults have had their say.
pub(crate) enum Fate {
    Drop,
    Hang,
    RateLimit(u64),
    Fail(u16),
    Serve,
}

impl State {
    pub(crate) async fn latency(&self) {
        let latency_ms = lock(&self.faults).latency_ms;
        if latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(latency_ms)).await;
        }
    }

    pub(crate) fn fate(&self) -> Fate {
        let mut faults = lock(&self.faults);
        if faults.drop_next > 0 {
            faults.drop_next -= 1;
            Fate::Drop
        } else if faults.hang_next > 0 {
            faults.hang_next -= 1;
            Fate::Hang
        } else if faults.rate_limit_next > 0 {
            faults.rate_limit_next -= 1;
            Fate::RateLimit(faults.retry_after)
        } else if faults.fail_next > 0 {
            faults.fail_next -= 1;
            Fate::Fail(faults.fail_status)
        } else {
            Fate::Serve
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_default_like_their_json() {
        let from_json: Faults = serde_json::from_str("{}").unwrap();
        assert_eq!(from_json, Faults::default());
        assert_eq!(Faults::default().fail_status, 500);
        assert_eq!(Faults::default().retry_after, 1);
    }
}
