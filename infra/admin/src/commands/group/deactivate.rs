use anyhow::Result;
use gateway::ports::GroupStore;

use crate::commands::Run;
use crate::views::group_view;
use crate::{output, Admin, Output};

/// Deactivates a group: its apps' group messages answer `400 Bad Request: group is not active`, and queued ones fail
#[derive(clap::Args, Debug)]
pub struct Deactivate {
    /// The group's id
    #[arg(value_name = "GROUP")]
    group: String,
}

impl Run for Deactivate {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut group = admin.existing_group(&self.group).await?;
        group.active = false;
        admin.store.put_group(&group).await?;
        output(
            group_view(&group),
            format!("group {} deactivated", group.id),
        )
    }
}
