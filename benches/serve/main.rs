//! Side-by-side benchmark: tcp-serve against a plain tokio accept loop and actix-server.
//!
//! Two modes, both from `cargo bench -p tcp-serve-bench`:
//!
//! - **The race** (the default): timed workloads in interleaved rounds, medians and ratios
//!   to tokio-raw; `BENCHMARKS.md`'s first tables and `benches/results/serve.svg`.
//! - **The count**, `BENCH_COUNT=1 cargo bench -p tcp-serve-bench`: user-space instructions
//!   (valgrind's callgrind) and syscalls by kind (`strace -f -c`) per connection and per
//!   round trip, and RSS per idle connection, of each server child only; each a difference
//!   between a short and a long run, so start-up cancels out (see [`count`]). Needs valgrind
//!   and strace; about 5 minutes. Contestants: tokio-raw, tcp-serve (as `examples/echo.rs`
//!   ships it), tcp-serve-plain, actix-server and tcp-serve-tracing. Writes
//!   `target/bench/count.json` and, with the default sizes and contestants, the generated
//!   block of `BENCHMARKS.md`'s "Instructions and syscalls per operation".
//!
//! Every server runs in its own child process (this binary, re-executed with `BENCH_CHILD`
//! set) on one thread with a current-thread tokio runtime; this process is the load
//! generator, also on one current-thread runtime. On a 2-core machine that is one core
//! each: neither side can steal the other's scheduler, the server's RSS and CPU time are
//! its own, and neither process needs more than ~10,000 descriptors. actix-server runs
//! `workers(1)`; its design adds an accept thread.
//!
//! The race's environment: `BENCH_SECONDS` (per timed round, default 2), `BENCH_ROUNDS`
//! (default 3), `BENCH_IDLE` (idle connections, default 10000), `BENCH_STORM` (default
//! 1000), `BENCH_STORM_ROUNDS` (default 3), `BENCH_ONLY` (comma list of workload keys),
//! `BENCH_CONTESTANTS` (comma list of labels), `BENCH_EXTRA` (1: the diagnostic contestants
//! of [`contestants::main_race`]), `BENCH_CHILD_WRAPPER` (a command to run the server
//! children under, e.g. `valgrind --tool=callgrind`), `BENCH_PUBLISH` (1: write
//! `BENCHMARKS.md` and `benches/results/serve.svg`; the default when no other setting is
//! overridden). The count's: `BENCH_CONTESTANTS`, `BENCH_COUNT_CONNS` (default
//! `2000,6000`), `BENCH_COUNT_ROUND_TRIPS` (`5000,20000`), `BENCH_COUNT_IDLE`
//! (`2000,6000`).
//!
//! The parts: [`contestants`] (who races) and [`servers`] (how each one serves) run in the
//! child, driven through [`child`]; [`workloads`] runs the rounds with [`load`]'s
//! generators and [`measure`]'s probes; [`results`] holds the numbers, which [`report`],
//! [`json`] and [`chart`] write out; [`count`] is the second mode.

mod chart;
mod child;
mod contestants;
mod count;
mod json;
mod load;
mod measure;
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
    if std::env::var("BENCH_COUNT").is_ok_and(|v| v == "1") {
        measure::raise_nofile();
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        count::run(&rt);
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
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let workloads = workloads::run_all(&rt, cfg);
    machine.load_end = measure::loadavg();
    let elapsed = started.elapsed().as_secs_f64();
    report::print(&workloads);
    report::save(&workloads, &machine, &cfg, elapsed, settings.publish);
    println!("whole run: {elapsed:.0} s");
}
