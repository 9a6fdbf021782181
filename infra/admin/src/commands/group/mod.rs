//! `group ...`

mod activate;
mod create;
mod deactivate;
mod delete;
mod list;
mod set_beatchat;

super::commands! {
    /// What `group` does.
    GroupCommand {
        Create(create::Create),
        SetBeatchat(set_beatchat::SetBeatchat),
        Delete(delete::Delete),
        Activate(activate::Activate),
        Deactivate(deactivate::Deactivate),
        List(list::List),
    }
}
