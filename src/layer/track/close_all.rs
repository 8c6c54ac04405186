use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use slab::Slab;

/// Ends every connection tracked with it at once; see [`TrackLayer`](super::TrackLayer).
/// Cloning shares it.
///
/// Cheaper than a `CancellationToken` per connection: a connection registers its waker
/// only once it has to wait, and after that each poll costs an atomic load and a
/// lock-free waker update, not two mutex locks.
#[derive(Clone, Debug, Default)]
pub struct CloseAll(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    closed: AtomicBool,
    // The wakers of connections that have waited, woken all at once by `close`.
    waiting: Mutex<Slab<Arc<AtomicWaker>>>,
}

impl CloseAll {
    /// A switch that has not closed anything yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends every connection tracked with this switch, now and from now on.
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::SeqCst);
        for (_, waker) in self.0.waiting.lock().iter() {
            waker.wake();
        }
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn watch(&self) -> Watch {
        Watch { close_all: self.clone(), slot: None }
    }
}

/// One connection's watch on a [`CloseAll`].
#[derive(Debug)]
pub(crate) struct Watch {
    close_all: CloseAll,
    // Where this connection's waker is registered, once it has had to wait.
    slot: Option<(usize, Arc<AtomicWaker>)>,
}

impl Watch {
    pub(crate) fn is_closed(&self) -> bool {
        self.close_all.is_closed()
    }

    /// Ready once the connections are to be closed; otherwise wakes `cx` when they are.
    pub(crate) fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &self.close_all.0;
        let (_, waker) = self.slot.get_or_insert_with(|| {
            let waker = Arc::new(AtomicWaker::new());
            (inner.waiting.lock().insert(Arc::clone(&waker)), waker)
        });
        waker.register(cx.waker());
        // Checked after registering: a `close` in between has set the flag, or will wake us.
        if inner.closed.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Watch {
    /// Resolves once the connections are to be closed.
    pub(crate) fn closed(&mut self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.poll_closed(cx))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some((key, _)) = self.slot.take() {
            self.close_all.0.waiting.lock().remove(key);
        }
    }
}
