//! [`AgeLimited`] as a tower layer over `(peer, stream)` requests.

use tower::Layer;

use super::{AgeLimited, BufferAgeLimit};
use crate::timeout::service::sealed::WrapStream;
use crate::timeout::TimeoutService;

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
        TimeoutService::new(inner, *self)
    }
}

impl<Io> WrapStream<Io> for BufferAgeLimitLayer {
    type Stream = AgeLimited<Io>;

    fn wrap(&self, io: Io) -> AgeLimited<Io> {
        AgeLimited::new(io, self.limit)
    }
}

/// The service of [`BufferAgeLimitLayer`]: passes `(peer, AgeLimited<stream>)` on. It is
/// the timeout layers' [`TimeoutService`], which wraps streams the same way.
pub type BufferAgeLimitService<S> = TimeoutService<S, BufferAgeLimitLayer>;
