//! The FChat gateway's shared library: the domain, validation of the public API, the ports the
//! functions depend on, their adapters (DynamoDB, SQS, in memory), the secrets read from SSM and
//! the error catalogue.

pub mod apigw;
pub mod app_webhook;
pub mod aws;
pub mod callback;
pub mod config;
pub mod credentials;
pub mod delivery;
pub mod domain;
pub mod dynamo;
pub mod error;
pub mod fchat;
pub mod forward;
pub mod http;
pub mod ingest;
pub mod job;
pub mod logging;
pub mod memory;
pub mod message;
pub mod outbound;
pub mod ports;
pub mod secrets;
pub mod sqs;
pub mod tables;
pub mod tls;
pub mod webhook;
