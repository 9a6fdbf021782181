use anyhow::{Context as _, Result};
use gateway::ports::ContextStore;

use crate::commands::Run;
use crate::views::{context_view, plain};
use crate::{output, Admin, Output};

/// A message's delivery status, attempts, last error and FChat id
#[derive(clap::Args, Debug)]
pub struct Status {
    /// The message's context id (the send API's answer)
    #[arg(value_name = "CONTEXT_ID")]
    id: String,
}

impl Run for Status {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let id = &self.id;
        let context = admin
            .store
            .context_record(id)
            .await?
            .with_context(|| format!("no message {id}"))?;
        let view = context_view(&context, (admin.now)());
        let text = format!(
            "{id}: {} after {} attempt(s); FChat id {}; last error {}",
            plain(&view["status"]),
            view["attempts"],
            plain(&view["fchat_message_id"]),
            plain(&view["last_error"])
        );
        output(view, text)
    }
}
