//! The timed load generators of the HTTP race, real HTTP clients run as child processes:
//! wrk (HTTP/1.1, keep-alive or a connection per request) and h2load (HTTP/2, h2c with
//! prior knowledge), each with one thread. Each returns requests/s, p50 µs, p99 µs,
//! server CPU µs per request and errors (socket errors, non-2xx answers, failed or
//! timed-out requests).

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child::ServerProc;
use crate::measure::percentile;
use crate::settings::HttpCfg;

/// How much longer than its duration a generator may take before it is killed.
const GRACE: Duration = Duration::from_secs(15);

/// What one generator run measured.
struct Measured {
    requests: f64,
    per_s: f64,
    p50_us: f64,
    p99_us: f64,
    errors: f64,
}

/// `wrk -t1 -c<connections> -d<seconds>s --latency`, with `Connection: close` on every
/// request if `close` (wrk then opens a connection per request).
pub fn wrk(server: &mut ServerProc, cfg: &HttpCfg, close: bool, out: &Path) -> Vec<f64> {
    let mut command = Command::new("wrk");
    command
        .arg("-t1")
        .arg(format!("-c{}", cfg.connections))
        .arg(format!("-d{}s", cfg.seconds))
        .args(["--latency", "--timeout", "5s"]);
    if close {
        command.args(["-H", "Connection: close"]);
    }
    command.arg(format!("http://{}/", server.addr));
    measure(server, cfg, command, out, |text, _| parse_wrk(text))
}

/// `h2load -t1 -c<connections> -m<streams> -D <seconds>` with a per-request log, from
/// which the percentiles are taken (h2load prints only means).
pub fn h2load(server: &mut ServerProc, cfg: &HttpCfg, out: &Path) -> Vec<f64> {
    let log = out.with_extension("log");
    let mut command = Command::new("h2load");
    command
        .arg("-t1")
        .arg(format!("-c{}", cfg.connections))
        .arg(format!("-m{}", cfg.streams))
        .arg(format!("-D{}", cfg.seconds))
        .arg(format!("--log-file={}", log.display()))
        .arg(format!("http://{}/", server.addr));
    let measured = measure(server, cfg, command, out, |text, _| parse_h2load(text, &log));
    let _ = std::fs::remove_file(&log);
    measured
}

/// Runs the generator against the server, between two readings of the server's CPU.
fn measure(
    server: &mut ServerProc,
    cfg: &HttpCfg,
    command: Command,
    out: &Path,
    parse: impl Fn(&str, &Path) -> Option<Measured>,
) -> Vec<f64> {
    let cpu0 = server.cpu();
    let ran = run_bounded(command, Duration::from_secs(cfg.seconds) + GRACE, out);
    let cpu1 = server.cpu();
    let measured = ran.and_then(|text| {
        parse(&text, out).ok_or_else(|| io::Error::other(format!("could not read {text:?}")))
    });
    match measured {
        Ok(m) => {
            vec![m.per_s, m.p50_us, m.p99_us, (cpu1 - cpu0) / m.requests.max(1.0) / 1e3, m.errors]
        }
        Err(e) => {
            eprintln!("{}: {e}", out.display());
            vec![f64::NAN; 5]
        }
    }
}

/// Runs `command` with its output in `out` (and `out.err`), killing it after `limit`;
/// returns what it wrote on stdout.
fn run_bounded(mut command: Command, limit: Duration, out: &Path) -> io::Result<String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(File::create(out)?)
        .stderr(File::create(out.with_extension("err"))?)
        .spawn()
        .map_err(|e| io::Error::other(format!("{command:?}: {e}")))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!("{command:?} ran over {limit:?}; killed")));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !status.success() {
        return Err(io::Error::other(format!("{command:?}: {status}")));
    }
    std::fs::read_to_string(out)
}

/// wrk's report: `N requests in 2.00s`, `Requests/sec: X`, the `50%` and `99%` lines of
/// `--latency`, `Socket errors: connect a, read b, write c, timeout d`, `Non-2xx or 3xx
/// responses: e`.
fn parse_wrk(text: &str) -> Option<Measured> {
    let words = |prefix: &str| {
        text.lines().map(str::trim).find_map(|l| l.strip_prefix(prefix)).map(str::trim)
    };
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())?;
    let per_s = words("Requests/sec:")?.parse().ok()?;
    let p50_us = duration_us(words("50%")?)?;
    let p99_us = duration_us(words("99%")?)?;
    let socket_errors: f64 = words("Socket errors:").map_or(0.0, |list| {
        list.split(',').filter_map(|kv| kv.split_whitespace().nth(1)?.parse::<f64>().ok()).sum()
    });
    let non_2xx: f64 =
        words("Non-2xx or 3xx responses:").and_then(|n| n.parse().ok()).unwrap_or(0.0);
    Some(Measured { requests, per_s, p50_us, p99_us, errors: socket_errors + non_2xx })
}

/// `510.00us`, `1.20ms`, `2.00s`, `1.00m` in µs.
fn duration_us(text: &str) -> Option<f64> {
    let at = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(at);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(number * scale)
}

/// h2load's report: `finished in 2.00s, X req/s, …` and `requests: N total, N started, N
/// done, N succeeded, N failed, N errored, N timeout` (failed counts the errored, the
/// timed out and the non-2xx/3xx answers); and the percentiles of the log's third column
/// (µs from request to response).
fn parse_h2load(text: &str, log: &Path) -> Option<Measured> {
    let line = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix));
    let per_s = line("finished in")?
        .split(',')
        .find_map(|part| part.trim().strip_suffix(" req/s"))?
        .parse()
        .ok()?;
    let counts = line("requests:")?;
    let count = |name: &str| {
        counts.split(',').find_map(|part| {
            let mut words = part.split_whitespace();
            let n = words.next()?.parse::<f64>().ok()?;
            (words.next()? == name).then_some(n)
        })
    };
    let (requests, failed) = (count("succeeded")?, count("failed")?);
    let mut latencies: Vec<u64> = std::fs::read_to_string(log)
        .ok()?
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    latencies.sort_unstable();
    Some(Measured {
        requests,
        per_s,
        p50_us: percentile(&latencies, 0.5),
        p99_us: percentile(&latencies, 0.99),
        errors: failed,
    })
}
