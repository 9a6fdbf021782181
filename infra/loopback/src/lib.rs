//! The one accept loop of the local stack's HTTP servers: the FChat simulator and the demo
//! webhook receiver, the Lambda Runtime and Invoke APIs, the local API gateway, the benchmarks'
//! Runtime API stub and counting proxy, and the test stubs.
//!
//! [`serve`] answers HTTP/1.1 (keep-alive) on a bound [`TcpListener`], each request through a
//! handler that also gets the peer's address, until a shutdown future resolves; [`spawn`]
//! serves in a background task until the task is aborted. Either way the open connections end
//! with the server: a stopped server leaves nothing answering behind it. A handler's error
//! makes hyper close the connection without an answer (how the simulator drops a call).
//!
//! Every accepted connection gets `TCP_NODELAY` (small requests and answers on loopback; Nagle
//! would only add delay). A failed accept (out of descriptors and the like) is logged and
//! retried after a short pause instead of spinning.

use std::error::Error as StdError;
use std::future::{pending, Future};
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// How long a failed accept waits before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a handler returns for a request: a future of the response, whose body hyper can
/// send from any thread, or of an error, which closes the connection unanswered.
pub trait Answer:
    Future<Output = Result<Response<Self::Body>, Self::Error>> + Send + 'static
{
    type Body: Body<Data: Send, Error: Into<Box<dyn StdError + Send + Sync>>> + Send + 'static;
    type Error: Into<Box<dyn StdError + Send + Sync>> + 'static;
}

impl<F, B, E> Answer for F
where
    F: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    E: Into<Box<dyn StdError + Send + Sync>> + 'static,
{
    type Body = B;
    type Error = E;
}

/// Serves HTTP/1.1 on `listener`, each request through `handle(request, peer)`, until
/// `shutdown` resolves; then it stops accepting and closes every open connection (dropping
/// this future does the same).
pub async fn serve<H, F, S>(listener: TcpListener, handle: H, shutdown: S)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + 'static,
    F: Answer,
    S: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    // Dropped (and so aborted) with this future.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                let addr = listener.local_addr().map(|a| a.to_string());
                eprintln!(
                    "loopback server on {}: accept failed: {err}",
                    addr.unwrap_or_default()
                );
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| handle(request, peer));
            // Errors here are clients going away, or a handler dropping the call on purpose.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// [`serve`] in a background task, for as long as the task lives: aborting the returned
/// handle stops the server and closes its connections.
pub fn spawn<H, F>(listener: TcpListener, handle: H) -> JoinHandle<()>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + 'static,
    F: Answer,
{
    tokio::spawn(serve(listener, handle, pending()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use std::convert::Infallible;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    async fn bound() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let uri = format!("http://{addr}{path}").parse().unwrap();
        let response = client.get(uri).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// Echoes the path and the peer's address; `/drop` fails the call.
    async fn echo(
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        if request.uri().path() == "/drop" {
            return Err(std::io::Error::other("dropped on purpose"));
        }
        let body = format!("{} from {peer}", request.uri().path());
        Ok(Response::new(Full::new(Bytes::from(body))))
    }

    /// Holds every request until the test ends (a handler that never answers).
    async fn hold(
        _: Request<Incoming>,
        _: SocketAddr,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        pending().await
    }

    /// A raw connection with a request on it that the server holds.
    async fn held_connection(addr: SocketAddr) -> TcpStream {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /held HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        stream
    }

    /// Whether the server closed the connection (EOF) within two seconds.
    async fn closed(mut stream: TcpStream) -> bool {
        let mut buffer = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    #[tokio::test]
    async fn answers_each_request_with_the_peers_address() {
        let (listener, addr) = bound().await;
        let server = spawn(listener, echo);
        let (status, body) = get(addr, "/one").await.unwrap();
        assert_eq!(status, 200);
        assert!(body.starts_with("/one from 127.0.0.1:"), "{body}");
        let port: u16 = body.rsplit(':').next().unwrap().parse().unwrap();
        assert_ne!(port, addr.port());
        // A handler's error closes the connection unanswered.
        assert!(get(addr, "/drop").await.is_err());
        assert_eq!(get(addr, "/two").await.unwrap().0, 200);
        server.abort();
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_closes_open_connections() {
        let (listener, addr) = bound().await;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, hold, async move {
            let _ = stopped.await;
        }));
        let stream = held_connection(addr).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        assert!(closed(stream).await, "the held connection stays open");
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .expect("the server returns")
            .unwrap();
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn aborting_a_spawned_server_closes_its_connections() {
        let (listener, addr) = bound().await;
        let server = spawn(listener, hold);
        let stream = held_connection(addr).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.abort();
        assert!(closed(stream).await, "the held connection stays open");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
