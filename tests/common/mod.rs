//! Helpers the end-to-end tests share: bounded waits, an echo service, clients.
#![allow(dead_code, unreachable_pub)]

pub mod child;
pub mod curl;
pub mod example;
pub mod haproxy;
#[path = "../../src/test_log.rs"]
pub mod log;
pub mod skip;
pub mod tls;

pub use skip::skip;

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use tcp_serve::{service_fn, Connection, Family, Inet, InetServer, Server, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any single event may take before a test fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long a client waits to conclude that nothing is coming (no bytes, no EOF). Only for
/// asserting an absence, where there is no event to await.
pub const QUIET: Duration = Duration::from_millis(300);

/// Awaits `future`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// The services the tests serve: a handler of `F`'s connections, as `Serve::serve` takes.
pub trait TestService<F: Family>:
    tower::Service<Connection<F>, Response = (), Error = io::Error, Future: Send + 'static>
    + Send
    + 'static
{
}

impl<F: Family, S> TestService<F> for S where
    S: tower::Service<Connection<F>, Response = (), Error = io::Error, Future: Send + 'static>
        + Send
        + 'static
{
}

/// A service that echoes every byte until the client closes its write side.
pub fn echo<F: Family>() -> impl TestService<F> {
    service_fn(|(_peer, stream): Connection<F>| async move {
        let (mut reader, mut writer) = tokio::io::split(stream);
        tokio::io::copy(&mut reader, &mut writer).await?;
        writer.shutdown().await
    })
}

/// Where most servers here listen: 127.0.0.1, a port the OS chooses.
pub fn localhost() -> WhereToListen<Inet> {
    WhereToListen::localhost_port_chosen_by_os()
}

/// Connects a TCP client to `server` on 127.0.0.1.
pub async fn connect(server: &InetServer) -> TcpStream {
    within("connect", TcpStream::connect(("127.0.0.1", server.listening_on())))
        .await
        .expect("connect to the server")
}

/// Writes `message` and asserts the same bytes come back.
pub async fn assert_echoes<S>(stream: &mut S, message: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.write_all(message).await.expect("write to the server");
    let mut echoed = vec![0; message.len()];
    within("the echo", stream.read_exact(&mut echoed)).await.expect("read the echo");
    assert_eq!(echoed, message, "the server echoed other bytes");
}

/// Asserts the server ends the connection: a read sees EOF or a reset, within [`WAIT`].
/// Returns what the server sent before it closed, and when the close was seen.
pub async fn assert_closed_by_server<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
) -> (Vec<u8>, Instant) {
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    within("the server to close the connection", async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return (received, Instant::now()),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return (received, Instant::now())
                }
                Err(e) => panic!("reading from a closed connection failed oddly: {e}"),
            }
        }
    })
    .await
}

/// Connects to 127.0.0.1:`port` and asserts the connect is refused (`ConnectionRefused`,
/// within [`WAIT`]); returns how long the refusal took.
pub async fn assert_refused(port: u16) -> Duration {
    let started = Instant::now();
    match within("a refused connect", TcpStream::connect(("127.0.0.1", port))).await {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("a connect to port {port} was accepted; it should have been refused"),
    }
    started.elapsed()
}

/// Asserts no byte and no EOF arrives for [`QUIET`]: the connection is open and unserved.
pub async fn assert_no_reply<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) {
    let mut buf = [0; 64];
    if let Ok(result) = tokio::time::timeout(QUIET, stream.read(&mut buf)).await {
        panic!("expected silence from the server, got {result:?}");
    }
}

/// Waits until `server.num_connections()` equals `n`, polling (there is no event for it).
pub async fn until_connections<F: Family>(server: &Server<F>, n: usize) {
    within(&format!("num_connections to reach {n}"), async {
        while server.num_connections() != n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// Keeps the compiler from warning about unused helpers in test files using only some.
pub fn _inet(_: Inet) {}
