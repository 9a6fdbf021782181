use anyhow::{bail, Result};
use gateway::domain::Group;
use gateway::ports::GroupStore;

use crate::checks::{check_id, create_group};
use crate::commands::Run;
use crate::views::group_view;
use crate::{output, Admin, Output};

/// A new group. Without --beatchat-id its messages answer `400 Bad Request: beatchat group id
/// not found` until `group set-beatchat` gives it its FChat group
#[derive(clap::Args, Debug)]
pub struct Create {
    /// The group's id (1 to 256 characters, no control characters)
    #[arg(long, value_name = "GROUP")]
    id: String,
    /// The FChat group's chat id
    #[arg(long, value_name = "BEATCHAT_ID")]
    beatchat_id: Option<String>,
    /// A label
    #[arg(long)]
    name: Option<String>,
    /// Created inactive: its messages answer `400 Bad Request: group is not active`
    #[arg(long)]
    inactive: bool,
}

impl Run for Create {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let group = Group {
            id: self.id,
            beatchat_id: self.beatchat_id,
            active: !self.inactive,
            name: self.name,
        };
        check_id("a group id", &group.id)?;
        if let Some(beatchat_id) = &group.beatchat_id {
            check_id("a beatchat id", beatchat_id)?;
        }
        if admin.store.group(&group.id).await?.is_some() {
            bail!("group {} exists already", group.id);
        }
        // FChat's side first: if the simulator cannot be told, nothing is stored.
        if let Some(beatchat_id) = &group.beatchat_id {
            admin.tell_simulator(beatchat_id).await?;
        }
        create_group(&admin.store, group.clone()).await?;
        let text = match &group.beatchat_id {
            Some(beatchat_id) => {
                format!("group {} created; it posts to FChat chat {beatchat_id}", group.id)
            }
            None => format!(
                "group {} created without an FChat group: its messages answer 400 until `group set-beatchat {} B`",
                group.id, group.id
            ),
        };
        output(group_view(&group), text)
    }
}
