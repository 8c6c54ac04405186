use std::future::Future;

use tracing::Instrument;

/// Runs the tasks hyper spawns for a connection's HTTP/2 streams (each calls your service)
/// on tokio, in the connection's tracing span, so that what your service logs for an
/// HTTP/2 request is in the `connection{id, peer}` span as it is for HTTP/1 (hyper-util's
/// `TokioExecutor` spawns them outside any span).
///
/// It is the executor of the builder [`Http::configure`](super::Http::configure) hands out;
/// there is nothing to set on it. A stream's task does not outlive its connection: when the
/// connection ends or the server closes it, hyper resets its streams and each task drops
/// your service's future.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionExecutor {
    _private: (),
}

impl ConnectionExecutor {
    pub(super) fn new() -> Self {
        ConnectionExecutor { _private: () }
    }
}

impl<F> hyper::rt::Executor<F> for ConnectionExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // hyper spawns from within the connection's poll, so its span is current. Without
        // one (no subscriber wants it) the task goes uninstrumented: even a disabled span
        // costs something on every poll.
        let span = tracing::Span::current();
        if span.is_none() {
            drop(tokio::spawn(future));
        } else {
            drop(tokio::spawn(future.instrument(span)));
        }
    }
}
