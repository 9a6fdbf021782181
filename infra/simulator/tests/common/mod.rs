//! What the simulator's and the receiver's tests share. Each test file uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// A fresh connection per request, so that one test's dropped or hung connection cannot be
/// reused by the next request.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http()
}

/// Asserts that nothing accepts connections at `addr` any more: what dropping a handle does
/// to its server. The accept loop notices on its next turn.
pub async fn assert_stopped(addr: SocketAddr) {
    tokio::time::sleep(Duration::from_millis(100)).await;
    let connected =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await;
    assert!(matches!(connected, Ok(Err(_))), "{connected:?}");
}
