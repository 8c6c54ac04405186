//! Runs `examples/kv.rs` as a real process and talks its line protocol, as a user would:
//! with a tokio client, with `socat`, over TCP and over a Unix socket.

use crate::common;

use common::example::*;
use common::*;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};

/// The example's longest request line.
const MAX_LINE: usize = 8 * 1024;

/// Sends one request line and returns the reply line, without its newline.
async fn ask<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut BufReader<S>,
    request: &str,
) -> String {
    client.write_all(format!("{request}\n").as_bytes()).await.expect("send a request");
    let mut reply = String::new();
    let read = within("the reply", client.read_line(&mut reply)).await.expect("read a reply");
    assert!(read > 0, "the server closed the connection instead of answering {request:?}");
    reply
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("an unterminated reply: {reply:?}"))
        .to_owned()
}

async fn connect_tcp(address: &str) -> BufReader<TcpStream> {
    BufReader::new(within("connect", TcpStream::connect(address)).await.expect("connect"))
}

/// Asserts the server has closed the connection: nothing more, then EOF.
async fn assert_eof<S: AsyncRead + Unpin>(client: &mut BufReader<S>) {
    let mut rest = Vec::new();
    within("EOF", client.read_to_end(&mut rest)).await.expect("read to EOF");
    assert!(rest.is_empty(), "got {:?} after the last reply", String::from_utf8_lossy(&rest));
}

#[tokio::test]
async fn kv_example_answers_set_get_del_and_quit_over_tcp() {
    let example = start("kv", &["--listen", "127.0.0.1:0"], &[]).await;
    let address = example.address.clone();
    let mut client = connect_tcp(&address).await;
    assert_eq!(ask(&mut client, "SET greeting hello world").await, "OK");
    assert_eq!(ask(&mut client, "GET greeting").await, "VALUE hello world");
    assert_eq!(ask(&mut client, "DEL greeting").await, "DELETED");
    assert_eq!(ask(&mut client, "GET greeting").await, "NOT_FOUND");
    assert_eq!(ask(&mut client, "DEL greeting").await, "NOT_FOUND");
    assert_eq!(ask(&mut client, "FROB greeting").await, "ERROR unknown command: FROB greeting");
    assert_eq!(ask(&mut client, "QUIT").await, "BYE");
    assert_eof(&mut client).await;

    // One store for every connection: what socat sets, the next client gets.
    let request = b"SET lang rust\nGET lang\nQUIT\n";
    if let Some(replies) = socat(&format!("TCP:{address}"), request).await {
        assert_eq!(String::from_utf8_lossy(&replies), "OK\nVALUE rust\nBYE\n");
        let mut next = connect_tcp(&address).await;
        assert_eq!(ask(&mut next, "GET lang").await, "VALUE rust");
    }
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn kv_example_ends_a_connection_whose_line_is_too_long_and_serves_the_others() {
    let example = start("kv", &["--listen", "127.0.0.1:0"], &[]).await;
    let address = example.address.clone();
    let mut bystander = connect_tcp(&address).await;
    assert_eq!(ask(&mut bystander, "SET size small").await, "OK");

    let mut long_winded = connect_tcp(&address).await;
    let line = format!("SET size {}\n", "x".repeat(MAX_LINE));
    long_winded.write_all(line.as_bytes()).await.expect("send the long line");
    assert_closed_by_server(&mut long_winded).await;

    assert_eq!(ask(&mut bystander, "GET size").await, "VALUE small", "the long line was stored");
    let mut newcomer = connect_tcp(&address).await;
    assert_eq!(ask(&mut newcomer, "GET size").await, "VALUE small");
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn kv_example_says_bye_to_connected_clients_on_sigterm_and_exits_0() {
    let example = start("kv", &["--listen", "127.0.0.1:0"], &[]).await;
    let address = example.address.clone();
    let mut client = connect_tcp(&address).await;
    assert_eq!(ask(&mut client, "SET k v").await, "OK");
    example.stop_with("TERM").await;

    let mut farewell = String::new();
    within("the farewell", client.read_line(&mut farewell)).await.expect("read the farewell");
    assert_eq!(farewell, "BYE server shutting down\n");
    assert_eof(&mut client).await;
}

#[tokio::test]
async fn kv_example_answers_over_a_unix_socket() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("kv.sock");
    let example = start("kv", &["--unix", path.to_str().expect("utf-8 path")], &[]).await;
    let address = example.address.clone();
    assert_eq!(address, path.display().to_string());
    let stream = within("connect", UnixStream::connect(&path)).await.expect("connect");
    let mut client = BufReader::new(stream);
    assert_eq!(ask(&mut client, "SET over unix").await, "OK");
    assert_eq!(ask(&mut client, "GET over").await, "VALUE unix");
    example.stop_with("TERM").await;
}
