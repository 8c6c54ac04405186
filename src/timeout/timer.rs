//! What the timeout layers share: a timer that follows a deadline cheaply, and finding
//! their errors.

use std::error::Error;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::time::{Instant, Sleep};

/// A tokio timer for a deadline that moves later as the connection makes progress.
///
/// Moving the deadline costs nothing: the sleep keeps the deadline it was armed with, and
/// when it fires before the current one it is re-armed, once, instead of being reset on
/// every transfer. Made at the first wait, so a stream that never waits has no timer.
#[derive(Debug, Default)]
pub(super) struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Timer {
    /// The deadline the timer is armed for, if it was ever armed.
    #[cfg(test)]
    pub(super) fn armed(&self) -> Option<Instant> {
        self.sleep.as_ref().map(|sleep| sleep.deadline())
    }

    /// Ready once `deadline` has passed; until then, wakes the task at the deadline.
    pub(super) fn poll_until(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        // Deadlines only move later, but an earlier one must not wait for a later sleep.
        if deadline < sleep.deadline() {
            sleep.as_mut().reset(deadline);
        }
        loop {
            ready!(sleep.as_mut().poll(cx));
            if sleep.deadline() >= deadline {
                return Poll::Ready(());
            }
            sleep.as_mut().reset(deadline);
        }
    }
}

/// The `T` in `error`, its sources, or an [`io::Error`] among them.
pub(super) fn find<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        // An `io::Error`'s `source` skips the error it wraps; look inside it.
        let wrapped = error.downcast_ref::<io::Error>().and_then(|e| e.get_ref());
        if let Some(found) = wrapped.and_then(|inner| inner.downcast_ref::<T>()) {
            return Some(found);
        }
        next = error.source();
    }
    None
}

/// `error` as the I/O error a stream's read or write fails with.
pub(super) fn io_error(error: impl Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, error)
}
