//! Starts moto's server, the DynamoDB/SQS/SSM emulator, on a free loopback port.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

/// A running moto server; stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` from `$MOTO_SERVER` or the project's `.venv` (made by `make venv`).
    pub fn start() -> Result<Moto> {
        let executable = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::workspace_root().join(".venv/bin/moto_server"));
        if !executable.exists() {
            bail!(
                "{} not found: run `make venv` (or set MOTO_SERVER to a moto_server executable)",
                executable.display()
            );
        }
        let port = free_port()?;
        let child = Command::new(&executable)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", executable.display()))?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if let Some(status) = moto.child.try_wait()? {
                bail!("moto_server exited before it was ready: {status}");
            }
            if Instant::now() > deadline {
                bail!("moto_server did not listen on {address} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    /// An SDK configuration that talks to this server.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        local_sdk_config(&self.endpoint).await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SDK configuration for an emulator at `endpoint`, signing as the account's
/// administrator ([`crate::iam::ROOT_ACCESS_KEY`]): the local stack's setup and the tests'
/// inspection.
pub async fn local_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    local_sdk_config_as(endpoint, crate::iam::ROOT_ACCESS_KEY).await
}

/// The SDK configuration for an emulator (or the IAM gate in front of it) at `endpoint`,
/// signing with `access_key`: a function's, the operator's (see [`crate::iam`]).
pub async fn local_sdk_config_as(endpoint: &str, access_key: &str) -> aws_config::SdkConfig {
    let secret = if access_key == crate::iam::ROOT_ACCESS_KEY {
        crate::iam::ROOT_ACCESS_KEY
    } else {
        crate::iam::LOCAL_SECRET_KEY
    };
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(crate::iam::policy::LOCAL_REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            access_key, secret, None, None, "local",
        ))
        .load()
        .await
}

/// The environment a function process needs to reach the emulator (or the IAM gate) at
/// `endpoint`, signing with `access_key`.
pub fn local_aws_environment(endpoint: &str, access_key: &str) -> Vec<(String, String)> {
    let secret = if access_key == crate::iam::ROOT_ACCESS_KEY {
        crate::iam::ROOT_ACCESS_KEY
    } else {
        crate::iam::LOCAL_SECRET_KEY
    };
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", access_key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", crate::iam::policy::LOCAL_REGION),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
