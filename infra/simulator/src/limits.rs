//! FChat's rate limits (docs/fchat-api.md, "Limits"), behind one switch: off unless turned on,
//! as `PUT /_sim/limits` or [`crate::Simulator::set_limits`] does.
//!
//! Three sliding windows, after Telegram's bot limits: the sends to one chat in the last
//! second, the sends to one group chat in the last minute, and the bot's sends to every chat in
//! the last second. `sendMessage`, `editMessageText` and `editMessageReplyMarkup` count against
//! them, as edits do on Telegram; a call over any of them is answered 429 with
//! `parameters.retry_after`, the whole seconds until the window lets one more through, and
//! changes nothing.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One second: the per-chat and the bot-wide window.
const SECOND: Duration = Duration::from_secs(1);
/// One minute: the per-group window.
const MINUTE: Duration = Duration::from_secs(60);
/// Chats remembered before the quiet ones are forgotten: the record stays bounded whatever
/// the number of chats a test uses.
const MAX_TRACKED_CHATS: usize = 10_000;

/// FChat's limits. A field left out of `PUT /_sim/limits` takes FChat's documented value; 0
/// turns that one limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Sends to one chat (a user's or a group's) per second.
    #[serde(default = "per_chat_per_second")]
    pub per_chat_per_second: u32,
    /// Sends to one group chat per minute.
    #[serde(default = "per_group_per_minute")]
    pub per_group_per_minute: u32,
    /// Sends of the bot to all chats together per second.
    #[serde(default = "global_per_second")]
    pub global_per_second: u32,
}

fn per_chat_per_second() -> u32 {
    1
}

fn per_group_per_minute() -> u32 {
    20
}

fn global_per_second() -> u32 {
    30
}

/// FChat's documented limits.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_chat_per_second: per_chat_per_second(),
            per_group_per_minute: per_group_per_minute(),
            global_per_second: global_per_second(),
        }
    }
}

/// What `GET /_sim/limits` shows: the limits in force (`null` when off) and how many calls
/// they refused since they were last set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsStatus {
    pub enabled: bool,
    pub per_chat_per_second: Option<u32>,
    pub per_group_per_minute: Option<u32>,
    pub global_per_second: Option<u32>,
    pub refused: u64,
}

/// The limits in force and the sends they have seen.
#[derive(Default)]
pub(crate) struct Limiter {
    limits: Option<Limits>,
    refused: u64,
    by_chat: HashMap<String, VecDeque<Instant>>,
    all: VecDeque<Instant>,
}

impl Limiter {
    /// Turns the limits on (`Some`) with a fresh count, or off (`None`), keeping the count of
    /// what they refused so that it can still be read.
    pub(crate) fn set(&mut self, limits: Option<Limits>) {
        if limits.is_some() {
            self.refused = 0;
        }
        self.limits = limits;
        self.by_chat.clear();
        self.all.clear();
    }

    pub(crate) fn status(&self) -> LimitsStatus {
        let on = |pick: fn(&Limits) -> u32| self.limits.as_ref().map(pick);
        LimitsStatus {
            enabled: self.limits.is_some(),
            per_chat_per_second: on(|l| l.per_chat_per_second),
            per_group_per_minute: on(|l| l.per_group_per_minute),
            global_per_second: on(|l| l.global_per_second),
            refused: self.refused,
        }
    }

    /// Counts a send to `chat` at `now` if the limits let it through; else the whole seconds
    /// until they would, at least 1.
    pub(crate) fn admit(&mut self, chat: &str, group: bool, now: Instant) -> Result<(), u64> {
        let Some(limits) = self.limits else {
            return Ok(());
        };
        forget_before(&mut self.all, now, SECOND);
        let sends = self.by_chat.entry(chat.to_owned()).or_default();
        // A chat's record reaches back a minute for groups, a second for users.
        forget_before(sends, now, if group { MINUTE } else { SECOND });
        let waits = [
            wait(sends, now, SECOND, limits.per_chat_per_second),
            if group {
                wait(sends, now, MINUTE, limits.per_group_per_minute)
            } else {
                None
            },
            wait(&self.all, now, SECOND, limits.global_per_second),
        ];
        if let Some(longest) = waits.into_iter().flatten().max() {
            self.refused += 1;
            return Err(longest.as_secs_f64().ceil().max(1.0) as u64);
        }
        sends.push_back(now);
        self.all.push_back(now);
        if self.by_chat.len() > MAX_TRACKED_CHATS {
            self.by_chat.retain(|_, sends| {
                sends
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < MINUTE)
            });
        }
        Ok(())
    }
}

/// Drops the sends older than `window`.
fn forget_before(sends: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while sends
        .front()
        .is_some_and(|first| now.duration_since(*first) >= window)
    {
        sends.pop_front();
    }
}

/// How long until fewer than `limit` of `sends` fall within the last `window`; `None` when
/// one more may go now, or when the limit is off (0).
fn wait(sends: &VecDeque<Instant>, now: Instant, window: Duration, limit: u32) -> Option<Duration> {
    let limit = limit as usize;
    if limit == 0 {
        return None;
    }
    let recent: Vec<&Instant> = sends
        .iter()
        .filter(|at| now.duration_since(**at) < window)
        .collect();
    if recent.len() < limit {
        return None;
    }
    // The send that must leave the window for one more to fit.
    let leaving = recent[recent.len() - limit];
    Some(window.saturating_sub(now.duration_since(*leaving)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limits: Limits) -> Limiter {
        let mut limiter = Limiter::default();
        limiter.set(Some(limits));
        limiter
    }

    #[test]
    fn left_out_fields_take_fchats_documented_values() {
        let limits: Limits = serde_json::from_str(r#"{"per_chat_per_second": 3}"#).unwrap();
        assert_eq!(
            limits,
            Limits {
                per_chat_per_second: 3,
                ..Limits::default()
            }
        );
        assert_eq!(Limits::default().per_group_per_minute, 20);
        assert!(serde_json::from_str::<Limits>(r#"{"per_chat": 1}"#).is_err());
        assert!(serde_json::from_str::<Limits>(r#"{"global_per_second": -1}"#).is_err());
    }

    #[test]
    fn off_admits_everything() {
        let mut limiter = Limiter::default();
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(limiter.admit("c", true, now), Ok(()));
        }
        assert_eq!(limiter.status().refused, 0);
        assert!(!limiter.status().enabled);
    }

    #[test]
    fn one_chat_per_second_and_others_unaffected() {
        let mut limiter = limiter(Limits::default());
        let start = Instant::now();
        assert_eq!(limiter.admit("alice-7", false, start), Ok(()));
        assert_eq!(
            limiter.admit("alice-7", false, start + Duration::from_millis(300)),
            Err(1)
        );
        assert_eq!(
            limiter.admit("bob-3", false, start + Duration::from_millis(300)),
            Ok(())
        );
        assert_eq!(
            limiter.admit("alice-7", false, start + Duration::from_millis(1000)),
            Ok(())
        );
        assert_eq!(limiter.status().refused, 1);
    }

    #[test]
    fn a_group_takes_its_minute_limit_and_says_how_long_to_wait() {
        let mut limiter = limiter(Limits {
            per_chat_per_second: 0,
            per_group_per_minute: 4,
            global_per_second: 0,
        });
        let start = Instant::now();
        for i in 0..4 {
            let at = start + Duration::from_secs(i);
            assert_eq!(limiter.admit("ops room", true, at), Ok(()), "{i}");
        }
        // The first send leaves the minute 56 s after the fifth try, at 60 s.
        assert_eq!(
            limiter.admit("ops room", true, start + Duration::from_millis(4500)),
            Err(56)
        );
        // A user's chat has no minute limit.
        for i in 0..10 {
            let at = start + Duration::from_millis(100 * i);
            assert_eq!(limiter.admit("user-1", false, at), Ok(()));
        }
        assert_eq!(
            limiter.admit("ops room", true, start + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn the_bots_overall_limit_spans_chats() {
        let mut limiter = limiter(Limits {
            per_chat_per_second: 1,
            per_group_per_minute: 20,
            global_per_second: 5,
        });
        let now = Instant::now();
        for chat in 0..5 {
            assert_eq!(limiter.admit(&format!("chat-{chat}"), false, now), Ok(()));
        }
        assert_eq!(limiter.admit("chat-99", false, now), Err(1));
        let status = limiter.status();
        assert_eq!((status.refused, status.global_per_second), (1, Some(5)));
        // Turned off, the count stays readable; turned on again, it starts over.
        limiter.set(None);
        assert_eq!(limiter.status().refused, 1);
        limiter.set(Some(Limits::default()));
        assert_eq!(limiter.status().refused, 0);
    }

    #[test]
    fn the_record_of_chats_stays_bounded() {
        let mut limiter = limiter(Limits::default());
        let start = Instant::now();
        for chat in 0..(MAX_TRACKED_CHATS + 10) {
            limiter
                .admit(&format!("c{chat}"), false, start)
                .unwrap_or(());
        }
        let later = start + Duration::from_secs(61);
        limiter.admit("late", false, later).unwrap();
        assert!(
            limiter.by_chat.len() <= MAX_TRACKED_CHATS,
            "{}",
            limiter.by_chat.len()
        );
    }
}
