//! [`Dispatch`]: the server's "not after close" check, for layers that call their inner
//! service later than in their own `call`.
//!
//! The acceptor calls the service stack under the server's dispatch lock, after checking
//! the server is open, so nothing in the stack's `call` runs after `close` has returned. A
//! layer that first does some I/O (a TLS handshake, reading a PROXY header) calls its inner
//! service later, from the connection's task; to keep the promise for the services behind
//! it, it takes the [`Dispatch`] of the server calling it, in its own `call`, and makes the
//! later call through it.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use crate::layer::graceful::ShutdownSignal;

/// What a [`Dispatch`] calls through: the server's core.
pub(crate) trait Gate: Send + Sync {
    /// Runs `call` unless the server has closed; whether it ran.
    fn call_unless_closed(&self, call: &mut dyn FnMut()) -> bool;

    /// Counts a connection a layer closed for bad input from the network.
    fn count_rejected(&self);

    /// The signal of the server's drain.
    fn shutdown_signal(&self) -> ShutdownSignal;
}

thread_local! {
    // The gate of the server whose acceptor is calling its stack on this thread, if any.
    static CURRENT: RefCell<Option<Arc<dyn Gate>>> = const { RefCell::new(None) };
}

/// Makes `gate` current until the returned guard is dropped.
pub(crate) fn enter(gate: &Arc<dyn Gate>) -> Entered {
    let previous = CURRENT.with(|current| current.replace(Some(Arc::clone(gate))));
    Entered { previous }
}

/// Restores the previous gate when dropped, on unwinding too.
pub(crate) struct Entered {
    previous: Option<Arc<dyn Gate>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// The server calling a service stack now, as the layers in it see it: its permission to
/// call an inner service later than in `call`, where to report a connection closed for bad
/// input, and its drain signal.
///
/// The acceptor calls the service stack under the server's dispatch lock, after checking the
/// server is open, so nothing in the stack's `call` runs after `close` has returned. A layer
/// that first does some I/O (a TLS handshake, reading a PROXY header) calls its inner
/// service later, from the connection's task; to keep the promise for the services behind
/// it, it takes the `Dispatch` of the server calling it, in its own `call`, and makes the
/// later call through it.
///
/// ```
/// use tcp_serve::Dispatch;
///
/// // In a layer's `call`: take the server's dispatch...
/// let dispatch = Dispatch::current();
/// // ...and later, in the connection's task, call the inner service through it.
/// let called = dispatch.call(|| "the inner service's future");
/// assert_eq!(called, Some("the inner service's future")); // `None` once the server closed
/// ```
#[derive(Clone, Default)]
pub struct Dispatch {
    // `None` outside an acceptor's call (a test driving a layer directly): always calls.
    gate: Option<Arc<dyn Gate>>,
}

impl Dispatch {
    /// The dispatch of the server whose acceptor is calling the stack on this thread now:
    /// take it in `call`. Anywhere else, one that always calls.
    pub fn current() -> Self {
        Dispatch { gate: CURRENT.with(|current| current.borrow().clone()) }
    }

    /// Counts the connection as rejected in the server's
    /// [`Metrics::rejected`](crate::Metrics::rejected): a layer closed it for bad input from
    /// the network (a failed TLS handshake, a bad PROXY header), which is not a handler
    /// error and never stops the server.
    pub fn reject(&self) {
        if let Some(gate) = &self.gate {
            gate.count_rejected();
        }
    }

    /// The signal of the server's drain, for a service that has to be told in its own way
    /// (an HTTP connection's graceful shutdown, say); `None` outside a server.
    pub fn shutdown_signal(&self) -> Option<ShutdownSignal> {
        self.gate.as_ref().map(|gate| gate.shutdown_signal())
    }

    /// Runs `call` unless the server has been closed; `None` if it has. Once
    /// [`Server::close`](crate::Server::close) has returned, every `call` returns `None`.
    pub fn call<R>(&self, call: impl FnOnce() -> R) -> Option<R> {
        let Some(gate) = &self.gate else { return Some(call()) };
        let mut call = Some(call);
        let mut result = None;
        gate.call_unless_closed(&mut || {
            let call = call.take().expect("the gate calls at most once");
            // The inner service's `call` sees this server as current, as it would under the
            // acceptor: a layer behind this one (the HTTP adapter behind TLS) finds its
            // drain signal and its counters.
            let _current = enter(gate);
            result = Some(call());
        });
        result
    }
}

impl fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatch").field("from_a_server", &self.gate.is_some()).finish()
    }
}
