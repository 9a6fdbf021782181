//! The FChat side of `docs/fchat-api.md`, served on loopback.
//!
//! FChat's bot API is not public, so the gateway is developed and tested against this
//! simulator: it answers `POST /sendMessage` and `GET /getUserByEmail` as the contract says,
//! records what it accepted, and can be told to misbehave ([`Faults`]) so that the gateway's
//! retry, backoff and once-only delivery can be exercised without the real service.
//!
//! It also plays FChat's users towards the gateway: [`Simulator::act_text`],
//! [`Simulator::act_click`] and [`Simulator::act_room`] post the updates of the contract's
//! last section ("FChat calls the gateway back") to the gateway's callback route.
//!
//! Tests drive it through the [`Simulator`] handle; a running binary is driven over HTTP
//! through the `/_sim/...` control endpoints, which mirror the handle's methods.
//!
//! The [`receiver`] module is the other end of the gateway: a demo app webhook that checks
//! the gateway's signatures.
//!
//! Inside, one concern a module:
//! - `model`: the public data ([`SimUser`], [`SimulatorConfig`], [`ReceivedMessage`],
//!   [`UserAction`], [`ButtonRef`]);
//! - `simulator`: the [`Simulator`] handle;
//! - `state`: the shared state, its directory, group chats, record and id counters;
//! - `bot_api`: FChat's bot API routes (`sendMessage`, `editMessageText`, `getUserByEmail`);
//! - `conversation_api`: the routes of conversations (`editMessageReplyMarkup`,
//!   `deleteMessage`, `answerCallbackQuery`);
//! - `control`: the `/_sim/` control routes;
//! - `act`: acting as a user (posting updates to the gateway);
//! - `faults`: the fault switches ([`Faults`]);
//! - `limits`: FChat's rate limits, off unless turned on ([`Limits`]);
//! - `http`: answers in FChat's error format, bounded bodies, the background server.
//!
//! The [`cli`] module is what the crate's two binaries share.

pub mod cli;
pub mod receiver;

mod act;
mod bot_api;
mod control;
mod conversation_api;
mod faults;
mod http;
mod limits;
mod model;
mod simulator;
mod state;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use faults::Faults;
pub use limits::{Limits, LimitsStatus};
pub use model::{
    ButtonRef, ClickNotice, MessageVersion, ReceivedMessage, SimUser, SimulatorConfig, UserAction,
};
pub use simulator::Simulator;

/// Locks through poisoning: state stays consistent between statements, and a panic in one
/// request must not turn every later request into another panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
