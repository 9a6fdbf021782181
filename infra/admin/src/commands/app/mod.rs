//! `app ...`

mod add_source;
mod allow_topic;
mod clear_alertmanager;
mod clear_template;
mod create;
mod disable;
mod disallow_topic;
mod enable;
mod list;
mod remove_source;
mod render_template;
mod rotate_secret;
mod rotate_token;
mod set_alertmanager;
mod set_delivery_window;
mod set_reminders;
mod set_template;
mod set_webhook;
mod show;
mod test_webhook;
mod topics;

super::commands! {
    /// What `app` does.
    AppCommand {
        Create(create::Create),
        List(list::List),
        Show(show::Show),
        Disable(disable::Disable),
        Enable(enable::Enable),
        SetWebhook(set_webhook::SetWebhook),
        TestWebhook(test_webhook::TestWebhook),
        SetDeliveryWindow(set_delivery_window::SetDeliveryWindow),
        SetTemplate(set_template::SetTemplate),
        ClearTemplate(clear_template::ClearTemplate),
        RenderTemplate(render_template::RenderTemplate),
        SetAlertmanager(set_alertmanager::SetAlertmanager),
        ClearAlertmanager(clear_alertmanager::ClearAlertmanager),
        SetReminders(set_reminders::SetReminders),
        AddSource(add_source::AddSource),
        RemoveSource(remove_source::RemoveSource),
        AllowTopic(allow_topic::AllowTopic),
        DisallowTopic(disallow_topic::DisallowTopic),
        Topics(topics::Topics),
        RotateToken(rotate_token::RotateToken),
        RotateSecret(rotate_secret::RotateSecret),
    }
}
