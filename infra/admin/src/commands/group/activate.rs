use anyhow::Result;
use gateway::ports::GroupStore;

use crate::commands::Run;
use crate::views::group_view;
use crate::{output, Admin, Output};

/// Activates a group: its apps' group messages are delivered again
#[derive(clap::Args, Debug)]
pub struct Activate {
    /// The group's id
    #[arg(value_name = "GROUP")]
    group: String,
}

impl Run for Activate {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let mut group = admin.existing_group(&self.group).await?;
        group.active = true;
        admin.store.put_group(&group).await?;
        output(group_view(&group), format!("group {} activated", group.id))
    }
}
