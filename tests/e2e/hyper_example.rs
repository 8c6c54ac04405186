//! Runs `examples/hyper.rs` as a real process and talks HTTP to it with `curl`: HTTP/1.1,
//! HTTP/2 with prior knowledge, over a Unix socket, and through a graceful drain.

use crate::common;

use common::curl::*;
use common::example::*;

#[tokio::test]
async fn hyper_example_answers_curl_over_http1_and_http2() {
    if !tool("curl", "curl") {
        return;
    }
    let example = start("hyper", &["--listen", "127.0.0.1:0"], &[]).await;
    let url = format!("http://{}/", example.address);

    let http1 = curl(&url, &["--http1.1"]).await;
    assert_eq!(http1.code, Some(0), "{http1:?}");
    assert_eq!((http1.status, http1.http_version.as_str()), (200, "1.1"), "{http1:?}");
    assert!(http1.body.starts_with("hello, 127.0.0.1:"), "{http1:?}");

    let http2 = curl(&url, &["--http2-prior-knowledge"]).await;
    assert_eq!(http2.code, Some(0), "{http2:?}");
    assert_eq!((http2.status, http2.http_version.as_str()), (200, "2"), "{http2:?}");
    assert!(http2.body.starts_with("hello, 127.0.0.1:"), "{http2:?}");

    let missing = curl(&format!("{url}nowhere"), &[]).await;
    assert_eq!(missing.status, 404, "{missing:?}");
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn hyper_example_answers_curl_over_a_unix_socket() {
    if !tool("curl", "curl") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("hyper.sock");
    let path = path.to_str().expect("utf-8 path");
    let example = start("hyper", &["--unix", path], &[]).await;
    let reply = curl("http://localhost/", &["--unix-socket", path]).await;
    assert_eq!((reply.code, reply.status), (Some(0), 200), "{reply:?}");
    assert!(reply.body.starts_with("hello, "), "{reply:?}");
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn hyper_example_finishes_a_request_in_flight_during_a_drain_and_refuses_new_ones() {
    assert_drains_a_request_in_flight("hyper", "GET /slow?ms=1500").await;
}
