//! `message ...`

mod status;

super::commands! {
    /// What `message` does.
    MessageCommand {
        Status(status::Status),
    }
}
