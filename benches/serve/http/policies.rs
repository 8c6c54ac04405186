//! The HTTP race's workloads where the servers' policies show, not their speed: a burst of
//! clients connecting at once (the listen backlog), and recovery once a server that ran
//! out of descriptors has some again (what it does after `EMFILE`). The parent is the
//! client, on its one-thread runtime; every wait is bounded.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::child::ServerProc;
use crate::load::connect;
use crate::measure::percentile;
use crate::protocol::{http_get, GET, GET_CLOSE};

/// How long a burst client waits for its answer, SYN retries included (1, 3, 7, 15 s).
const BURST_TIMEOUT: Duration = Duration::from_secs(20);
/// A client waiting this long had its SYN dropped at least once.
const SYN_RETRY: Duration = Duration::from_millis(900);
/// An answer this late means the server did not accept the connection: it is out of
/// descriptors (an answer takes well under a millisecond here).
const NOT_ACCEPTED: Duration = Duration::from_millis(100);
/// How long a connect may take while the server is exhausted (the kernel still accepts
/// into the backlog).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the probe after the freeing may wait.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// More connections than the open-file limit, to be sure to reach it.
const BEYOND_LIMIT: u64 = 64;

/// `n` clients connect at once, each sends `GET /` with `Connection: close` and reads the
/// answer. Returns ms until all were answered (infinite if one was not), the median
/// client's ms, how many waited for a SYN retry, and server CPU µs per connection.
pub async fn burst(server: &mut ServerProc, n: usize) -> Vec<f64> {
    let addr = server.addr;
    let cpu0 = server.cpu();
    let start = Instant::now();
    let clients: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                let answered = tokio::time::timeout(BURST_TIMEOUT, async {
                    let mut stream = connect(addr).await?;
                    http_get(&mut stream, GET_CLOSE).await
                })
                .await;
                let ok = matches!(answered, Ok(Ok((200, _))));
                ok.then(|| start.elapsed())
            })
        })
        .collect();
    let mut times = Vec::with_capacity(n);
    for client in clients {
        if let Ok(Some(elapsed)) = client.await {
            times.push(elapsed);
        }
    }
    let all_ms = start.elapsed().as_secs_f64() * 1e3;
    let cpu1 = server.cpu();
    let answered = times.len();
    let retried = times.iter().filter(|t| **t >= SYN_RETRY).count();
    let mut ns: Vec<u64> = times.iter().map(|t| t.as_nanos() as u64).collect();
    ns.sort_unstable();
    vec![
        if answered == n { all_ms } else { f64::INFINITY },
        percentile(&ns, 0.5) / 1e6,
        retried as f64,
        (cpu1 - cpu0) / answered.max(1) as f64 / 1e3,
    ]
}

/// Exhausts the server's descriptors with idle keep-alive connections (each answered
/// once), until a connection is not accepted; keeps it so for `hold` from that moment;
/// then closes them all and measures how long until a new connection's `GET /` is
/// answered. Returns that time in ms, the server's CPU ms per second while exhausted, and
/// how many connections it held (NaN where a step failed).
pub async fn recovery(server: &mut ServerProc, nofile: u64, hold: Duration) -> Vec<f64> {
    let failed = |what: &str| {
        eprintln!("recovery: {what}");
        vec![f64::NAN; 3]
    };
    let addr = server.addr;
    let mut held: Vec<TcpStream> = Vec::new();
    let mut stuck = None;
    for _ in 0..nofile + BEYOND_LIMIT {
        let Ok(Ok(mut stream)) = tokio::time::timeout(CONNECT_TIMEOUT, connect(addr)).await else {
            return failed("a connect failed");
        };
        let since = Instant::now();
        match tokio::time::timeout(NOT_ACCEPTED, http_get(&mut stream, GET)).await {
            Ok(Ok((200, _))) => held.push(stream),
            Ok(answer) => return failed(&format!("a client was answered {answer:?}")),
            Err(_) => {
                stuck = Some((stream, since));
                break;
            }
        }
    }
    let Some((stuck, since)) = stuck else {
        return failed("the server never ran out of descriptors");
    };
    let (cpu0, measured_from) = (server.cpu(), Instant::now());
    tokio::time::sleep_until((since + hold).into()).await;
    let cpu1 = server.cpu();
    let cpu_ms_per_s = (cpu1 - cpu0) / 1e6 / measured_from.elapsed().as_secs_f64();
    let held_n = held.len();

    let freed = Instant::now();
    drop(held);
    drop(stuck);
    let probe = tokio::time::timeout(PROBE_TIMEOUT, async {
        let mut stream = connect(addr).await?;
        http_get(&mut stream, GET_CLOSE).await
    })
    .await;
    let recovered_ms = match probe {
        Ok(Ok((200, _))) => freed.elapsed().as_secs_f64() * 1e3,
        _ => f64::INFINITY,
    };
    vec![recovered_ms, cpu_ms_per_s, held_n as f64]
}
