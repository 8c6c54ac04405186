//! Runs `examples/echo.rs` as a real process and talks to it with `socat`, as a user would.

use crate::common;

use common::example::*;
use common::*;
use tokio::net::TcpStream;
use tokio::process::Command;

#[tokio::test]
async fn echo_example_serves_socat_over_tcp_and_drains_on_sigterm() {
    let example = start("echo", &["--listen", "127.0.0.1:0", "--max-connections", "8"], &[]).await;
    let address = example.address.clone();
    if let Some(echoed) = socat(&format!("TCP:{address}"), b"hello over tcp\n").await {
        assert_eq!(echoed, b"hello over tcp\n");
    }

    // A client connected during the drain is told to finish: it sees EOF, then the exit.
    let mut client = within("connect", TcpStream::connect(&address)).await.expect("connect");
    assert_echoes(&mut client, b"before the signal").await;
    example.stop_with("TERM").await;
    assert_closed_by_server(&mut client).await;
}

#[tokio::test]
async fn echo_example_serves_socat_over_a_unix_socket() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("echo.sock");
    let example = start("echo", &["--unix", path.to_str().expect("utf-8 path")], &[]).await;
    let address = example.address.clone();
    assert_eq!(address, path.display().to_string());
    if let Some(echoed) = socat(&format!("UNIX-CONNECT:{address}"), b"hello over unix\n").await {
        assert_eq!(echoed, b"hello over unix\n");
    }
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn echo_example_reports_a_port_in_use_and_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let address = taken.local_addr().expect("its address").to_string();
    let output = within(
        "the example to fail",
        Command::new(example_binary("echo"))
            .args(["--listen", &address])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("run the example");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already in use"), "stderr was: {stderr}");
}
