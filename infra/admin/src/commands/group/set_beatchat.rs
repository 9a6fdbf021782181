use anyhow::Result;
use gateway::ports::GroupStore;

use crate::checks::check_id;
use crate::commands::Run;
use crate::views::group_view;
use crate::{output, Admin, Output};

/// The group's FChat group (its chat id); under `make dev` the simulator gets the chat first
#[derive(clap::Args, Debug)]
pub struct SetBeatchat {
    /// The group's id
    #[arg(value_name = "GROUP")]
    group: String,
    /// The FChat group's chat id
    #[arg(value_name = "BEATCHAT_ID")]
    beatchat_id: String,
}

impl Run for SetBeatchat {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut group = admin.existing_group(&self.group).await?;
        check_id("a beatchat id", &self.beatchat_id)?;
        admin.tell_simulator(&self.beatchat_id).await?;
        group.beatchat_id = Some(self.beatchat_id.clone());
        admin.store.put_group(&group).await?;
        output(
            group_view(&group),
            format!(
                "group {} now posts to FChat chat {}",
                group.id, self.beatchat_id
            ),
        )
    }
}
