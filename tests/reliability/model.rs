//! Guarantee 8: random sequences of client and server operations against a real server
//! agree, after every step, with a simple model of what clients should see and what
//! `num_connections`, the limits and `invariant()` should say.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;

use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed, TestRunner};
use tcp_serve::{ExistingConnections, Inet, InetServer, Serve, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Small, so that sequences reach the limit and clients queue.
const MAX: usize = 2;
/// Random sequences tried.
const CASES: u32 = 64;
/// Sequences are shorter than this.
const MAX_OPS: usize = 25;

#[derive(Clone, Debug)]
enum Op {
    /// A new client connects and sends a message.
    Connect,
    /// A served client sends a message and gets it back.
    Send(usize),
    /// A served client half-closes: its echo handler ends.
    HalfClose(usize),
    /// A client (served or queued) resets its connection (`SO_LINGER` 0).
    Reset(usize),
    /// `set_drop_incoming_connections`.
    SetDrop(bool),
    /// `close`, keeping live connections.
    Close,
    /// `close_with(Close)`.
    CloseAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Closing is rare, so most of a sequence runs against an open server.
        12 => Just(Op::Connect),
        6 => any::<usize>().prop_map(Op::Send),
        4 => any::<usize>().prop_map(Op::HalfClose),
        4 => any::<usize>().prop_map(Op::Reset),
        4 => any::<bool>().prop_map(Op::SetDrop),
        1 => Just(Op::Close),
        1 => Just(Op::CloseAll),
    ]
}

struct Client {
    stream: TcpStream,
    /// What it sent that has not come back yet (a queued client's first message).
    unechoed: Vec<u8>,
}

/// What should be true, and the clients the test holds.
struct Model {
    open: bool,
    dropping: bool,
    /// Clients whose handler runs: exactly `num_connections`.
    live: Vec<Client>,
    /// Clients connected but not accepted (at `max_connections`), oldest first.
    queued: VecDeque<Client>,
    next_message: usize,
    seen: Seen,
}

/// What the sequences made clients see, for the figures.
#[derive(Default, Debug)]
struct Seen {
    served: usize,
    queued: usize,
    dropped: usize,
    refused: usize,
    half_closed: usize,
    reset: usize,
    closed_by_server: usize,
}

impl Model {
    fn message(&mut self) -> Vec<u8> {
        self.next_message += 1;
        format!("message {} ", self.next_message).into_bytes()
    }

    /// A slot is free: the oldest queued clients are accepted, and served or dropped.
    async fn promote(&mut self) {
        while self.open && self.live.len() < MAX {
            let Some(mut client) = self.queued.pop_front() else { break };
            if self.dropping {
                assert_closed_by_server(&mut client.stream).await;
                self.seen.dropped += 1;
            } else {
                let mut echoed = vec![0; client.unechoed.len()];
                within("a queued client's echo", client.stream.read_exact(&mut echoed))
                    .await
                    .expect("the queued client is served once a slot is free");
                assert_eq!(echoed, client.unechoed);
                client.unechoed.clear();
                self.live.push(client);
                self.seen.served += 1;
            }
        }
    }

    async fn apply(&mut self, server: &InetServer, op: &Op) {
        match *op {
            Op::Connect => {
                let port = server.listening_on();
                let connecting = within("connect", TcpStream::connect(("127.0.0.1", port))).await;
                if !self.open {
                    let refused = connecting.expect_err("a closed server accepted a connection");
                    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
                    self.seen.refused += 1;
                    return;
                }
                let mut stream = connecting.expect("connect to an open server");
                let message = self.message();
                stream.write_all(&message).await.expect("write");
                let client = Client { stream, unechoed: message };
                if self.live.len() < MAX {
                    self.queued.push_back(client);
                    self.promote().await;
                } else {
                    // At the limit: not accepted, whatever the drop switch says.
                    self.queued.push_back(client);
                    self.seen.queued += 1;
                }
            }
            Op::Send(i) => {
                if self.live.is_empty() {
                    return;
                }
                let n = self.live.len();
                let message = self.message();
                assert_echoes(&mut self.live[i % n].stream, &message).await;
            }
            Op::HalfClose(i) => {
                if self.live.is_empty() {
                    return;
                }
                let n = self.live.len();
                let mut client = self.live.remove(i % n);
                client.stream.shutdown().await.expect("half-close");
                let mut rest = Vec::new();
                within("EOF after a half-close", client.stream.read_to_end(&mut rest))
                    .await
                    .expect("the echo handler ends cleanly");
                assert!(rest.is_empty(), "nothing was left to echo: {rest:?}");
                self.seen.half_closed += 1;
                self.promote().await;
            }
            Op::Reset(i) => {
                let n = self.live.len() + self.queued.len();
                if n == 0 {
                    return;
                }
                let client = if i % n < self.live.len() {
                    self.live.remove(i % n)
                } else {
                    self.queued.remove(i % n - self.live.len()).unwrap()
                };
                crate::reset(client.stream);
                self.seen.reset += 1;
                self.promote().await;
            }
            Op::SetDrop(on) => {
                server.set_drop_incoming_connections(on);
                self.dropping = on;
            }
            Op::Close => {
                within("close", server.close()).await;
                self.open = false;
                // The kernel resets the connections left in the closed listener's queue.
                for mut client in self.queued.drain(..) {
                    assert_closed_by_server(&mut client.stream).await;
                    self.seen.closed_by_server += 1;
                }
            }
            Op::CloseAll => {
                within("close_with(Close)", server.close_with(ExistingConnections::Close)).await;
                assert_eq!(server.num_connections(), 0, "close_with(Close) finished");
                self.open = false;
                for mut client in self.live.drain(..).chain(self.queued.drain(..)) {
                    assert_closed_by_server(&mut client.stream).await;
                    self.seen.closed_by_server += 1;
                }
            }
        }
    }

    /// After each step: the server's counts and state agree with the model.
    async fn check(&self, server: &InetServer, step: usize, op: &Op) {
        until_connections(server, self.live.len()).await;
        server.invariant();
        assert!(server.num_connections() <= server.max_connections());
        assert_eq!(server.max_connections(), MAX);
        assert_eq!(server.is_closed(), !self.open, "step {step} ({op:?})");
        assert_eq!(server.drop_incoming_connections(), self.dropping, "step {step} ({op:?})");
    }
}

async fn run(ops: Vec<Op>) -> Seen {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(MAX)
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let mut model = Model {
        open: true,
        dropping: false,
        live: Vec::new(),
        queued: VecDeque::new(),
        next_message: 0,
        seen: Seen::default(),
    };
    for (step, op) in ops.iter().enumerate() {
        model.apply(&server, op).await;
        model.check(&server, step, op).await;
    }
    // Whatever the sequence left, closing everything ends every client's connection.
    within("close_with(Close)", server.close_with(ExistingConnections::Close)).await;
    for mut client in model.live.into_iter().chain(model.queued) {
        assert_closed_by_server(&mut client.stream).await;
    }
    assert_eq!(server.num_connections(), 0);
    server.invariant();
    model.seen
}

/// Where a failing case's seed is saved, and replayed first on the next run (proptest's
/// regression file, relative to the package root, where `cargo test` runs tests).
const REGRESSIONS: &str = "tests/reliability/model.proptest-regressions";

/// The seed of this run's random sequences: `PROPTEST_RNG_SEED` if set (to replay a run),
/// else a fresh one, printed so that any run can be replayed.
fn seed(config: &ProptestConfig) -> u64 {
    match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(std::time::SystemTime::now())
        }
    }
}

#[test]
fn random_operation_sequences_agree_with_the_model() {
    let started = std::time::Instant::now();
    let defaults = ProptestConfig::default(); // reads PROPTEST_* from the environment
    let seed = seed(&defaults);
    let replay = format!(
        "replay with: PROPTEST_RNG_SEED={seed} cargo test --test reliability -- model:: \
         --nocapture (a failing case is also saved to {REGRESSIONS} and tried first next time)"
    );
    println!("model: seed {seed}; {replay}");
    let config = ProptestConfig {
        cases: CASES,
        max_shrink_iters: 64,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..defaults
    };
    let (cases, steps, seen) = (Cell::new(0), Cell::new(0), RefCell::new(Seen::default()));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(op(), 1..MAX_OPS), |ops| {
        cases.set(cases.get() + 1);
        steps.set(steps.get() + ops.len());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let case = runtime.block_on(run(ops));
        let mut seen = seen.borrow_mut();
        seen.served += case.served;
        seen.queued += case.queued;
        seen.dropped += case.dropped;
        seen.refused += case.refused;
        seen.half_closed += case.half_closed;
        seen.reset += case.reset;
        seen.closed_by_server += case.closed_by_server;
        Ok(())
    });
    if let Err(failure) = result {
        panic!("a sequence disagreed with the model (seed {seed}): {failure}\n{replay}");
    }
    println!(
        "model: seed {seed}: {} random sequences of 1 to {} operations (shrinking included), \
         {} operations in all, each step checked against the model, in {:?}; clients: {:?}",
        cases.get(),
        MAX_OPS - 1,
        steps.get(),
        started.elapsed(),
        seen.borrow(),
    );
}
