use anyhow::Result;
use serde_json::json;

use crate::commands::Run;
use crate::{output, Admin, Output};

/// Shell completions for fchat-admin: `fchat-admin completions bash > /etc/bash_completion.d/fchat-admin`
/// (needs no stack)
#[derive(clap::Args, Debug)]
pub struct Completions {
    /// The shell
    #[arg(value_name = "SHELL")]
    shell: clap_complete::Shell,
}

impl Completions {
    /// The completion script.
    pub fn script(&self) -> String {
        let mut script = Vec::new();
        clap_complete::generate(
            self.shell,
            &mut crate::cli::command(),
            "fchat-admin",
            &mut script,
        );
        String::from_utf8_lossy(&script).into_owned()
    }
}

impl Run for Completions {
    async fn run(self, _admin: &Admin) -> Result<Output> {
        let script = self.script();
        output(
            json!({"shell": self.shell.to_string(), "script": script}),
            script,
        )
    }
}
