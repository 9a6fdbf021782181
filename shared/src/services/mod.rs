//! What the functions do, written against the ports alone: the send API (`ingest`), delivery of
//! queued jobs (`delivery`), FChat's updates (`callback`), forwarding them to apps' webhooks
//! (`forwarding`), and the outbox through which every message is queued.

pub mod callback;
pub mod delivery;
pub mod forwarding;
pub mod ingest;
pub mod outbox;
