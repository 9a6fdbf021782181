//! The local stack: what runs the product on one machine with emulated AWS.
//!
//! - [`admin`]: the operator's commands (`fchat-admin`).
//! - [`moto`]: starts the DynamoDB/SQS/SSM emulator (moto's server) on loopback.
//! - [`provision`]: creates the tables, queues and secrets (SSM SecureString parameters) that
//!   `template.yaml` declares.
//! - [`seed`]: loads groups, apps and users from a seed file.
//! - [`runtime`]: a Lambda Runtime API emulator that runs the real function binaries.
//! - [`gateway`]: an API Gateway (HTTP API) stand-in that turns requests into invocations.
//! - [`poller`]: an SQS event source mapping stand-in that feeds queue batches to a function.

use std::path::PathBuf;

pub mod admin;
pub mod gateway;
pub mod harness;
pub mod invoke;
pub mod moto;
pub mod poller;
pub mod provision;
pub mod runtime;
pub mod seed;

/// The workspace's root directory, where `template.yaml` is.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
