use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioTimer;
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tower::Service;

use super::connection;
use super::executor::ConnectionExecutor;
use crate::dispatch::Dispatch;
use crate::error::BoxError;

/// How long a client may take over a request's head by default, as hyper's own default.
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an HTTP/2 connection pings its client by default. With hyper's 20 s for the
/// answer, a client that has gone silent is closed within 40 s.
const DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// Serves HTTP/1.1 and HTTP/2 on each connection to a tower service of HTTP requests; see
/// the [module docs](super).
///
/// It is the service you give [`Serve::serve`](crate::Serve::serve): a request to it is a
/// connection `(peer, stream)`, for any stream (TCP, Unix, or one wrapped by the TLS layer),
/// and it calls your service once per HTTP request on it. Every setting has hyper's
/// default but two that hyper leaves off: the header read timeout and HTTP/2's keep-alive
/// pings, without which a connection could be held open by a client that sends nothing.
#[derive(Clone)]
pub struct Http<S> {
    service: S,
    // Shared by every connection, which borrows it rather than copying it.
    builder: Arc<auto::Builder<ConnectionExecutor>>,
    header_read_timeout: Option<Duration>,
}

/// Whether an HTTP/1 connection stays open for another request after a response; see
/// [`Http::http1_keep_alive`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeepAlive {
    /// The connection waits for the client's next request (for at most the header read
    /// timeout). The default.
    #[default]
    On,
    /// The connection closes after each response (`Connection: close`).
    Off,
}

impl<S> Http<S> {
    /// Serves `service` with the default settings: both HTTP versions, a header read timeout
    /// of 30 s, an HTTP/2 keep-alive ping every 20 s, and hyper's defaults for the rest.
    pub fn new(service: S) -> Self {
        let mut builder = auto::Builder::new(ConnectionExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(DEFAULT_HEADER_READ_TIMEOUT);
        // The pings are HTTP/2's only deadline once the preface is in; they need the timer.
        // Extended CONNECT lets axum accept WebSockets over HTTP/2, as `axum::serve` does.
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL)
            .enable_connect_protocol();
        Http {
            service,
            builder: Arc::new(builder),
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
        }
    }

    /// How long a client may take to send a request's head (its request line and headers),
    /// `None` for no limit. Default 30 s.
    ///
    /// A client that has not sent enough of its first request to show which HTTP version
    /// it speaks within this time is disconnected; on HTTP/1 the head must then be complete
    /// within this time of hyper starting to read it, so a stalled client is disconnected
    /// after one to two timeouts. On HTTP/1 it is also how long an idle keep-alive
    /// connection waits for the next request. It does not time request bodies (see the
    /// [module docs](super#settings)).
    ///
    /// On HTTP/2 it covers only the preface (the first 24 bytes). After it, the
    /// connection's deadline is the keep-alive ping
    /// ([`http2_keep_alive_interval`](Self::http2_keep_alive_interval)), which closes a
    /// connection whose client stops answering.
    ///
    /// Its cost: hyper sets a timer for every HTTP/1 request head, about 1,600 instructions
    /// a request (a tenth of a small keep-alive request's cost; see `BENCHMARKS.md`).
    /// `axum::serve` sets none, and so cannot cut off a client that stalls in its headers.
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.header_read_timeout = timeout;
        self.builder_mut().http1().header_read_timeout(timeout);
        self
    }

    /// Whether an HTTP/1 connection is kept open for further requests. Default
    /// [`KeepAlive::On`].
    pub fn http1_keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.builder_mut().http1().keep_alive(keep_alive == KeepAlive::On);
        self
    }

    /// The most bytes an HTTP/1 connection buffers while reading, which bounds the size of a
    /// request's head: a larger one is answered `431 Request Header Fields Too Large`.
    /// Default about 400 kB (hyper's).
    ///
    /// # Panics
    ///
    /// If `max` is below hyper's minimum (8 KiB today): hyper's builder panics.
    pub fn http1_max_buf_size(mut self, max: usize) -> Self {
        self.builder_mut().http1().max_buf_size(max);
        self
    }

    /// The most headers an HTTP/1 request may have: more are answered `431 Request Header
    /// Fields Too Large`. Default 100.
    pub fn http1_max_headers(mut self, max: usize) -> Self {
        self.builder_mut().http1().max_headers(max);
        self
    }

    /// The most requests (streams) an HTTP/2 client may have in flight on one connection.
    /// Default 200.
    pub fn http2_max_concurrent_streams(mut self, max: u32) -> Self {
        self.builder_mut().http2().max_concurrent_streams(max);
        self
    }

    /// How often an HTTP/2 connection pings its client, idle or not, to find clients that
    /// have gone silent; default 20 s. A ping not answered within
    /// [`http2_keep_alive_timeout`](Self::http2_keep_alive_timeout) (default 20 s) closes
    /// the connection, which counts in `Metrics::rejected` if no request came on it.
    ///
    /// This is HTTP/2's only deadline after the preface. `None` never pings: then a client
    /// that sends the preface and nothing more holds its connection, and a
    /// `max_connections` slot, until a drain's deadline, unless a layer in front of `Http`
    /// bounds it (see the [module docs](super#settings)). The pings find silent clients
    /// only: a client that answers them holds an idle HTTP/2 connection as long as it
    /// likes.
    pub fn http2_keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.builder_mut().http2().keep_alive_interval(interval);
        self
    }

    /// How long an HTTP/2 keep-alive ping waits for its answer. Default 20 s (hyper's). Has
    /// no effect when [`http2_keep_alive_interval`](Self::http2_keep_alive_interval) is
    /// `None`.
    pub fn http2_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.builder_mut().http2().keep_alive_timeout(timeout);
        self
    }

    /// The largest header list an HTTP/2 request may carry, in bytes (as HTTP/2 counts them:
    /// names, values and 32 bytes per header). Default 16 KiB.
    pub fn http2_max_header_list_size(mut self, max: u32) -> Self {
        self.builder_mut().http2().max_header_list_size(max);
        self
    }

    /// Any other setting of hyper-util's connection builder (vectored writes, HTTP/2 window
    /// sizes, frame sizes, ...): `configure` calls `f` with it once, now.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tcp_serve::http::hyper::{body::Incoming, Request, Response};
    /// use tcp_serve::http::Http;
    ///
    /// let hello = tower::service_fn(|_request: Request<Incoming>| async {
    ///     Ok::<_, Infallible>(Response::new("hello".to_owned()))
    /// });
    /// let http = Http::new(hello).configure(|builder| {
    ///     builder.http1().writev(false);
    ///     builder.http2().max_frame_size(64 * 1024).adaptive_window(true);
    /// });
    /// # let _ = http;
    /// ```
    ///
    /// Set the header read timeout with [`header_read_timeout`](Self::header_read_timeout),
    /// not here: the adapter applies it before hyper sees the connection too.
    pub fn configure(mut self, f: impl FnOnce(&mut auto::Builder<ConnectionExecutor>)) -> Self {
        f(self.builder_mut());
        self
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.service
    }

    fn builder_mut(&mut self) -> &mut auto::Builder<ConnectionExecutor> {
        // Settings are made before serving, while no connection shares the builder; a clone
        // of this `Http` that is configured afterwards gets a copy of its own.
        Arc::make_mut(&mut self.builder)
    }
}

impl<S: fmt::Debug> fmt::Debug for Http<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("service", &self.service)
            .field("header_read_timeout", &self.header_read_timeout)
            .finish_non_exhaustive()
    }
}

impl<S, B, A, Io> Service<(A, Io)> for Http<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    A: Clone + Send + Sync + 'static,
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    /// Always ready: your service is made ready for each HTTP request instead, on a clone.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (peer, io): (A, Io)) -> Self::Future {
        Box::pin(connection::serve(
            self.service.clone(),
            peer,
            io,
            Arc::clone(&self.builder),
            self.header_read_timeout,
            // Taken here, in `call`, where the server calling the stack is current.
            Dispatch::current(),
        ))
    }
}
