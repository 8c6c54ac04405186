//! Side-by-side benchmark: tcp-serve against a plain tokio accept loop and actix-server.
//!
//! `cargo bench --bench serve`. Every server runs in its own child process (this binary,
//! re-executed with `BENCH_CHILD` set) on one thread with a current-thread tokio runtime;
//! this process is the load generator, also on one current-thread runtime. On a 2-core
//! machine that is one core each: neither side can steal the other's scheduler, the
//! server's RSS and CPU time are its own, and neither process needs more than ~10,000
//! descriptors. actix-server runs `workers(1)`; its design adds an accept thread.
//!
//! Environment: `BENCH_SECONDS` (per timed round, default 2), `BENCH_ROUNDS` (default 3),
//! `BENCH_IDLE` (idle connections, default 10000), `BENCH_STORM` (default 1000),
//! `BENCH_STORM_ROUNDS` (default 3), `BENCH_ONLY` (comma list of workload keys),
//! `BENCH_CONTESTANTS` (comma list of labels), `BENCH_EXTRA` (1: two diagnostic contestants), `BENCH_CHILD_WRAPPER` (a command to run the
//! server children under, e.g. `valgrind --tool=callgrind`), `BENCH_PUBLISH` (1: write
//! `BENCHMARKS.md` and `benches/results/serve.svg`; the default when no other setting is
//! overridden).

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tcp_serve::{service_fn, Connection, ExistingConnections, Inet, Serve, WhereToListen};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// The echo handler every contestant runs: identical code, so only the machinery differs.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> io::Result<()> {
    let mut buf = vec![0u8; 8 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// `max_connections` for tcp-serve and `max_concurrent_connections` for actix.
const MAX_CONNECTIONS: usize = 16_384;
/// actix-server's own default backlog, for the listener we hand it.
const ACTIX_BACKLOG: i32 = 2048;
/// Clients bind to 127.0.0.2 ..= 127.0.0.(1 + SOURCE_IPS), round robin.
const SOURCE_IPS: usize = 200;
const MSG: [u8; 32] = [b'x'; 32];
const CHUNK: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------
// Contestants and the server child
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    TokioRaw,
    TcpServe,
    Actix,
}

#[derive(Clone, Debug)]
struct Contestant {
    label: String,
    kind: Kind,
    /// tcp-serve's `max_accepts_per_batch`.
    batch: usize,
    /// tcp-serve's `backlog`; `None` keeps its default (64).
    backlog: Option<usize>,
}

impl Contestant {
    fn new(label: &str, kind: Kind) -> Self {
        Contestant { label: label.to_string(), kind, batch: 1, backlog: None }
    }

    fn spec(&self) -> String {
        let kind = match self.kind {
            Kind::TokioRaw => "raw",
            Kind::TcpServe => "tcp-serve",
            Kind::Actix => "actix",
        };
        format!("{kind}:{}:{}", self.batch, self.backlog.unwrap_or(0))
    }

    fn from_spec(spec: &str) -> Self {
        let mut parts = spec.split(':');
        let kind = match parts.next() {
            Some("raw") => Kind::TokioRaw,
            Some("tcp-serve") => Kind::TcpServe,
            Some("actix") => Kind::Actix,
            other => panic!("unknown contestant {other:?}"),
        };
        let batch = parts.next().and_then(|s| s.parse().ok()).unwrap_or(1);
        let backlog = parts.next().and_then(|s| s.parse().ok()).filter(|&b: &usize| b > 0);
        Contestant { label: spec.to_string(), kind, batch, backlog }
    }
}

fn main_contestants() -> Vec<Contestant> {
    let mut all = vec![
        Contestant::new("tokio-raw", Kind::TokioRaw),
        Contestant::new("tcp-serve", Kind::TcpServe),
        Contestant::new("actix-server", Kind::Actix),
    ];
    // `BENCH_EXTRA=1`: tokio-raw with TCP_NODELAY on accepted sockets, as tcp-serve sets it,
    // and tcp-serve with `max_accepts_per_batch(64)`; they separate those effects from
    // the layers' own cost.
    if std::env::var("BENCH_EXTRA").is_ok_and(|v| v == "1") {
        all.push(Contestant { batch: 0, ..Contestant::new("tokio-raw+nodelay", Kind::TokioRaw) });
        all.push(Contestant { batch: 64, ..Contestant::new("tcp-serve batch=64", Kind::TcpServe) });
    }
    all
}

/// How the parent closes the server and every connection it holds.
type RawStop = (tokio::sync::oneshot::Sender<()>, std::sync::mpsc::Receiver<()>);

enum Control {
    Raw(Option<RawStop>),
    TcpServe(tcp_serve::InetServer),
    Actix(actix_server::ServerHandle),
}

fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

/// Starts the contestant's server on its own thread; returns its address and handle.
fn start_server(c: &Contestant) -> (SocketAddr, Control) {
    let (tx, rx) = std::sync::mpsc::channel();
    let c = c.clone();
    std::thread::Builder::new()
        .name("server".into())
        .spawn(move || match c.kind {
            Kind::TokioRaw => {
                let rt = server_runtime();
                let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
                let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
                rt.block_on(async move {
                    let listener = match c.backlog {
                        // `TcpListener::bind`'s backlog is mio's: 128.
                        None => TcpListener::bind("127.0.0.1:0").await.expect("bind"),
                        Some(backlog) => {
                            let socket = TcpSocket::new_v4().expect("socket");
                            socket.set_reuseaddr(true).expect("reuseaddr");
                            socket.bind(([127, 0, 0, 1], 0).into()).expect("bind");
                            socket.listen(backlog as u32).expect("listen")
                        }
                    };
                    let addr = listener.local_addr().expect("addr");
                    tx.send((addr, Control::Raw(Some((stop_tx, done_rx))))).expect("send");
                    let accept_loop = async {
                        loop {
                            match listener.accept().await {
                                Ok((stream, _peer)) => {
                                    if c.batch == 0 {
                                        // The `tokio-raw+nodelay` experiment: as tcp-serve.
                                        let _ = stream.set_nodelay(true);
                                    }
                                    tokio::spawn(async move {
                                        let _ = echo(stream).await;
                                    });
                                }
                                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                            }
                        }
                    };
                    tokio::select! {
                        _ = stop_rx => {}
                        () = accept_loop => {}
                    }
                });
                // tokio-raw's only way to close everything: drop the runtime and its tasks.
                drop(rt);
                let _ = done_tx.send(());
            }
            Kind::TcpServe => server_runtime().block_on(async move {
                let mut serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
                    .max_connections(MAX_CONNECTIONS)
                    .max_accepts_per_batch(c.batch);
                if let Some(backlog) = c.backlog {
                    serve = serve.backlog(backlog);
                }
                let server = serve
                    .serve(service_fn(|(_peer, stream): Connection<Inet>| echo(stream)))
                    .await
                    .expect("serve");
                let addr = server.listening_on_address();
                tx.send((addr, Control::TcpServe(server))).expect("send");
                std::future::pending::<()>().await;
            }),
            Kind::Actix => {
                actix_rt::System::new().block_on(async move {
                    let socket = socket2::Socket::new(
                        socket2::Domain::IPV4,
                        socket2::Type::STREAM,
                        Some(socket2::Protocol::TCP),
                    )
                    .expect("socket");
                    socket.set_reuse_address(true).expect("reuseaddr");
                    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
                    socket.bind(&any.into()).expect("bind");
                    socket.listen(ACTIX_BACKLOG).expect("listen");
                    let listener: std::net::TcpListener = socket.into();
                    let addr = listener.local_addr().expect("addr");
                    let server = actix_server::Server::build()
                        .workers(1)
                        .max_concurrent_connections(MAX_CONNECTIONS)
                        .disable_signals()
                        .listen("echo", listener, || {
                            actix_service::fn_service(|stream: actix_rt::net::TcpStream| {
                                echo(stream)
                            })
                        })
                        .expect("listen")
                        .run();
                    tx.send((addr, Control::Actix(server.handle()))).expect("send");
                    let _ = server.await;
                });
            }
        })
        .expect("spawn the server thread");
    rx.recv_timeout(Duration::from_secs(10)).expect("the server started")
}

/// The child: serve, and answer the parent's commands on stdin, one line each.
fn child_main(spec: &str) {
    raise_nofile();
    let contestant = Contestant::from_spec(spec);
    let (addr, mut control) = start_server(&contestant);
    let mut out = io::stdout().lock();
    writeln!(out, "addr {addr}").and_then(|()| out.flush()).expect("stdout");
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let reply = match line.trim() {
            "rss" => format!("rss {}", rss_bytes()),
            "cpu" => format!("cpu {}", cpu_ns()),
            "close" => {
                let start = Instant::now();
                let closed = match &mut control {
                    Control::Raw(stop) => {
                        if let Some((stop, done)) = stop.take() {
                            let _ = stop.send(());
                            let _ = done.recv();
                        }
                        true
                    }
                    Control::TcpServe(server) => {
                        futures::executor::block_on(server.close_with(ExistingConnections::Close));
                        true
                    }
                    Control::Actix(handle) => {
                        futures::executor::block_on(handle.stop(false));
                        true
                    }
                };
                let ns = start.elapsed().as_nanos();
                if closed {
                    format!("closed {ns}")
                } else {
                    "closed na".to_string()
                }
            }
            _ => break,
        };
        writeln!(out, "{reply}").and_then(|()| out.flush()).expect("stdout");
    }
    std::process::exit(0);
}

/// The parent's view of a server child.
struct ServerProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl ServerProc {
    fn spawn(c: &Contestant) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        let wrapper = std::env::var("BENCH_CHILD_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(&exe);
                command
            }
            None => Command::new(&exe),
        };
        let mut child = command
            .env("BENCH_CHILD", c.spec())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let addr = ([127, 0, 0, 1], 0).into();
        let mut proc = ServerProc { child, stdin, stdout, addr };
        let line = proc.recv()?;
        proc.addr = line
            .strip_prefix("addr ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("child said {line:?}")))?;
        Ok(proc)
    }

    fn send(&mut self, command: &str) -> io::Result<()> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()
    }

    fn recv(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(io::Error::other("the server child exited"));
        }
        Ok(line.trim().to_string())
    }

    fn ask(&mut self, command: &str) -> io::Result<f64> {
        self.send(command)?;
        let line = self.recv()?;
        line.strip_prefix(command)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("child said {line:?} to {command}")))
    }

    fn exit(mut self) {
        let _ = self.send("exit");
        drop(self.stdin);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time of every thread of this process, in ns (from the scheduler's own accounting).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

/// Raises the soft open-file limit to the hard one; returns the soft limit now in force.
fn raise_nofile() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let _ = setrlimit(Resource::Nofile, Rlimit { current: limit.maximum, ..limit });
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------
// The load generator
// ---------------------------------------------------------------------------------------

static NEXT_SOURCE: AtomicUsize = AtomicUsize::new(0);

/// Connects from the next of `SOURCE_IPS` loopback source addresses, so that the
/// connections left in TIME_WAIT by the client's close spread over 200 × 28k ports.
async fn connect(to: SocketAddr) -> io::Result<TcpStream> {
    let i = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % SOURCE_IPS;
    let from = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2 + i as u8), 0));
    let socket = TcpSocket::new_v4()?;
    socket.bind(from)?;
    let stream = socket.connect(to).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn round_trip(stream: &mut TcpStream) -> io::Result<()> {
    stream.write_all(&MSG).await?;
    let mut back = [0u8; 32];
    stream.read_exact(&mut back).await?;
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64
}

const MAX_SAMPLES_PER_TASK: usize = 1 << 20;

#[derive(Clone, Copy)]
struct Cfg {
    seconds: f64,
    rounds: usize,
    idle: usize,
    storm: usize,
    storm_rounds: usize,
}

impl Cfg {
    fn window(&self) -> Duration {
        Duration::from_secs_f64(self.seconds)
    }
}

/// Workload 1: 32 clients looping connect → 32 bytes → back → close.
/// Returns conn/s, p99 µs, server CPU µs per connection, errors.
async fn conn_rate(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    let addr = server.addr;
    let cpu0 = server.ask("cpu").unwrap_or(f64::NAN);
    let start = Instant::now();
    let deadline = start + cfg.window();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            tokio::spawn(async move {
                let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::new());
                while Instant::now() < deadline && lat.len() < MAX_SAMPLES_PER_TASK {
                    let t = Instant::now();
                    let done = async {
                        let mut s = connect(addr).await?;
                        round_trip(&mut s).await
                    };
                    match tokio::time::timeout(Duration::from_secs(5), done).await {
                        Ok(Ok(())) => {
                            ok += 1;
                            lat.push(t.elapsed().as_nanos() as u64);
                        }
                        _ => {
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                }
                (ok, errors, lat)
            })
        })
        .collect();
    let (mut ok, mut errors, mut lat) = (0, 0, Vec::new());
    for t in tasks {
        if let Ok((o, e, l)) = t.await {
            ok += o;
            errors += e;
            lat.extend(l);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu1 = server.ask("cpu").unwrap_or(f64::NAN);
    lat.sort_unstable();
    vec![
        ok as f64 / elapsed,
        percentile(&lat, 0.99) / 1e3,
        (cpu1 - cpu0) / ok.max(1) as f64 / 1e3,
        errors as f64,
    ]
}

/// Workload 2: 64 persistent connections doing 32-byte round trips.
/// Returns round trips/s, p50 µs, p99 µs, server CPU µs per round trip.
async fn ping_pong(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    let mut streams = Vec::new();
    for _ in 0..64 {
        match connect(server.addr).await {
            Ok(s) => streams.push(s),
            Err(e) => eprintln!("ping-pong: connect failed: {e}"),
        }
    }
    let cpu0 = server.ask("cpu").unwrap_or(f64::NAN);
    let start = Instant::now();
    let deadline = start + cfg.window();
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut n = 0u64;
                let guard = deadline + Duration::from_secs(5);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match tokio::time::timeout_at(guard.into(), round_trip(&mut s)).await {
                        Ok(Ok(())) => {
                            n += 1;
                            if lat.len() < MAX_SAMPLES_PER_TASK {
                                lat.push(t.elapsed().as_nanos() as u64);
                            }
                        }
                        _ => break,
                    }
                }
                (n, lat)
            })
        })
        .collect();
    let (mut n, mut lat) = (0, Vec::new());
    for t in tasks {
        if let Ok((k, l)) = t.await {
            n += k;
            lat.extend(l);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu1 = server.ask("cpu").unwrap_or(f64::NAN);
    lat.sort_unstable();
    vec![
        n as f64 / elapsed,
        percentile(&lat, 0.5) / 1e3,
        percentile(&lat, 0.99) / 1e3,
        (cpu1 - cpu0) / n.max(1) as f64 / 1e3,
    ]
}

/// Workload 3: 8 connections streaming 64 KiB chunks both ways.
/// Returns MB/s echoed back, server CPU ms per 100 MB... (µs per MB).
async fn streaming(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    let mut streams = Vec::new();
    for _ in 0..8 {
        match connect(server.addr).await {
            Ok(s) => streams.push(s),
            Err(e) => eprintln!("streaming: connect failed: {e}"),
        }
    }
    let cpu0 = server.ask("cpu").unwrap_or(f64::NAN);
    let start = Instant::now();
    let deadline = start + cfg.window();
    let guard = tokio::time::Instant::from(deadline + Duration::from_secs(3));
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|s| {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let writer = async move {
                    let chunk = vec![b'y'; CHUNK];
                    while Instant::now() < deadline {
                        if w.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                    w
                };
                let reader = async move {
                    let mut buf = vec![0u8; CHUNK];
                    let mut got = 0u64;
                    loop {
                        match r.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if Instant::now() >= deadline {
                                    break;
                                }
                                got += n as u64;
                            }
                        }
                    }
                    got
                };
                let both = async { tokio::join!(writer, reader) };
                tokio::time::timeout_at(guard, both).await.map_or(0, |(_w, got)| got)
            })
        })
        .collect();
    let mut bytes = 0;
    for t in tasks {
        bytes += t.await.unwrap_or(0);
    }
    let cpu1 = server.ask("cpu").unwrap_or(f64::NAN);
    let mb = bytes as f64 / 1e6;
    vec![mb / cfg.seconds, (cpu1 - cpu0) / mb.max(1e-9) / 1e3]
}

/// Workloads 4 and 5: `idle` connections, each echoed once, then held; the server's RSS
/// growth per connection; then the server's close and the time until every client has
/// seen EOF. Returns bytes/conn, close-future ms, all-EOF ms, connections opened.
async fn idle_and_close(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    use futures::StreamExt;
    let addr = server.addr;
    let rss0 = server.ask("rss").unwrap_or(f64::NAN);
    let opened: Vec<TcpStream> = futures::stream::iter(0..cfg.idle)
        .map(|_| async move {
            let open = async {
                let mut s = connect(addr).await?;
                round_trip(&mut s).await?;
                io::Result::Ok(s)
            };
            tokio::time::timeout(Duration::from_secs(5), open).await.ok().and_then(Result::ok)
        })
        .buffer_unordered(32)
        .filter_map(|s| async move { s })
        .collect()
        .await;
    let n = opened.len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss1 = server.ask("rss").unwrap_or(f64::NAN);
    let per_conn = (rss1 - rss0) / n.max(1) as f64;

    // Every client waits for EOF (or a reset) on its own task.
    let watchers: Vec<_> = opened
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut b = [0u8; 64];
                loop {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            })
        })
        .collect();
    tokio::task::yield_now().await;
    let start = Instant::now();
    if server.send("close").is_err() {
        return vec![per_conn, f64::NAN, f64::NAN, n as f64];
    }
    let all = futures::future::join_all(watchers);
    let eof_ms = match tokio::time::timeout(Duration::from_secs(10), all).await {
        Ok(_) => start.elapsed().as_secs_f64() * 1e3,
        Err(_) => f64::INFINITY,
    };
    // The child measured its close future itself; its answer has been waiting in the pipe.
    let reply = server.recv().unwrap_or_default();
    let close_ms = reply
        .strip_prefix("closed ")
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e6);
    vec![per_conn, close_ms, eof_ms, n as f64]
}

/// Workload 6: `storm` clients connect at once, each does one echo and keeps its
/// connection. Returns ms until all are served, median client ms, server CPU µs per conn.
async fn accept_storm(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    let addr = server.addr;
    let cpu0 = server.ask("cpu").unwrap_or(f64::NAN);
    let start = Instant::now();
    let tasks: Vec<_> = (0..cfg.storm)
        .map(|_| {
            tokio::spawn(async move {
                let open = async {
                    let mut s = connect(addr).await?;
                    round_trip(&mut s).await?;
                    io::Result::Ok(s)
                };
                let s = tokio::time::timeout(Duration::from_secs(20), open).await;
                (start.elapsed().as_nanos() as u64, s.ok().and_then(Result::ok))
            })
        })
        .collect();
    let mut times = Vec::new();
    let mut held = Vec::new();
    for t in tasks {
        if let Ok((ns, Some(s))) = t.await {
            times.push(ns);
            held.push(s);
        }
    }
    let all_ms = start.elapsed().as_secs_f64() * 1e3;
    let cpu1 = server.ask("cpu").unwrap_or(f64::NAN);
    let served = held.len();
    drop(held);
    times.sort_unstable();
    let all_ms = if served == cfg.storm { all_ms } else { f64::INFINITY };
    vec![all_ms, percentile(&times, 0.5) / 1e6, (cpu1 - cpu0) / served.max(1) as f64 / 1e3]
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

struct Metric {
    key: &'static str,
    label: &'static str,
    higher_is_better: bool,
    /// Whether to show its ratio to tokio-raw.
    ratio: bool,
}

const fn m(key: &'static str, label: &'static str, higher: bool, ratio: bool) -> Metric {
    Metric { key, label, higher_is_better: higher, ratio }
}

struct Row {
    contestant: String,
    /// Per metric, the value of each round.
    rounds: Vec<Vec<f64>>,
}

struct Workload {
    key: &'static str,
    title: &'static str,
    metrics: Vec<Metric>,
    rows: Vec<Row>,
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

impl Workload {
    fn median(&self, row: &Row, metric: usize) -> f64 {
        let _ = self;
        median(&row.rounds[metric])
    }

    fn baseline(&self, metric: usize) -> Option<f64> {
        let row = self.rows.iter().find(|r| r.contestant == "tokio-raw")?;
        let v = self.median(row, metric);
        (v.is_finite() && v != 0.0).then_some(v)
    }

    fn ratio(&self, row: &Row, metric: usize) -> Option<f64> {
        let v = self.median(row, metric);
        self.baseline(metric).filter(|_| v.is_finite()).map(|b| v / b)
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v.is_infinite() {
        "timeout".into()
    } else if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v);
        // thousands separators
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        format!("{sign}{out}")
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn table(w: &Workload, markdown: bool) -> String {
    let mut header = vec!["contestant".to_string()];
    for metric in &w.metrics {
        header.push(metric.label.to_string());
        if metric.ratio {
            header.push("× raw".to_string());
        }
    }
    let mut lines = vec![header];
    for row in &w.rows {
        let mut cells = vec![row.contestant.clone()];
        for (i, metric) in w.metrics.iter().enumerate() {
            cells.push(fmt_value(w.median(row, i)));
            if metric.ratio {
                cells.push(w.ratio(row, i).map_or("n/a".into(), |r| format!("{r:.3}")));
            }
        }
        lines.push(cells);
    }
    let mut out = String::new();
    if markdown {
        for (i, cells) in lines.iter().enumerate() {
            let _ = writeln!(out, "| {} |", cells.join(" | "));
            if i == 0 {
                let _ = writeln!(
                    out,
                    "|{}",
                    cells
                        .iter()
                        .enumerate()
                        .map(|(j, _)| if j == 0 { "---|" } else { "---:|" })
                        .collect::<String>()
                );
            }
        }
    } else {
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|j| lines.iter().map(|l| l[j].chars().count()).max().unwrap_or(0))
            .collect();
        for cells in &lines {
            let line: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(j, c)| {
                    if j == 0 {
                        format!("{c:<w$}", w = widths[j])
                    } else {
                        format!("{c:>w$}", w = widths[j])
                    }
                })
                .collect();
            let _ = writeln!(out, "  {}", line.join("  "));
        }
    }
    out
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_json(workloads: &[Workload], machine: &Machine, cfg: &Cfg, elapsed: f64) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(
        out,
        "  \"machine\": {{\"nproc\": {}, \"cpu\": {}, \"kernel\": {}, \"loadavg_start\": {}, \
         \"loadavg_end\": {}}},",
        machine.nproc,
        json_str(&machine.cpu),
        json_str(&machine.kernel),
        json_str(&machine.load_start),
        json_str(&machine.load_end)
    );
    let _ = writeln!(
        out,
        "  \"config\": {{\"seconds\": {}, \"rounds\": {}, \"idle\": {}, \"storm\": {}, \
         \"storm_rounds\": {}, \"elapsed_s\": {:.1}}},",
        cfg.seconds, cfg.rounds, cfg.idle, cfg.storm, cfg.storm_rounds, elapsed
    );
    out.push_str("  \"workloads\": [\n");
    for (wi, w) in workloads.iter().enumerate() {
        let _ = writeln!(
            out,
            "    {{\"key\": {}, \"title\": {}, \"results\": [",
            json_str(w.key),
            json_str(w.title)
        );
        let mut items = Vec::new();
        for row in &w.rows {
            for (i, metric) in w.metrics.iter().enumerate() {
                let rounds: Vec<String> = row.rounds[i].iter().map(|&v| json_num(v)).collect();
                items.push(format!(
                    "      {{\"contestant\": {}, \"metric\": {}, \"label\": {}, \
                     \"higher_is_better\": {}, \"median\": {}, \"ratio_to_tokio_raw\": {}, \
                     \"rounds\": [{}]}}",
                    json_str(&row.contestant),
                    json_str(metric.key),
                    json_str(metric.label),
                    metric.higher_is_better,
                    json_num(w.median(row, i)),
                    w.ratio(row, i).map_or("null".into(), json_num),
                    rounds.join(", ")
                ));
            }
        }
        out.push_str(&items.join(",\n"));
        let _ = write!(out, "\n    ]}}{}\n", if wi + 1 < workloads.len() { "," } else { "" });
    }
    out.push_str("  ]\n}\n");
    out
}

/// A grouped bar chart of each contestant's ratio to tokio-raw, per headline metric.
fn to_svg(workloads: &[Workload]) -> String {
    let picks: &[(&str, &str, &str)] = &[
        ("conn-rate", "conns_per_s", "connections/s"),
        ("ping-pong", "round_trips_per_s", "round trips/s"),
        ("streaming", "mb_per_s", "streaming MB/s"),
        ("conn-rate", "server_cpu_us_per_conn", "server CPU/conn (lower better)"),
        ("ping-pong", "server_cpu_us_per_rt", "server CPU/round trip (lower better)"),
        ("idle-memory", "bytes_per_conn", "idle RSS/conn (lower better)"),
    ];
    let contestants = ["tokio-raw", "tcp-serve", "actix-server"];
    let colors = ["#9e9e9e", "#1f77b4", "#ff7f0e"];
    let mut groups = Vec::new();
    for (wk, mk, label) in picks {
        let Some(w) = workloads.iter().find(|w| w.key == *wk) else { continue };
        let Some(mi) = w.metrics.iter().position(|m| m.key == *mk) else { continue };
        let values: Vec<Option<f64>> = contestants
            .iter()
            .map(|c| w.rows.iter().find(|r| r.contestant == *c).and_then(|r| w.ratio(r, mi)))
            .collect();
        groups.push((*label, values));
    }
    let (width, height) = (900.0, 420.0);
    let (left, right, top, bottom) = (60.0, 20.0, 50.0, 90.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let max = groups
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .fold(1.2_f64, f64::max)
        .min(4.0);
    let max = (max * 5.0).ceil() / 5.0;
    let y = |v: f64| top + plot_h * (1.0 - v.min(max) / max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Ratio to tokio-raw \
         (median of interleaved rounds; 1.0 = tokio-raw)</text>",
        width / 2.0
    );
    let mut tick = 0.0;
    while tick <= max + 1e-9 {
        let ty = y(tick);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#e0e0e0\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick:.1}</text>",
            width - right,
            left - 6.0,
            ty + 4.0
        );
        tick += 0.2;
    }
    for (level, dash) in [(1.0, "none"), (0.97, "4,3")] {
        let ly = y(level);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"#444\" \
             stroke-dasharray=\"{dash}\"/>",
            width - right
        );
    }
    let group_w = plot_w / groups.len().max(1) as f64;
    let bar_w = group_w * 0.8 / contestants.len() as f64;
    for (gi, (label, values)) in groups.iter().enumerate() {
        let gx = left + group_w * gi as f64 + group_w * 0.1;
        for (ci, v) in values.iter().enumerate() {
            let x = gx + bar_w * ci as f64;
            let Some(v) = v else { continue };
            let by = y(*v);
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
                 fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
                 font-size=\"10\">{v:.2}</text>",
                bar_w - 2.0,
                (top + plot_h - by).max(0.0),
                colors[ci],
                x + bar_w / 2.0 - 1.0,
                by - 3.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            gx + group_w * 0.4,
            top + plot_h + 16.0,
            label.replace(" (lower better)", "")
        );
        if label.contains("lower better") {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#666\">(lower is \
                 better)</text>",
                gx + group_w * 0.4,
                top + plot_h + 30.0
            );
        }
    }
    for (ci, c) in contestants.iter().enumerate() {
        let lx = left + 160.0 * ci as f64;
        let ly = height - 22.0;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" \
             y=\"{ly}\">{c}</text>",
            ly - 10.0,
            colors[ci],
            lx + 16.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" fill=\"#444\">dashed: 0.97 target</text>",
        left + 500.0,
        height - 22.0
    );
    s.push_str("</svg>\n");
    s
}

struct Machine {
    nproc: usize,
    cpu: String,
    kernel: String,
    load_start: String,
    load_end: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':'])))
        .unwrap_or("unknown")
        .to_string();
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        load_start: loadavg(),
        load_end: String::new(),
    }
}

fn markdown(workloads: &[Workload], machine: &Machine, cfg: &Cfg, elapsed: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Command: `cargo bench --bench serve` ({} rounds × {} s per timed workload, {} idle \
         connections, a storm of {} × {} rounds; whole run {:.0} s).\n",
        cfg.rounds, cfg.seconds, cfg.idle, cfg.storm, cfg.storm_rounds, elapsed
    );
    let _ = writeln!(
        s,
        "Machine: {} CPUs ({}), Linux {}; load average {} at the start, {} at the end.\n",
        machine.nproc, machine.cpu, machine.kernel, machine.load_start, machine.load_end
    );
    for w in workloads {
        let _ = writeln!(s, "### {}\n", w.title);
        s.push_str(&table(w, true));
        s.push('\n');
    }
    s
}

const BEGIN: &str = "<!-- bench:begin (written by `cargo bench --bench serve`) -->";
const END: &str = "<!-- bench:end -->";

fn publish(root: &Path, generated: &str) -> io::Result<()> {
    let path = root.join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let block = format!("{BEGIN}\n{generated}{END}");
    let text = match (existing.find(BEGIN), existing.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{block}{}", &existing[..b], &existing[e + END.len()..])
        }
        _ => format!(
            "# Benchmarks\n\n![](benches/results/serve.svg)\n\n{block}\n\n## What was found\n\n"
        ),
    };
    std::fs::write(path, text)
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> (T, bool) {
    match std::env::var(name).ok().and_then(|v| v.parse().ok()) {
        Some(v) => (v, true),
        None => (default, false),
    }
}

fn selected(list: &str, key: &str) -> bool {
    std::env::var(list).map_or(true, |v| v.split(',').any(|k| k.trim() == key))
}

/// Runs `f` for each contestant in each round, interleaved (A B C A B C …), each round on
/// a fresh server child.
fn run_rounds<F>(
    rt: &tokio::runtime::Runtime,
    name: &str,
    contestants: &[Contestant],
    rounds: usize,
    mut f: F,
) -> Vec<(String, Vec<Vec<f64>>)>
where
    F: for<'a> FnMut(
        &'a mut ServerProc,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<f64>> + 'a>>,
{
    let contestants: Vec<&Contestant> =
        contestants.iter().filter(|c| selected("BENCH_CONTESTANTS", &c.label)).collect();
    let mut results: Vec<(String, Vec<Vec<f64>>)> =
        contestants.iter().map(|c| (c.label.clone(), Vec::new())).collect();
    for round in 0..rounds {
        for (ci, c) in contestants.iter().enumerate() {
            let values = match ServerProc::spawn(c) {
                Ok(mut server) => {
                    let values = rt.block_on(f(&mut server));
                    server.exit();
                    values
                }
                Err(e) => {
                    eprintln!("{name}: {}: could not start the server: {e}", c.label);
                    Vec::new()
                }
            };
            eprintln!(
                "  {name} round {}/{rounds} {:<22} {}",
                round + 1,
                c.label,
                values.iter().map(|v| fmt_value(*v)).collect::<Vec<_>>().join("  ")
            );
            results[ci].1.push(values);
        }
        // Let TIME_WAIT and the last children's teardown settle a moment between rounds.
        std::thread::sleep(Duration::from_millis(100));
    }
    results
}

fn to_workload(
    key: &'static str,
    title: &'static str,
    metrics: Vec<Metric>,
    results: &[(String, Vec<Vec<f64>>)],
) -> Workload {
    let rows = results
        .iter()
        .map(|(label, per_round)| Row {
            contestant: label.clone(),
            rounds: (0..metrics.len())
                .map(|i| per_round.iter().map(|v| v.get(i).copied().unwrap_or(f64::NAN)).collect())
                .collect(),
        })
        .collect();
    Workload { key, title, metrics, rows }
}

fn main() {
    if let Ok(spec) = std::env::var("BENCH_CHILD") {
        child_main(&spec);
        return;
    }
    let started = Instant::now();
    let nofile = raise_nofile();
    let (seconds, o1) = env_num("BENCH_SECONDS", 2.0);
    let (rounds, o2) = env_num("BENCH_ROUNDS", 3);
    let (idle, o3) = env_num("BENCH_IDLE", 10_000usize);
    let (storm, o4) = env_num("BENCH_STORM", 1_000usize);
    let (storm_rounds, o5) = env_num("BENCH_STORM_ROUNDS", 3);
    let overridden = o1
        || o2
        || o3
        || o4
        || o5
        || std::env::var_os("BENCH_ONLY").is_some()
        || std::env::var_os("BENCH_CONTESTANTS").is_some()
        || std::env::var_os("BENCH_EXTRA").is_some()
        || std::env::var_os("BENCH_CHILD_WRAPPER").is_some();
    let publish_results = env_num("BENCH_PUBLISH", u8::from(!overridden)).0 == 1;
    let mut cfg = Cfg { seconds, rounds, idle, storm, storm_rounds };
    let limit = usize::try_from(nofile).unwrap_or(usize::MAX);
    if cfg.idle + 100 > limit {
        eprintln!("open-file limit {limit}: idle connections lowered from {}", cfg.idle);
        cfg.idle = limit.saturating_sub(100);
    }
    let mut machine = machine();
    eprintln!(
        "tcp-serve benchmark: {} CPUs ({}), Linux {}, load {}; {} rounds × {} s",
        machine.nproc, machine.cpu, machine.kernel, machine.load_start, cfg.rounds, cfg.seconds
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let main = main_contestants();
    let mut workloads = Vec::new();

    if selected("BENCH_ONLY", "conn-rate") {
        let r =
            run_rounds(&rt, "conn-rate", &main, cfg.rounds, move |s| Box::pin(conn_rate(s, cfg)));
        workloads.push(to_workload(
            "conn-rate",
            "1. Connection rate: 32 clients, connect → 32 B → echo → close",
            vec![
                m("conns_per_s", "conn/s", true, true),
                m("p99_us", "p99 µs", false, true),
                m("server_cpu_us_per_conn", "server CPU µs/conn", false, true),
                m("errors", "errors", false, false),
            ],
            &r,
        ));
    }
    if selected("BENCH_ONLY", "ping-pong") {
        let r =
            run_rounds(&rt, "ping-pong", &main, cfg.rounds, move |s| Box::pin(ping_pong(s, cfg)));
        workloads.push(to_workload(
            "ping-pong",
            "2. Ping-pong: 64 connections, 32-byte round trips",
            vec![
                m("round_trips_per_s", "round trips/s", true, true),
                m("p50_us", "p50 µs", false, true),
                m("p99_us", "p99 µs", false, true),
                m("server_cpu_us_per_rt", "server CPU µs/rt", false, true),
            ],
            &r,
        ));
    }
    if selected("BENCH_ONLY", "streaming") {
        let r =
            run_rounds(&rt, "streaming", &main, cfg.rounds, move |s| Box::pin(streaming(s, cfg)));
        workloads.push(to_workload(
            "streaming",
            "3. Streaming: 8 connections, 64 KiB chunks both ways",
            vec![
                m("mb_per_s", "MB/s echoed", true, true),
                m("server_cpu_us_per_mb", "server CPU µs/MB", false, true),
            ],
            &r,
        ));
    }
    if selected("BENCH_ONLY", "idle") {
        let r = run_rounds(&rt, "idle+close", &main, cfg.rounds, move |s| {
            Box::pin(idle_and_close(s, cfg))
        });
        let idle_rows: Vec<_> = r
            .iter()
            .map(|(l, v)| (l.clone(), v.iter().map(|x| vec![x[0], x[3]]).collect()))
            .collect();
        let close_rows: Vec<_> = r
            .iter()
            .map(|(l, v)| (l.clone(), v.iter().map(|x| vec![x[1], x[2]]).collect()))
            .collect();
        workloads.push(to_workload(
            "idle-memory",
            "4. Idle memory: server RSS growth per idle connection",
            vec![
                m("bytes_per_conn", "bytes/conn", false, true),
                m("connections", "connections", true, false),
            ],
            &idle_rows,
        ));
        workloads.push(to_workload(
            "close",
            "5. Close with live connections (tcp-serve: close_with(Close); actix: stop(false); \
             tokio-raw has no close: dropping its runtime is the floor)",
            vec![
                m("close_future_ms", "close future ms", false, false),
                m("all_eof_ms", "all clients EOF ms", false, false),
            ],
            &close_rows,
        ));
    }
    if selected("BENCH_ONLY", "storm") {
        let mut raw = Contestant::new("tokio-raw", Kind::TokioRaw);
        raw.backlog = Some(1024);
        let mut storm = vec![raw];
        for backlog in [Some(1024), None] {
            for batch in [1, 8, 64] {
                let b = backlog.map_or("64 (default)".to_string(), |b| b.to_string());
                storm.push(Contestant {
                    label: format!("tcp-serve batch={batch} backlog={b}"),
                    kind: Kind::TcpServe,
                    batch,
                    backlog,
                });
            }
        }
        storm.push(Contestant {
            label: "tokio-raw backlog=128 (TcpListener::bind)".into(),
            ..Contestant::new("", Kind::TokioRaw)
        });
        storm.push(Contestant::new("actix-server backlog=2048", Kind::Actix));
        let r = run_rounds(&rt, "storm", &storm, cfg.storm_rounds, move |s| {
            Box::pin(accept_storm(s, cfg))
        });
        workloads.push(to_workload(
            "storm",
            "6. Accept storm: clients connecting at once, one echo each",
            vec![
                m("all_served_ms", "all served ms", false, true),
                m("median_client_ms", "median client ms", false, true),
                m("server_cpu_us_per_conn", "server CPU µs/conn", false, true),
            ],
            &r,
        ));
    }

    machine.load_end = loadavg();
    let elapsed = started.elapsed().as_secs_f64();
    println!();
    for w in &workloads {
        println!("{}", w.title);
        print!("{}", table(w, false));
        println!();
    }
    println!("(medians of interleaved rounds; × raw = ratio to tokio-raw's median)");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir: PathBuf = root.join("target").join("bench");
    let md = markdown(&workloads, &machine, &cfg, elapsed);
    let svg = to_svg(&workloads);
    let written = std::fs::create_dir_all(&out_dir)
        .and_then(|()| {
            std::fs::write(out_dir.join("serve.json"), to_json(&workloads, &machine, &cfg, elapsed))
        })
        .and_then(|()| std::fs::write(out_dir.join("serve.md"), &md))
        .and_then(|()| std::fs::write(out_dir.join("serve.svg"), &svg));
    if let Err(e) = written {
        eprintln!("could not write {}: {e}", out_dir.display());
    }
    println!("wrote {}/serve.{{json,md,svg}}", out_dir.display());
    if publish_results {
        let results = root.join("benches").join("results");
        match std::fs::create_dir_all(&results)
            .and_then(|()| std::fs::write(results.join("serve.svg"), &svg))
            .and_then(|()| publish(root, &md))
        {
            Ok(()) => println!("wrote benches/results/serve.svg and BENCHMARKS.md"),
            Err(e) => eprintln!("could not publish: {e}"),
        }
    } else {
        println!("settings overridden: BENCHMARKS.md and benches/results/ left alone");
    }
    println!("whole run: {elapsed:.0} s");
}
