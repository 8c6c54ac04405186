//! A level that only rises, and the tasks waiting for it to rise: what the server's
//! closed flag, the drain signal and the close-all switch are made of.
//!
//! Built for the connection path, where a waiter is polled on every read: a waiter registers
//! its waker once, under a lock, and afterwards each poll costs an atomic load and a
//! comparison of wakers. `tokio::sync::watch` or a `CancellationToken` would take a lock (or
//! allocate) each time a fresh wait future is polled.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use slab::Slab;

/// A level from 0 up, raised by one side and watched by many.
#[derive(Debug, Default)]
pub(crate) struct Switch {
    level: AtomicU8,
    // The wakers of watchers that have had to wait, all woken whenever the level rises.
    waiting: Mutex<Slab<Waker>>,
}

impl Switch {
    #[inline]
    pub(crate) fn level(&self) -> u8 {
        self.level.load(Ordering::SeqCst)
    }

    /// Wakes every watcher without changing the level: something else they check changed.
    pub(crate) fn wake(&self) {
        for (_, waker) in self.waiting.lock().iter() {
            waker.wake_by_ref();
        }
    }

    /// Raises the level to `to` (never lowers it) and wakes every watcher. Whether it rose.
    pub(crate) fn raise(&self, to: u8) -> bool {
        let rose = self.level.fetch_max(to, Ordering::SeqCst) < to;
        if rose {
            self.wake();
        }
        rose
    }
}

/// One waiter's view of a [`Switch`]; its waker is registered the first time it has to wait.
#[derive(Debug)]
pub(crate) struct Watch {
    switch: Arc<Switch>,
    // Where our waker sits in the switch, and a copy of it to compare with the next one.
    registered: Option<(usize, Waker)>,
}

impl Watch {
    pub(crate) fn new(switch: Arc<Switch>) -> Self {
        Watch { switch, registered: None }
    }

    #[inline]
    pub(crate) fn level(&self) -> u8 {
        self.switch.level()
    }

    /// Ready once the level is at least `at_least`; otherwise wakes `cx` when it rises.
    #[inline]
    pub(crate) fn poll_level(&mut self, cx: &mut Context<'_>, at_least: u8) -> Poll<()> {
        if self.level() >= at_least {
            return Poll::Ready(());
        }
        if self.is_registered(cx.waker()) {
            // A rise after the load above wakes the waker already registered.
            return Poll::Pending;
        }
        self.register(cx.waker());
        // Checked again after registering: a `raise` in between either set the level before
        // our registration (seen here) or woke the waker we registered.
        if self.level() >= at_least {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Registers `cx`'s waker to be woken by the switch, as `poll_level` does.
    #[inline]
    pub(crate) fn register_waker(&mut self, cx: &mut Context<'_>) {
        if !self.is_registered(cx.waker()) {
            self.register(cx.waker());
        }
    }

    /// Resolves once the level is at least `at_least`.
    pub(crate) async fn reached(&mut self, at_least: u8) {
        std::future::poll_fn(|cx| self.poll_level(cx, at_least)).await
    }

    /// Whether `waker` is the one registered: the usual case, the same task polling again.
    #[inline]
    fn is_registered(&self, waker: &Waker) -> bool {
        self.registered.as_ref().is_some_and(|(_, registered)| registered.will_wake(waker))
    }

    /// Registers `waker`, in place of the one registered before if any; under the lock.
    #[cold]
    fn register(&mut self, waker: &Waker) {
        match &mut self.registered {
            Some((key, registered)) => {
                self.switch.waiting.lock()[*key] = waker.clone();
                *registered = waker.clone();
            }
            None => {
                let key = self.switch.waiting.lock().insert(waker.clone());
                self.registered = Some((key, waker.clone()));
            }
        }
    }
}

// By hand: a clone is a new waiter, with no registration of its own yet.
impl Clone for Watch {
    fn clone(&self) -> Self {
        Watch::new(Arc::clone(&self.switch))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some((key, _)) = self.registered.take() {
            self.switch.waiting.lock().remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_test::{assert_pending, assert_ready};

    #[test]
    fn a_watcher_is_woken_when_the_level_reaches_what_it_waits_for() {
        let switch = Arc::new(Switch::default());
        let mut watch = Watch::new(Arc::clone(&switch));
        let mut waiting = tokio_test::task::spawn(async move { watch.reached(2).await });
        assert_pending!(waiting.poll());

        assert!(switch.raise(1));
        assert!(waiting.is_woken(), "every rise wakes the watchers");
        assert_pending!(waiting.poll());
        assert!(switch.raise(2));
        assert!(!switch.raise(1), "the level never falls");
        assert_ready!(waiting.poll());
        assert_eq!(switch.level(), 2);
    }

    #[test]
    fn a_dropped_watcher_leaves_no_waker_behind() {
        let switch = Arc::new(Switch::default());
        let mut watch = Watch::new(Arc::clone(&switch));
        let mut clone = watch.clone();
        {
            let mut waiting = tokio_test::task::spawn(watch.reached(1));
            assert_pending!(waiting.poll());
            assert_pending!(waiting.poll());
        }
        assert_eq!(switch.waiting.lock().len(), 1, "registered once, however often polled");
        drop(watch);
        assert_eq!(switch.waiting.lock().len(), 0);
        assert_pending!(tokio_test::task::spawn(clone.reached(1)).poll());
        assert_eq!(switch.waiting.lock().len(), 1, "a clone registers on its own");
    }
}
