//! Where a server listens, the socket options it sets, and why it refuses to start.

use crate::common;

use common::child::{is_child, run_child, without_privileged_ports};
use common::*;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tcp_serve::{
    service_fn, Acceptor, Connection, Endpoint, Error, Family, Inet, InetServer, Listener, Serve,
    Unix, UnixServer, WhereToListen,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    let loopback = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    let server = match Serve::new(WhereToListen::addr(loopback)).serve(echo::<Inet>()).await {
        Ok(server) => server,
        Err(Error::Io { source, .. })
            if matches!(source.kind(), io::ErrorKind::AddrNotAvailable)
                || source.raw_os_error() == Some(97 /* EAFNOSUPPORT */) =>
        {
            return skip("serving on [::1]", &format!("this machine has no ::1: {source}"));
        }
        Err(error) => panic!("binding [::1]:0 failed: {error}"),
    };
    let addr = server.listening_on_address();
    assert_eq!(addr, SocketAddr::from((Ipv6Addr::LOCALHOST, server.listening_on())));
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

/// A server whose handler answers with `name`, then closes.
async fn serve_named(name: &'static str, port: u16) -> InetServer {
    Serve::new(WhereToListen::localhost(port))
        .reuseport(true)
        .serve(service_fn(move |(_peer, mut stream): Connection<Inet>| async move {
            stream.write_all(name.as_bytes()).await?;
            stream.shutdown().await
        }))
        .await
        .expect("a server with reuseport binds the port")
}

/// Which server answered a new client on `port`.
async fn who_answers(port: u16) -> String {
    let mut client =
        within("connect", TcpStream::connect((Ipv4Addr::LOCALHOST, port))).await.expect("connect");
    let mut name = String::new();
    within("the server's name", client.read_to_string(&mut name)).await.expect("read the name");
    name
}

/// The kernel spreads new connections over the sockets sharing the port by a hash of each
/// connection's addresses: both servers accept, not only bind.
#[tokio::test]
async fn reuseport_lets_two_servers_share_a_port_and_both_accept() {
    /// Clients tried at most before both servers must have answered: with two sockets
    /// sharing the port, all of them going to one would happen once in 2^63 runs.
    const ATTEMPTS: usize = 64;
    let first = serve_named("first", 0).await;
    let port = first.listening_on();
    let second = serve_named("second", port).await;
    assert_eq!(second.listening_on(), port);
    for server in [&first, &second] {
        assert!(server.listening_socket().unwrap().sock_ref().reuse_port().unwrap());
    }
    let mut answered = std::collections::BTreeMap::new();
    for _ in 0..ATTEMPTS {
        *answered.entry(who_answers(port).await).or_insert(0) += 1;
        if answered.len() == 2 {
            break;
        }
    }
    let names: Vec<_> = answered.keys().map(String::as_str).collect();
    assert_eq!(names, ["first", "second"], "who answered {ATTEMPTS} clients: {answered:?}");

    // Once the first closes, the second takes every client on the port.
    within("close", first.close()).await;
    for _ in 0..4 {
        assert_eq!(who_answers(port).await, "second");
    }
    for server in [first, second] {
        server.invariant();
        within("close", server.close()).await;
    }
}

/// A server whose handler tells each client whether its accepted socket has `TCP_NODELAY`.
async fn serve_nodelay_report(serve: Serve<Inet>) -> InetServer {
    serve
        .serve(service_fn(|(_peer, mut stream): Connection<Inet>| async move {
            let nodelay = stream.nodelay()?;
            stream.write_all(if nodelay { b"nodelay on" } else { b"nodelay off" }).await?;
            stream.shutdown().await
        }))
        .await
        .expect("the server starts")
}

async fn nodelay_reported_by(server: &InetServer) -> String {
    let mut client = connect(server).await;
    let mut report = String::new();
    within("the handler's report", client.read_to_string(&mut report)).await.expect("read");
    report
}

#[tokio::test]
async fn accepted_sockets_get_tcp_nodelay_by_default_and_not_when_turned_off() {
    let default = serve_nodelay_report(Serve::new(localhost())).await;
    assert_eq!(nodelay_reported_by(&default).await, "nodelay on");
    let off = serve_nodelay_report(Serve::new(localhost()).tcp_nodelay(false)).await;
    assert_eq!(nodelay_reported_by(&off).await, "nodelay off");
    let on = serve_nodelay_report(Serve::new(localhost()).tcp_nodelay(true)).await;
    assert_eq!(nodelay_reported_by(&on).await, "nodelay on");
    for server in [default, off, on] {
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

/// `max_connections` by default: the larger of 10,000 and 90% of the open-file limit
/// (rounded down to a tenth first, as the library computes it).
fn default_max_connections_for(open_files: u64) -> usize {
    usize::try_from(open_files / 10 * 9).unwrap().max(10_000)
}

/// The soft and hard open-file limits of this process.
fn open_file_limits() -> (u64, Option<u64>) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    (limit.current.expect("a finite open-file limit"), limit.maximum)
}

#[tokio::test]
async fn limits_have_their_defaults_and_follow_the_builder() {
    let default = serve_echo(localhost()).await;
    assert_eq!(default.backlog(), Some(4096));
    assert_eq!(default.max_accepts_per_batch(), 64);
    let (open_files, _) = open_file_limits();
    assert_eq!(default.max_connections(), default_max_connections_for(open_files));
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

#[tokio::test]
async fn an_acceptor_on_a_bound_listener_reports_the_backlog_it_listened_with() {
    let listener = Listener::bind(&localhost()).expect("bind");
    let server = Acceptor::new(listener).serve(echo::<Inet>()).expect("serve");
    assert_eq!(server.backlog(), Some(4096));
    server.invariant();
    assert_echoes(&mut connect(&server).await, b"served").await;
    within("close", server.close()).await;
}

const CHILD_HIGH_LIMIT: &str = "listen::child_max_connections_is_90_percent_of_20000_open_files";
const CHILD_LOW_LIMIT: &str = "listen::child_max_connections_is_10000_under_1000_open_files";

/// The default `max_connections`, in children under two open-file limits: 90% of 20,000 is
/// 18,000; 90% of 1,000 is below the floor of 10,000.
#[tokio::test]
async fn the_default_max_connections_follows_the_open_file_limit_exactly() {
    let (_, hard) = open_file_limits();
    // Only root may raise the hard limit.
    if hard.is_some_and(|hard| hard < 20_000) && !rustix::process::geteuid().is_root() {
        return skip(
            "the default max_connections under 20,000 open files",
            &format!("the hard open-file limit is {hard:?} and this process is not root"),
        );
    }
    run_child(CHILD_HIGH_LIMIT, &["sh", "-c", r#"ulimit -n 20000 && exec "$0" "$@""#]).await;
    run_child(CHILD_LOW_LIMIT, &["sh", "-c", r#"ulimit -n 1000 && exec "$0" "$@""#]).await;
}

/// In a child: under `ulimit -n open_files`, the default `max_connections` is `expected`.
async fn assert_default_max_connections(open_files: u64, expected: usize) {
    assert_eq!(open_file_limits().0, open_files, "the child runs under ulimit -n {open_files}");
    let server = serve_echo(localhost()).await;
    assert_eq!(server.max_connections(), expected);
    assert_echoes(&mut connect(&server).await, b"served").await;
    println!("[child] open-file limit {open_files}: max_connections {}", server.max_connections());
    within("close", server.close()).await;
}

#[tokio::test]
async fn child_max_connections_is_90_percent_of_20000_open_files() {
    if is_child(CHILD_HIGH_LIMIT) {
        assert_default_max_connections(20_000, 18_000).await;
    }
}

#[tokio::test]
async fn child_max_connections_is_10000_under_1000_open_files() {
    if is_child(CHILD_LOW_LIMIT) {
        assert_default_max_connections(1_000, 10_000).await;
    }
}

/// How long a connect may take before it counts as stuck behind a full accept queue. A
/// connect with room in the queue completes in the kernel, with no server code to wait
/// for; the client's own task being late under load is the only delay, and 2 s is far
/// beyond that. A stuck one waits for SYN retries that keep failing while the queue is full.
const STUCK: Duration = Duration::from_secs(2);

/// At `max_connections` nothing is accepted, so clients queue in the kernel; a backlog of 1
/// lets only a couple of them complete their handshake, where the default 4096 would take
/// them all.
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
        match tokio::time::timeout(STUCK, &mut attempt).await {
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
async fn a_supplied_unix_socket_is_bound_at_the_path_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("given.sock");
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).expect("a Unix socket");
    let server =
        Serve::new(WhereToListen::unix(&path)).socket(socket).serve(echo::<Unix>()).await.unwrap();
    assert_eq!(server.listening_on(), path);
    let sock = server.listening_socket().expect("listening");
    assert_eq!(sock.sock_ref().domain().unwrap(), Domain::UNIX);
    assert_eq!(sock.sock_ref().local_addr().unwrap().as_pathname(), Some(path.as_path()));
    drop(sock);
    let mut client = within("connect", UnixStream::connect(&path)).await.expect("connect");
    assert_echoes(&mut client, b"over the socket you gave").await;
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

const CHILD_PRIVILEGED_PORT: &str = "listen::child_a_privileged_port_is_permission_denied";

/// Checked in a child process that may not bind ports below 1024, whoever runs the tests
/// (root may bind any port): see `without_privileged_ports`.
#[tokio::test]
async fn a_privileged_port_is_permission_denied() {
    if let Some(wrapper) = without_privileged_ports() {
        run_child(CHILD_PRIVILEGED_PORT, &wrapper).await;
    }
}

#[tokio::test]
async fn child_a_privileged_port_is_permission_denied() {
    if !is_child(CHILD_PRIVILEGED_PORT) {
        return; // run by the parent test, without the privilege
    }
    let raw = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 1)).map(drop);
    let kind = raw.as_ref().map_err(io::Error::kind);
    assert_eq!(kind, Err(io::ErrorKind::PermissionDenied), "binding port 1 here: {raw:?}");
    let error = refused(Serve::new(WhereToListen::localhost(1))).await;
    match &error {
        Error::PermissionDenied { endpoint, source } => {
            assert_eq!(endpoint, &Endpoint::Inet(SocketAddr::from((Ipv4Addr::LOCALHOST, 1))));
            assert_eq!(source.kind(), io::ErrorKind::PermissionDenied);
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    assert_says(&error, &["127.0.0.1:1", "permission denied", "CAP_NET_BIND_SERVICE"]);
    println!("[child] {error}");
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

/// What a user meets restarting a Unix server on the same path: the closed server left its
/// socket file (connects to it are refused), so the restart is refused as stale, naming the
/// path; once the file is removed, the new server serves.
#[tokio::test]
async fn restarting_on_the_same_unix_path_needs_the_stale_file_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restart.sock");
    let first = serve_unix_echo(&path).await;
    let mut client = within("connect", UnixStream::connect(&path)).await.expect("connect");
    assert_echoes(&mut client, b"the first server").await;
    drop(client);
    within("close", first.close()).await;

    assert!(path.exists(), "the closed server's socket file stays");
    let refused = within("a connect after close", UnixStream::connect(&path)).await;
    let error = refused.map(drop).expect_err("a closed Unix server accepted a connection");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");

    let error = refused_unix(&path).await;
    assert!(matches!(&error, Error::StaleUnixSocket { path: p } if *p == path), "got {error:?}");
    assert_says(&error, &[&path.display().to_string(), "remove the file"]);

    std::fs::remove_file(&path).expect("remove the stale socket file");
    let second = serve_unix_echo(&path).await;
    let mut client = within("connect", UnixStream::connect(&path)).await.expect("connect");
    assert_echoes(&mut client, b"the restarted server").await;
    second.invariant();
    within("close", second.close()).await;
}

async fn refused_unix(path: &Path) -> Error {
    refused(Serve::new(WhereToListen::unix(path))).await
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
