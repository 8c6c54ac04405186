//! The two kinds of task the acceptor spawns: each connection's, whose error stops the
//! server, and the accept loop's own, whose panic does.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project::pin_project;

use crate::dispatch::{self, Gate};
use crate::error::{panic_message, BoxError, PeerError, ServerError};
use crate::family::Family;
use crate::server::core::Core;
use crate::shutdown::ExistingConnections;

/// One connection's task: the stack's future, whose error stops the server (the error
/// policy raised it, or the stack has no error policy).
#[pin_project]
pub(super) struct Connection<Fut, F: Family> {
    #[pin]
    future: Fut,
    core: Arc<Core<F>>,
    peer: Option<F::Addr>,
}

impl<Fut, F: Family> Connection<Fut, F> {
    pub(super) fn new(future: Fut, core: Arc<Core<F>>, peer: F::Addr) -> Self {
        Connection { future, core, peer: Some(peer) }
    }
}

impl<Fut, E, F> Future for Connection<Fut, F>
where
    Fut: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
    F: Family,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if let Err(error) = std::task::ready!(this.future.poll(cx)) {
            // The error policy names the peer it reported, as a layer that learns the client
            // does without one; otherwise the peer is the socket's.
            let (peer, error) = match PeerError::<F::Addr>::take(error.into()) {
                Ok(named) => named,
                Err(error) => (this.peer.take().expect("a connection ends once"), error),
            };
            tracing::error!(
                ?peer,
                error = &*error as &dyn std::error::Error,
                "a connection raised its error; stopping the server"
            );
            this.core.stop(ServerError::Handler { peer, source: Arc::from(error) });
        }
        Poll::Ready(())
    }
}

/// The accept loop's task: a panic in it stops the server as a raised error does, instead
/// of leaving the listener open with nobody accepting.
pub(super) struct Guarded<F: Family> {
    // `None` once the loop has ended; dropping it closes the listener.
    run: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    core: Arc<Core<F>>,
    // The core again, as the gate layers find with `Dispatch::current` in their `call`:
    // current while the loop runs, which is when it calls the stack.
    gate: Arc<dyn Gate>,
}

impl<F: Family> Guarded<F> {
    pub(super) fn new(run: impl Future<Output = ()> + Send + 'static, core: Arc<Core<F>>) -> Self {
        let gate: Arc<dyn Gate> = core.clone();
        Guarded { run: Some(Box::pin(run)), core, gate }
    }
}

impl<F: Family> Future for Guarded<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let Some(run) = this.run.as_mut() else { return Poll::Ready(()) };
        let _current = dispatch::enter(&this.gate);
        let polled = panic::catch_unwind(AssertUnwindSafe(|| run.as_mut().poll(cx)));
        let panicked = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => None,
            Err(payload) => Some(panic_message(&*payload)),
        };
        if let Some(message) = panicked {
            tracing::error!(panic = %message, "the accept loop panicked; stopping the server");
            // Recorded before the listener closes, so whoever awaits the server sees it.
            self.core.stop(ServerError::AcceptorPanicked { message });
        }
        // Dropping the loop drops its listener: unless a view of it is still alive, the
        // listening socket is closed here.
        self.run = None;
        tracing::info!(endpoint = %self.core.place().endpoint, "stopped accepting");
        Poll::Ready(())
    }
}

impl<F: Family> Drop for Guarded<F> {
    fn drop(&mut self) {
        // Dropped unfinished only when the runtime shuts down: nobody accepts any more.
        if self.run.is_some() {
            self.core.close(ExistingConnections::Keep);
        }
    }
}
