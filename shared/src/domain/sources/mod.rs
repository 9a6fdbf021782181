//! The sources' room: every system that posts to the gateway in its own format, one file (or
//! one folder) each, all rendered through the one sandboxed renderer of
//! [`crate::domain::template`].
//!
//! - [`alerts`]: Alertmanager and Grafana, each a file of its own (`alerts/alertmanager.rs`,
//!   `alerts/grafana.rs`: its payload's version rule, default template, sample and links),
//!   and the alert notification both share (the model, its template context, the fitting of
//!   many alerts into one message, the silence buttons).
//! - [`sns`]: Amazon SNS's envelope and what its signature covers.
//! - [`aws_events`]: the AWS kinds SNS and EventBridge carry (a CloudWatch alarm, a GuardDuty
//!   finding, ...), in a folder of their own: one extractor and one default template each.
//! - [`hooks`]: custom sources, any JSON webhook through the app's own templates.
//! - [`alert_thread`]: the one-message lifecycle every source's notifications share (post,
//!   edit, reply).
//!
//! Which route serves which source, and how it authenticates, is the registry's
//! (`crate::api::sources`).

pub mod alert_thread;
pub mod alerts;
pub mod aws_events;
pub mod hooks;
pub mod sns;
