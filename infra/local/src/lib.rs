//! The local stack: what runs the product on one machine with emulated AWS.
//!
//! - [`moto`]: starts the DynamoDB/SQS emulator (moto's server) on loopback.
//! - [`provision`]: creates the tables and queues that `template.yaml` declares.
//! - [`seed`]: loads groups, apps and users from a seed file.
//! - [`runtime`]: a Lambda Runtime API emulator that runs the real function binaries.
//! - [`gateway`]: an API Gateway (HTTP API) stand-in that turns requests into invocations.

pub mod runtime;
