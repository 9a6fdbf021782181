//! What the functions do, written against the ports alone: the send API (`ingest`), delivery of
//! queued jobs (`delivery`), FChat's updates (`callback`), forwarding them to apps' webhooks
//! (`forwarding`), the outbox through which every message is queued, and the changes to
//! messages once sent (`conversation`).

pub mod callback;
pub mod conversation;
pub mod delivery;
pub mod forwarding;
pub mod ingest;
pub mod outbox;
