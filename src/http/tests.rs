//! The adapter at poll level: in-memory streams, a stand-in for the server's dispatch, and
//! paused time for the timeouts. `tests/e2e/http.rs` does the same through real sockets
//! and curl.

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::Service;

use super::connection::Ending;
use super::io::{read_version, Prefixed};
use super::request::Shared;
use super::{Http, Peer};
use crate::dispatch::{self, Gate};
use crate::error::{BoxError, HandlerPanicked};
use crate::layer::graceful::{Graceful, ShutdownSignal};
use crate::test_log::CapturedLog;

const PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)), 4242);
const TIMEOUT: Duration = Duration::from_secs(5);
const SLOW: Duration = Duration::from_secs(1);
/// The bound on every wait. The tests run on paused time, where it costs nothing and turns
/// a hang into a failure; it is longer than any wait a test means (the HTTP/2 pings' 40 s).
const WAIT: Duration = Duration::from_secs(120);

/// `future`'s output, or a failure naming `what` after [`WAIT`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// How the connection's task ended.
async fn ended(connection: JoinHandle<Result<(), BoxError>>) -> Result<(), BoxError> {
    within("the connection to end", connection).await.expect("the connection's task")
}

thread_local! {
    /// Told when a request reaches `/slow`. The service runs on the test's thread: a
    /// `#[tokio::test]` runtime has one.
    static SLOW_REACHED: Rc<Notify> = Rc::new(Notify::new());
}

/// The server, as the adapter sees it through `Dispatch`: a drain switch and a count.
#[derive(Default)]
struct FakeServer {
    graceful: Graceful,
    rejected: AtomicU64,
}

impl Gate for FakeServer {
    fn call_unless_closed(&self, call: &mut dyn FnMut()) -> bool {
        call();
        true
    }

    fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    fn shutdown_signal(&self) -> ShutdownSignal {
        self.graceful.signal()
    }
}

impl FakeServer {
    fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

/// `/` says hello, `/peer` names the peer, `/slow` answers after [`SLOW`], `/500` answers
/// 500, `/fail` fails, `/panic` panics.
async fn routes(request: Request<Incoming>) -> Result<Response<String>, BoxError> {
    let reply = |status, body: &str| {
        let mut response = Response::new(body.to_owned());
        *response.status_mut() = status;
        response
    };
    match request.uri().path() {
        "/peer" => {
            let Peer(peer) = request.extensions().get::<Peer<SocketAddr>>().expect("a Peer");
            Ok(reply(StatusCode::OK, &peer.to_string()))
        }
        "/slow" => {
            SLOW_REACHED.with(|reached| reached.notify_one());
            tokio::time::sleep(SLOW).await;
            Ok(reply(StatusCode::OK, "slow"))
        }
        "/500" => Ok(reply(StatusCode::INTERNAL_SERVER_ERROR, "oops")),
        "/fail" => Err("the service failed on purpose".into()),
        "/panic" => panic!("the service panicked on purpose"),
        _ => Ok(reply(StatusCode::OK, "hello")),
    }
}

/// A connection to `http` (an [`Http`], or a stack around one) as `server` calls it: the
/// client's end and the connection's task.
fn connect<H>(
    http: &mut H,
    server: &Arc<FakeServer>,
) -> (DuplexStream, JoinHandle<Result<(), BoxError>>)
where
    H: Service<(SocketAddr, DuplexStream), Response = (), Error = BoxError>,
    H::Future: Send + 'static,
{
    let (client, stream) = tokio::io::duplex(64 * 1024);
    let gate: Arc<dyn Gate> = Arc::clone(server) as Arc<dyn Gate>;
    let future = {
        let _current = dispatch::enter(&gate);
        http.call((PEER, stream))
    };
    (client, tokio::spawn(future))
}

fn http() -> Http<
    impl Service<Request<Incoming>, Response = Response<String>, Error = BoxError, Future: Send>
        + Clone
        + Send
        + 'static,
> {
    Http::new(tower::service_fn(routes)).header_read_timeout(TIMEOUT)
}

/// Reads one response: its head and a body of `content-length` bytes.
async fn read_response(client: &mut DuplexStream) -> String {
    within("a response", read_a_response(client)).await
}

async fn read_a_response(client: &mut DuplexStream) -> String {
    let mut response = Vec::new();
    let mut byte = [0; 1];
    while !response.ends_with(b"\r\n\r\n") {
        assert_eq!(
            client.read(&mut byte).await.expect("read a response"),
            1,
            "EOF in a head: {:?}",
            String::from_utf8_lossy(&response)
        );
        response.push(byte[0]);
    }
    let head = String::from_utf8(response).expect("an ASCII head");
    let length = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned)
        })
        .map_or(0, |n| n.trim().parse().expect("a length"));
    let mut body = vec![0; length];
    client.read_exact(&mut body).await.expect("read a body");
    head + &String::from_utf8(body).expect("a UTF-8 body")
}

async fn assert_eof(client: &mut DuplexStream) {
    let mut rest = Vec::new();
    within("EOF", client.read_to_end(&mut rest)).await.expect("read to EOF");
    assert_eq!(String::from_utf8_lossy(&rest), "", "bytes after the last response");
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: test\r\n\r\n";

#[tokio::test(start_paused = true)]
async fn answers_http1_with_the_peer_in_the_request() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(b"GET /peer HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    let response = read_response(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\n192.0.2.7:4242"), "{response}");

    // Keep-alive: a second request on the same connection.
    client.write_all(GET).await.unwrap();
    assert!(read_response(&mut client).await.ends_with("hello"));
    drop(client);
    ended(connection).await.expect("a client leaving is a clean end");
    assert_eq!(server.rejected(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_closed_at_the_header_read_timeout_and_rejected() {
    let server = Arc::new(FakeServer::default());
    let started = Instant::now();
    let (mut client, connection) = connect(&mut http(), &server);
    assert_eof(&mut client).await;
    assert_eq!(started.elapsed(), TIMEOUT);
    ended(connection).await.expect("not a handler error");
    assert_eq!(server.rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_client_stalled_in_its_head_is_closed_at_the_header_read_timeout_and_rejected() {
    let server = Arc::new(FakeServer::default());
    let started = Instant::now();
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(b"GET / HTTP/1.1\r\nhost: te").await.unwrap();
    assert_eof(&mut client).await;
    assert_eq!(started.elapsed(), TIMEOUT);
    ended(connection).await.expect("not a handler error");
    assert_eq!(server.rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_at_the_header_read_timeout_not_rejected() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(GET).await.unwrap();
    read_response(&mut client).await;
    let answered = Instant::now();
    assert_eof(&mut client).await;
    assert_eq!(answered.elapsed(), TIMEOUT);
    ended(connection).await.expect("not a handler error");
    assert_eq!(server.rejected(), 0, "an idle client did nothing wrong");
}

#[tokio::test(start_paused = true)]
async fn a_malformed_request_line_is_answered_400_and_rejected() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(b"GARBAGE\r\n\r\n").await.unwrap();
    let response = read_response(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{response}");
    assert_eof(&mut client).await;
    ended(connection).await.expect("not a handler error");
    assert_eq!(server.rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn too_many_headers_are_answered_431_and_rejected() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http().http1_max_headers(4), &server);
    client
        .write_all(b"GET / HTTP/1.1\r\nhost: t\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{response}");
    ended(connection).await.expect("not a handler error");
    assert_eq!(server.rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_service_is_a_handler_error_and_a_5xx_is_not() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(b"GET /500 HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    let response = read_response(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{response}");
    client.write_all(b"GET /fail HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    assert_eof(&mut client).await;
    let error = ended(connection).await.expect_err("a handler error");
    assert_eq!(error.to_string(), "the service failed on purpose");
    assert_eq!(server.rejected(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_service_is_a_handler_error() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(b"GET /panic HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    assert_eof(&mut client).await;
    let error = ended(connection).await.expect_err("a handler error");
    let panicked = error.downcast_ref::<HandlerPanicked>().expect("HandlerPanicked");
    assert_eq!(panicked.message(), "the service panicked on purpose");
}

#[tokio::test(start_paused = true)]
async fn a_drain_lets_the_request_in_flight_finish_then_closes() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    let reached = SLOW_REACHED.with(Rc::clone);
    within("the request to reach the service", reached.notified()).await;
    server.graceful.drain();
    let response = read_response(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("connection: close\r\n"), "{response}");
    assert_eof(&mut client).await;
    ended(connection).await.expect("a clean end");
}

#[tokio::test(start_paused = true)]
async fn a_drain_closes_an_idle_keep_alive_connection_at_once() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(GET).await.unwrap();
    read_response(&mut client).await;
    let drained = Instant::now();
    server.graceful.drain();
    assert_eof(&mut client).await;
    assert_eq!(drained.elapsed(), Duration::ZERO);
    ended(connection).await.expect("a clean end");

    // And one that has not sent a byte yet.
    let (mut client, connection) = connect(&mut http(), &server);
    assert_eof(&mut client).await;
    ended(connection).await.expect("a clean end");
    assert_eq!(server.rejected(), 0);
}

#[tokio::test]
async fn the_version_check_reads_only_until_the_bytes_decide() {
    let (mut client, mut stream) = tokio::io::duplex(1024);
    client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut prefix = Vec::new();
    within("the version", read_version(&mut stream, &mut prefix)).await.unwrap();
    assert_eq!(prefix, b"GET / HTTP/1.1\r\n", "one read, and the first byte decided");

    // A prefix of HTTP/2's preface decides nothing yet.
    client.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let mut prefix = Vec::new();
    let mut reading = tokio_test::task::spawn(read_version(&mut stream, &mut prefix));
    tokio_test::assert_pending!(reading.poll());
    client.write_all(b"\r\nSM\r\n\r\nand the first frame").await.unwrap();
    tokio_test::assert_ready_ok!(reading.poll());
    drop(reading);
    assert_eq!(prefix, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "the preface, not a byte more");

    // What was read is read again, first.
    let shared = Arc::new(Shared::default());
    let mut prefixed = Prefixed::new(prefix, stream, Arc::clone(&shared));
    let mut read = vec![0; 24 + "and the first frame".len()];
    within("the replayed bytes", prefixed.read_exact(&mut read)).await.unwrap();
    assert_eq!(read, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nand the first frame");
    let mut stream_dropped = tokio_test::task::spawn(shared.until_stream_dropped());
    tokio_test::assert_pending!(stream_dropped.poll());
    drop(prefixed);
    assert!(stream_dropped.is_woken(), "dropping it says so");
    tokio_test::assert_ready!(stream_dropped.poll());

    // Dropped before the connection waits (as when hyper lets go of it): no wait at all.
    let (_client, stream) = tokio::io::duplex(1024);
    drop(Prefixed::new(Vec::new(), stream, Arc::clone(&shared)));
    tokio_test::assert_ready!(tokio_test::task::spawn(shared.until_stream_dropped()).poll());
}

#[test]
fn how_a_connection_ended_decides_who_is_blamed() {
    let shared = Shared::default();
    let interrupted = std::io::Error::new(std::io::ErrorKind::Interrupted, "Cancelled");
    assert!(matches!(Ending::of(Err(interrupted.into()), &shared), Ending::Clean));
    let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    assert!(matches!(Ending::of(Err(reset.into()), &shared), Ending::ClientGone(_)));
    assert!(matches!(Ending::of(Err("unknown".into()), &shared), Ending::Handler(_)));
    assert!(matches!(Ending::of(Ok(()), &shared), Ending::Clean));
}

#[test]
#[should_panic(expected = "max_buf_size cannot be smaller")]
fn a_max_buf_size_below_hypers_minimum_panics_in_hyper() {
    // The adapter leaves the check to hyper, so that its minimum cannot drift from hyper's.
    let _ = http().http1_max_buf_size(1024);
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: the rest of a client's preface.
const H2_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
const H2_SETTINGS_TYPE: u8 = 4;
const H2_PING_TYPE: u8 = 6;
const H2_GOAWAY_TYPE: u8 = 7;
const H2_ACK: u8 = 1;

/// The next HTTP/2 frame the server sent: its type, flags and payload; `None` at EOF.
async fn read_frame(client: &mut DuplexStream) -> Option<(u8, u8, Vec<u8>)> {
    let mut head = [0; 9];
    match client.read_exact(&mut head).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(error) => panic!("read a frame: {error}"),
    }
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0; length];
    client.read_exact(&mut payload).await.expect("read a frame's payload");
    Some((head[3], head[4], payload))
}

#[tokio::test(start_paused = true)]
async fn an_http2_client_silent_after_its_preface_is_closed_by_the_pings_and_rejected() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(H2_PREFACE).await.unwrap();
    let sent = Instant::now();
    // The server's SETTINGS and its ping go unanswered, then it says GOAWAY and closes.
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3600), async {
        while let Some((kind, _, _)) = read_frame(&mut client).await {
            seen.push(kind);
        }
    });
    closed.await.expect("closed within the hour");
    assert!(seen.contains(&H2_PING_TYPE), "a ping was sent: frame types {seen:?}");
    assert_eq!(seen.last(), Some(&H2_GOAWAY_TYPE), "frame types {seen:?}");
    // A ping after 20 s, and 20 s for its answer: the defaults.
    assert_eq!(sent.elapsed(), Duration::from_secs(40));
    ended(connection).await.expect("not a handler error");
    assert_eq!(server.rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_idle_http2_client_that_answers_the_pings_keeps_its_connection() {
    let server = Arc::new(FakeServer::default());
    let (mut client, connection) = connect(&mut http(), &server);
    client.write_all(H2_PREFACE).await.unwrap();
    client.write_all(H2_SETTINGS).await.unwrap();
    // Ten minutes idle, answering what the server asks, as any HTTP/2 client library does.
    let mut pings = 0;
    let until = Instant::now() + Duration::from_secs(600);
    while let Ok(frame) = tokio::time::timeout_at(until, read_frame(&mut client)).await {
        let (kind, flags, payload) = frame.expect("the connection stays open");
        if kind == H2_PING_TYPE && flags & H2_ACK == 0 {
            pings += 1;
            let mut answer = vec![0, 0, 8, H2_PING_TYPE, H2_ACK, 0, 0, 0, 0];
            answer.extend_from_slice(&payload);
            client.write_all(&answer).await.unwrap();
        } else if kind == H2_SETTINGS_TYPE && flags & H2_ACK == 0 {
            client.write_all(&[0, 0, 0, H2_SETTINGS_TYPE, H2_ACK, 0, 0, 0, 0]).await.unwrap();
        }
        assert_ne!(kind, H2_GOAWAY_TYPE, "an answering client is not sent away");
    }
    assert!(pings >= 10, "pinged every 20 s or so, not {pings} times in ten minutes");
    assert!(!connection.is_finished());
    assert_eq!(server.rejected(), 0);
    connection.abort();
}

/// A service that reads the whole request body, then answers how long it was.
async fn count_body(request: Request<Incoming>) -> Result<Response<String>, BoxError> {
    use http_body_util::BodyExt;
    let body = request.into_body().collect().await?.to_bytes();
    Ok(Response::new(body.len().to_string()))
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_is_cut_by_a_read_timeout_layer_in_front_and_rejected() {
    use tower::Layer;
    const LIMIT: Duration = Duration::from_secs(2);
    let server = Arc::new(FakeServer::default());
    let http = Http::new(tower::service_fn(count_body)).header_read_timeout(TIMEOUT);
    let mut stack = crate::timeout::ReadTimeoutLayer::new(LIMIT).layer(http);
    let (mut client, connection) = connect(&mut stack, &server);
    // A whole body comes through the layer.
    client.write_all(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r\nabc").await.unwrap();
    assert!(read_response(&mut client).await.ends_with("\r\n\r\n3"));

    // Two bytes of ten, then nothing.
    client.write_all(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\nab").await.unwrap();
    let stalled = Instant::now();
    assert_eof(&mut client).await;
    assert_eq!(stalled.elapsed(), LIMIT);
    ended(connection).await.expect("the client's fault, not a handler error");
    assert_eq!(server.rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_client_cut_by_a_timeout_layer_before_its_first_bytes_is_rejected() {
    use tower::Layer;
    const LIMIT: Duration = Duration::from_secs(2);
    let server = Arc::new(FakeServer::default());
    let mut stack = crate::timeout::FirstByteTimeoutLayer::new(LIMIT).layer(http());
    let started = Instant::now();
    let (mut client, connection) = connect(&mut stack, &server);
    assert_eof(&mut client).await;
    assert_eq!(started.elapsed(), LIMIT, "the layer's limit, before the header read timeout");
    ended(connection).await.expect("not a handler error");
    assert_eq!(server.rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_head_stalled_past_a_read_timeout_layer_in_front_is_rejected() {
    use tower::Layer;
    const LIMIT: Duration = Duration::from_secs(2);
    let server = Arc::new(FakeServer::default());
    let log = CapturedLog::default();
    let _capturing = log.capture_at(tracing::Level::DEBUG);
    let mut stack = crate::timeout::ReadTimeoutLayer::new(LIMIT).layer(http());
    let (mut client, connection) = connect(&mut stack, &server);
    client.write_all(b"GET / HTTP/1.1\r\nhost: te").await.unwrap();
    let stalled = Instant::now();
    assert_eof(&mut client).await;
    assert_eq!(stalled.elapsed(), LIMIT, "the layer's limit, before the header read timeout");
    ended(connection).await.expect("not a handler error");
    assert_eq!(server.rejected(), 1);
    // hyper's error says only "connection error"; the log has its cause too.
    let text = log.text();
    let line = text.lines().find(|line| line.contains("the client is to blame")).expect(&text);
    assert!(line.contains("read timeout of 2s exceeded"), "{line}");
}
