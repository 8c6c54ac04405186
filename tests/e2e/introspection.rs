//! Looking inside a running server: `num_connections`, `Debug`, `invariant`,
//! `listening_socket`, `is_closed`.

use crate::common;

use common::*;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tcp_serve::{Family, Inet, Serve, Server, Unix, WhereToListen};
use tokio::net::{TcpStream, UnixStream};

/// Asserts the server's `Debug` output contains each of `fields`.
fn assert_debug_names<F: Family>(server: &Server<F>, fields: &[&str]) {
    let debug = format!("{server:?}");
    for field in fields {
        assert!(debug.contains(field), "the Debug output {debug} does not name {field:?}");
    }
}

/// Opens `n` clients and has each one echoed, so each is being served.
async fn served_clients(server: &Server<Inet>, n: usize) -> Vec<TcpStream> {
    let mut clients = Vec::new();
    for i in 0..n {
        let mut client = connect(server).await;
        assert_echoes(&mut client, format!("client {i}").as_bytes()).await;
        clients.push(client);
    }
    clients
}

#[tokio::test]
async fn num_connections_counts_the_clients_being_served() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(echo::<Inet>())
        .await
        .unwrap();
    assert_eq!(server.num_connections(), 0);
    server.invariant();

    let mut clients = served_clients(&server, 3).await;
    until_connections(&server, 3).await;
    server.invariant();

    drop(clients.pop());
    until_connections(&server, 2).await;
    server.invariant();
    for client in &mut clients {
        assert_echoes(client, b"the others are still served").await;
    }

    within("close", server.close()).await;
    assert_eq!(server.num_connections(), 2, "close keeps the live connections");
    server.invariant();
    drop(clients);
    until_connections(&server, 0).await;
    server.invariant();
}

#[tokio::test]
async fn a_clone_of_the_handle_sees_the_same_server() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let clone = server.clone();
    let _clients = served_clients(&server, 2).await;
    until_connections(&clone, 2).await;
    assert_eq!(clone.listening_on(), server.listening_on());
    within("close", clone.close()).await;
    assert!(server.is_closed(), "closing a clone closes the server");
    server.invariant();
}

#[tokio::test]
async fn debug_names_the_port_address_limits_and_state() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(50)
        .max_accepts_per_batch(2)
        .backlog(7)
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let port = server.listening_on();
    let _clients = served_clients(&server, 1).await;
    until_connections(&server, 1).await;
    assert_debug_names(
        &server,
        &[
            &format!("listening_on: {port}"),
            &format!("127.0.0.1:{port}"),
            "num_connections: 1",
            "max_connections: 50",
            "max_accepts_per_batch: 2",
            "backlog: Some(7)",
            "drop_incoming_connections: false",
            "is_closed: false",
        ],
    );
    server.set_drop_incoming_connections(true);
    within("close", server.close()).await;
    assert_debug_names(&server, &["drop_incoming_connections: true", "is_closed: true"]);
    server.invariant();
}

#[tokio::test]
async fn debug_of_a_unix_server_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("debug.sock");
    let server = Serve::new(WhereToListen::unix(&path)).serve(echo::<Unix>()).await.unwrap();
    let mut client = within("connect", UnixStream::connect(&path)).await.unwrap();
    assert_echoes(&mut client, b"hello").await;
    until_connections(&server, 1).await;
    assert_debug_names(
        &server,
        &[&path.display().to_string(), "num_connections: 1", "is_closed: false"],
    );
    server.invariant();
    within("close", server.close()).await;
    server.invariant();
}

#[tokio::test]
async fn listening_socket_is_there_until_close_and_then_clients_are_refused() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let port = server.listening_on();
    assert!(!server.is_closed());
    {
        let socket = server.listening_socket().expect("a listening socket while open");
        let sock = socket.sock_ref();
        assert!(sock.is_listener().unwrap());
        assert_eq!(
            sock.local_addr().unwrap().as_socket(),
            Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        );
    }
    assert_echoes(&mut connect(&server).await, b"open").await;
    server.invariant();

    within("close", server.close()).await;
    assert!(server.is_closed());
    assert!(server.listening_socket().is_none(), "no listening socket once closed");
    server.invariant();
    let refused = within("connect", TcpStream::connect((Ipv4Addr::LOCALHOST, port))).await;
    assert_eq!(refused.map(drop).unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn invariant_holds_at_the_limit_and_after_closing_connections() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(2)
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let _clients = served_clients(&server, 2).await;
    until_connections(&server, 2).await;
    server.invariant();
    let mut waiting = connect(&server).await;
    assert_no_reply(&mut waiting).await;
    assert_eq!(server.num_connections(), 2, "no more than max_connections are served");
    server.invariant();
    within("close all", server.close_with(tcp_serve::ExistingConnections::Close)).await;
    assert_eq!(server.num_connections(), 0);
    server.invariant();
}
