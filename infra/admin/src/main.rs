//! `fchat-admin`: the operator's CLI. See the crate's documentation and docs/operating.md.

use std::io::Write as _;

use anyhow::Result;
use fchat_admin::cli::{self, Parsed};
use fchat_admin::commands::Command;
use fchat_admin::Output;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Before clap has read the line, a --json anywhere asks for JSON errors too.
    let json = args.iter().any(|a| a == "--json");
    match run(&args).await {
        Ok(output) => {
            let text = if json {
                serde_json::to_string_pretty(&output.json).unwrap_or_default()
            } else {
                output.text
            };
            // A reader that went away (`| head`) is no error of ours.
            let _ = writeln!(std::io::stdout(), "{text}");
            if !output.success {
                std::process::exit(1);
            }
        }
        Err(error) => {
            if json {
                let _ = writeln!(
                    std::io::stdout(),
                    "{}",
                    serde_json::json!({"error": format!("{error:#}")})
                );
            }
            eprintln!("fchat-admin: {error:#}");
            std::process::exit(1);
        }
    }
}

async fn run(args: &[String]) -> Result<Output> {
    let cli = match cli::parse(args)? {
        Parsed::Help(text) => {
            return Ok(Output {
                json: serde_json::json!({ "help": text }),
                text: text.trim_end().to_owned(),
                success: true,
            })
        }
        Parsed::Run(cli) => cli,
    };
    // Completions need no stack.
    if let Command::Completions(completions) = &cli.command {
        let script = completions.script();
        return Ok(Output {
            json: serde_json::json!({ "script": script }),
            text: script,
            success: true,
        });
    }
    let env = fchat_admin::environment::variables(cli.env_file.as_deref())?;
    let admin = fchat_admin::environment::admin(&env).await?;
    admin.execute(cli.command).await
}
