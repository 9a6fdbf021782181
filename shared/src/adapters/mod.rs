//! The ports' adapters: DynamoDB, SQS, FChat, SSM, apps' webhooks, and in memory for tests; and
//! the HTTP functions' front doors (`lambda_http`).

pub mod alertmanager_silences;
pub mod dynamo;
pub mod fchat;
pub mod front_door;
pub mod memory;
pub mod sns;
pub mod sqs;
pub mod ssm;
pub mod trust;
pub mod webhook;
