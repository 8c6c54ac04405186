//! The server's two waits by the clock (the accept back-off and a drain's deadline), kept
//! off tokio's timer so a runtime built without `enable_time` runs a server too.
//!
//! tokio offers no way to ask whether its time driver is on (a timer made without it
//! panics), so instead of checking, the core does without it: it sleeps on tokio's
//! blocking pool, in a wait that ends early when the sleep is dropped. Layers that time
//! connections (TLS handshakes, the buffer age limit) use tokio's timer and say so.

use std::sync::mpsc;
use std::time::Duration;

/// Resolves after `duration`. Dropping it frees the blocking thread at once.
pub(crate) async fn sleep(duration: Duration) {
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
        runtime.block_on(sleep(Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_dropped_sleep_frees_its_thread_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
        let started = Instant::now();
        runtime.block_on(async {
            let mut long = Box::pin(sleep(Duration::from_secs(3600)));
            // Start the wait, then give up on it.
            let started = std::future::poll_fn(|cx| Poll::Ready(long.as_mut().poll(cx))).await;
            assert!(started.is_pending());
        });
        // Dropping the runtime waits for its blocking threads: an hour, if the wait went on.
        drop(runtime);
        assert!(started.elapsed() < Duration::from_secs(60));
    }
}
