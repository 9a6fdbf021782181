use anyhow::{bail, Result};
use gateway::ports::{AppStore, GroupStore};
use serde_json::json;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// Deletes a group. Apps assigned to it keep the assignment, and their group messages answer
/// `404 Group not found` until a group of that id exists again: so a group with apps is deleted
/// only with --force
#[derive(clap::Args, Debug)]
pub struct Delete {
    /// The group's id
    #[arg(value_name = "GROUP")]
    group: String,
    /// Delete it even though apps are assigned to it
    #[arg(long)]
    force: bool,
}

impl Run for Delete {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let group = admin.existing_group(&self.group).await?;
        let apps: Vec<String> = admin
            .store
            .apps_by_group(&group.id)
            .await?
            .into_iter()
            .map(|app| app.name)
            .collect();
        if !apps.is_empty() && !self.force {
            bail!(
                "group {} is assigned to {}: the group messages of these apps would answer 404 Group \
                 not found; pass --force to delete it anyway",
                group.id,
                apps.join(", ")
            );
        }
        admin.store.delete_group(&group.id).await?;
        let text = if apps.is_empty() {
            format!("group {} deleted", group.id)
        } else {
            format!(
                "group {} deleted; the group messages of {} answer 404 Group not found until it is created again",
                group.id,
                apps.join(", ")
            )
        };
        output(json!({"deleted": group.id, "apps": apps}), text)
    }
}
