use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use parking_lot::Mutex;
use pin_project::pin_project;
use tokio::sync::Notify;
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

use crate::error::{BoxError, HandlerPanicked};

/// The peer of the connection a request came on, as a request extension: the address the
/// server accepted (or, behind a layer that learns the real client, the address that layer
/// passes on).
///
/// ```
/// use std::net::SocketAddr;
/// use tcp_serve::http::{hyper, Peer};
///
/// fn client(request: &hyper::Request<hyper::body::Incoming>) -> Option<SocketAddr> {
///     request.extensions().get::<Peer<SocketAddr>>().map(|Peer(peer)| *peer)
/// }
/// # let _ = client;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer<A>(pub A);

/// What the requests of one connection, and its stream, share with it.
#[derive(Debug, Default)]
pub(super) struct Shared {
    // Set at the first request, and stored only while unset: on HTTP/2 the requests run on
    // every worker thread, and a count would move the cache line between them each time.
    served: AtomicBool,
    // The first error of the user's service or of a response body it returned, reported
    // when the connection ends; `failed` wakes the connection to end it.
    failure: Mutex<Option<BoxError>>,
    pub(super) failed: Notify,
    // Notified when the stream hyper was given is dropped.
    stream_gone: Notify,
}

impl Shared {
    /// Whether the connection has passed a request to the service.
    pub(super) fn served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    /// Says that the connection's stream has been dropped.
    pub(super) fn stream_dropped(&self) {
        // A permit is stored if the connection is not waiting yet.
        self.stream_gone.notify_one();
    }

    /// Resolves once the connection's stream has been dropped: by hyper, or after an
    /// upgrade by the service's task that took it.
    pub(super) async fn until_stream_dropped(&self) {
        self.stream_gone.notified().await;
    }

    /// The first failure of the service, if any.
    pub(super) fn take_failure(&self) -> Option<BoxError> {
        self.failure.lock().take()
    }

    fn fail(&self, error: BoxError) -> HandlerFailed {
        self.failure.lock().get_or_insert(error);
        // A permit is stored if the connection is not waiting yet.
        self.failed.notify_one();
        HandlerFailed
    }
}

/// What hyper gets instead of a failure of the user's service, which goes to the
/// connection (and so to the server's error policy) instead.
#[derive(Debug)]
pub(super) struct HandlerFailed;

impl fmt::Display for HandlerFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the service failed; its error goes to the server's on_handler_error")
    }
}

impl std::error::Error for HandlerFailed {}

/// The user's service as hyper calls it on one connection: the peer goes into each
/// request's extensions, and failures go to [`Shared`].
pub(super) struct Requests<S, A> {
    service: S,
    peer: A,
    shared: Arc<Shared>,
}

impl<S, A> Requests<S, A> {
    pub(super) fn new(service: S, peer: A, shared: Arc<Shared>) -> Self {
        Requests { service, peer, shared }
    }
}

impl<S, A, B> hyper::service::Service<Request<Incoming>> for Requests<S, A>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone,
    S::Error: Into<BoxError>,
    A: Clone + Send + Sync + 'static,
{
    type Response = Response<ResponseBody<B>>;
    type Error = HandlerFailed;
    type Future = ResponseFuture<S>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        if !self.shared.served() {
            self.shared.served.store(true, Ordering::Relaxed);
        }
        let extensions = request.extensions_mut();
        extensions.insert(Peer(self.peer.clone()));
        #[cfg(feature = "axum")]
        extensions.insert(axum::extract::ConnectInfo(self.peer.clone()));
        // As tower's `Oneshot` and axum do: a clone per request, made ready, then called.
        let response = self.service.clone().oneshot(request);
        ResponseFuture { response, shared: Some(Arc::clone(&self.shared)) }
    }
}

/// The user's response, its failure or panic caught for the connection.
#[pin_project]
pub(super) struct ResponseFuture<S: Service<Request<Incoming>>> {
    #[pin]
    response: Oneshot<S, Request<Incoming>>,
    // Taken when the response is ready: into its body, or to report the failure.
    shared: Option<Arc<Shared>>,
}

impl<S, B> Future for ResponseFuture<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, HandlerFailed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = this.response;
        // A panic is a handler error, as in any connection handler; on HTTP/2 it would
        // otherwise vanish with the stream's task.
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| response.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => outcome.map_err(Into::into),
            Err(payload) => Err(Box::new(HandlerPanicked::from_payload(payload)) as BoxError),
        };
        let shared = this.shared.take().expect("ResponseFuture polled after it completed");
        Poll::Ready(match outcome {
            Ok(response) => Ok(response.map(|body| ResponseBody { body, shared })),
            Err(error) => Err(shared.fail(error)),
        })
    }
}

/// The body of the user's response, its failure or panic caught for the connection.
#[pin_project]
pub(super) struct ResponseBody<B> {
    #[pin]
    body: B,
    shared: Arc<Shared>,
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = HandlerFailed;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let body = this.body;
        match panic::catch_unwind(AssertUnwindSafe(|| body.poll_frame(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(None)) => Poll::Ready(None),
            Ok(Poll::Ready(Some(Ok(frame)))) => Poll::Ready(Some(Ok(frame))),
            Ok(Poll::Ready(Some(Err(error)))) => {
                Poll::Ready(Some(Err(this.shared.fail(error.into()))))
            }
            Err(payload) => {
                let panicked = HandlerPanicked::from_payload(payload);
                Poll::Ready(Some(Err(this.shared.fail(Box::new(panicked)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
