//! The server's waits by the clock (the accept back-off, a drain's deadline, the hand-over's
//! and `not_ready_for`'s waits): on tokio's timer when the runtime has one, and otherwise
//! on the blocking pool, so that a runtime built without `enable_time` runs a server too.
//!
//! tokio offers no way to ask whether its time driver is on: a timer made without it
//! panics. So the acceptor makes one, once, as it starts, and catches the panic
//! ([`Timer::probe`]); the panic hook prints that panic on a runtime without timers. The
//! blocking pool is the fallback only: it needs a thread, and when none is alive and none
//! can be made (`EAGAIN` under `RLIMIT_NPROC`, `ENOMEM`, the very exhaustion the accept
//! back-off waits out) tokio panics. Layers that time connections (TLS handshakes, the
//! buffer age limit) use tokio's timer and say so.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// How the server sleeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// On tokio's timer.
    Tokio,
    /// On a thread of tokio's blocking pool, for a runtime without the time driver.
    BlockingPool,
}

impl Timer {
    /// The timer of the current runtime: tokio's if its time driver is on.
    ///
    /// Built with `panic = "abort"`, the probe's panic would end the process, so there the
    /// server keeps to the blocking pool.
    pub(crate) fn probe() -> Timer {
        if cfg!(not(panic = "unwind")) {
            return Timer::BlockingPool;
        }
        let made = panic::catch_unwind(AssertUnwindSafe(|| {
            drop(tokio::time::sleep(Duration::ZERO));
        }));
        match made {
            Ok(()) => Timer::Tokio,
            Err(_) => Timer::BlockingPool,
        }
    }

    /// Resolves after `duration`. Dropping it ends the wait at once (on the blocking pool,
    /// it frees the thread).
    pub(crate) async fn sleep(self, duration: Duration) {
        match self {
            Timer::Tokio => tokio::time::sleep(duration).await,
            Timer::BlockingPool => sleep_on_the_blocking_pool(duration).await,
        }
    }
}

/// Sleeps on a thread of the blocking pool, in a wait that ends early when the sleep is
/// dropped.
async fn sleep_on_the_blocking_pool(duration: Duration) {
    let (cancel, cancelled) = mpsc::channel::<()>();
    // Dropped with this future, which ends the wait below early.
    let _cancel_on_drop = cancel;
    // `recv_timeout` returns at the deadline, or at once when the sender is dropped; the
    // join fails only if the runtime is shutting down, when there is nothing left to wait for.
    let _ = tokio::task::spawn_blocking(move || cancelled.recv_timeout(duration)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::Poll;
    use std::time::Instant;

    #[test]
    fn sleeps_on_a_runtime_without_the_time_driver() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a runtime without the time driver");
        let started = Instant::now();
        runtime.block_on(async {
            let timer = Timer::probe();
            assert_eq!(timer, Timer::BlockingPool);
            timer.sleep(Duration::from_millis(20)).await;
        });
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_dropped_sleep_frees_its_thread_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
        let started = Instant::now();
        runtime.block_on(async {
            let mut long = Box::pin(Timer::BlockingPool.sleep(Duration::from_secs(3600)));
            // Start the wait, then give up on it.
            let started = std::future::poll_fn(|cx| Poll::Ready(long.as_mut().poll(cx))).await;
            assert!(started.is_pending());
        });
        // Dropping the runtime waits for its blocking threads: an hour, if the wait went on.
        drop(runtime);
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_on_tokios_timer_when_the_runtime_has_one() {
        let timer = Timer::probe();
        assert_eq!(timer, Timer::Tokio);
        // Paused time jumps to the deadline: only tokio's timer is done with an hour at once.
        let started = Instant::now();
        let slept = tokio::time::Instant::now();
        timer.sleep(Duration::from_secs(3600)).await;
        assert!(slept.elapsed() >= Duration::from_secs(3600));
        assert!(started.elapsed() < Duration::from_secs(60));
    }
}
