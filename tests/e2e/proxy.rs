//! The PROXY layer behind a real HAProxy (`send-proxy`, `send-proxy-v2`, its health
//! checks, a Unix socket backend), in the echo example and in servers built here; and
//! peers that send no header, a bad one, a forged one, or stall.

use crate::common;

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::example::{start, Example};
use common::haproxy::Config;
use common::log::CapturedLog;
use common::{assert_echoes, assert_no_reply, connect, within, WAIT};
use tcp_serve::proxy::{Header, ProxiedStream, ProxyProtocolLayer};
use tcp_serve::tower::ServiceBuilder;
use tcp_serve::{
    service_fn, Acceptor, Listener, OnHandlerError, Serve, ServerError, WhereToListen,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;

/// A header from a balancer naming the client 192.0.2.7:4242.
const HEADER: &[u8] = b"PROXY TCP4 192.0.2.7 127.0.0.1 4242 7878\r\n";

/// The echo example's PROXY header timeout: the layer's default.
const EXAMPLE_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the echo example with `--say-peer` and the PROXY flags given.
async fn echo_example(proxy_flags: &[&str]) -> Example {
    let mut args = vec!["--listen", "127.0.0.1:0", "--say-peer"];
    args.extend_from_slice(proxy_flags);
    start("echo", &args, &[]).await
}

/// Reads one line (without its `\n`), byte by byte so nothing after it is consumed.
async fn line<S: AsyncReadExt + Unpin>(stream: &mut S) -> String {
    let mut line = Vec::new();
    within("a line", async {
        loop {
            match stream.read_u8().await.expect("a line, not EOF") {
                b'\n' => return,
                byte => line.push(byte),
            }
        }
    })
    .await;
    String::from_utf8(line).expect("utf-8")
}

/// Asserts the server closes the connection without sending a byte.
async fn assert_closed_without_a_word(stream: &mut TcpStream) {
    let mut got = Vec::new();
    match within("the server to close", stream.read_to_end(&mut got)).await {
        Ok(_) => {
            assert!(got.is_empty(), "closed, but first said {:?}", String::from_utf8_lossy(&got))
        }
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
    }
}

fn local(stream: &TcpStream) -> SocketAddr {
    stream.local_addr().expect("the client's own address")
}

#[tokio::test]
async fn the_echo_example_behind_haproxy_greets_each_client_by_its_own_address() {
    let example = echo_example(&["--proxy-protocol", "required"]).await;
    for send_proxy in ["send-proxy", "send-proxy-v2"] {
        let Some(haproxy) = Config::new().server(&example.address, send_proxy).start().await else {
            return;
        };
        for _ in 0..2 {
            let mut client = haproxy.connect().await;
            assert_eq!(line(&mut client).await, format!("peer {}", local(&client)), "{send_proxy}");
            assert_echoes(&mut client, b"through haproxy\n").await;
        }
    }
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn direct_clients_are_closed_when_the_header_is_required_and_served_when_optional() {
    let required = echo_example(&["--proxy-protocol", "required"]).await;
    let mut direct = within("connect", TcpStream::connect(&required.address)).await.unwrap();
    direct.write_all(b"hello\n").await.unwrap();
    assert_closed_without_a_word(&mut direct).await;
    required.stop_with("TERM").await;

    let optional = echo_example(&["--proxy-protocol", "optional"]).await;
    let mut direct = within("connect", TcpStream::connect(&optional.address)).await.unwrap();
    // Served once its first bytes show they are not a header: greeted as itself, bytes intact.
    direct.write_all(b"hello\n").await.unwrap();
    assert_eq!(line(&mut direct).await, format!("peer {}", local(&direct)));
    assert_eq!(line(&mut direct).await, "hello");
    if let Some(haproxy) = Config::new().server(&optional.address, "send-proxy-v2").start().await {
        let mut proxied = haproxy.connect().await;
        assert_eq!(line(&mut proxied).await, format!("peer {}", local(&proxied)));
    }
    optional.stop_with("TERM").await;
}

#[tokio::test]
async fn a_source_not_trusted_cannot_name_a_client() {
    // Only HAProxy, which connects from 127.0.0.2, may send a header.
    let trusting = ["--proxy-trusted", "127.0.0.2"];
    let optional = echo_example(&[&["--proxy-protocol", "optional"][..], &trusting].concat()).await;
    let Some(haproxy) =
        Config::new().server(&optional.address, "send-proxy source 127.0.0.2").start().await
    else {
        return;
    };
    let mut proxied = haproxy.connect().await;
    assert_eq!(line(&mut proxied).await, format!("peer {}", local(&proxied)));

    // A direct client from 127.0.0.1 is asked for no header: greeted as itself before it
    // says a word, well within the header timeout it would otherwise wait out.
    let connected = Instant::now();
    let mut silent = within("connect", TcpStream::connect(&optional.address)).await.unwrap();
    assert_eq!(line(&mut silent).await, format!("peer {}", local(&silent)));
    let took = connected.elapsed();
    assert!(took < EXAMPLE_HEADER_TIMEOUT, "greeted after {took:?}: it waited for a header");
    drop(silent);
    // One forging a header (its first bytes) is served as itself, the forgery as data.
    let mut forger = within("connect", TcpStream::connect(&optional.address)).await.unwrap();
    forger.write_all(HEADER).await.unwrap();
    assert_eq!(line(&mut forger).await, format!("peer {}", local(&forger)), "the forgery named it");
    assert_eq!(format!("{}\n", line(&mut forger).await).as_bytes(), HEADER, "echoed as data");
    optional.stop_with("TERM").await;

    let required = echo_example(&[&["--proxy-protocol", "required"][..], &trusting].concat()).await;
    let mut forger = within("connect", TcpStream::connect(&required.address)).await.unwrap();
    let _ = forger.write_all(HEADER).await;
    assert_closed_without_a_word(&mut forger).await;
    required.stop_with("TERM").await;
}

/// A server that writes `CLIENT\n` (the address it was called with), then echoes.
async fn naming_server(layer: ProxyProtocolLayer) -> tcp_serve::InetServer {
    Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(1)
        .on_handler_error(OnHandlerError::Raise)
        .layer(layer)
        .serve(service_fn(
            |(client, mut stream): (SocketAddr, ProxiedStream<TcpStream>)| async move {
                stream.write_all(format!("{client}\n").as_bytes()).await?;
                let (mut reader, mut writer) = tokio::io::split(stream);
                tokio::io::copy(&mut reader, &mut writer).await.map(drop)
            },
        ))
        .await
        .expect("serve")
}

#[tokio::test]
async fn bad_and_stalled_headers_are_rejected_at_debug_never_raised_and_free_their_slot() {
    let log = CapturedLog::default();
    let _guard = log.capture_at(tracing::Level::DEBUG);
    // Long enough that the next client is surely queued before the stalled one is closed.
    let timeout = Duration::from_millis(1500);
    let server = naming_server(ProxyProtocolLayer::new().header_timeout(timeout)).await;

    let mut garbage = connect(&server).await;
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_closed_without_a_word(&mut garbage).await;

    // A balancer that stalls mid-header holds the only slot, until the header timeout.
    let mut stalled = connect(&server).await;
    let stalled_at = Instant::now();
    stalled.write_all(b"PROXY TCP4 192.0.2.7 ").await.unwrap();
    let mut next = connect(&server).await;
    next.write_all(HEADER).await.unwrap();
    next.write_all(b"hi\n").await.unwrap();
    assert_no_reply(&mut next).await;
    assert_closed_without_a_word(&mut stalled).await;
    let held = stalled_at.elapsed();
    assert!(held >= timeout && held < timeout + WAIT / 2, "closed after {held:?}");
    assert_eq!(line(&mut next).await, "192.0.2.7:4242", "served once the slot came back");
    assert_eq!(line(&mut next).await, "hi");

    let metrics = server.metrics();
    assert_eq!((metrics.rejected, metrics.failed), (2, 0), "{metrics:?}");
    assert!(!server.is_closed(), "OnHandlerError::Raise did not fire");
    let text = log.text();
    let rejections: Vec<_> = text.lines().filter(|l| l.contains("bad PROXY header")).collect();
    assert_eq!(rejections.len(), 2, "{text}");
    assert!(rejections.iter().all(|l| l.contains("DEBUG")), "{rejections:?}");
    assert!(rejections[0].contains("not a PROXY header"), "{rejections:?}");
    assert!(rejections[1].contains("within the header timeout"), "{rejections:?}");
}

#[tokio::test]
async fn haproxy_health_checks_come_as_local_headers_and_are_served_as_the_balancer() {
    let (seen, mut checks) = mpsc::unbounded_channel();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .layer(ProxyProtocolLayer::new())
        .serve(service_fn(move |(peer, stream): (SocketAddr, ProxiedStream<TcpStream>)| {
            let info = stream.proxy_info().cloned();
            let _ = seen.send((peer, info));
            async move {
                let (mut reader, mut writer) = tokio::io::split(stream);
                match tokio::io::copy(&mut reader, &mut writer).await {
                    // HAProxy ends its checks with a reset.
                    Err(e) if e.kind() != io::ErrorKind::ConnectionReset => Err(e),
                    _ => Ok(()),
                }
            }
        }))
        .await
        .expect("serve");
    let backend = format!("127.0.0.1:{}", server.listening_on());
    let config = Config::new()
        .backend("option tcp-check")
        .backend("tcp-check send ping\\n")
        .backend("tcp-check expect string ping")
        .server(&backend, "send-proxy-v2 check inter 100ms");
    let Some(haproxy) = config.start().await else { return };
    for _ in 0..3 {
        let (peer, info) = within("a health check", checks.recv()).await.expect("a check");
        let info = info.expect("a header");
        assert!(info.is_local() && info.client().is_none(), "{info:?}");
        assert_eq!(peer.ip(), std::net::Ipv4Addr::LOCALHOST, "served as the balancer itself");
    }
    // The checks pass: a client still gets through, named.
    let mut client = haproxy.connect().await;
    assert_echoes(&mut client, b"ping").await;
    let peer = within("the client's connection", async {
        loop {
            let (peer, info) = checks.recv().await.expect("a connection");
            if info.is_some_and(|info| !info.is_local()) {
                return peer;
            }
        }
    })
    .await;
    assert_eq!(peer, local(&client));
    assert_eq!(server.metrics().rejected, 0, "health checks are not rejected");
}

#[tokio::test]
async fn a_handler_error_behind_haproxy_reaches_on_handler_error_and_the_span_with_the_client() {
    let log = CapturedLog::default();
    let _guard = log.capture();
    let (reports, mut reported) = mpsc::unbounded_channel();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .on_handler_error(OnHandlerError::call(move |peer: &SocketAddr, error| {
            let _ = reports.send((*peer, error.to_string()));
        }))
        .layer(ProxyProtocolLayer::new())
        .serve(service_fn(|(_client, _stream): (SocketAddr, ProxiedStream<TcpStream>)| async {
            tracing::info!("handling");
            Err::<(), _>(io::Error::other("failed on purpose"))
        }))
        .await
        .expect("serve");
    let backend = format!("127.0.0.1:{}", server.listening_on());
    let Some(haproxy) = Config::new().server(&backend, "send-proxy-v2").start().await else {
        return;
    };
    let mut client = haproxy.connect().await;
    let (peer, error) = within("the policy's call", reported.recv()).await.expect("a report");
    assert_eq!(peer, local(&client), "the client, not HAProxy");
    assert_eq!(error, "failed on purpose", "the handler's own error");
    assert_closed_without_a_word(&mut client).await;
    let text = log.text();
    let handling = text.lines().find(|l| l.contains("handling")).expect("the handler's event");
    assert!(handling.contains(&format!("client={}", local(&client))), "{handling}");
    assert_eq!(server.metrics().failed, 1);
}

#[tokio::test]
async fn behind_haproxy_on_a_unix_socket_the_header_names_the_client_in_the_stream() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("backend.sock");
    let server = Serve::new(WhereToListen::unix(&path))
        .layer(ProxyProtocolLayer::new().header(Header::Required))
        .serve(service_fn(
            |(peer, mut stream): (tokio::net::unix::SocketAddr, ProxiedStream<UnixStream>)| async move {
                let client = stream.proxy_info().and_then(|info| info.client());
                let said = format!("unnamed peer {} client {client:?}\n", peer.is_unnamed());
                stream.write_all(said.as_bytes()).await
            },
        ))
        .await
        .expect("serve");
    let Some(haproxy) = Config::new().server(path.display(), "send-proxy-v2").start().await else {
        return;
    };
    let mut client = haproxy.connect().await;
    assert_eq!(
        line(&mut client).await,
        format!("unnamed peer true client Some({})", local(&client))
    );
    drop(server);
}

/// A hand-built stack without an error policy: a failure behind the PROXY layer stops the
/// server for the client the header named, not for the balancer.
#[tokio::test]
async fn without_an_error_policy_a_proxied_failure_stops_the_server_for_the_client() {
    let listener = Listener::bind(&WhereToListen::localhost_port_chosen_by_os()).unwrap();
    let acceptor = Acceptor::new(listener);
    let stack = ServiceBuilder::new()
        .layer(acceptor.graceful_layer())
        .layer(ProxyProtocolLayer::new())
        .service(service_fn(|(_client, _stream): (SocketAddr, ProxiedStream<TcpStream>)| async {
            Err::<(), _>(io::Error::other("failed on purpose"))
        }));
    let server = acceptor.serve(stack).unwrap();
    let mut balancer = connect(&server).await;
    balancer.write_all(b"PROXY TCP4 192.0.2.7 127.0.0.1 4242 443\r\n").await.unwrap();
    match within("the server to stop", server.clone().into_future()).await {
        Err(ServerError::Handler { peer, source }) => {
            assert_eq!(
                peer,
                SocketAddr::from(([192, 0, 2, 7], 4242)),
                "the client, not the balancer"
            );
            assert_eq!(source.to_string(), "failed on purpose", "the handler's own error");
        }
        other => panic!("expected the handler's error, got {other:?}"),
    }
}
