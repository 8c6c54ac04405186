//! The maximum lifetime: how long a connection may last, whatever it does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::error::BoxError;

/// Ends a connection `limit` after it reached this layer, whatever its handler is doing:
/// the handler's future is dropped (closing its stream) and the connection ends with
/// [`LifetimeExceeded`]. Unlike the stream timeouts, this needs no cooperation from the
/// handler: it holds even for one that ignores errors or never touches its stream.
///
/// ```
/// use std::time::Duration;
/// use tcp_serve::timeout::MaxLifetimeLayer;
/// use tcp_serve::{Serve, WhereToListen};
///
/// let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .layer(MaxLifetimeLayer::new(Duration::from_secs(3600)));
/// # let _ = serve;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MaxLifetimeLayer {
    limit: Duration,
}

impl MaxLifetimeLayer {
    /// A layer ending connections `limit` after they arrive.
    pub fn new(limit: Duration) -> Self {
        MaxLifetimeLayer { limit }
    }
}

impl<S> Layer<S> for MaxLifetimeLayer {
    type Service = MaxLifetime<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MaxLifetime { inner, limit: self.limit }
    }
}

/// The service of [`MaxLifetimeLayer`]: runs the wrapped service's future for at most
/// the limit.
#[derive(Clone, Debug)]
pub struct MaxLifetime<S> {
    inner: S,
    limit: Duration,
}

impl<S> MaxLifetime<S> {
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

impl<S, Request> Service<Request> for MaxLifetime<S>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = MaxLifetimeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        MaxLifetimeFuture {
            handler: Some(self.inner.call(request)),
            deadline: tokio::time::sleep(self.limit),
            limit: self.limit,
        }
    }
}

/// The future of [`MaxLifetime`]: the handler's, until the deadline.
#[pin_project]
pub struct MaxLifetimeFuture<F> {
    // `None` once it has ended or been cut off: dropped at once, so its stream closes
    // before the connection's end is reported.
    #[pin]
    handler: Option<F>,
    #[pin]
    deadline: Sleep,
    limit: Duration,
}

impl<F, T, E> Future for MaxLifetimeFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let handler = this.handler.as_mut().as_pin_mut();
        let handler = handler.expect("MaxLifetimeFuture polled after it completed");
        if let Poll::Ready(result) = handler.poll(cx) {
            this.handler.set(None);
            return Poll::Ready(result.map_err(Into::into));
        }
        ready!(this.deadline.poll(cx));
        this.handler.set(None);
        tracing::debug!(limit = ?this.limit, "connection reached its maximum lifetime; closing");
        Poll::Ready(Err(LifetimeExceeded { limit: *this.limit }.into()))
    }
}

impl<F> fmt::Debug for MaxLifetimeFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxLifetimeFuture")
            .field("running", &self.handler.is_some())
            .field("deadline", &self.deadline.deadline())
            .field("limit", &self.limit)
            .finish()
    }
}

/// The error a connection ends with when its [`MaxLifetimeLayer`]'s limit runs out; the
/// server's [`OnHandlerError`](crate::OnHandlerError) policy gets it as the handler's
/// error. Find it with [`LifetimeExceeded::find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifetimeExceeded {
    limit: Duration,
}

impl LifetimeExceeded {
    /// The limit that ran out.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The `LifetimeExceeded` in `error` or one of its sources, if that is what it is.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        crate::chain::find(error)
    }
}

impl fmt::Display for LifetimeExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "maximum connection lifetime of {:?} exceeded; closed by the server", self.limit)
    }
}

impl std::error::Error for LifetimeExceeded {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use tokio::time::Instant;
    use tokio_test::{assert_pending, assert_ready};
    use tower::{service_fn, ServiceExt};

    const LIMIT: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_handler_that_ignores_everything_is_dropped_at_the_limit() {
        let socket = Arc::new(());
        let held = Arc::clone(&socket);
        let service = MaxLifetimeLayer::new(LIMIT).layer(service_fn(move |()| {
            let held = Arc::clone(&held);
            async move {
                let _socket = held;
                std::future::pending::<Result<(), std::io::Error>>().await
            }
        }));
        let started = Instant::now();
        let mut connection = tokio_test::task::spawn(service.oneshot(()));
        assert_pending!(connection.poll());
        let held_by_the_handler = Arc::strong_count(&socket);
        tokio::time::advance(LIMIT - Duration::from_millis(1)).await;
        assert_pending!(connection.poll());
        tokio::time::advance(Duration::from_millis(1)).await;
        let error = assert_ready!(connection.poll()).expect_err("cut off");
        assert_eq!(started.elapsed(), LIMIT);
        assert_eq!(LifetimeExceeded::find(&*error).map(LifetimeExceeded::limit), Some(LIMIT));
        assert_eq!(
            Arc::strong_count(&socket),
            held_by_the_handler - 1,
            "the handler was dropped when the connection ended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_that_ends_in_time_keeps_its_result() {
        let service = MaxLifetimeLayer::new(LIMIT).layer(service_fn(|()| async {
            tokio::time::sleep(LIMIT / 2).await;
            Err::<(), _>(std::io::Error::other("its own"))
        }));
        let error = service.oneshot(()).await.expect_err("its own error");
        assert_eq!(error.to_string(), "its own");
    }
}
