//! `user ...`

mod list;

super::commands! {
    /// What `user` does.
    UserCommand {
        List(list::List),
    }
}
