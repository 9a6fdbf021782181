//! Apps' webhooks: the signed POST (`sender`), its Standard Webhooks signatures (`signing`) and
//! the SSRF guard every request to an app's URL passes (`guard`).

pub mod guard;
pub mod sender;
pub mod signing;
