//! The local stack: what runs the product on one machine with emulated AWS.
//!
//! - [`admin`]: the operator's CLI's library (`fchat-admin`, in `infra/admin`: a production tool
//!   the local stack uses for its seed and its tests), re-exported.
//! - [`console`]: the local stack's web console (`fchat-local console`).
//! - [`moto`]: starts the DynamoDB/SQS/SSM emulator (moto's server) on loopback.
//! - [`provision`]: creates the tables, queues and secrets (SSM SecureString parameters) that
//!   `template.yaml` declares.
//! - [`template`]: `template.yaml` as the local stack reads it.
//! - [`seed`]: loads groups, apps and users from a seed file.
//! - [`runtime`]: a Lambda Runtime API emulator that runs the real function binaries.
//! - [`iam`]: a proxy in front of moto that holds every call to the signer's policy in `template.yaml`.
//! - [`relay`]: passes a request on to another loopback server (the gate's way to moto).
//! - [`gateway`]: an API Gateway (HTTP API) stand-in that turns requests into invocations.
//! - [`poller`]: an SQS event source mapping stand-in that feeds queue batches to a function.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use fchat_admin as admin;
pub mod console;
pub mod gateway;
pub mod harness;
pub mod iam;
pub mod invoke;
pub mod moto;
pub mod poller;
pub mod provision;
pub mod relay;
pub mod runtime;
pub mod seed;
pub mod template;

/// The workspace's root directory, where `template.yaml` is.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The variables of an env file as `fchat-local setup` writes it (`NAME='value'`, dotenv's
/// format): for `fchat-local functions`; `fchat-admin --env-file` reads it the same way.
pub fn read_env_file(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    fchat_admin::environment::read_env_file(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_files_read_back_what_setup_writes() {
        let dir = std::env::temp_dir().join(format!("fchat-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("functions.env");
        std::fs::write(
            &path,
            "# the functions' environment
A_TABLE='apps'

SECRET='x y $z #w'
PLAIN=1
QUOTED=\"q\"
EMPTY=''
",
        )
        .unwrap();
        let env = super::read_env_file(&path).unwrap();
        assert_eq!(env["A_TABLE"], "apps");
        assert_eq!(env["SECRET"], "x y $z #w");
        assert_eq!(env["PLAIN"], "1");
        assert_eq!(env["QUOTED"], "q");
        assert_eq!(env["EMPTY"], "");
        assert_eq!(env.len(), 5);
        std::fs::write(
            &path,
            "BAD NAME=1
",
        )
        .unwrap();
        assert!(super::read_env_file(&path).is_err());
        assert!(super::read_env_file(&dir.join("missing.env")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
