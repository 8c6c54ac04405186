//! The timeout layers on real sockets: a slowloris client (`tests/scripts/drip.py`, a byte
//! a second) cut off on time while another client is served, and its `max_connections`
//! slot coming back; idle, first-byte, read and lifetime limits against real clients.

use crate::common;

use std::io;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::example::tool;
use common::{assert_closed_by_server, assert_echoes, connect, until_connections, within};
use tcp_serve::io::{BufferAgeLimit, BufferAgeLimitLayer};
use tcp_serve::timeout::{
    BelowMinRate, FirstByteTimeout, FirstByteTimeoutLayer, IdleTimeout, IdleTimeoutLayer,
    LifetimeExceeded, MaxLifetimeLayer, MinRateLayer, ReadTimeout, ReadTimeoutLayer,
};
use tcp_serve::{service_fn, BoxError, Inet, InetServer, OnHandlerError, Serve, WhereToListen};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, Lines,
};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;

/// How late a cut-off may come on a loaded machine, past its limit.
const LATE: Duration = Duration::from_secs(3);

/// What `on_handler_error` was told: the peer, and which limit its error names.
type Reports = mpsc::UnboundedReceiver<(SocketAddr, &'static str)>;

/// An `on_handler_error` policy that tells the timeouts apart by their types, as a user
/// would, and reports which one each failure was.
fn reporting() -> (OnHandlerError<SocketAddr>, Reports) {
    let (sender, reports) = mpsc::unbounded_channel();
    let policy = OnHandlerError::call(move |peer: &SocketAddr, error: &BoxError| {
        let error = &**error;
        let which = if IdleTimeout::find(error).is_some() {
            "idle"
        } else if FirstByteTimeout::find(error).is_some() {
            "first byte"
        } else if ReadTimeout::find(error).is_some() {
            "read"
        } else if BelowMinRate::find(error).is_some() {
            "min rate"
        } else if LifetimeExceeded::find(error).is_some() {
            "lifetime"
        } else {
            "something else"
        };
        let _ = sender.send((*peer, which));
    });
    (policy, reports)
}

/// Echoes until the client closes its side; any stream the layers hand it.
async fn echo<S>((_peer, stream): (SocketAddr, S)) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Send,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    tokio::io::copy(&mut reader, &mut writer).await?;
    writer.shutdown().await
}

/// An echo server on 127.0.0.1 for at most `max` clients, reporting its failures.
fn server(max: usize) -> (Serve<Inet>, Reports) {
    let (policy, reports) = reporting();
    let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(max)
        .on_handler_error(policy);
    (serve, reports)
}

/// A slowloris client: `tests/scripts/drip.py`, one byte every `interval` seconds.
struct Drip {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    address: SocketAddr,
}

impl Drip {
    /// Starts it against `server`; `None` when python3 is missing outside CI.
    async fn start(server: &InetServer, interval: &str) -> Option<Drip> {
        if !tool("python3", "python3") {
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/drip.py");
        let mut child = Command::new("python3")
            .args([script, "127.0.0.1", &server.listening_on().to_string(), interval])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start drip.py");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let connected = Self::next(&mut lines).await;
        let address = connected.strip_prefix("connected ").expect("its address").parse().unwrap();
        Some(Drip { _child: child, lines, address })
    }

    async fn next(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
        let line = within("a line from drip.py", lines.next_line()).await;
        line.expect("read drip.py's output").expect("drip.py exited without a word")
    }

    /// Waits for the server to close it; how long it was connected, by its own clock.
    async fn closed(&mut self) -> Duration {
        let line = Self::next(&mut self.lines).await;
        let seconds =
            line.strip_prefix("closed after ").unwrap_or_else(|| panic!("drip.py: {line}"));
        Duration::from_secs_f64(seconds.parse().expect("seconds"))
    }
}

/// Asserts `stream` is closed by the server, and returns when that was seen.
async fn closed_at(stream: &mut TcpStream) -> Instant {
    assert_closed_by_server(stream).await.1
}

/// Asserts `took` is `limit`, give or take: never early, and not more than [`LATE`] late.
fn on_time(took: Duration, limit: Duration, slack_before: Duration) {
    assert!(
        took + slack_before >= limit && took <= limit + LATE,
        "cut off after {took:?}, for a limit of {limit:?}"
    );
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_on_time_while_a_normal_client_is_served() {
    // 5 bytes per 2 s of waiting; the drip sends 1 a second.
    let window = Duration::from_secs(2);
    let (serve, mut reports) = server(8);
    let server = serve.layer(MinRateLayer::new(5, window)).serve(service_fn(echo)).await.unwrap();
    let Some(mut drip) = Drip::start(&server, "1").await else { return };

    let mut normal = connect(&server).await;
    for _ in 0..3 {
        assert_echoes(&mut normal, b"a whole request at once").await;
    }
    normal.shutdown().await.unwrap();

    // Only waiting counts, and the drip's clock starts before the server's: at least 2 s.
    on_time(drip.closed().await, window, Duration::from_millis(100));
    let report = within("the report", reports.recv()).await;
    assert_eq!(report, Some((drip.address, "min rate")));
    assert_eq!(server.metrics().failed, 1, "the drip alone");
}

#[tokio::test]
async fn a_slowloris_clients_max_connections_slot_comes_back() {
    let window = Duration::from_secs(2);
    let (serve, _reports) = server(1);
    let server = serve.layer(MinRateLayer::new(5, window)).serve(service_fn(echo)).await.unwrap();
    let Some(mut drip) = Drip::start(&server, "1").await else { return };
    let dripping_since = Instant::now();
    until_connections(&server, 1).await;

    // Queued behind the drip for as long as the drip is not yet below the rate...
    let mut next = connect(&server).await;
    next.write_all(b"waiting").await.unwrap();
    let mut echoed = [0; 7];
    let early = tokio::time::timeout(
        (window - Duration::from_millis(500)).saturating_sub(dripping_since.elapsed()),
        next.read_exact(&mut echoed),
    );
    assert!(early.await.is_err(), "served while the drip held the only slot");
    // ...then served, once the drip is cut off.
    on_time(drip.closed().await, window, Duration::from_millis(100));
    within("the echo", next.read_exact(&mut echoed)).await.expect("served");
    assert_eq!(&echoed, b"waiting");
}

#[tokio::test]
async fn an_idle_client_is_cut_off_at_the_idle_timeout_and_a_talking_one_is_not() {
    let limit = Duration::from_secs(1);
    let (serve, mut reports) = server(8);
    let server = serve.layer(IdleTimeoutLayer::new(limit)).serve(service_fn(echo)).await.unwrap();
    let mut silent = connect(&server).await;
    let silent_since = Instant::now();
    let mut talking = connect(&server).await;
    let talk = async {
        // 2.5 s in all, never 1 s quiet.
        for _ in 0..10 {
            assert_echoes(&mut talking, b".").await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let (_, silent_closed) = tokio::join!(talk, closed_at(&mut silent));
    on_time(silent_closed - silent_since, limit, Duration::ZERO);
    assert_echoes(&mut talking, b"still here").await;
    let report = within("the report", reports.recv()).await;
    assert_eq!(report, Some((silent.local_addr().unwrap(), "idle")));
}

#[tokio::test]
async fn a_client_that_says_nothing_is_cut_off_at_the_first_byte_timeout() {
    let limit = Duration::from_secs(1);
    let (serve, mut reports) = server(8);
    let layer = FirstByteTimeoutLayer::new(limit);
    let server = serve.layer(layer).serve(service_fn(echo)).await.unwrap();
    let mut silent = connect(&server).await;
    let silent_since = Instant::now();
    let mut slow_starter = connect(&server).await;
    let start_slowly = async {
        tokio::time::sleep(limit / 4).await;
        assert_echoes(&mut slow_starter, b"first").await;
        // Quiet for longer than the limit: the first byte came, so that is allowed.
        tokio::time::sleep(limit * 2).await;
    };
    let (_, silent_closed) = tokio::join!(start_slowly, closed_at(&mut silent));
    on_time(silent_closed - silent_since, limit, Duration::ZERO);
    assert_echoes(&mut slow_starter, b"second").await;
    let report = within("the report", reports.recv()).await;
    assert_eq!(report, Some((silent.local_addr().unwrap(), "first byte")));
}

#[tokio::test]
async fn a_read_that_waits_too_long_ends_the_connection_but_a_steady_client_is_served() {
    let limit = Duration::from_secs(1);
    let (serve, mut reports) = server(8);
    let server = serve.layer(ReadTimeoutLayer::new(limit)).serve(service_fn(echo)).await.unwrap();
    let mut client = connect(&server).await;
    // A byte every 400 ms, for 2.4 s: each read waits less than the limit.
    for _ in 0..6 {
        assert_echoes(&mut client, b"x").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_echoes(&mut client, b"last").await;
    let last = Instant::now();
    on_time(closed_at(&mut client).await - last, limit, Duration::from_millis(200));
    let report = within("the report", reports.recv()).await;
    assert_eq!(report, Some((client.local_addr().unwrap(), "read")));
}

#[tokio::test]
async fn the_max_lifetime_ends_a_handler_that_ignores_errors_and_frees_its_slot() {
    let limit = Duration::from_secs(1);
    let (serve, mut reports) = server(1);
    let server = serve
        .layer(MaxLifetimeLayer::new(limit))
        .serve(service_fn(|(_peer, mut stream): (SocketAddr, TcpStream)| async move {
            // Echoes what it can and shrugs off every error: it never ends by itself.
            let mut buf = [0; 64];
            loop {
                match stream.read(&mut buf).await {
                    Ok(n) if n > 0 => drop(stream.write_all(&buf[..n]).await),
                    _ => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), io::Error>(())
        }))
        .await
        .expect("serve");
    let mut chatty = connect(&server).await;
    let since = Instant::now();
    let mut next = connect(&server).await;
    next.write_all(b"queued").await.unwrap();
    let chat = async {
        while since.elapsed() < limit + LATE {
            if chatty.write_all(b".").await.is_err() {
                break;
            }
            let mut dot = [0; 1];
            match tokio::time::timeout(Duration::from_millis(200), chatty.read(&mut dot)).await {
                Ok(Ok(0) | Err(_)) => break,
                _ => continue,
            }
        }
        Instant::now()
    };
    on_time(within("the cut-off", chat).await - since, limit, Duration::ZERO);
    let mut echoed = [0; 6];
    within("the queued client", next.read_exact(&mut echoed)).await.expect("served");
    assert_eq!(&echoed, b"queued");
    let report = within("the report", reports.recv()).await;
    assert_eq!(report, Some((chatty.local_addr().unwrap(), "lifetime")));
}

/// `Duration::MAX`, a "no limit" a configuration file may well say, is a limit never
/// reached: every layer serves with it, none panics or fails a connection.
#[tokio::test]
async fn limits_too_large_to_add_to_the_clock_serve_as_no_limit() {
    let (serve, mut reports) = server(8);
    let server = serve
        .layer(MaxLifetimeLayer::new(Duration::MAX))
        .layer(FirstByteTimeoutLayer::new(Duration::MAX))
        .layer(IdleTimeoutLayer::new(Duration::MAX))
        .layer(ReadTimeoutLayer::new(Duration::MAX))
        .layer(MinRateLayer::new(1, Duration::MAX))
        .layer(BufferAgeLimitLayer::new(BufferAgeLimit::AtMost(Duration::MAX)))
        .serve(service_fn(echo))
        .await
        .unwrap();
    for _ in 0..2 {
        let mut client = connect(&server).await;
        assert_echoes(&mut client, b"first").await;
        // The server's reads wait: each layer arms its timer for its limit.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_echoes(&mut client, b"second").await;
        client.shutdown().await.unwrap();
        closed_at(&mut client).await;
    }
    within("the close", server.close()).await;
    let report = reports.try_recv();
    assert!(report.is_err(), "no connection failed: {report:?}");
}
