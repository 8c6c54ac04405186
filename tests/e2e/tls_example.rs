//! Runs `examples/tls.rs` as a real process with a certificate generated here (rcgen), and
//! talks to it with `openssl s_client`, as a user would; and with raw TCP clients that send
//! garbage or stall instead of a TLS hello.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::example::*;
use common::{assert_closed_by_server, within};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

/// The handshake timeout the stalling test gives the example. It must cut off the staller
/// (any value does), and must not cut off `openssl s_client`, whose handshake starts when
/// the staller's slot frees: a separate process verifying a certificate under load, so the
/// margin is wide.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// A self-signed certificate for localhost and 127.0.0.1, written as `cert.pem` and
/// `key.pem` in `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("generate a certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).expect("write the certificate");
    std::fs::write(&key, generated.key_pair.serialize_pem()).expect("write the key");
    (cert, key)
}

/// Starts the example with the certificate and key from `dir`, and the extra flags and
/// environment given.
async fn start_tls(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Example {
    let (cert, key) = certificate(dir);
    let cert = cert.to_str().expect("utf-8 path");
    let key = key.to_str().expect("utf-8 path");
    let mut full_env = vec![("TLS_CERT", cert), ("TLS_KEY", key)];
    full_env.extend_from_slice(env);
    let mut full_args = vec!["--listen", "127.0.0.1:0"];
    full_args.extend_from_slice(args);
    start("tls", &full_args, &full_env).await
}

/// Sends `line` through `openssl s_client`, verifying the server's certificate against
/// `ca` for the name `localhost`, and returns the line that came back.
async fn s_client_echo(address: &str, ca: &Path, line: &str) -> String {
    let mut client = Command::new("openssl")
        .args(["s_client", "-connect", address, "-CAfile"])
        .arg(ca)
        // -quiet implies -ign_eof; -no_ign_eof makes the client leave when its stdin closes.
        .args(["-verify_return_error", "-verify_hostname", "localhost", "-quiet", "-no_ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start openssl s_client");
    let mut stdin = client.stdin.take().expect("piped stdin");
    stdin.write_all(format!("{line}\n").as_bytes()).await.expect("write to s_client");
    let mut stdout = BufReader::new(client.stdout.take().expect("piped stdout"));
    let mut echoed = String::new();
    let read = within("the echo through s_client", stdout.read_line(&mut echoed)).await;
    read.expect("read from s_client");
    drop(stdin);
    let output = within("s_client to exit", client.wait_with_output()).await.expect("s_client");
    assert!(
        echoed == format!("{line}\n") && output.status.success(),
        "s_client got {echoed:?} and exited with {}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    echoed
}

#[tokio::test]
async fn tls_example_echoes_over_tls_to_openssl_s_client() {
    if !tool("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let example = start_tls(dir.path(), &[], &[]).await;
    s_client_echo(&example.address, &dir.path().join("cert.pem"), "hello over tls").await;
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn tls_example_writes_the_certificate_it_generates_for_the_client() {
    if !tool("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let cert = dir.path().join("generated.pem");
    let env = [("TLS_WRITE_CERT", cert.to_str().expect("utf-8 path"))];
    let example = start("tls", &["--listen", "127.0.0.1:0"], &env).await;
    s_client_echo(&example.address, &cert, "hello, self-signed").await;
    example.stop_with("INT").await;
}

#[tokio::test]
async fn tls_example_closes_a_client_that_sends_garbage_without_waiting_for_the_timeout() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // A minute's handshake timeout: closing within the test's wait shows it was not needed.
    let example = start_tls(dir.path(), &[], &[("TLS_HANDSHAKE_TIMEOUT_MS", "60000")]).await;
    let mut garbage =
        within("connect", TcpStream::connect(&example.address)).await.expect("connect");
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("send garbage");
    // What comes back is at most a TLS alert, then EOF.
    assert_closed_by_server(&mut garbage).await;
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn tls_example_closes_a_stalled_handshake_and_frees_its_connection_slot() {
    if !tool("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let timeout_ms = HANDSHAKE_TIMEOUT.as_millis().to_string();
    let env = [("TLS_HANDSHAKE_TIMEOUT_MS", timeout_ms.as_str())];
    let example = start_tls(dir.path(), &["--max-connections", "1"], &env).await;

    // The staller connects first, so it is accepted first and takes the only slot; it sends
    // nothing. The real client queues behind it in the backlog.
    let started = Instant::now();
    let mut staller =
        within("connect", TcpStream::connect(&example.address)).await.expect("connect");
    let ca = dir.path().join("cert.pem");
    let served = s_client_echo(&example.address, &ca, "after the staller");

    // The staller is closed at the handshake timeout, and then the real client is served:
    // not before, as it holds the only slot till then.
    let (staller_closed, (echoed, echoed_at)) = tokio::join!(
        async {
            let (_, closed_at) = assert_closed_by_server(&mut staller).await;
            assert!(
                started.elapsed() >= HANDSHAKE_TIMEOUT,
                "the staller was closed after {:?}, before the handshake timeout",
                started.elapsed()
            );
            closed_at
        },
        async { (served.await, Instant::now()) }
    );
    assert!(echoed_at >= staller_closed, "served while the staller held the only slot");
    assert_eq!(echoed, "after the staller\n");
    example.stop_with("TERM").await;
}
