//! The names the DynamoDB adapter relies on: key attributes, index names, the TTL attribute.
//! `template.yaml` declares the tables; a test checks that it declares exactly these.

pub const APPS_KEY: &str = "name";
/// The apps table's index on `token_hash`: the user route finds its app without a scan.
pub const APPS_TOKEN_INDEX: &str = "by-token-hash";
pub const APPS_TOKEN_ATTRIBUTE: &str = "token_hash";
/// The apps table's index on the previous token's hash, during a rotation's grace period.
pub const APPS_PREVIOUS_TOKEN_INDEX: &str = "by-previous-token-hash";
pub const APPS_PREVIOUS_TOKEN_ATTRIBUTE: &str = "previous_token_hash";
/// The apps table's index on `group_id`: a room event finds the apps of its group.
pub const APPS_GROUP_INDEX: &str = "by-group";
pub const APPS_GROUP_ATTRIBUTE: &str = "group_id";
pub const GROUPS_KEY: &str = "id";
/// The groups table's index on `beatchat_id`: a room event finds its group.
pub const GROUPS_BEATCHAT_INDEX: &str = "by-beatchat-id";
pub const GROUPS_BEATCHAT_ATTRIBUTE: &str = "beatchat_id";
pub const USERS_KEY: &str = "email";
pub const CONTEXTS_KEY: &str = "id";
/// The contexts table's index on `fchat_message_id`: a click finds its message's context.
pub const CONTEXTS_MESSAGE_INDEX: &str = "by-fchat-message-id";
pub const CONTEXTS_MESSAGE_ATTRIBUTE: &str = "fchat_message_id";
/// The FChat message id of a message without buttons: no click can come back to it, so it is
/// kept out of the index (one write unit less per message).
pub const CONTEXTS_MESSAGE_REF_ATTRIBUTE: &str = "fchat_message_ref";
/// The TTL attribute of the contexts table: DynamoDB deletes what has expired, eventually.
pub const EXPIRY_ATTRIBUTE: &str = "expires_at";

/// The physical names of the tables and the queue, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub apps: String,
    pub groups: String,
    pub users: String,
    pub contexts: String,
}
