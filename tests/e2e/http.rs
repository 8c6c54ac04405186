//! The `http` adapter in-process on real sockets, against real clients: curl over HTTP/1.1
//! and HTTP/2 (prior knowledge), keep-alive; raw TCP clients that send bad input or speak
//! just enough HTTP/2 to see a GOAWAY; a TLS client idle behind the TLS layer during a drain.

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::curl::*;
use common::example::tool;
use common::tls::{tls_configs, tls_connect};
use common::*;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tcp_serve::http::{Http, Peer};
use tcp_serve::{BoxError, Drained, InetServer, OnHandlerError, Serve};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

/// The header read timeout of the bad-input tests: long enough for curl on a loaded machine
/// to send its request, short enough to wait for.
const HEADER_TIMEOUT: Duration = Duration::from_millis(500);

/// What the routes tell the test.
#[derive(Default)]
struct Events {
    /// `/slow` has begun.
    slow: Notify,
    /// `/hang` has begun.
    hanging: Notify,
    /// `/hang`'s future was dropped.
    hang_dropped: Notify,
}

/// Tells `hang_dropped` when dropped.
struct OnDrop(Arc<Events>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.hang_dropped.notify_one();
    }
}

/// `/` says hello, `/peer` names the peer, `/slow?ms=N` answers after N ms, `/hang` never
/// answers, `/upgrade` switches to an echo, `/log` logs at INFO, `/500` answers 500,
/// `/fail` fails, `/panic` panics.
async fn route(
    events: Arc<Events>,
    request: Request<Incoming>,
) -> Result<Response<String>, BoxError> {
    let ok = |body: String| Ok(Response::new(body));
    match request.uri().path() {
        "/peer" => {
            let Peer(peer) = request.extensions().get::<Peer<SocketAddr>>().expect("a Peer");
            ok(peer.to_string())
        }
        "/slow" => {
            let ms = request.uri().query().and_then(|q| q.strip_prefix("ms=")).expect("?ms=N");
            let ms: u64 = ms.parse().expect("a number of ms");
            events.slow.notify_one();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ok(format!("slept {ms} ms"))
        }
        "/hang" => {
            let _dropped = OnDrop(Arc::clone(&events));
            events.hanging.notify_one();
            std::future::pending().await
        }
        "/upgrade" => {
            // The service takes the socket over, in a task of its own: an echo.
            let upgrade = hyper::upgrade::on(request);
            tokio::spawn(async move {
                let upgraded = TokioIo::new(upgrade.await.expect("the upgrade"));
                let (mut reader, mut writer) = tokio::io::split(upgraded);
                tokio::io::copy(&mut reader, &mut writer).await
            });
            let mut response = Response::new(String::new());
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            response.headers_mut().insert("connection", "upgrade".parse().unwrap());
            response.headers_mut().insert("upgrade", "echo".parse().unwrap());
            Ok(response)
        }
        "/log" => {
            tracing::info!("the service logs");
            ok("logged".to_owned())
        }
        "/500" => {
            let mut response = Response::new("oops".to_owned());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            Ok(response)
        }
        "/fail" => Err("the service failed on purpose".into()),
        "/panic" => panic!("the service panicked on purpose"),
        _ => ok("hello".to_owned()),
    }
}

/// The adapter around [`route`], with [`HEADER_TIMEOUT`].
fn http(
    events: &Arc<Events>,
) -> Http<
    impl tower::Service<
            Request<Incoming>,
            Response = Response<String>,
            Error = BoxError,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static,
> {
    let events = Arc::clone(events);
    let service = tower::service_fn(move |request| route(Arc::clone(&events), request));
    Http::new(service).header_read_timeout(HEADER_TIMEOUT)
}

fn url(server: &InetServer, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", server.listening_on())
}

/// Everything the server sent until it closed the connection (a reset after the last bytes
/// counts as closing: the server closes with the rest of an oversized request unread).
async fn read_until_closed<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    String::from_utf8_lossy(&assert_closed_by_server(stream).await.0).into_owned()
}

/// Reads one HTTP/1.1 response: its head and a body of `content-length` bytes.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    within("a response", async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.expect("a response head"));
        }
        let head = String::from_utf8(head).expect("an ASCII head");
        let length = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned)
            })
            .map_or(0, |n| n.trim().parse().expect("a length"));
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.expect("a response body");
        head + &String::from_utf8(body).expect("a UTF-8 body")
    })
    .await
}

#[tokio::test]
async fn answers_curl_over_http1_and_http2_with_the_peer_in_each_request() {
    if !tool("curl", "curl") {
        return;
    }
    let server = Serve::new(localhost()).serve(http(&Arc::default())).await.unwrap();
    for (flag, version) in [("--http1.1", "1.1"), ("--http2-prior-knowledge", "2")] {
        let reply = curl(&url(&server, "/peer"), &[flag]).await;
        assert_eq!((reply.code, reply.status), (Some(0), 200), "{reply:?}");
        assert_eq!(reply.http_version, version, "{reply:?}");
        assert!(reply.body.starts_with("127.0.0.1:"), "{reply:?}");
    }
    let metrics = server.metrics();
    assert_eq!((metrics.accepted, metrics.failed, metrics.rejected), (2, 0, 0), "{metrics:?}");
    within("close", server.close()).await;
}

#[tokio::test]
async fn what_the_service_logs_is_in_the_connection_span_on_http1_and_http2() {
    if !tool("curl", "curl") {
        return;
    }
    // The test's runtime has one thread: the service's tasks log to this capture too.
    let log = common::log::CapturedLog::default();
    let _capturing = log.capture();
    let server = Serve::new(localhost()).serve(http(&Arc::default())).await.unwrap();
    for flag in ["--http1.1", "--http2-prior-knowledge"] {
        let reply = curl(&url(&server, "/log"), &[flag]).await;
        assert_eq!((reply.code, reply.status), (Some(0), 200), "{reply:?}");
    }
    within("close", server.close()).await;
    let text = log.text();
    let logged: Vec<_> = text.lines().filter(|line| line.contains("the service logs")).collect();
    assert_eq!(logged.len(), 2, "{text}");
    for line in logged {
        assert!(line.contains("connection{id="), "outside the connection's span: {line}");
    }
}

#[tokio::test]
async fn an_upgraded_connection_counts_until_the_service_drops_its_socket() {
    let server = Serve::new(localhost()).serve(http(&Arc::default())).await.unwrap();
    let mut client = connect(&server).await;
    client
        .write_all(
            b"GET /upgrade HTTP/1.1\r\nhost: test\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n",
        )
        .await
        .unwrap();
    let response = read_response(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{response}");
    // hyper is done with the connection; the service's task has the socket.
    assert_echoes(&mut client, b"no longer HTTP").await;
    assert_eq!(server.num_connections(), 1, "the upgraded connection left the count");
    drop(client);
    until_connections(&server, 0).await;
    within("close", server.close()).await;
}

#[tokio::test]
async fn curl_sends_two_requests_on_one_keep_alive_connection() {
    if !tool("curl", "curl") {
        return;
    }
    let server = Serve::new(localhost()).serve(http(&Arc::default())).await.unwrap();
    // HTTP/1.1 only: curl 7.88 (Debian 12) fails to reuse a prior-knowledge HTTP/2
    // connection itself (curl#10634); the axum example's test reuses one over TLS.
    // `curl_command` puts its extra arguments, here the `/peer` URL, before its own URL.
    let output = curl_command(&url(&server, "/"), &["--http1.1", &url(&server, "/peer")]).output();
    let reply = curl_result(within("curl", output).await.expect("curl"));
    assert_eq!((reply.code, reply.status), (Some(0), 200), "{reply:?}");
    let (peer, hello) = reply.body.split_once("\n--curl-- 200 1.1").expect("two answers");
    assert_eq!(hello, "hello", "{reply:?}");
    assert!(peer.starts_with("127.0.0.1:"), "{reply:?}");
    // curl has exited, so the server has accepted all it will.
    assert_eq!(server.metrics().accepted, 1, "one connection for both requests");
    within("close", server.close()).await;
}

#[tokio::test]
async fn bad_input_is_rejected_and_never_a_handler_error() {
    if !tool("curl", "curl") {
        return;
    }
    // Raise: a handler error would stop the server.
    let server = Serve::new(localhost())
        .on_handler_error(OnHandlerError::Raise)
        .serve(http(&Arc::default()).http1_max_buf_size(8192))
        .await
        .unwrap();

    let mut malformed = connect(&server).await;
    malformed.write_all(b"GARBAGE\r\n\r\n").await.unwrap();
    let response = read_until_closed(&mut malformed).await;
    assert!(response.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{response:?}");

    let mut oversized = connect(&server).await;
    let header =
        format!("GET / HTTP/1.1\r\nhost: test\r\nx-big: {}\r\n\r\n", "x".repeat(16 * 1024));
    oversized.write_all(header.as_bytes()).await.unwrap();
    let response = read_until_closed(&mut oversized).await;
    assert!(
        response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{response:?}"
    );

    for (what, sent) in
        [("stalled in its headers", &b"GET / HTTP/1.1\r\nhost: te"[..]), ("silent", b"")]
    {
        let mut stalled = connect(&server).await;
        let connected = Instant::now();
        stalled.write_all(sent).await.unwrap();
        let response = read_until_closed(&mut stalled).await;
        let took = connected.elapsed();
        assert_eq!(response, "", "a client {what} gets no response");
        assert!(took >= HEADER_TIMEOUT, "a client {what} was closed after {took:?}");
        assert!(took < 2 * HEADER_TIMEOUT + QUIET, "a client {what} was closed after {took:?}");
    }

    // hyper closes before the adapter counts: wait for the connections to be done with.
    until_connections(&server, 0).await;
    let metrics = server.metrics();
    assert_eq!((metrics.rejected, metrics.failed), (4, 0), "{metrics:?}");
    assert!(!server.is_closed(), "bad input stopped a server under OnHandlerError::Raise");
    let reply = curl(&url(&server, "/"), &[]).await;
    assert_eq!((reply.code, reply.status), (Some(0), 200), "still serving: {reply:?}");
    within("close", server.close()).await;
}

#[tokio::test]
async fn a_failing_or_panicking_service_is_a_handler_error_on_http1_and_http2_and_a_5xx_is_not() {
    if !tool("curl", "curl") {
        return;
    }
    let (errors, mut reported) = mpsc::unbounded_channel();
    let server = Serve::new(localhost())
        .on_handler_error(OnHandlerError::call(move |_peer, error| {
            let _ = errors.send(error.to_string());
        }))
        .serve(http(&Arc::default()))
        .await
        .unwrap();

    let answered = curl(&url(&server, "/500"), &["--http2-prior-knowledge"]).await;
    assert_eq!((answered.code, answered.status), (Some(0), 500), "{answered:?}");

    for (path, flag, error) in [
        ("/fail", "--http1.1", "the service failed on purpose"),
        ("/fail", "--http2-prior-knowledge", "the service failed on purpose"),
        (
            "/panic",
            "--http2-prior-knowledge",
            "the handler panicked: the service panicked on purpose",
        ),
    ] {
        let reply = curl(&url(&server, path), &[flag]).await;
        assert_ne!(reply.code, Some(0), "{path} {flag} was answered: {reply:?}");
        assert_eq!(reply.status, 0, "{path} {flag}: {reply:?}");
        let reported = within("the error policy", reported.recv()).await;
        assert_eq!(reported.as_deref(), Some(error), "{path} {flag}");
    }
    let metrics = server.metrics();
    assert_eq!((metrics.failed, metrics.rejected), (3, 0), "{metrics:?}");
    assert!(reported.try_recv().is_err(), "the 500 went to the error policy");
    within("close", server.close()).await;
}

/// HTTP/2 frame types and flags, as far as the GOAWAY test needs them.
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;

/// The types of the frames the server sends on `stream` until it closes it, answering its
/// SETTINGS and PINGs as a client must; stops early after the first SETTINGS when asked.
async fn h2_frames(stream: &mut TcpStream, until_settings: bool) -> Vec<u8> {
    let mut types = Vec::new();
    loop {
        let mut header = [0; 9];
        match within("an HTTP/2 frame", stream.read_exact(&mut header)).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return types,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return types,
            Err(e) => panic!("reading a frame failed: {e}"),
        }
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let (kind, flags) = (header[3], header[4]);
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload).await.expect("a frame's payload");
        types.push(kind);
        if kind == SETTINGS && flags & ACK == 0 {
            stream.write_all(&[0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0]).await.expect("ack SETTINGS");
            if until_settings {
                return types;
            }
        }
        if kind == PING && flags & ACK == 0 {
            stream.write_all(&[0, 0, 8, PING, ACK, 0, 0, 0, 0]).await.expect("answer a PING");
            stream.write_all(&payload).await.expect("answer a PING");
        }
    }
}

#[tokio::test]
async fn a_drain_sends_http2_clients_goaway_and_lets_their_requests_finish() {
    if !tool("curl", "curl") {
        return;
    }
    let events = Arc::new(Events::default());
    let server = Serve::new(localhost()).serve(http(&events)).await.unwrap();
    // An idle HTTP/2 connection: the preface, empty SETTINGS, and the server's SETTINGS.
    let mut idle = connect(&server).await;
    idle.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await.unwrap();
    h2_frames(&mut idle, true).await;
    // And a request in flight on another.
    let slow = curl_command(&url(&server, "/slow?ms=1000"), &["--http2-prior-knowledge"])
        .spawn()
        .expect("start curl");
    within("the request to reach the service", events.slow.notified()).await;

    let drain = server.drain(WAIT);
    let frames = h2_frames(&mut idle, false).await;
    assert!(frames.contains(&GOAWAY), "the idle client got no GOAWAY: frame types {frames:?}");
    assert_refused(server.listening_on()).await;
    let reply = curl_result(within("the slow reply", slow.wait_with_output()).await.expect("curl"));
    assert_eq!(
        (reply.code, reply.status, reply.body.as_str()),
        (Some(0), 200, "slept 1000 ms"),
        "{reply:?}"
    );
    assert_eq!(within("the drain", drain).await, Drained::Gracefully);
}

#[tokio::test]
async fn a_drain_deadline_drops_http2_requests_in_flight_with_their_connection() {
    if !tool("curl", "curl") {
        return;
    }
    let events = Arc::new(Events::default());
    let server = Serve::new(localhost()).serve(http(&events)).await.unwrap();
    let hang = curl_command(&url(&server, "/hang"), &["--http2-prior-knowledge"])
        .spawn()
        .expect("start curl");
    within("the request to reach the service", events.hanging.notified()).await;

    let drained = within("the drain", server.drain(Duration::from_millis(200))).await;
    assert_eq!(drained, Drained::Forced { connections: 1 });
    // The stream's task was tied to the connection the deadline closed.
    within("the handler to be dropped", events.hang_dropped.notified()).await;
    let reply = curl_result(within("curl", hang.wait_with_output()).await.expect("curl"));
    assert_ne!(reply.code, Some(0), "{reply:?}");
}

#[tokio::test]
async fn behind_the_tls_layer_a_drain_closes_an_idle_keep_alive_connection_at_once() {
    let (mut server_config, mut client_config) = tls_configs();
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    client_config.alpn_protocols = vec![b"http/1.1".to_vec()];

    // The default header read timeout (30 s): only the drain can close the idle connection
    // within the test's wait.
    let events = Arc::new(Events::default());
    let service = tower::service_fn(move |request| route(Arc::clone(&events), request));
    let server = Serve::new(localhost())
        .layer(tcp_serve::tls::TlsLayer::new(Arc::new(server_config)))
        .serve(Http::new(service))
        .await
        .unwrap();
    let mut tls = tls_connect(client_config, connect(&server).await).await.expect("a handshake");
    tls.write_all(b"GET /peer HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let response = read_response(&mut tls).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.ends_with(&format!("\r\n\r\n{}", tls.get_ref().0.local_addr().unwrap())),
        "{response}"
    );

    let drain = server.drain(2 * WAIT);
    assert_eq!(read_until_closed(&mut tls).await, "", "the drain closed the idle connection");
    assert_eq!(within("the drain", drain).await, Drained::Gracefully);
}
