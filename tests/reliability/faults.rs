//! Guarantee 4: handlers that fail, panic or never finish, mixed with normal ones, under
//! each `on_handler_error` policy.
//!
//! Each test runs 200 clients at once; the first byte each sends makes its handler echo
//! (`N`), fail (`E`), panic (`P`) or hang (`H`), a quarter each. The runtime is
//! current-thread so that a log subscriber set for the test sees the connections' tasks.

use std::collections::{HashMap, HashSet};
use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tcp_serve::{
    service_fn, BoxError, Connection, ExistingConnections, HandlerPanicked, Inet, InetServer,
    OnHandlerError, Serve, ServerError, WhereToListen,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::common::log::CapturedLog;
use crate::common::*;
use crate::{read_to_end_of, Ended};

const CLIENTS: usize = 200;
const ERROR_MESSAGE: &str = "the client asked for an error";
const PANIC_MESSAGE: &str = "the client asked for a panic";
/// What the default policy logs for each failed handler.
const LOGGED: &str = "connection handler failed";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Normal,
    Fail,
    Panic,
    Hang,
}

impl Kind {
    fn of_client(i: usize) -> Kind {
        [Kind::Normal, Kind::Fail, Kind::Panic, Kind::Hang][i % 4]
    }

    fn byte(self) -> u8 {
        match self {
            Kind::Normal => b'N',
            Kind::Fail => b'E',
            Kind::Panic => b'P',
            Kind::Hang => b'H',
        }
    }
}

/// The peers whose handler was called.
type Called = Arc<Mutex<HashSet<SocketAddr>>>;

/// A handler that does what the client's first byte says.
fn faulty(called: Called) -> impl TestService<Inet> {
    service_fn(move |(peer, mut stream): Connection<Inet>| {
        called.lock().unwrap().insert(peer);
        async move {
            let mut first = [0];
            if stream.read(&mut first).await? == 0 {
                return Ok(());
            }
            match first[0] {
                b'E' => Err(io::Error::other(ERROR_MESSAGE)),
                b'P' => panic!("{PANIC_MESSAGE}"),
                b'H' => {
                    // Never finishes; holds the connection until the server closes it.
                    std::future::pending::<()>().await;
                    drop(stream);
                    Ok(())
                }
                _ => {
                    stream.write_all(&first).await?;
                    let (mut reader, mut writer) = stream.split();
                    tokio::io::copy(&mut reader, &mut writer).await?;
                    writer.shutdown().await
                }
            }
        }
    })
}

/// What a client saw.
#[derive(Debug)]
enum Outcome {
    /// The connect was refused: the server had stopped.
    Refused,
    /// Its whole echo came back (normal clients).
    Echoed,
    /// The connection ended with no byte back.
    Closed,
    /// A hanging client, with its connection, to look at later.
    Holding(TcpStream),
}

struct Client {
    addr: Option<SocketAddr>,
    kind: Kind,
    outcome: Outcome,
}

async fn client(port: u16, i: usize) -> Client {
    let kind = Kind::of_client(i);
    let mut stream = match within("connect", TcpStream::connect(("127.0.0.1", port))).await {
        Ok(stream) => stream,
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            return Client { addr: None, kind, outcome: Outcome::Refused }
        }
        Err(e) => panic!("connect failed oddly: {e}"),
    };
    let addr = Some(stream.local_addr().unwrap());
    let mut message = vec![kind.byte()];
    if kind == Kind::Normal {
        message.extend(format!("client {i} ").repeat(50).into_bytes());
    }
    if let Err(e) = stream.write_all(&message).await {
        assert!(crate::is_reset(&e), "writing failed oddly: {e}");
    }
    let outcome = match kind {
        Kind::Hang => Outcome::Holding(stream),
        Kind::Normal => {
            let _ = stream.shutdown().await; // may meet a reset; the read tells
            match read_to_end_of(&mut stream, &message).await {
                Ended::Echoed => Outcome::Echoed,
                Ended::Closed => Outcome::Closed,
                half_open => panic!("normal client {i} got part of its echo: {half_open:?}"),
            }
        }
        Kind::Fail | Kind::Panic => {
            // No byte ever comes back to these: only the end of the connection.
            assert_eq!(read_to_end_of(&mut stream, b"nothing").await, Ended::Closed);
            Outcome::Closed
        }
    };
    Client { addr, kind, outcome }
}

/// Starts 200 clients at once against `server` and returns what each saw.
async fn run_the_mix(server: &InetServer) -> Vec<Client> {
    let mut clients = JoinSet::new();
    for i in 0..CLIENTS {
        clients.spawn(client(server.listening_on(), i));
    }
    let mut seen = Vec::new();
    within("every client of the mix", async {
        while let Some(result) = clients.join_next().await {
            seen.push(result.expect("a client failed"));
        }
    })
    .await;
    seen
}

fn addrs_of(clients: &[Client], kinds: &[Kind]) -> HashSet<SocketAddr> {
    clients.iter().filter(|c| kinds.contains(&c.kind)).filter_map(|c| c.addr).collect()
}

/// Counts outcomes by kind, for the figures.
fn tally(clients: &[Client]) -> String {
    let mut counts: HashMap<(Kind, &str), usize> = HashMap::new();
    for c in clients {
        let outcome = match c.outcome {
            Outcome::Refused => "refused",
            Outcome::Echoed => "echoed",
            Outcome::Closed => "closed",
            Outcome::Holding(_) => "held",
        };
        *counts.entry((c.kind, outcome)).or_default() += 1;
    }
    let mut counts: Vec<_> =
        counts.into_iter().map(|((k, o), n)| format!("{k:?} {o} {n}")).collect();
    counts.sort();
    counts.join(", ")
}

/// The policies that keep serving (Log, Ignore, Call): every normal client is echoed,
/// every failing or panicking one closed, every hanging one held open and silent until
/// `close_with(Close)` ends it.
async fn assert_kept_serving(server: &InetServer, clients: &mut [Client]) {
    for c in clients.iter() {
        match (c.kind, &c.outcome) {
            (Kind::Normal, Outcome::Echoed)
            | (Kind::Fail | Kind::Panic, Outcome::Closed)
            | (Kind::Hang, Outcome::Holding(_)) => {}
            (kind, outcome) => panic!("a {kind:?} client saw {outcome:?}"),
        }
    }
    let hanging = CLIENTS / 4;
    until_connections(server, hanging).await;
    assert!(!server.is_closed(), "the policy keeps the server serving");
    server.invariant();
    let mut held = holding(clients);
    futures::future::join_all(held.iter_mut().map(|s| assert_no_reply(*s))).await;
    assert_served_after_the_mix(server).await;

    within("close_with(Close)", server.close_with(ExistingConnections::Close)).await;
    for stream in held {
        assert_closed_by_server(stream).await;
    }
    assert_eq!(server.num_connections(), 0);
    server.invariant();
}

fn holding(clients: &mut [Client]) -> Vec<&mut TcpStream> {
    clients
        .iter_mut()
        .filter_map(|c| match &mut c.outcome {
            Outcome::Holding(stream) => Some(stream),
            _ => None,
        })
        .collect()
}

async fn assert_served_after_the_mix(server: &InetServer) {
    let mut fresh = connect(server).await;
    assert_echoes(&mut fresh, b"Normal, after the mix").await;
}

/// The policies that stop the server (Raise, a panicking Call): it stops with a handler
/// error for `expected_peer` (any failing or panicking client if `None`), refuses new
/// clients, and the connections it had taken carry on: a normal client whose handler was
/// called gets its whole echo, a hanging one is held until `close_with(Close)`.
async fn assert_stopped(
    server: &InetServer,
    clients: &mut [Client],
    called: &Called,
    expected_peer: Option<SocketAddr>,
) -> String {
    let (peer, source) = match within("the server to stop", server.clone().into_future()).await {
        Err(ServerError::Handler { peer, source }) => (peer, source.to_string()),
        other => panic!("expected the server to stop with a handler error, got {other:?}"),
    };
    let failing = addrs_of(clients, &[Kind::Fail, Kind::Panic]);
    assert!(failing.contains(&peer), "the stop names a failing client, not {peer}");
    if let Some(expected) = expected_peer {
        assert_eq!(peer, expected, "the stop names the connection whose callback panicked");
    }
    let expected_message = if addrs_of(clients, &[Kind::Fail]).contains(&peer) {
        ERROR_MESSAGE
    } else {
        PANIC_MESSAGE
    };
    assert!(source.contains(expected_message), "{source:?} says {expected_message:?}");
    assert!(server.is_closed());
    let refused = within("a connect", TcpStream::connect(("127.0.0.1", server.listening_on())));
    let error = refused.await.map(drop).expect_err("a stopped server accepted a connection");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");

    let called = called.lock().unwrap().clone();
    for c in clients.iter() {
        let was_called = c.addr.is_some_and(|a| called.contains(&a));
        match (c.kind, &c.outcome, was_called) {
            (Kind::Normal, Outcome::Echoed, true)
            | (Kind::Normal, Outcome::Closed | Outcome::Refused, false)
            | (Kind::Fail | Kind::Panic, Outcome::Closed | Outcome::Refused, _)
            | (Kind::Hang, Outcome::Holding(_), _)
            | (Kind::Hang, Outcome::Refused, false) => {}
            (kind, outcome, called) => {
                panic!("a {kind:?} client saw {outcome:?} (handler called: {called})")
            }
        }
    }
    // Hanging clients the server took are held; those it never took were reset when the
    // listener closed.
    let mut held_by_handler = Vec::new();
    for c in clients.iter_mut() {
        let was_called = c.addr.is_some_and(|a| called.contains(&a));
        if let Outcome::Holding(stream) = &mut c.outcome {
            if was_called {
                held_by_handler.push(stream);
            } else {
                assert_closed_by_server(stream).await;
            }
        }
    }
    until_connections(server, held_by_handler.len()).await;
    futures::future::join_all(held_by_handler.iter_mut().map(|s| assert_no_reply(*s))).await;
    server.invariant();
    let held = held_by_handler.len();
    within("close_with(Close)", server.close_with(ExistingConnections::Close)).await;
    for stream in held_by_handler {
        assert_closed_by_server(stream).await;
    }
    assert_eq!(server.num_connections(), 0);
    server.invariant();
    format!("stopped by {peer} ({source}); {} handlers called, {held} hanging held", called.len())
}

async fn serve_faulty(policy: OnHandlerError<SocketAddr>) -> (InetServer, Called) {
    let called = Called::default();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .backlog(1024)
        .on_handler_error(policy)
        .serve(faulty(Arc::clone(&called)))
        .await
        .unwrap();
    (server, called)
}

#[tokio::test]
async fn log_logs_every_failure_and_panic_and_keeps_serving_the_mix() {
    let log = CapturedLog::default();
    let _guard = log.capture();
    let (server, _called) = serve_faulty(OnHandlerError::Log).await;
    let mut clients = run_the_mix(&server).await;
    assert_kept_serving(&server, &mut clients).await;

    let text = log.text();
    let logged = text.lines().filter(|line| line.contains(LOGGED)).count();
    assert_eq!(logged, CLIENTS / 2, "one log line per failed or panicked handler:\n{text}");
    for peer in addrs_of(&clients, &[Kind::Fail, Kind::Panic]) {
        assert!(text.contains(&peer.to_string()), "the log names {peer}");
    }
    assert!(text.contains(ERROR_MESSAGE) && text.contains(PANIC_MESSAGE));
    println!("faults, Log: {CLIENTS} clients: {}; {logged} failures logged", tally(&clients));
}

#[tokio::test]
async fn ignore_logs_nothing_and_keeps_serving_the_mix() {
    let log = CapturedLog::default();
    let _guard = log.capture();
    let (server, _called) = serve_faulty(OnHandlerError::Ignore).await;
    let mut clients = run_the_mix(&server).await;
    assert_kept_serving(&server, &mut clients).await;

    let text = log.text();
    assert!(!text.contains(LOGGED), "Ignore logs no handler failure:\n{text}");
    println!("faults, Ignore: {CLIENTS} clients: {}; nothing logged", tally(&clients));
}

/// What a `Call` callback was given: the peer, and whether the error was a panic.
type Reports = Arc<Mutex<Vec<(SocketAddr, Option<String>)>>>;

fn report_into(reports: &Reports) -> impl Fn(&SocketAddr, &BoxError) + Send + Sync + 'static {
    let reports = Arc::clone(reports);
    move |peer, error| {
        let panic = error.downcast_ref::<HandlerPanicked>().map(|p| p.message().to_owned());
        reports.lock().unwrap().push((*peer, panic));
    }
}

#[tokio::test]
async fn call_is_given_every_failure_and_panic_and_keeps_serving_the_mix() {
    let reports = Reports::default();
    let (server, _called) = serve_faulty(OnHandlerError::call(report_into(&reports))).await;
    let mut clients = run_the_mix(&server).await;
    assert_kept_serving(&server, &mut clients).await;

    let reports = reports.lock().unwrap().clone();
    let reported: HashSet<_> = reports.iter().map(|(peer, _)| *peer).collect();
    assert_eq!(reports.len(), CLIENTS / 2, "one call per failed or panicked handler");
    assert_eq!(reported, addrs_of(&clients, &[Kind::Fail, Kind::Panic]));
    let panics: HashSet<_> = reports.iter().filter(|(_, p)| p.is_some()).map(|r| r.0).collect();
    assert_eq!(panics, addrs_of(&clients, &[Kind::Panic]), "panics are HandlerPanicked");
    assert!(reports.iter().flat_map(|r| &r.1).all(|m| m == PANIC_MESSAGE));
    println!(
        "faults, Call: {CLIENTS} clients: {}; callback called {} times, {} for panics",
        tally(&clients),
        reports.len(),
        panics.len()
    );
}

#[tokio::test]
async fn raise_stops_at_the_first_failure_and_the_connections_taken_carry_on() {
    let (server, called) = serve_faulty(OnHandlerError::Raise).await;
    let mut clients = run_the_mix(&server).await;
    let stop = assert_stopped(&server, &mut clients, &called, None).await;
    println!("faults, Raise: {CLIENTS} clients: {}; {stop}", tally(&clients));
}

#[tokio::test]
async fn a_call_callback_that_panics_acts_as_raise() {
    /// The callback panics on this call, and carries on before it.
    const PANICS_ON: usize = 10;
    let reports = Reports::default();
    let report = report_into(&reports);
    let seen = Arc::clone(&reports);
    let (server, called) = serve_faulty(OnHandlerError::call(move |peer, error| {
        report(peer, error);
        if seen.lock().unwrap().len() == PANICS_ON {
            panic!("the callback panicked on call {PANICS_ON}");
        }
    }))
    .await;
    let mut clients = run_the_mix(&server).await;
    // The clients finish before the last callbacks run: wait for the tenth (bounded).
    within("the tenth callback", async {
        while reports.lock().unwrap().len() < PANICS_ON {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let panicked_for = reports.lock().unwrap()[PANICS_ON - 1].0;
    let stop = assert_stopped(&server, &mut clients, &called, Some(panicked_for)).await;
    println!(
        "faults, Call panicking on call {PANICS_ON}: {CLIENTS} clients: {}; callback called {} \
         times; {stop}",
        tally(&clients),
        reports.lock().unwrap().len()
    );
}
