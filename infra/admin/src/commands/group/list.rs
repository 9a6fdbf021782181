use anyhow::Result;
use serde_json::{json, Value};

use crate::commands::Run;
use crate::views::{group_view, plain};
use crate::{output, Admin, Output};

/// Every group, with its FChat group and whether it is active
#[derive(clap::Args, Debug)]
pub struct List {}

impl Run for List {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let groups: Vec<Value> = admin
            .store
            .all_groups()
            .await?
            .iter()
            .map(group_view)
            .collect();
        let text = groups
            .iter()
            .map(|g| {
                format!(
                    "{} {} active={}",
                    plain(&g["id"]),
                    plain(&g["beatchat_id"]),
                    g["active"]
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        output(json!(groups), text)
    }
}
