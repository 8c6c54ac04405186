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
//! `BENCH_CONTESTANTS` (comma list of labels), `BENCH_EXTRA` (1: the diagnostic contestants
//! of [`contestants::main_race`]), `BENCH_CHILD_WRAPPER` (a command to run the server
//! children under, e.g. `valgrind --tool=callgrind`), `BENCH_PUBLISH` (1: write
//! `BENCHMARKS.md` and `benches/results/serve.svg`; the default when no other setting is
//! overridden).
//!
//! The parts: [`contestants`] (who races) and [`servers`] (how each one serves) run in the
//! child, driven through [`child`]; [`workloads`] runs the rounds with [`load`]'s
//! generators and [`measure`]'s probes; [`results`] holds the numbers, which [`report`],
//! [`json`] and [`svg`] write out.

mod child;
mod contestants;
mod json;
mod load;
mod measure;
mod report;
mod results;
mod servers;
mod settings;
mod svg;
mod workloads;

use std::time::Instant;

fn main() {
    if let Ok(spec) = std::env::var("BENCH_CHILD") {
        child::serve(&spec);
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
