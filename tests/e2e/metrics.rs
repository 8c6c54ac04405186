//! `Server::metrics`: after a mix of served, failing and dropped connections the counters say
//! exactly what the clients did; and the tracing example logs them.

use crate::common;

use std::io;

use common::*;
use tcp_serve::{service_fn, Connection, Inet, Metrics, Serve, Server, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Echoes until EOF, except that a connection whose first bytes are `fail` fails.
async fn echo_or_fail((_peer, mut stream): Connection<Inet>) -> io::Result<()> {
    let mut buf = [0; 1024];
    let mut first = true;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        if first && buf[..n].starts_with(b"fail") {
            return Err(io::Error::other("asked to fail"));
        }
        first = false;
        stream.write_all(&buf[..n]).await?;
    }
}

/// The counters as a tuple, in the order `Metrics` lists them.
fn counters(metrics: Metrics) -> (u64, u64, u64, usize, u64) {
    (metrics.accepted, metrics.dropped, metrics.failed, metrics.open, metrics.closed)
}

/// A client that is echoed once, closes its side and sees the server close.
async fn served(server: &Server<Inet>) {
    let mut client = connect(server).await;
    assert_echoes(&mut client, b"hello").await;
    client.shutdown().await.expect("close the write side");
    assert_closed_by_server(&mut client).await;
}

/// A client whose handler fails: it sees the connection closed.
async fn failing(server: &Server<Inet>) {
    let mut client = connect(server).await;
    client.write_all(b"fail").await.expect("ask to fail");
    assert_closed_by_server(&mut client).await;
}

#[tokio::test]
async fn metrics_count_served_failed_dropped_and_open_connections_exactly() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(service_fn(echo_or_fail))
        .await
        .expect("serve");
    assert_eq!(counters(server.metrics()), (0, 0, 0, 0, 0));

    for _ in 0..3 {
        served(&server).await;
    }
    for _ in 0..2 {
        failing(&server).await;
    }
    until_connections(&server, 0).await;
    assert_eq!(counters(server.metrics()), (5, 0, 2, 0, 5), "3 served and 2 failed");

    // One client stays connected: open.
    let mut held = connect(&server).await;
    assert_echoes(&mut held, b"still here").await;
    assert_eq!(counters(server.metrics()), (6, 0, 2, 1, 5), "one open");

    // Two are dropped at the gate: accepted and dropped, never open, never closed.
    server.set_drop_incoming_connections(true);
    for _ in 0..2 {
        let mut dropped = connect(&server).await;
        assert_closed_by_server(&mut dropped).await;
    }
    server.set_drop_incoming_connections(false);
    assert_eq!(counters(server.metrics()), (8, 2, 2, 1, 5), "two dropped");

    // The held client leaves; the counters stay once the server is closed.
    drop(held);
    until_connections(&server, 0).await;
    server.close().await;
    assert_eq!(counters(server.metrics()), (8, 2, 2, 0, 6), "all done");
    assert_eq!(server.metrics(), server.metrics(), "a closed server's counters are still");
}

#[tokio::test]
async fn tracing_example_logs_connection_events_and_its_metrics() {
    let env = [("METRICS_EVERY_MS", "100")];
    let mut example = common::example::start("tracing", &["--listen", "127.0.0.1:0"], &env).await;
    let address = example.address.clone();
    let mut client =
        within("connect", tokio::net::TcpStream::connect(&address)).await.expect("connect");
    let peer = client.local_addr().expect("the client's address");
    assert_echoes(&mut client, b"traced").await;
    drop(client);

    // The library's events, each in the connection's span, as tracing-subscriber prints them.
    let span = format!("connection{{id=1 peer={peer}}}");
    let accepted = example.stderr_line("accepted").await;
    assert!(accepted.contains("DEBUG") && accepted.contains(&span), "{accepted}");
    let closed = example.stderr_line("connection closed").await;
    assert!(closed.contains("DEBUG") && closed.contains(&span), "{closed}");
    // The periodic metrics line catches up with the client.
    let metrics = "Metrics { accepted: 1, dropped: 0, failed: 0, rejected: 0, open: 0, closed: 1 }";
    let logged = example.stderr_line(metrics).await;
    assert!(logged.contains("INFO"), "{logged}");
    example.stop_with("INT").await;
}
