//! Guarantee 7: bad input at the API is a clear error naming the problem, never a panic.
//!
//! One table: each case builds a server that must refuse to start, and the error's message
//! must name what is wrong. tests/e2e/listen.rs checks each case's variant in detail; this
//! checks them all together, and the privileged port in a child process that may not bind
//! it whoever runs the suite (root may bind any port; see `without_privileged_ports`).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;

use socket2::{Domain, Protocol, Socket, Type};
use tcp_serve::{Error, Family, Inet, Serve, Unix, WhereToListen};

use crate::common::child::{is_child, run_child, without_privileged_ports};
use crate::common::*;

const CHILD_TEST: &str = "bad_input::child_a_privileged_port_without_the_capability";
/// The cases of the table, the privileged port's included.
const CASES: usize = 17;
/// Marks the child's report of the error it got, for the parent to read.
const CHILD_REPORT: &str = "[child] privileged port refused: ";

/// A server starting: `Ok` with its description if it started (a failure of the case),
/// the error's message (`Error::to_string`) if it refused.
type Refusal = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// Starts `serve` with an echo service.
fn start<F: Family>(serve: Serve<F>) -> Refusal {
    Box::pin(async move {
        let server = serve.serve(echo::<F>()).await.map_err(|e| e.to_string())?;
        let description = format!("{server:?}");
        server.close().await;
        Ok(description)
    })
}

fn tcp_socket(domain: Domain) -> Socket {
    Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).expect("create a TCP socket")
}

fn unix(path: &Path) -> Serve<Unix> {
    Serve::new(WhereToListen::unix(path))
}

/// A case: its name, the server to start, and the words the error must contain.
struct Case {
    name: &'static str,
    refusal: Refusal,
    words: Vec<String>,
}

fn case(name: &'static str, refusal: Refusal, words: &[&str]) -> Case {
    Case { name, refusal, words: words.iter().map(|w| w.to_string()).collect() }
}

/// The privileged-port case, checked in a child process that may not bind ports below 1024
/// (see `without_privileged_ports`); `None` only outside CI, when this machine cannot make
/// one (a skip, reported).
async fn privileged_port_case() -> Option<Case> {
    let words = &["127.0.0.1:1", "permission denied", "CAP_NET_BIND_SERVICE"];
    let wrapper = without_privileged_ports()?;
    let stdout = run_child(CHILD_TEST, &wrapper).await;
    let message = stdout
        .lines()
        .find_map(|line| Some(line[line.find(CHILD_REPORT)? + CHILD_REPORT.len()..].to_owned()))
        .unwrap_or_else(|| panic!("the child reported no error: {stdout}"));
    // The child checked the variant; the table checks the message it reported.
    let refusal: Refusal = Box::pin(async move { Err(message) });
    let name = "a privileged port without permission (a child without CAP_NET_BIND_SERVICE)";
    Some(case(name, refusal, words))
}

#[tokio::test]
async fn every_bad_input_is_a_clear_error_and_nothing_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);

    // What the cases need in place.
    let holder = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let taken = holder.local_addr().unwrap();
    let too_long = path(&"x".repeat(110));
    let stale = path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let live = path("live.sock");
    let live_server = unix(&live).serve(echo::<Unix>()).await.unwrap();
    let missing = path("absent").join("echo.sock");
    let regular = path("notes.txt");
    std::fs::write(&regular, b"keep me").unwrap();
    let for_tcp_socket = path("tcp.sock");
    let listening = tcp_socket(Domain::IPV4);
    listening.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
    listening.listen(8).unwrap();
    let bound = tcp_socket(Domain::IPV4);
    bound.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
    let udp = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    let show = |p: &Path| p.display().to_string();

    let mut cases = vec![
        case(
            "a port in use",
            start(Serve::new(WhereToListen::localhost(taken.port()))),
            &[&taken.to_string(), "already in use"],
        ),
        case("a Unix path too long", start(unix(&too_long)), &[&show(&too_long), "107", "long"]),
        case(
            "a stale Unix socket file",
            start(unix(&stale)),
            &[&show(&stale), "nothing is listening", "remove the file"],
        ),
        case(
            "a live Unix server at the path",
            start(unix(&live)),
            &[&show(&live), "already in use"],
        ),
        case(
            "a path in a missing directory",
            start(unix(&missing)),
            &[&show(&missing), "directory does not exist"],
        ),
        case(
            "a regular file at the path",
            start(unix(&regular)),
            &[&show(&regular), "not a socket"],
        ),
        case(
            "max_connections = 0",
            start(Serve::new(localhost()).max_connections(0)),
            &["max_connections", "set to 0", "between 1 and"],
        ),
        case(
            "max_connections too large",
            start(Serve::new(localhost()).max_connections(usize::MAX)),
            &["max_connections", &usize::MAX.to_string(), "between 1 and"],
        ),
        case(
            "backlog = 0",
            start(Serve::new(localhost()).backlog(0)),
            &["backlog", "set to 0", "between 1 and"],
        ),
        case(
            "backlog beyond listen(2)'s int",
            start(Serve::new(localhost()).backlog(i32::MAX as usize + 1)),
            &["backlog", &i32::MAX.to_string()],
        ),
        case(
            "max_accepts_per_batch = 0",
            start(Serve::new(localhost()).max_accepts_per_batch(0)),
            &["max_accepts_per_batch", "set to 0", "between 1 and"],
        ),
        case(
            "a supplied IPv6 socket for an IPv4 address",
            start(Serve::new(localhost()).socket(tcp_socket(Domain::IPV6))),
            &["AF_INET6", "127.0.0.1:0", "domain"],
        ),
        case(
            "a supplied TCP socket for a Unix path",
            start(unix(&for_tcp_socket).socket(tcp_socket(Domain::IPV4))),
            &["AF_INET", &show(&for_tcp_socket), "domain"],
        ),
        case(
            "a supplied socket already listening",
            start(Serve::new(localhost()).socket(listening)),
            &["already listening"],
        ),
        case(
            "a supplied socket already bound",
            start(Serve::new(localhost()).socket(bound)),
            &["127.0.0.1:0", "already bound"],
        ),
        case(
            "a supplied UDP socket",
            start(Serve::new(localhost()).socket(udp)),
            &["SOCK_DGRAM", "STREAM"],
        ),
    ];
    let privileged_port = privileged_port_case().await;
    let skipped = usize::from(privileged_port.is_none());
    cases.extend(privileged_port);

    // Every case runs, whatever the others did; the counts are asserted after.
    let total = cases.len();
    let (mut refused, mut started, mut panicked, mut unclear) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for Case { name, refusal, words } in cases {
        // On its own task, so that a panic is reported as this case's.
        match within(name, tokio::spawn(refusal)).await {
            Err(e) if e.is_panic() => {
                panicked += 1;
                failures.push(format!("{name}: the server panicked instead of refusing"));
            }
            Err(e) => panic!("{name}: {e}"),
            Ok(Ok(server)) => {
                started += 1;
                failures.push(format!("{name}: the server started instead of refusing: {server}"));
            }
            Ok(Err(message)) => {
                println!("bad input: {name}: {message}");
                let missing: Vec<_> =
                    words.iter().filter(|w| !message.contains(w.as_str())).collect();
                if missing.is_empty() {
                    refused += 1;
                } else {
                    unclear += 1;
                    failures.push(format!("{name}: {message:?} does not say {missing:?}"));
                }
            }
        }
    }
    println!(
        "bad input: {total} cases: {refused} refused with an error naming the problem, \
         {unclear} refused with an error missing a word, {started} started, {panicked} panicked"
    );
    assert!(
        failures.is_empty(),
        "bad input the server did not refuse clearly:\n{}",
        failures.join("\n")
    );
    assert_eq!((refused, unclear, started, panicked), (total, 0, 0, 0));
    assert_eq!(total + skipped, CASES, "every case ran but a skip, reported as such");

    assert!(!too_long.exists() && !missing.exists() && !for_tcp_socket.exists());
    assert!(stale.exists(), "the stale file is left for the user to remove");
    assert_eq!(std::fs::read(&regular).unwrap(), b"keep me");
    // The refusals left the live server and the port's holder as they were.
    let mut client = within("connect", tokio::net::UnixStream::connect(&live)).await.unwrap();
    assert_echoes(&mut client, b"still serving").await;
    live_server.invariant();
    within("close", live_server.close()).await;
    drop(holder);
}

#[tokio::test]
async fn child_a_privileged_port_without_the_capability() {
    if !is_child(CHILD_TEST) {
        return; // run by the parent test, without CAP_NET_BIND_SERVICE
    }
    // The wrapper made this true; if it did not, the check would prove nothing.
    let raw = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 1)).map(drop);
    let kind = raw.as_ref().map_err(io::Error::kind);
    assert_eq!(kind, Err(io::ErrorKind::PermissionDenied), "binding port 1 here: {raw:?}");
    match Serve::new(WhereToListen::localhost(1)).serve(echo::<Inet>()).await {
        Ok(server) => panic!("a privileged port was bound without permission: {server:?}"),
        Err(error) => {
            assert!(matches!(error, Error::PermissionDenied { .. }), "got {error:?}");
            println!("{CHILD_REPORT}{error}");
        }
    }
}
