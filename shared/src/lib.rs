//! The FChat gateway's shared library, in layers; every import points down the list:
//!
//! - `domain`: the product's records, messages and jobs, and the rules on them;
//! - `ports`: what the services need from the world (stores, the queue, FChat, webhooks);
//! - `api`: the public API's shape, validation and error catalogue;
//! - `services`: ingest, delivery, callback, forwarding and the outbox;
//! - `adapters`: DynamoDB, SQS, FChat, SSM, apps' webhooks, and in memory;
//! - `wiring`: the configuration and the adapters built once per cold start.
//!
//! `logging` serves every layer. The short paths below (`gateway::dynamo`, `gateway::ingest`,
//! ...) are the names the binaries and tools use.

pub mod adapters;
pub mod api;
pub mod domain;
pub mod logging;
pub mod metrics;
pub mod ports;
pub mod services;
pub mod wiring;

pub use adapters::dynamo::tables;
pub use adapters::{dynamo, fchat, front_door, memory, sqs, ssm, trust};
pub use api::{error, http};
pub use domain::{credentials, job, message};
pub use services::{callback, delivery, ingest};
pub use wiring::config;
