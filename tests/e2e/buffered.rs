//! `io::BufferingLayer`, Async's `Tcp.Server.create`: a handler over a buffered reader and
//! writer, whose last bytes reach the client, whose failure closes only its own connection,
//! and whose `buffer_age_limit` ends a client that stopped reading. Then `FramingLayer` and
//! `BufferAgeLimitLayer`, which bring the same guard to framed and plain handlers.

use crate::common;

use common::*;

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tcp_serve::io::{
    AgeLimited, BufferAgeLimit, BufferAgeLimitExceeded, BufferAgeLimitLayer, BufferedConnection,
    BufferingLayer, FramedConnection, FramingLayer, Reader, Writer,
};
use tcp_serve::{
    service_fn, BoxError, Family, HandlerPanicked, InetServer, OnHandlerError, Serve, Server,
    WhereToListen,
};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};
use tokio::net::{TcpSocket, TcpStream, UnixStream};
use tokio::sync::mpsc;
use tokio_util::codec::{LinesCodec, LinesCodecError};
use tower::{Layer, Service};

/// The age limit of the servers here that must cut off a client that stopped reading: a
/// timer that must fire, so it may be short. Servers whose clients all read use the default
/// (2 min), which no loaded machine comes near.
const AGE_LIMIT: Duration = Duration::from_millis(200);
/// How much a handler writes when asked to say goodbye, without flushing, just before it
/// returns: several times the writer's 64 KiB buffer.
const GOODBYE_LEN: usize = 200 * 1024;
/// What a flooding handler writes at a time.
const CHUNK: usize = 64 * 1024;
/// Where a flood gives up if no write fails, so a broken age limit fails a test instead of
/// hanging it.
const FLOOD_CAP: usize = 256 * 1024 * 1024;
/// How long a client that never reads is watched for a disconnect that must not come.
const UNLIMITED_WINDOW: Duration = Duration::from_secs(1);
/// The receive buffer of a client that never reads, small so the server stalls quickly.
const SLOW_RCVBUF: u32 = 4 * 1024;

fn goodbye() -> Vec<u8> {
    (0..GOODBYE_LEN).map(|i| b"abcdefghijklmnopqrstuvwxyz\n"[i % 27]).collect()
}

/// Writes 64 KiB chunks as fast as the writer takes them, until a write fails; returns that
/// error, or an error of its own after [`FLOOD_CAP`] bytes.
async fn flood<W: AsyncWrite + Unpin>(writer: &mut W) -> io::Error {
    let chunk = vec![b'x'; CHUNK];
    for _ in 0..FLOOD_CAP / CHUNK {
        if let Err(error) = writer.write_all(&chunk).await {
            return error;
        }
    }
    io::Error::other(format!("flooded {FLOOD_CAP} bytes and no write failed"))
}

/// Echoes each line, except: `flood` floods until a write fails (and fails with it), `fail`
/// replies `failing` and returns an error, `panic` replies `panicking` and panics, and
/// `goodbye` writes [`goodbye`] and returns at once, leaving it to be flushed.
async fn obey<A, S>(_peer: A, reader: Reader<S>, mut writer: Writer) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite,
{
    let mut lines = reader.lines();
    while let Some(line) = lines.next_line().await? {
        match line.as_str() {
            "flood" => return Err(flood(&mut writer).await),
            "fail" => {
                writer.write_all(b"failing\n").await?;
                return Err(io::Error::other("the handler gave up halfway"));
            }
            "panic" => {
                writer.write_all(b"panicking\n").await?;
                panic!("the handler lost its mind");
            }
            "goodbye" => return writer.write_all(&goodbye()).await,
            _ => writer.write_all(format!("{line}\n").as_bytes()).await?,
        }
    }
    Ok(())
}

/// What `on_handler_error` was told about a failed connection.
#[derive(Debug)]
struct Failure<A> {
    peer: A,
    message: String,
    /// The limit, if the error is (or wraps) a [`BufferAgeLimitExceeded`].
    age_limit: Option<Duration>,
    /// The panic's message, if the handler panicked.
    panic: Option<String>,
}

impl<A> Failure<A> {
    fn of(peer: A, error: &BoxError) -> Self {
        let error: &(dyn StdError + 'static) = &**error;
        let chain = || std::iter::successors(Some(error), |e| (*e).source()).take(16);
        let age_limit = BufferAgeLimitExceeded::find(error);
        let panic = chain().find_map(|e| e.downcast_ref::<HandlerPanicked>());
        Failure {
            peer,
            message: error.to_string(),
            age_limit: age_limit.map(BufferAgeLimitExceeded::limit),
            panic: panic.map(|p| p.message().to_owned()),
        }
    }
}

type Failures<A> = mpsc::UnboundedReceiver<Failure<A>>;

/// An `on_handler_error` policy that sends each failure down a channel.
fn report_failures<A: Clone + Send + 'static>() -> (OnHandlerError<A>, Failures<A>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let policy = OnHandlerError::call(move |peer: &A, error: &BoxError| {
        let _ = tx.send(Failure::of(peer.clone(), error));
    });
    (policy, rx)
}

/// A TCP server running [`obey`] under `limit`, reporting failures to the receiver.
async fn serve_obey(limit: BufferAgeLimit) -> (InetServer, Failures<SocketAddr>) {
    let (policy, failures) = report_failures();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .on_handler_error(policy)
        .layer(BufferingLayer::new().buffer_age_limit(limit))
        .serve(service_fn(|(peer, reader, writer): BufferedConnection<SocketAddr, TcpStream>| {
            obey(peer, reader, writer)
        }))
        .await
        .expect("start the server");
    (server, failures)
}

/// What a flooding handler saw: its failed write, then the result of one more flush.
type Seen = (io::Error, io::Result<()>);

/// Floods `writer`, then tells `seen` what the failed write and a later flush returned.
async fn flood_and_report<W: AsyncWrite + Unpin>(
    writer: &mut W,
    seen: mpsc::UnboundedSender<Seen>,
) -> io::Result<()> {
    let error = flood(writer).await;
    let flushed = writer.flush().await;
    let message = error.to_string();
    let _ = seen.send((error, flushed));
    Err(io::Error::other(message))
}

/// A client's stream, TCP or Unix.
trait Stream: AsyncRead + AsyncWrite + Unpin {}
impl<S: AsyncRead + AsyncWrite + Unpin> Stream for S {}

async fn say<S: Stream>(client: &mut BufReader<S>, line: &str) {
    client.write_all(format!("{line}\n").as_bytes()).await.expect("send a line");
}

/// The next line from the server, with its newline; empty at EOF.
async fn hear<S: AsyncRead + Unpin>(client: &mut BufReader<S>) -> String {
    let mut line = String::new();
    within("a line from the server", client.read_line(&mut line)).await.expect("read a line");
    line
}

async fn assert_line_echoed<S: Stream>(client: &mut BufReader<S>, line: &str) {
    say(client, line).await;
    assert_eq!(hear(client).await, format!("{line}\n"), "the server did not echo {line:?}");
}

/// A short conversation, then `goodbye`: all of it arrives, then EOF.
async fn assert_conversation_ends_in_a_whole_goodbye<S: Stream>(client: S) {
    let mut client = BufReader::new(client);
    for line in ["hello", "how are you?", "fine, thanks"] {
        assert_line_echoed(&mut client, line).await;
    }
    say(&mut client, "goodbye").await;
    let mut rest = Vec::new();
    within("the goodbye and EOF", client.read_to_end(&mut rest)).await.expect("read to EOF");
    assert!(rest == goodbye(), "got {} bytes of the {GOODBYE_LEN}-byte goodbye", rest.len());
}

/// Connects a client with a small receive buffer, that will not read for a while.
async fn connect_without_reading(server: &InetServer) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(SLOW_RCVBUF).expect("set SO_RCVBUF");
    let server_addr = SocketAddr::from(([127, 0, 0, 1], server.listening_on()));
    within("connect", socket.connect(server_addr)).await.expect("connect to the server")
}

/// Reads what the server had buffered until its close shows (EOF or a reset); returns how
/// many bytes came.
async fn drain_until_closed(client: &mut TcpStream) -> usize {
    within("the drained connection to close", async {
        let mut buf = vec![0; CHUNK];
        let mut total = 0;
        loop {
            match client.read(&mut buf).await {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return total,
                Err(e) => panic!("draining failed oddly after {total} bytes: {e}"),
            }
            assert!(total <= FLOOD_CAP, "the flood never stopped");
        }
    })
    .await
}

/// Once `live` connections are left, checks the server's invariant and closes it.
async fn close_with_live<F: Family>(server: Server<F>, live: usize) {
    until_connections(&server, live).await;
    server.invariant();
    within("close", server.close()).await;
    server.invariant();
}

#[tokio::test]
async fn a_buffered_handler_answers_line_by_line_and_its_last_bytes_reach_a_tcp_client() {
    let (server, _failures) = serve_obey(BufferAgeLimit::default()).await;
    assert_conversation_ends_in_a_whole_goodbye(connect(&server).await).await;
    close_with_live(server, 0).await;
}

#[tokio::test]
async fn a_buffered_handler_answers_line_by_line_and_its_last_bytes_reach_a_unix_client() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = Serve::new(WhereToListen::unix(dir.path().join("buffered.sock")))
        .layer(BufferingLayer::new())
        .serve(service_fn(
            |(peer, reader, writer): BufferedConnection<
                tokio::net::unix::SocketAddr,
                UnixStream,
            >| { obey(peer, reader, writer) },
        ))
        .await
        .expect("start the server");
    let client = within("connect", UnixStream::connect(server.listening_on())).await.unwrap();
    assert_conversation_ends_in_a_whole_goodbye(client).await;
    close_with_live(server, 0).await;
}

#[tokio::test]
async fn the_age_limit_closes_a_client_that_stopped_reading_while_others_are_served() {
    let (server, mut failures) = serve_obey(BufferAgeLimit::AtMost(AGE_LIMIT)).await;
    let mut polite = BufReader::new(connect(&server).await);
    let mut slow = connect_without_reading(&server).await;
    let flood_asked_at = Instant::now();
    slow.write_all(b"flood\n").await.expect("ask for a flood");

    // The polite client keeps talking, every 20 ms, until the server gives up on the slow one.
    let failure = within("the age limit to end the flood", async {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        let mut round = 0;
        loop {
            tokio::select! {
                failure = failures.recv() => return failure.expect("the policy is alive"),
                _ = ticker.tick() => {
                    round += 1;
                    assert_line_echoed(&mut polite, &format!("round {round}")).await;
                }
            }
        }
    })
    .await;
    let waited = flood_asked_at.elapsed();
    assert!(waited >= AGE_LIMIT, "the slow client was cut off after {waited:?}, within the limit");
    assert_eq!(failure.peer, slow.local_addr().unwrap(), "the failure names another peer");
    assert_eq!(failure.age_limit, Some(AGE_LIMIT), "the failure was: {}", failure.message);
    assert!(failure.message.contains("buffer age limit"), "the message: {}", failure.message);

    // What the server had sent is still there to read, then the connection is closed.
    assert!(drain_until_closed(&mut slow).await > 0, "the slow client got none of the flood");
    until_connections(&server, 1).await;
    assert_line_echoed(&mut polite, "still here after the flood").await;
    drop(polite);
    close_with_live(server, 0).await;
}

#[tokio::test]
async fn without_an_age_limit_a_client_that_stopped_reading_stays_connected() {
    let (server, mut failures) = serve_obey(BufferAgeLimit::Unlimited).await;
    let mut slow = connect_without_reading(&server).await;
    slow.write_all(b"flood\n").await.expect("ask for a flood");

    // An absence: nothing to await, so watch for a fixed window.
    tokio::time::sleep(UNLIMITED_WINDOW).await;
    assert!(failures.try_recv().is_err(), "the connection failed with no age limit");
    assert_eq!(server.num_connections(), 1, "the slow client was disconnected");
    let mut flood = vec![0; 4 * CHUNK];
    within("the flood", slow.read_exact(&mut flood)).await.expect("read the flood, not EOF");
    assert!(flood.iter().all(|&b| b == b'x'), "the flood carried other bytes");

    drop(slow);
    close_with_live(server, 0).await;
}

/// A client asks its handler to `command` (which replies `reply`, then fails), next to a
/// bystander: the failing client gets the reply then the close, the bystander is served on.
async fn fail_one_connection_of_two(command: &str, reply: &str) -> Failure<SocketAddr> {
    let (server, mut failures) = serve_obey(BufferAgeLimit::default()).await;
    let mut bystander = BufReader::new(connect(&server).await);
    assert_line_echoed(&mut bystander, "before").await;
    let mut failing = BufReader::new(connect(&server).await);
    assert_line_echoed(&mut failing, "all is well").await;

    say(&mut failing, command).await;
    assert_eq!(hear(&mut failing).await, reply, "the reply written before the failure was lost");
    assert_closed_by_server(&mut failing).await;
    let failure = within("the error policy", failures.recv()).await.expect("a failure");
    assert_eq!(failure.peer, failing.get_ref().local_addr().unwrap(), "the wrong peer was named");
    assert_eq!(failure.age_limit, None);

    assert_line_echoed(&mut bystander, "after").await;
    assert!(!server.is_closed(), "a failed handler does not stop the server");
    close_with_live(server, 1).await;
    failure
}

#[tokio::test]
async fn a_handler_that_fails_halfway_closes_only_its_connection_after_its_reply() {
    let failure = fail_one_connection_of_two("fail", "failing\n").await;
    assert!(failure.message.contains("gave up halfway"), "the error was: {}", failure.message);
    assert_eq!(failure.panic, None);
}

#[tokio::test]
async fn a_handler_that_panics_halfway_closes_only_its_connection_after_its_reply() {
    let failure = fail_one_connection_of_two("panic", "panicking\n").await;
    assert_eq!(failure.panic.as_deref(), Some("the handler lost its mind"), "{}", failure.message);
}

/// A client that never reads connects to `server`, whose handler floods it and reports what
/// it saw to `seen`: its write fails with the age limit, as does a later flush, and the
/// client, once it reads, gets what was sent and then the close.
async fn assert_flood_stopped_by_the_age_limit(
    server: InetServer,
    mut seen: mpsc::UnboundedReceiver<Seen>,
) {
    let connected_at = Instant::now();
    let mut slow = connect_without_reading(&server).await;
    let (error, flushed) = within("the handler to see its flood's write fail", seen.recv())
        .await
        .expect("the handler's report channel is alive");
    let waited = connected_at.elapsed();
    assert!(waited >= AGE_LIMIT, "the write failed after {waited:?}, within the limit");
    let limit = BufferAgeLimitExceeded::find(&error).map(BufferAgeLimitExceeded::limit);
    assert_eq!(limit, Some(AGE_LIMIT), "the write failed with: {error}");
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    let flush_error = flushed.expect_err("a flush after the age limit must fail too");
    assert!(BufferAgeLimitExceeded::find(&flush_error).is_some(), "the flush: {flush_error}");

    assert!(drain_until_closed(&mut slow).await > 0, "the slow client got none of the flood");
    close_with_live(server, 0).await;
}

#[tokio::test]
async fn a_buffered_handler_sees_the_age_limit_on_its_next_write_and_flush() {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .on_handler_error(OnHandlerError::Ignore)
        .layer(BufferingLayer::new().buffer_age_limit(BufferAgeLimit::AtMost(AGE_LIMIT)))
        .serve(service_fn(
            move |(_peer, _reader, mut writer): BufferedConnection<SocketAddr, TcpStream>| {
                let seen = seen_tx.clone();
                async move { flood_and_report(&mut writer, seen).await }
            },
        ))
        .await
        .expect("start the server");
    assert_flood_stopped_by_the_age_limit(server, seen).await;
}

#[tokio::test]
async fn the_age_limit_layer_fails_a_plain_handlers_flood_and_closes_the_connection() {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .on_handler_error(OnHandlerError::Ignore)
        .layer(BufferAgeLimitLayer::new(BufferAgeLimit::AtMost(AGE_LIMIT)))
        .serve(service_fn(move |(_peer, mut stream): (SocketAddr, AgeLimited<TcpStream>)| {
            let seen = seen_tx.clone();
            async move { flood_and_report(&mut stream, seen).await }
        }))
        .await
        .expect("start the server");
    assert_flood_stopped_by_the_age_limit(server, seen).await;
}

#[tokio::test]
async fn framing_with_a_lines_codec_echoes_lines_until_the_client_is_done() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .layer(FramingLayer::new(LinesCodec::new()).buffer_age_limit(BufferAgeLimit::default()))
        .serve(service_fn(
            |(_peer, mut lines): FramedConnection<SocketAddr, TcpStream, LinesCodec>| async move {
                while let Some(line) = lines.next().await {
                    lines.send(line?).await?;
                }
                Ok::<_, LinesCodecError>(())
            },
        ))
        .await
        .expect("start the server");
    let mut client = BufReader::new(connect(&server).await);
    for line in ["one", "two words", "", "the last line"] {
        assert_line_echoed(&mut client, line).await;
    }
    client.get_mut().shutdown().await.expect("half-close");
    assert_closed_by_server(&mut client).await;
    close_with_live(server, 0).await;
}

/// A connection through `layer` over a pipe whose other end never reads (it holds 64
/// bytes), whose handler writes 1 KiB and then, if `flush`, flushes: how it ended.
async fn written_to_a_peer_that_never_reads(
    layer: BufferingLayer,
    flush: bool,
) -> Result<(), BoxError> {
    let mut buffered = layer.layer(service_fn(
        move |(_peer, _reader, mut writer): BufferedConnection<(), DuplexStream>| async move {
            writer.write_all(&[b'x'; 1024]).await?;
            if flush {
                writer.flush().await?;
            }
            Ok::<_, io::Error>(())
        },
    ));
    let (_never_reads, server_side) = tokio::io::duplex(64);
    buffered.call(((), server_side)).await
}

/// [`written_to_a_peer_that_never_reads`] with `BufferingLayer::new()`, on paused time: how
/// long it took to end and how.
async fn a_peer_that_never_reads(flush: bool) -> (Duration, BoxError) {
    let started = tokio::time::Instant::now();
    let ended = written_to_a_peer_that_never_reads(BufferingLayer::new(), flush).await;
    (started.elapsed(), ended.expect_err("the bytes never reached the peer"))
}

/// The defaults, on paused time: a handler waiting on a peer that does not read fails at
/// the default buffer age limit, two minutes.
#[tokio::test(start_paused = true)]
async fn by_default_a_write_the_peer_never_takes_fails_after_2_min() {
    assert_eq!(BufferAgeLimit::default(), BufferAgeLimit::AtMost(Duration::from_secs(120)));
    let (took, error) = a_peer_that_never_reads(true).await;
    assert_eq!(took, Duration::from_secs(120));
    // Found in the handler's error as it is, with no downcast to `io::Error` first.
    let exceeded = BufferAgeLimitExceeded::find(&*error);
    assert_eq!(exceeded.map(|e| e.limit()), Some(Duration::from_secs(120)), "{error}");
}

/// The defaults, on paused time: once the handler has returned, its last bytes get 30 s to
/// reach the peer (before the 2 min age limit would), then the connection fails.
#[tokio::test(start_paused = true)]
async fn by_default_the_last_bytes_get_30_s_after_the_handler_returns() {
    let (took, error) = a_peer_that_never_reads(false).await;
    assert_eq!(took, Duration::from_secs(30));
    let io_error = error.downcast_ref::<io::Error>().expect("an io::Error");
    assert_eq!(io_error.kind(), io::ErrorKind::TimedOut, "{error}");
    assert!(BufferAgeLimitExceeded::find(io_error).is_none(), "not the age limit: {error}");
    assert!(error.to_string().contains("within 30 s"), "{error}");
}

/// On paused time: with `BufferAgeLimit::Unlimited`, a handler flushing to a peer that does
/// not read is still waiting an hour later (the default limit would end it at 2 min).
#[tokio::test(start_paused = true)]
async fn without_an_age_limit_a_write_the_peer_never_takes_still_waits_an_hour_later() {
    let unlimited = BufferingLayer::new().buffer_age_limit(BufferAgeLimit::Unlimited);
    let written = written_to_a_peer_that_never_reads(unlimited, true);
    let ended = tokio::time::timeout(Duration::from_secs(3600), written).await;
    assert!(ended.is_err(), "the write ended without an age limit: {ended:?}");
}
