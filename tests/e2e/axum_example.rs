//! Runs `examples/axum.rs` as a real process and talks to it with curl and raw keep-alive
//! clients: its routes over HTTP/1.1 and HTTP/2, keep-alive reuse, HTTP/2 chosen by ALPN
//! over TLS, a drain with a request in flight, and `--max-connections` with keep-alive
//! clients holding the slots.

use crate::common;

use std::process::Stdio;

use common::curl::*;
use common::example::*;
use common::{within, QUIET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

#[tokio::test]
async fn axum_example_serves_its_routes_over_http1_and_http2_and_reuses_connections() {
    if !tool("curl", "curl") {
        return;
    }
    let example = start("axum", &["--listen", "127.0.0.1:0"], &[]).await;
    let url = |path: &str| format!("http://{}{path}", example.address);
    for (flag, version) in [("--http1.1", "1.1"), ("--http2-prior-knowledge", "2")] {
        let hello = curl(&url("/"), &[flag]).await;
        assert_eq!((hello.code, hello.status), (Some(0), 200), "{hello:?}");
        assert_eq!(
            (hello.http_version.as_str(), hello.body.as_str()),
            (version, "hello from axum on tcp-serve\n")
        );
        // `ConnectInfo`, inserted by the adapter.
        let peer = curl(&url("/peer"), &[flag]).await;
        assert_eq!((peer.code, peer.status), (Some(0), 200), "{peer:?}");
        assert!(peer.body.starts_with("127.0.0.1:"), "{peer:?}");
        let slow = curl(&url("/slow?ms=10"), &[flag]).await;
        assert_eq!((slow.status, slow.body.as_str()), (200, "slept 10 ms\n"), "{slow:?}");
        let bad = curl(&url("/slow?ms=soon"), &[flag]).await;
        assert_eq!(bad.status, 400, "{bad:?}");
    }
    // HTTP/1.1 keep-alive; HTTP/2 reuse is checked over TLS (curl 7.88 cannot reuse a
    // prior-knowledge HTTP/2 connection, curl#10634).
    assert_eq!(connects_per_request(&[&url("/"), &url("/")], &["--http1.1"]).await, "1\n0\n");
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn axum_example_finishes_a_request_in_flight_during_a_drain_refuses_new_ones_and_exits_0() {
    assert_drains_a_request_in_flight("axum", "sleeping 1500 ms").await;
}

#[tokio::test]
async fn axum_example_speaks_http2_over_tls_by_alpn_and_drains_it() {
    if !tool("curl", "curl") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let cert = dir.path().join("cert.pem");
    let cert = cert.to_str().expect("utf-8 path");
    let args = ["--listen", "127.0.0.1:0", "--tls", "--write-cert", cert];
    let mut example = start("axum", &args, &[]).await;
    let url = |path: &str| format!("https://{}{path}", example.address);

    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let peer = curl(&url("/peer"), &[flag, "--cacert", cert]).await;
        assert_eq!((peer.code, peer.status), (Some(0), 200), "{peer:?}");
        assert_eq!(peer.http_version, version, "ALPN chose another version: {peer:?}");
        assert!(peer.body.starts_with("127.0.0.1:"), "{peer:?}");
    }

    // Keep-alive: HTTP/2 multiplexes the second request on the first's connection.
    let reuse = connects_per_request(&[&url("/"), &url("/")], &["--http2", "--cacert", cert]).await;
    assert_eq!(reuse, "1\n0\n", "connects per request over HTTP/2");

    // A drain reaches the HTTP/2 connection behind the TLS layer.
    let slow = curl_command(&url("/slow?ms=1000"), &["--http2", "--cacert", cert])
        .spawn()
        .expect("start curl");
    example.stdout_line("sleeping 1000 ms").await;
    example.signal("TERM");
    let reply = curl_result(within("the slow reply", slow.wait_with_output()).await.expect("curl"));
    assert_eq!(
        (reply.code, reply.status, reply.http_version.as_str()),
        (Some(0), 200, "2"),
        "{reply:?}"
    );
    assert_eq!(example.stdout_line("axum: stopped").await, "axum: stopped (Gracefully)");
    let status = example.exited().await;
    assert!(status.success(), "the example exited with {status}");
}

/// Runs one curl for all of `urls`, and returns the connections it opened for each, one
/// line per URL: `0` when it reused the previous one.
async fn connects_per_request(urls: &[&str], extra: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--noproxy", "*", "--max-time", "60"])
        .args(extra)
        .args(urls.iter().flat_map(|url| ["--output", "/dev/null", url]))
        .args(["--write-out", "%{num_connects}\n"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = within("curl", output).await.expect("curl");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Sends `GET /` on a keep-alive connection and returns the response's body.
async fn get_keep_alive(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n").await.expect("send a request");
    within("a response", async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.expect("a response head"));
        }
        let head = String::from_utf8(head).expect("an ASCII head");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        let length = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned)
            })
            .map_or(0, |n| n.trim().parse().expect("a length"));
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.expect("a response body");
        String::from_utf8(body).expect("a UTF-8 body")
    })
    .await
}

#[tokio::test]
async fn axum_example_at_max_connections_keeps_a_third_client_waiting_until_a_keep_alive_one_leaves(
) {
    if !tool("curl", "curl") {
        return;
    }
    let example = start("axum", &["--listen", "127.0.0.1:0", "--max-connections", "2"], &[]).await;
    let address = example.address.clone();
    let mut first = within("connect", TcpStream::connect(&address)).await.expect("connect");
    let mut second = within("connect", TcpStream::connect(&address)).await.expect("connect");
    assert_eq!(get_keep_alive(&mut first).await, "hello from axum on tcp-serve\n");
    assert_eq!(get_keep_alive(&mut second).await, "hello from axum on tcp-serve\n");

    // Both slots are held by idle keep-alive connections: the third client waits.
    let third = curl_command(&format!("http://{address}/"), &[]).spawn().expect("start curl");
    let mut third = Box::pin(third.wait_with_output());
    let early = tokio::time::timeout(QUIET, &mut third).await;
    assert!(early.is_err(), "the third client was served beyond max_connections: {early:?}");

    // One leaves; the third is served, and the other keeps its connection.
    drop(first);
    let reply = curl_result(within("the third client", third).await.expect("curl"));
    assert_eq!((reply.code, reply.status), (Some(0), 200), "{reply:?}");
    assert_eq!(get_keep_alive(&mut second).await, "hello from axum on tcp-serve\n");
    example.stop_with("TERM").await;
}
