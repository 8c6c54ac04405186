//! Side-by-side benchmark: tcp-serve against a plain tokio accept loop and actix-server,
//! and its HTTP adapter against `axum::serve`.
//!
//! Three modes, all from `cargo bench -p tcp-serve-bench`:
//!
//! - **The race** (the default): timed echo workloads in interleaved rounds, medians and
//!   ratios to tokio-raw; `BENCHMARKS.md`'s first tables and `benches/results/serve.svg`.
//!   About 2 minutes.
//! - **The HTTP race**, `BENCH_HTTP=1 cargo bench -p tcp-serve-bench`: the same axum
//!   Router served by `axum::serve` (the reference), by tcp-serve's
//!   `Serve::new(..).serve(Http::new(router))` with its defaults, and by hyper-util's
//!   connection builder in a plain accept loop (the floor), each in its own child on one
//!   current-thread runtime pinned to one CPU, the load generator pinned to the other.
//!   Timed with real HTTP clients, one thread each: wrk (HTTP/1.1, 64 keep-alive
//!   connections; and a connection per request, `Connection: close`) and h2load (HTTP/2
//!   h2c with prior knowledge, 64 connections × 10 streams): requests/s, p50/p99, server
//!   CPU per request. Then where the policies differ: a burst of 2,000 clients connecting
//!   at once, and recovery once descriptors are free again after the server ran out of
//!   them (the child lowers its own `RLIMIT_NOFILE` to 256). Needs wrk and h2load
//!   (Debian's `wrk` and `nghttp2-client`); about 4 minutes. Ratios to `axum::serve`;
//!   `BENCHMARKS.md`'s "HTTP" tables and `benches/results/http.svg` (see [`http`]).
//! - **The count**, `BENCH_COUNT=1 cargo bench -p tcp-serve-bench`: user-space instructions
//!   (valgrind's callgrind) and syscalls by kind (`strace -f -c`) per connection and per
//!   round trip, and RSS per idle connection, of each server child only; each a difference
//!   between a short and a long run, so start-up cancels out (see [`count`]). Needs valgrind
//!   and strace; about 2 minutes. Contestants: tokio-raw, tcp-serve (as `examples/echo.rs`
//!   ships it), tcp-serve-plain, actix-server, tcp-serve-tracing; tcp-serve with each layer
//!   of the production stack (TLS, PROXY, the five timeouts; the client speaks TLS or sends
//!   a PROXY v2 header as needed); and the HTTP race's servers, whose round trip is a GET on
//!   a keep-alive connection. Writes `target/bench/count.json` and, with the default sizes
//!   and contestants, the generated block of `BENCHMARKS.md`'s "Instructions and syscalls
//!   per operation".
//!
//! Every server runs in its own child process (this binary, re-executed with `BENCH_CHILD`
//! set) on one thread with a current-thread tokio runtime; this process is the load
//! generator, also on one current-thread runtime (or wrk and h2load, one thread each). On a
//! 2-core machine that is one core each: neither side can steal the other's scheduler, the
//! server's RSS and CPU time are its own, and neither process needs more than ~10,000
//! descriptors. actix-server runs `workers(1)`; its design adds an accept thread.
//!
//! The race's environment: `BENCH_SECONDS` (per timed round, default 2), `BENCH_ROUNDS`
//! (default 3), `BENCH_IDLE` (idle connections, default 10000), `BENCH_STORM` (default
//! 1000), `BENCH_STORM_ROUNDS` (default 3), `BENCH_ONLY` (comma list of workload keys),
//! `BENCH_CONTESTANTS` (comma list of labels), `BENCH_EXTRA` (1: the diagnostic contestants
//! of [`contestants::main_race`]), `BENCH_CHILD_WRAPPER` (a command to run the server
//! children under, e.g. `valgrind --tool=callgrind`), `BENCH_PUBLISH` (1: write
//! `BENCHMARKS.md` and `benches/results/serve.svg`; the default when no other setting is
//! overridden). The HTTP race's: `BENCH_SECONDS` (whole seconds, default 2),
//! `BENCH_ROUNDS` (default 5), `BENCH_BURST` (default 2000), `BENCH_BURST_ROUNDS` (3),
//! `BENCH_RECOVERY_ROUNDS` (5), `BENCH_ONLY` (`keep-alive,close,h2,burst,recovery`),
//! `BENCH_CONTESTANTS`, `BENCH_EXTRA` (1: tcp-serve with `header_read_timeout(None)` too),
//! `BENCH_PUBLISH`. The count's: `BENCH_CONTESTANTS`, `BENCH_COUNT_CONNS` (default
//! `2000,6000`; a twentieth for TLS), `BENCH_COUNT_ROUND_TRIPS` (`5000,20000`),
//! `BENCH_COUNT_IDLE` (`2000,6000`).
//!
//! The parts: [`contestants`] (who races) and [`servers`] (how each one serves) run in the
//! child, driven through [`child`]; [`workloads`] runs the rounds with [`load`]'s
//! generators and [`measure`]'s probes; [`results`] holds the numbers, which [`report`],
//! [`json`] and [`chart`] write out; [`http`] is the HTTP race and [`count`] the count,
//! whose clients speak through [`protocol`] (with [`certs`] for TLS).

mod certs;
mod chart;
mod child;
mod contestants;
mod count;
mod http;
mod json;
mod load;
mod measure;
mod protocol;
mod report;
mod results;
mod servers;
mod settings;
mod workloads;

use std::time::Instant;

fn main() {
    if let Ok(spec) = std::env::var("BENCH_CHILD") {
        child::serve(&spec);
    }
    let mode = |name| std::env::var(name).is_ok_and(|v| v == "1");
    if mode("BENCH_COUNT") {
        measure::raise_nofile();
        count::run(&runtime());
        return;
    }
    if mode("BENCH_HTTP") {
        http::run(&runtime());
        return;
    }
    let started = Instant::now();
    let settings = settings::Settings::from_env();
    let cfg = settings.cfg;
    let mut machine = measure::Machine::now();
    eprintln!(
        "tcp-serve benchmark: {} CPUs ({}), Linux {}, load {}; {} rounds × {} s",
        machine.nproc, machine.cpu, machine.kernel, machine.load_start, cfg.rounds, cfg.seconds
    );
    let workloads = workloads::run_all(&runtime(), cfg);
    machine.load_end = measure::loadavg();
    let elapsed = started.elapsed().as_secs_f64();
    report::print(&workloads);
    let output = report::Output {
        name: "serve",
        block: "bench",
        command: "cargo bench -p tcp-serve-bench",
        cfg: &cfg,
        settings: format!(
            "{} rounds × {} s per timed workload, {} idle connections, a storm of {} × {} rounds",
            cfg.rounds, cfg.seconds, cfg.idle, cfg.storm, cfg.storm_rounds
        ),
        chart: &chart::MAIN,
    };
    report::save(&output, &workloads, &machine, elapsed, settings.publish);
    println!("whole run: {elapsed:.0} s");
}

/// The parent's runtime: one thread, as the servers'.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}
