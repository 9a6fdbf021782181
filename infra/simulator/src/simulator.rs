//! The [`Simulator`] handle: starts the server and is how a test drives it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::faults::Faults;
use crate::http::Server;
use crate::lock;
use crate::model::{ButtonRef, ReceivedMessage, SimUser, SimulatorConfig, UserAction};
use crate::state::{Callback, State};

/// A running simulator. Dropping it stops the server and closes its connections, so a test's
/// simulator never outlives the test.
#[derive(Debug)]
pub struct Simulator {
    server: Server<State>,
}

impl Simulator {
    /// Binds `addr` (tests use `127.0.0.1:0`), serves in a background tokio task and returns
    /// the handle with the bound address.
    pub async fn start(addr: SocketAddr, config: SimulatorConfig) -> anyhow::Result<Simulator> {
        let server = Server::start(
            addr,
            State::new(config),
            |state, request, peer| async move { state.handle(request, peer).await },
        )
        .await?;
        Ok(Simulator { server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The base URL to give the gateway as `FCHAT_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// What `sendMessage` accepted, in order; a repeated `client_message_id` appears once.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.server.state.log).messages.clone()
    }

    /// What users did through the `act_*` calls (their messages, clicks, room events), in
    /// order, each with the callback route's answer once it came.
    pub fn actions(&self) -> Vec<UserAction> {
        lock(&self.server.state.log).actions.clone()
    }

    /// Forgets the recorded messages, the users' actions and the `client_message_id`s seen, as a fresh simulator
    /// would; message ids keep counting so that no id is ever handed out twice.
    pub fn clear_messages(&self) {
        lock(&self.server.state.log).clear();
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.server.state.faults) = faults;
    }

    /// Turns FChat's rate limits on (`Some`, with a fresh refusal count) or off (`None`).
    pub fn set_limits(&self, limits: Option<crate::Limits>) {
        lock(&self.server.state.limits).set(limits);
    }

    /// The limits in force and how many calls they refused.
    pub fn limits(&self) -> crate::LimitsStatus {
        lock(&self.server.state.limits).status()
    }

    /// The faults still pending (counters go down as calls consume them).
    pub fn faults(&self) -> Faults {
        lock(&self.server.state.faults).clone()
    }

    /// Every `sendMessage` request received, including failed, faulted and duplicate ones:
    /// how a test sees retries that left no record.
    pub fn send_attempts(&self) -> usize {
        self.server.state.attempts.load(Ordering::SeqCst)
    }

    /// Adds someone to the directory, replacing whoever had the same email.
    pub fn add_user(&self, user: SimUser) {
        self.server.state.add_user(user);
    }

    /// Creates a group chat with this id (nothing happens if it exists): from now on
    /// `sendMessage` accepts it and users can act in it. Fails for an empty or overlong id.
    pub fn add_group(&self, id: &str) -> anyhow::Result<()> {
        Ok(self.server.state.add_group(id)?)
    }

    /// The group chats that exist, sorted by id.
    pub fn groups(&self) -> Vec<String> {
        lock(&self.server.state.groups).iter().cloned().collect()
    }

    /// Each message as it is accepted, for live logs (the binary prints them).
    pub fn subscribe(&self) -> broadcast::Receiver<ReceivedMessage> {
        self.server.state.events.subscribe()
    }

    /// Where the `act_*` updates go: the gateway's callback route (for example
    /// `http://127.0.0.1:9000/callback/fchat`) and the shared secret sent in `X-FChat-Secret`.
    /// Tests call it once the gateway is up; until then every `act_*` call fails.
    pub fn set_callback(&self, url: String, secret: String) {
        *lock(&self.server.state.callback) = Some(Callback { url, secret });
    }

    /// A known user writes `text` to the bot in their private chat. The message gets a fresh
    /// `message_id` from the counter of sent messages, and is recorded as a [`UserAction`]
    /// (not among [`Simulator::messages`], which are the gateway's).
    ///
    /// Answers the gateway's status and JSON body; fails for an unknown email, without a
    /// callback, or when the gateway cannot be reached.
    pub async fn act_text(&self, email: &str, text: &str) -> anyhow::Result<(u16, Value)> {
        Ok(self.server.state.act_text(email, text).await?)
    }

    /// A user clicks `button` of the recorded message `message_id`; the update carries the
    /// button's `callback_data`. The clicking user is the chat's user when the message went to
    /// a known user's private chat (`email` is then ignored), otherwise the known user with
    /// `email`, which a group chat requires.
    ///
    /// Fails for an unknown message, button or user, and as [`Simulator::act_text`] does.
    pub async fn act_click(
        &self,
        message_id: &str,
        button: ButtonRef,
        email: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        Ok(self
            .server
            .state
            .act_click(message_id, &button, email)
            .await?)
    }

    /// Something happens in the group chat `room_id` (a group's `beatchat_id`, which must
    /// exist: [`SimulatorConfig::groups`], [`Simulator::add_group`]): `event` is one of
    /// `JOIN_ROOM`, `ADD_MEMBERS`, `DELETE_MEMBERS`, `MESSAGE`. The sender (also the only
    /// member listed) is the known user with `email`, or the first known user. `text` is the
    /// message of a `MESSAGE`, which needs one, and is refused for the other events.
    ///
    /// Fails for an unknown room, event or user, and as [`Simulator::act_text`] does.
    pub async fn act_room(
        &self,
        room_id: &str,
        event: &str,
        email: Option<&str>,
        text: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        Ok(self
            .server
            .state
            .act_room(room_id, event, email, text)
            .await?)
    }

    /// Posts `payload` as it is to the callback, with the secret: what the `act_*` methods
    /// use, and how a test sends a hand-made or repeated update. Answers the gateway's status
    /// and body (`null` when empty, a JSON string when not JSON).
    pub async fn post_callback(&self, payload: Value) -> anyhow::Result<(u16, Value)> {
        Ok(self.server.state.post_callback(&payload).await?)
    }
}
