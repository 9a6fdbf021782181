//! The SSRF guard over real loopback sockets: the addresses a name resolves to are checked
//! where the connection is made, and redirects are never followed.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gateway::adapters::webhook::guard::{
    is_blocked, webhook_client_with, HostLookup, OutboundPolicy,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Every name resolves to the given addresses.
struct FixedLookup(Vec<IpAddr>);

impl HostLookup for FixedLookup {
    fn lookup(
        &self,
        _host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let addresses = self.0.clone();
        Box::pin(async move { Ok(addresses) })
    }
}

/// A server on loopback answering every request with `answer`; counts requests.
async fn server(answer: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (port, hits)
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

fn client(allow_loopback: bool, resolves_to: &str) -> reqwest::Client {
    webhook_client_with(
        OutboundPolicy { allow_loopback },
        Duration::from_secs(2),
        Arc::new(FixedLookup(vec![resolves_to.parse().unwrap()])),
    )
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_refused_at_connect_time() {
    for private in ["10.0.0.1", "169.254.169.254", "192.168.0.10", "fd00::1"] {
        let error = client(false, private)
            .post("http://evil.test/hook")
            .send()
            .await
            .unwrap_err();
        assert!(is_blocked(&error), "{private}: {error}");
    }
}

#[tokio::test]
async fn what_the_resolver_answers_is_what_is_checked() {
    // A name that resolves to loopback, where a server listens: refused unless the local
    // stack allows loopback, and the server never hears of it.
    let (port, hits) = server(OK).await;
    let url = format!("http://rebind.test:{port}/hook");
    let error = client(false, "127.0.0.1")
        .post(&url)
        .send()
        .await
        .unwrap_err();
    assert!(is_blocked(&error), "{error}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    let response = client(true, "127.0.0.1").post(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (target, target_hits) = server(OK).await;
    let redirect: &'static str = Box::leak(
        format!("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .into_boxed_str(),
    );
    let (port, _) = server(redirect).await;
    let response = client(true, "127.0.0.1")
        .post(format!("http://127.0.0.1:{port}/hook"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(target_hits.load(Ordering::SeqCst), 0);
}
