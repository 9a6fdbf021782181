use anyhow::Result;
use serde_json::{json, Value};

use crate::commands::Run;
use crate::views::plain;
use crate::{output, Admin, Output};

/// The FChat users the gateway has messaged
#[derive(clap::Args, Debug)]
pub struct List {}

impl Run for List {
    async fn run(self, admin: &Admin) -> Result<Output> {
        let users: Vec<Value> = admin
            .store
            .all_users()
            .await?
            .iter()
            .map(|u| json!({"email": u.email, "fchat_id": u.fchat_id, "name": u.name, "created_at": u.created_at}))
            .collect();
        let text = users
            .iter()
            .map(|u| format!("{} {}", plain(&u["email"]), plain(&u["fchat_id"])))
            .collect::<Vec<_>>()
            .join("\n");
        output(json!(users), text)
    }
}
