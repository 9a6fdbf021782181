//! The ports' adapters: DynamoDB, SQS, FChat, SSM, apps' webhooks, and in memory for tests; and
//! the API Gateway event shape of the HTTP functions.

pub mod apigw;
pub mod dynamo;
pub mod fchat;
pub mod memory;
pub mod secrets;
pub mod sqs;
pub mod tls;
pub mod webhook;
