//! Accept errors never kill the accept loop: out of file descriptors (`EMFILE`), the server
//! pauses, and serves again once descriptors are freed.
//!
//! The open-file limit is lowered in a child process only: the parent test re-runs this
//! test binary under `ulimit -n`, running just the child test, which is a no-op otherwise.

use crate::common;

use common::child::{free_fds, is_child, run_child};
use common::*;

use std::fs::File;

use tcp_serve::{Inet, InetServer, Serve, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The child's open-file limit: small, so a few dozen clients exhaust it.
pub(crate) const FD_LIMIT: usize = 64;
/// `EMFILE` on Linux: the process has no free file descriptor.
pub(crate) const EMFILE: i32 = 24;

/// The test the child process runs.
const CHILD_TEST: &str =
    "accept_errors::child_out_of_file_descriptors_the_server_waits_and_serves_again";

#[tokio::test]
async fn running_out_of_file_descriptors_pauses_accepting_without_stopping_the_server() {
    let ulimit = format!(r#"ulimit -n {FD_LIMIT} && exec "$0" "$@""#);
    run_child(CHILD_TEST, &["sh", "-c", &ulimit]).await;
}

pub(crate) fn assert_fd_limit_applies() {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("read /proc/self/limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("an fd limit");
    let soft: usize =
        line.split_whitespace().nth(3).and_then(|n| n.parse().ok()).expect("a number");
    assert_eq!(soft, FD_LIMIT, "the child runs under `ulimit -n {FD_LIMIT}`: {line}");
}

/// Opens served clients (two descriptors each: ours and the server's) until exactly one
/// descriptor is left, taking an odd one with a file if need be.
pub(crate) async fn use_all_fds_but_one(server: &InetServer) -> (Vec<TcpStream>, Option<File>) {
    let mut clients = Vec::new();
    for _ in 0..FD_LIMIT / 2 {
        if free_fds(FD_LIMIT) < 3 {
            break;
        }
        let mut client = connect(server).await;
        assert_echoes(&mut client, b"served").await;
        clients.push(client);
    }
    let filler =
        (free_fds(FD_LIMIT) == 2).then(|| File::open("/dev/null").expect("open /dev/null"));
    assert_eq!(free_fds(FD_LIMIT), 1, "one descriptor left");
    (clients, filler)
}

#[tokio::test]
async fn child_out_of_file_descriptors_the_server_waits_and_serves_again() {
    if !is_child(CHILD_TEST) {
        return; // run by the parent test, under a low open-file limit
    }
    assert_fd_limit_applies();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let (clients, filler) = use_all_fds_but_one(&server).await;

    // This client takes the last descriptor; the server's accept fails with EMFILE.
    let mut starved = connect(&server).await;
    starved.write_all(b"waiting").await.expect("write to the server");
    assert_no_reply(&mut starved).await;
    let port = server.listening_on();
    let no_fd = within("a failed connect", TcpStream::connect(("127.0.0.1", port))).await;
    assert_eq!(no_fd.err().and_then(|e| e.raw_os_error()), Some(EMFILE), "no descriptor left");
    assert!(!server.is_closed(), "an accept error does not close the server");
    server.invariant();

    drop((clients, filler));
    let mut echoed = [0; 7];
    within("the starved client's echo", starved.read_exact(&mut echoed)).await.unwrap();
    assert_eq!(&echoed, b"waiting");
    let mut fresh = connect(&server).await;
    assert_echoes(&mut fresh, b"served again").await;
    assert!(!server.is_closed());
    server.invariant();
}
