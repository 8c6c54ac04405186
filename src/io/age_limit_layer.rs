//! [`AgeLimited`] as a tower layer over `(peer, stream)` requests.

use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{AgeLimited, BufferAgeLimit};

/// Wraps each connection's stream in [`AgeLimited`], so any handler (hyper, TLS, your own)
/// has its writes fail once they wait longer than `limit` for the peer.
///
/// ```
/// use std::time::Duration;
/// use tcp_serve::io::{BufferAgeLimit, BufferAgeLimitLayer};
/// use tcp_serve::{Serve, WhereToListen};
///
/// let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .layer(BufferAgeLimitLayer::new(BufferAgeLimit::AtMost(Duration::from_secs(30))));
/// # let _ = serve;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BufferAgeLimitLayer {
    limit: BufferAgeLimit,
}

impl BufferAgeLimitLayer {
    /// A layer limiting how long written bytes may wait.
    pub fn new(limit: BufferAgeLimit) -> Self {
        BufferAgeLimitLayer { limit }
    }
}

impl<S> Layer<S> for BufferAgeLimitLayer {
    type Service = BufferAgeLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BufferAgeLimitService { inner, limit: self.limit }
    }
}

/// The service of [`BufferAgeLimitLayer`]: passes `(peer, AgeLimited<stream>)` on.
#[derive(Clone, Debug)]
pub struct BufferAgeLimitService<S> {
    inner: S,
    limit: BufferAgeLimit,
}

impl<S> BufferAgeLimitService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, A, Io> Service<(A, Io)> for BufferAgeLimitService<S>
where
    S: Service<(A, AgeLimited<Io>)>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, (peer, io): (A, Io)) -> Self::Future {
        self.inner.call((peer, AgeLimited::new(io, self.limit)))
    }
}
