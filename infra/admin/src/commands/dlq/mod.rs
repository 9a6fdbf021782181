//! `dlq ...`

mod list;
mod redrive;

super::commands! {
    /// What `dlq` does.
    DlqCommand {
        List(list::List),
        Redrive(redrive::Redrive),
    }
}
