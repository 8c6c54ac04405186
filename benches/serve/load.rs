//! The load generators, one per workload. Each drives one server child for one round and
//! returns that round's metrics in the order [`crate::workloads`] names them.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::child::ServerProc;
use crate::measure::percentile;
use crate::settings::Cfg;

/// Clients bind to 127.0.0.2 ..= 127.0.0.(1 + SOURCE_IPS), round robin.
const SOURCE_IPS: usize = 200;
const MSG: [u8; 32] = [b'x'; 32];
const CHUNK: usize = 64 * 1024;
const MAX_SAMPLES_PER_TASK: usize = 1 << 20;

static NEXT_SOURCE: AtomicUsize = AtomicUsize::new(0);

/// Connects from the next of `SOURCE_IPS` loopback source addresses, so that the
/// connections left in TIME_WAIT by the client's close spread over 200 × 28k ports.
pub async fn connect(to: SocketAddr) -> io::Result<TcpStream> {
    let i = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % SOURCE_IPS;
    let from = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2 + i as u8), 0));
    let socket = TcpSocket::new_v4()?;
    socket.bind(from)?;
    let stream = socket.connect(to).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes 32 bytes and reads the 32 echoed back.
pub async fn round_trip(stream: &mut TcpStream) -> io::Result<()> {
    round_trip_on(stream).await
}

/// [`round_trip`] on any stream (TLS, or after a PROXY header).
pub async fn round_trip_on<S>(stream: &mut S) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    stream.write_all(&MSG).await?;
    let mut back = [0u8; 32];
    stream.read_exact(&mut back).await?;
    Ok(())
}

/// Connects and echoes one message; the connection is returned open.
pub async fn open_echoed(to: SocketAddr) -> io::Result<TcpStream> {
    let mut stream = connect(to).await?;
    round_trip(&mut stream).await?;
    Ok(stream)
}

/// `n` connections for a workload that keeps them; failures are reported and skipped.
async fn connect_all(to: SocketAddr, n: usize, workload: &str) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        match connect(to).await {
            Ok(s) => streams.push(s),
            Err(e) => eprintln!("{workload}: connect failed: {e}"),
        }
    }
    streams
}

/// Workload 1: 32 clients looping connect → 32 bytes → back → close.
/// Returns conn/s, p99 µs, server CPU µs per connection, errors.
pub async fn conn_rate(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    let addr = server.addr;
    let cpu0 = server.cpu();
    let start = Instant::now();
    let deadline = start + cfg.window();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            tokio::spawn(async move {
                let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::new());
                while Instant::now() < deadline && lat.len() < MAX_SAMPLES_PER_TASK {
                    let t = Instant::now();
                    // Closed inside: the latency includes the client's close.
                    let done = async { open_echoed(addr).await.map(drop) };
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
    let cpu1 = server.cpu();
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
pub async fn ping_pong(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    let streams = connect_all(server.addr, 64, "ping-pong").await;
    let cpu0 = server.cpu();
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
    let cpu1 = server.cpu();
    lat.sort_unstable();
    vec![
        n as f64 / elapsed,
        percentile(&lat, 0.5) / 1e3,
        percentile(&lat, 0.99) / 1e3,
        (cpu1 - cpu0) / n.max(1) as f64 / 1e3,
    ]
}

/// Workload 3: 8 connections streaming 64 KiB chunks both ways.
/// Returns MB/s echoed back, server CPU µs per MB.
pub async fn streaming(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    let streams = connect_all(server.addr, 8, "streaming").await;
    let cpu0 = server.cpu();
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
    let cpu1 = server.cpu();
    let mb = bytes as f64 / 1e6;
    vec![mb / cfg.seconds, (cpu1 - cpu0) / mb.max(1e-9) / 1e3]
}

/// Workloads 4 and 5: `idle` connections, each echoed once, then held; the server's RSS
/// growth per connection; then the server's close and the time until every client has
/// seen EOF. Returns bytes/conn, close-future ms, all-EOF ms, connections opened.
pub async fn idle_and_close(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    use futures::StreamExt;
    let addr = server.addr;
    let rss0 = server.rss();
    let opened: Vec<TcpStream> = futures::stream::iter(0..cfg.idle)
        .map(|_| async move {
            tokio::time::timeout(Duration::from_secs(5), open_echoed(addr)).await.ok()?.ok()
        })
        .buffer_unordered(32)
        .filter_map(|s| async move { s })
        .collect()
        .await;
    let n = opened.len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss1 = server.rss();
    let per_conn = (rss1 - rss0) / n.max(1) as f64;

    // Every client waits for EOF (or a reset) on its own task.
    let watchers: Vec<_> = opened
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut b = [0u8; 64];
                while let Ok(1..) = s.read(&mut b).await {}
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
pub async fn accept_storm(server: &mut ServerProc, cfg: Cfg) -> Vec<f64> {
    let addr = server.addr;
    let cpu0 = server.cpu();
    let start = Instant::now();
    let tasks: Vec<_> = (0..cfg.storm)
        .map(|_| {
            tokio::spawn(async move {
                let s = tokio::time::timeout(Duration::from_secs(20), open_echoed(addr)).await;
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
    let cpu1 = server.cpu();
    let served = held.len();
    drop(held);
    times.sort_unstable();
    let all_ms = if served == cfg.storm { all_ms } else { f64::INFINITY };
    vec![all_ms, percentile(&times, 0.5) / 1e6, (cpu1 - cpu0) / served.max(1) as f64 / 1e3]
}
