//! Where a server listens, the socket options it sets, and why it refuses to start.

use crate::common;

use common::*;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use socket2::{Domain, Protocol, Socket, Type};
use tcp_serve::{
    Endpoint, Error, Family, Inet, InetServer, Serve, Unix, UnixServer, WhereToListen,
};
use tokio::net::{TcpStream, UnixStream};

async fn serve_echo(where_to_listen: WhereToListen<Inet>) -> InetServer {
    Serve::new(where_to_listen).serve(echo::<Inet>()).await.expect("the server starts")
}

async fn serve_unix_echo(path: &Path) -> UnixServer {
    Serve::new(WhereToListen::unix(path)).serve(echo::<Unix>()).await.expect("the server starts")
}

/// Starts `serve` with an echo service, expecting it to refuse with an error.
async fn refused<F: Family>(serve: Serve<F>) -> Error {
    match serve.serve(echo::<F>()).await {
        Ok(server) => panic!("expected the server to refuse to start, but it runs: {server:?}"),
        Err(error) => error,
    }
}

/// Asserts the error's message contains each of `words`, so it tells the user something.
fn assert_says(error: &Error, words: &[&str]) {
    let message = error.to_string();
    for word in words {
        assert!(message.contains(word), "the message {message:?} does not mention {word:?}");
    }
}

/// Connects a TCP client to `addr` and asserts it gets its echo; then closes the server.
async fn assert_serves_at(server: InetServer, addr: SocketAddr) {
    let mut client = within("connect", TcpStream::connect(addr)).await.expect("connect");
    assert_echoes(&mut client, b"where am I?").await;
    server.invariant();
    within("close", server.close()).await;
    server.invariant();
}

fn tcp_socket(domain: Domain) -> Socket {
    Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).expect("create a TCP socket")
}

fn localhost() -> WhereToListen<Inet> {
    WhereToListen::localhost_port_chosen_by_os()
}

#[tokio::test]
async fn listens_on_all_interfaces_on_a_port_the_os_chooses() {
    let server = serve_echo(WhereToListen::port_chosen_by_os()).await;
    let port = server.listening_on();
    assert_ne!(port, 0, "the OS chose a real port");
    assert_eq!(server.listening_on_address(), SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
    assert_serves_at(server, (Ipv4Addr::LOCALHOST, port).into()).await;
}

#[tokio::test]
async fn listens_on_localhost_on_a_port_the_os_chooses() {
    let server = serve_echo(localhost()).await;
    let port = server.listening_on();
    assert_ne!(port, 0);
    assert_eq!(server.listening_on_address(), SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    assert_serves_at(server, (Ipv4Addr::LOCALHOST, port).into()).await;
}

#[tokio::test]
async fn listens_on_a_given_ip_or_address() {
    let given = [
        WhereToListen::ip(Ipv4Addr::new(127, 0, 0, 2), 0),
        WhereToListen::addr(SocketAddr::from(([127, 0, 0, 3], 0))),
    ];
    for where_to_listen in given {
        let ip = where_to_listen.bind_to().ip();
        let server = serve_echo(where_to_listen).await;
        let bound = SocketAddr::new(ip, server.listening_on());
        assert_eq!(server.listening_on_address(), bound);
        assert_serves_at(server, bound).await;
    }
}

#[tokio::test]
async fn listens_on_ipv6_loopback() {
    let server =
        match Serve::new(WhereToListen::addr(SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], 0))))
            .serve(echo::<Inet>())
            .await
        {
            Ok(server) => server,
            Err(Error::Io { source, .. })
                if matches!(source.kind(), io::ErrorKind::AddrNotAvailable)
                    || source.raw_os_error() == Some(97 /* EAFNOSUPPORT */) =>
            {
                println!("note: this machine has no ::1 ({source}); skipping the IPv6 test");
                return;
            }
            Err(error) => panic!("binding [::1]:0 failed: {error}"),
        };
    let addr = server.listening_on_address();
    assert_eq!(addr, SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], server.listening_on())));
    assert_serves_at(server, addr).await;
}

#[tokio::test]
async fn listens_on_a_unix_socket_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let server = serve_unix_echo(&path).await;
    assert_eq!(server.listening_on(), path);
    assert_eq!(server.listening_on_address().as_pathname(), Some(path.as_path()));
    let mut client = within("connect", UnixStream::connect(&path)).await.expect("connect");
    assert_echoes(&mut client, b"over a unix socket").await;
    server.invariant();
    within("close", server.close()).await;
}

#[tokio::test]
async fn reuseport_lets_two_servers_share_a_port() {
    let first = Serve::new(localhost()).reuseport(true).serve(echo::<Inet>()).await.unwrap();
    let port = first.listening_on();
    let second = Serve::new(WhereToListen::localhost(port))
        .reuseport(true)
        .serve(echo::<Inet>())
        .await
        .expect("a second server with reuseport binds the same port");
    assert_eq!(second.listening_on(), port);
    for server in [&first, &second] {
        assert!(server.listening_socket().unwrap().sock_ref().reuse_port().unwrap());
    }
    for _ in 0..4 {
        let mut client = connect(&first).await;
        assert_echoes(&mut client, b"either one").await;
    }
    for server in [first, second] {
        server.invariant();
        within("close", server.close()).await;
    }
}

#[tokio::test]
async fn reuseaddr_is_on_by_default_and_can_be_turned_off() {
    let default = serve_echo(localhost()).await;
    let socket = default.listening_socket().unwrap();
    assert!(socket.sock_ref().reuse_address().unwrap(), "SO_REUSEADDR is on by default");
    assert!(!socket.sock_ref().reuse_port().unwrap(), "SO_REUSEPORT is off by default");
    drop(socket);
    let off = Serve::new(localhost()).reuseaddr(false).serve(echo::<Inet>()).await.unwrap();
    assert!(!off.listening_socket().unwrap().sock_ref().reuse_address().unwrap());
    assert_echoes(&mut connect(&off).await, b"served all the same").await;
    for server in [default, off] {
        server.invariant();
        within("close", server.close()).await;
    }
}

#[tokio::test]
async fn limits_have_their_defaults_and_follow_the_builder() {
    let default = serve_echo(localhost()).await;
    assert_eq!(default.backlog(), Some(4096));
    assert_eq!(default.max_accepts_per_batch(), 64);
    assert!(default.max_connections() >= 10_000, "{}", default.max_connections());
    let set = Serve::new(localhost())
        .backlog(5)
        .max_accepts_per_batch(3)
        .max_connections(7)
        .serve(echo::<Inet>())
        .await
        .unwrap();
    assert_eq!(
        (set.backlog(), set.max_accepts_per_batch(), set.max_connections()),
        (Some(5), 3, 7)
    );
    for server in [default, set] {
        assert_echoes(&mut connect(&server).await, b"limits").await;
        server.invariant();
        within("close", server.close()).await;
    }
}

/// At `max_connections` nothing is accepted, so clients queue in the kernel; a backlog of 1
/// lets only a couple of them complete their handshake, where the default 64 would take all.
#[tokio::test]
async fn backlog_bounds_the_clients_queued_while_at_max_connections() {
    let server =
        Serve::new(localhost()).backlog(1).max_connections(1).serve(echo::<Inet>()).await.unwrap();
    let mut served = connect(&server).await;
    assert_echoes(&mut served, b"the only slot").await;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.listening_on()));
    let mut queued = Vec::new();
    let mut stuck = loop {
        let mut attempt = tokio::spawn(TcpStream::connect(addr));
        match tokio::time::timeout(QUIET, &mut attempt).await {
            Ok(client) => queued.push(client.unwrap().expect("a queued client connects")),
            Err(_) => break attempt,
        }
        assert!(queued.len() <= 2, "{} clients queued past a backlog of 1", queued.len());
    };
    assert!(!queued.is_empty(), "the backlog holds at least one client");
    drop((served, queued));
    let mut late = within("the stuck client to connect once the queue drains", &mut stuck)
        .await
        .unwrap()
        .expect("connect");
    assert_echoes(&mut late, b"my turn").await;
    server.invariant();
    within("close", server.close()).await;
}

#[tokio::test]
async fn a_supplied_socket_is_bound_and_served_without_reuseaddr() {
    let server = Serve::new(localhost())
        .socket(tcp_socket(Domain::IPV4))
        .serve(echo::<Inet>())
        .await
        .unwrap();
    assert!(!server.listening_socket().unwrap().sock_ref().reuse_address().unwrap());
    assert_echoes(&mut connect(&server).await, b"your socket").await;
    server.invariant();
    within("close", server.close()).await;
}

#[tokio::test]
async fn a_supplied_socket_keeps_the_callers_reuseaddr() {
    let socket = tcp_socket(Domain::IPV4);
    socket.set_reuse_address(true).unwrap();
    let server = Serve::new(localhost())
        .reuseaddr(false)
        .socket(socket)
        .serve(echo::<Inet>())
        .await
        .unwrap();
    assert!(server.listening_socket().unwrap().sock_ref().reuse_address().unwrap());
    assert_echoes(&mut connect(&server).await, b"as you set it").await;
    server.invariant();
    within("close", server.close()).await;
}

#[tokio::test]
async fn a_port_in_use_is_addr_in_use() {
    let holder = tcp_socket(Domain::IPV4);
    holder.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
    holder.listen(8).unwrap();
    let taken = holder.local_addr().unwrap().as_socket().unwrap();
    let error = refused(Serve::new(WhereToListen::localhost(taken.port()))).await;
    match &error {
        Error::AddrInUse { endpoint, source } => {
            assert_eq!(endpoint, &Endpoint::Inet(taken));
            assert_eq!(source.kind(), io::ErrorKind::AddrInUse);
        }
        other => panic!("expected AddrInUse, got {other:?}"),
    }
    assert_says(&error, &[&taken.to_string(), "already in use"]);
}

#[tokio::test]
async fn a_privileged_port_is_permission_denied() {
    match std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 1)) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
        outcome => {
            println!("note: this process may bind port 1 ({outcome:?}); skipping the test");
            return;
        }
    }
    let error = refused(Serve::new(WhereToListen::localhost(1))).await;
    assert!(matches!(error, Error::PermissionDenied { .. }), "got {error:?}");
    assert_says(&error, &["127.0.0.1:1", "permission denied"]);
}

#[tokio::test]
async fn a_unix_path_too_long_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x".repeat(110));
    let error = refused(Serve::new(WhereToListen::unix(&path))).await;
    match &error {
        Error::UnixPathTooLong { path: p, len, max } => {
            assert_eq!((p, *len, *max), (&path, path.as_os_str().len(), 107));
        }
        other => panic!("expected UnixPathTooLong, got {other:?}"),
    }
    assert_says(&error, &["107", "shorter path"]);
    assert!(!path.exists());
}

#[tokio::test]
async fn a_stale_unix_socket_file_is_reported_not_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let error = refused(Serve::new(WhereToListen::unix(&path))).await;
    assert!(matches!(&error, Error::StaleUnixSocket { path: p } if *p == path), "got {error:?}");
    assert_says(&error, &[&path.display().to_string(), "remove the file"]);
    assert!(path.exists(), "the stale file is left for the user to remove");
}

#[tokio::test]
async fn a_live_unix_server_at_the_path_is_addr_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.sock");
    let live = serve_unix_echo(&path).await;
    let error = refused(Serve::new(WhereToListen::unix(&path))).await;
    assert!(
        matches!(&error, Error::AddrInUse { endpoint: Endpoint::Unix(p), .. } if *p == path),
        "got {error:?}"
    );
    assert_says(&error, &[&path.display().to_string(), "already in use"]);
    let mut client = within("connect", UnixStream::connect(&path)).await.unwrap();
    assert_echoes(&mut client, b"the first server still serves").await;
    live.invariant();
    within("close", live.close()).await;
}

#[tokio::test]
async fn a_regular_file_at_the_path_is_path_exists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"keep me").unwrap();
    let error = refused(Serve::new(WhereToListen::unix(&path))).await;
    assert!(matches!(&error, Error::PathExists { path: p } if *p == path), "got {error:?}");
    assert_says(&error, &[&path.display().to_string(), "not a socket"]);
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[tokio::test]
async fn a_path_in_a_missing_directory_is_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent").join("echo.sock");
    let error = refused(Serve::new(WhereToListen::unix(&path))).await;
    assert!(matches!(&error, Error::MissingDirectory { path: p } if *p == path), "got {error:?}");
    assert_says(&error, &[&path.display().to_string(), "directory does not exist"]);
}

#[tokio::test]
async fn a_zero_limit_is_invalid_and_named() {
    let cases = [
        ("max_connections", Serve::new(localhost()).max_connections(0)),
        ("backlog", Serve::new(localhost()).backlog(0)),
        ("max_accepts_per_batch", Serve::new(localhost()).max_accepts_per_batch(0)),
    ];
    for (option, serve) in cases {
        let error = refused(serve).await;
        match &error {
            Error::InvalidLimit { name, value: 0, min: 1, .. } => assert_eq!(*name, option),
            other => panic!("expected InvalidLimit for {option}, got {other:?}"),
        }
        assert_says(&error, &[option, "set to 0"]);
    }
}

#[tokio::test]
async fn a_supplied_socket_of_the_wrong_family_is_refused() {
    let error = refused(Serve::new(localhost()).socket(tcp_socket(Domain::IPV6))).await;
    assert!(
        matches!(&error, Error::WrongFamily { endpoint: Endpoint::Inet(addr), .. } if addr.is_ipv4()),
        "got {error:?}"
    );
    assert_says(&error, &["AF_INET6", "127.0.0.1:0"]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let error =
        refused(Serve::new(WhereToListen::unix(&path)).socket(tcp_socket(Domain::IPV4))).await;
    assert!(
        matches!(&error, Error::WrongFamily { endpoint: Endpoint::Unix(p), .. } if *p == path),
        "got {error:?}"
    );
    assert_says(&error, &["AF_INET", &path.display().to_string()]);
    assert!(!path.exists(), "nothing was bound at the path");
}

#[tokio::test]
async fn a_supplied_udp_socket_is_not_a_stream_socket() {
    let udp = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    let error = refused(Serve::new(localhost()).socket(udp)).await;
    assert!(matches!(error, Error::NotAStreamSocket { .. }), "got {error:?}");
    assert_says(&error, &["SOCK_DGRAM", "STREAM"]);
}

#[tokio::test]
async fn a_supplied_socket_already_listening_is_refused() {
    let socket = tcp_socket(Domain::IPV4);
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
    socket.listen(8).unwrap();
    let error = refused(Serve::new(localhost()).socket(socket)).await;
    assert!(matches!(error, Error::AlreadyListening), "got {error:?}");
    assert_says(&error, &["already listening"]);
}
