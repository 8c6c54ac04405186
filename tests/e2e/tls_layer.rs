//! `tls::TlsLayer` in process: a client that fails or stalls its handshake is the network's
//! bad input (counted in `metrics().rejected`), never a handler error, so not even `Raise`
//! stops the server; and the handshake timeout's default, 10 s, on paused time.

use crate::common;

use common::tls::{tls_configs, tls_connect};
use common::*;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tcp_serve::tls::{rustls, TlsLayer, TlsStream};
use tcp_serve::{service_fn, InetServer, OnHandlerError, Serve, WhereToListen};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tower::{Layer, Service, ServiceExt};

/// The handshake timeout of the server below. The stalled client's handshake must outlast
/// it (any value does); the real client's must finish within it, under load too: a
/// loopback handshake takes milliseconds, so 2 s holds with a wide margin.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// An echo server behind `TlsLayer`, under `Raise`, counting the calls of its service.
async fn serve_tls_echo(config: rustls::ServerConfig, calls: &Arc<AtomicUsize>) -> InetServer {
    let calls = Arc::clone(calls);
    Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .on_handler_error(OnHandlerError::Raise)
        .layer(TlsLayer::new(Arc::new(config)).handshake_timeout(HANDSHAKE_TIMEOUT))
        .serve(service_fn(move |(_peer, stream): (SocketAddr, TlsStream<TcpStream>)| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let (mut reader, mut writer) = tokio::io::split(stream);
                tokio::io::copy(&mut reader, &mut writer).await?;
                writer.shutdown().await
            }
        }))
        .await
        .expect("the server starts")
}

#[tokio::test]
async fn a_failed_or_stalled_handshake_is_rejected_and_never_raised() {
    let (server_config, client_config) = tls_configs();
    let calls = Arc::new(AtomicUsize::new(0));
    let server = serve_tls_echo(server_config, &calls).await;

    // Garbage instead of a hello: the handshake fails at once.
    let mut garbage = connect(&server).await;
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    assert_closed_by_server(&mut garbage).await;
    // Nothing at all: the handshake times out.
    let mut staller = connect(&server).await;
    assert_closed_by_server(&mut staller).await;
    until_connections(&server, 0).await;

    let metrics = server.metrics();
    assert_eq!((metrics.rejected, metrics.failed), (2, 0), "{metrics:?}");
    assert!(!server.is_closed(), "Raise did not stop the server for the network's bad input");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no handshake reached the service");

    // A real client is still served.
    let mut tls = tls_connect(client_config, connect(&server).await).await.expect("a handshake");
    assert_echoes(&mut tls, b"hello over tls").await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A clean goodbye (close_notify): a TLS peer that just vanished would be the echo
    // handler's error, which Raise would rightly raise.
    tls.shutdown().await.expect("send close_notify");
    assert_closed_by_server(&mut tls).await;
    until_connections(&server, 0).await;
    let metrics = server.metrics();
    assert_eq!((metrics.rejected, metrics.failed, metrics.closed), (2, 0, 3), "{metrics:?}");
    assert!(!server.is_closed());
    server.invariant();
    within("close", server.close()).await;
}

/// Runs a `TlsLayer` over one end of a pipe whose other end never says a word, and returns
/// how long (on paused time) until it gave up, and whether the service was called.
async fn a_handshake_that_never_starts(layer: TlsLayer) -> (Duration, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let mut tls = layer.layer(service_fn(move |_: ((), TlsStream<DuplexStream>)| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, io::Error>(()) }
    }));
    let (_silent_client, server_side) = tokio::io::duplex(1024);
    let started = tokio::time::Instant::now();
    let connection = tls.ready().await.expect("ready").call(((), server_side));
    connection.await.expect("a handshake timeout ends the connection quietly");
    (started.elapsed(), calls.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn the_handshake_timeout_is_10_s_by_default_and_can_be_set() {
    let (server_config, _) = tls_configs();
    let config = Arc::new(server_config);
    let by_default = a_handshake_that_never_starts(TlsLayer::new(Arc::clone(&config))).await;
    assert_eq!(by_default, (Duration::from_secs(10), 0));
    let set = TlsLayer::new(config).handshake_timeout(Duration::from_secs(3));
    assert_eq!(a_handshake_that_never_starts(set).await, (Duration::from_secs(3), 0));
}
