//! `Serve::layer` takes any tower layer: tower's own middleware, a `ServiceBuilder`, or a
//! layer of the user's that changes what the service receives.

use crate::common;

use common::*;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use tcp_serve::{service_fn, BoxError, Connection, Inet, OnHandlerError, Serve, WhereToListen};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;
use tower::timeout::TimeoutLayer;
use tower::util::MapRequestLayer;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

/// The `TimeoutLayer`'s limit. It must fire (the tests wait it out), but not before the
/// client's first round trip, nor before the test has seen the connection counted: those
/// take milliseconds on loopback, so 2 s holds on a loaded machine too.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A stream whose reads come out upper-cased; writes pass through.
#[derive(Debug)]
struct UpperCase<T>(T);

impl<T: AsyncRead + Unpin> AsyncRead for UpperCase<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.0).poll_read(cx, buf))?;
        buf.filled_mut()[before..].make_ascii_uppercase();
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for UpperCase<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Our own layer: hands the service an [`UpperCase`] stream instead of the raw one.
#[derive(Clone, Debug)]
struct UpperCaseLayer;

impl<S> Layer<S> for UpperCaseLayer {
    type Service = UpperCaseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UpperCaseService(inner)
    }
}

#[derive(Clone, Debug)]
struct UpperCaseService<S>(S);

impl<S, A, T> Service<(A, T)> for UpperCaseService<S>
where
    S: Service<(A, UpperCase<T>)>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, (peer, stream): (A, T)) -> S::Future {
        self.0.call((peer, UpperCase(stream)))
    }
}

/// A layer that records its name in a shared log each time it is called.
#[derive(Clone, Debug)]
struct RecordLayer {
    name: &'static str,
    log: Arc<Mutex<Vec<&'static str>>>,
}

impl<S> Layer<S> for RecordLayer {
    type Service = Recorded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Recorded { layer: self.clone(), inner }
    }
}

#[derive(Clone, Debug)]
struct Recorded<S> {
    layer: RecordLayer,
    inner: S,
}

impl<S: Service<R>, R> Service<R> for Recorded<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.layer.log.lock().unwrap().push(self.layer.name);
        self.inner.call(request)
    }
}

/// Echoes any stream, whatever layers made of it.
fn echo_any<A, T>() -> impl Service<
    (A, T),
    Response = (),
    Error = io::Error,
    Future = impl Future<Output = io::Result<()>> + Send + 'static,
> + Send
       + 'static
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    service_fn(|(_peer, stream): (A, T)| async move {
        let (mut reader, mut writer) = tokio::io::split(stream);
        tokio::io::copy(&mut reader, &mut writer).await?;
        writer.shutdown().await
    })
}

/// Writes `message` and asserts `reply` comes back.
async fn assert_replies<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    message: &[u8],
    reply: &[u8],
) {
    stream.write_all(message).await.expect("write to the server");
    let mut got = vec![0; reply.len()];
    within("the reply", stream.read_exact(&mut got)).await.expect("read the reply");
    assert_eq!(got, reply, "the server replied other bytes");
}

#[tokio::test]
async fn a_timeout_layer_closes_a_connection_whose_handler_never_finishes() {
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (errors_tx, mut errors) = mpsc::unbounded_channel::<bool>();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .on_handler_error(OnHandlerError::call(move |_peer, error: &BoxError| {
            let _ = errors_tx.send(error.is::<tower::timeout::error::Elapsed>());
        }))
        .layer(TimeoutLayer::new(TIMEOUT))
        .serve(service_fn(move |(_peer, stream): Connection<Inet>| {
            let started_tx = started_tx.clone();
            async move {
                let _held = stream;
                let _ = started_tx.send(());
                std::future::pending::<()>().await;
                Ok::<(), io::Error>(())
            }
        }))
        .await
        .unwrap();

    let connected_at = Instant::now();
    let mut client = connect(&server).await;
    within("the handler to start", started.recv()).await.unwrap();
    assert_eq!(server.num_connections(), 1);
    assert_closed_by_server(&mut client).await;
    let lasted = connected_at.elapsed();
    assert!(lasted >= TIMEOUT, "the connection was closed after {lasted:?}, before the timeout");
    assert!(
        within("the error policy", errors.recv()).await.unwrap(),
        "the error was not the timeout's"
    );
    until_connections(&server, 0).await;
    assert!(!server.is_closed(), "a timed-out handler does not stop the server");
    server.invariant();
    within("close", server.close()).await;
    server.invariant();
}

#[tokio::test]
async fn a_layer_of_our_own_maps_the_stream_the_service_receives() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .layer(UpperCaseLayer)
        .serve(echo_any::<_, UpperCase<tokio::net::TcpStream>>())
        .await
        .unwrap();
    let mut client = connect(&server).await;
    assert_replies(&mut client, b"shout this", b"SHOUT THIS").await;
    assert_replies(&mut client, b"and 42 more!", b"AND 42 MORE!").await;
    server.invariant();
    within("close", server.close()).await;
    server.invariant();
}

/// A whole `ServiceBuilder` is one layer: here a mapping and a timeout, both of which the
/// client sees at work.
#[tokio::test]
async fn service_builder_layers_compose() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .layer(
            ServiceBuilder::new()
                .layer(TimeoutLayer::new(TIMEOUT))
                .layer(MapRequestLayer::new(|(peer, stream)| (peer, UpperCase(stream)))),
        )
        .serve(echo_any::<_, UpperCase<tokio::net::TcpStream>>())
        .await
        .unwrap();
    let mut client = connect(&server).await;
    assert_replies(&mut client, b"quiet words", b"QUIET WORDS").await;
    assert_closed_by_server(&mut client).await;
    until_connections(&server, 0).await;
    server.invariant();
    within("close", server.close()).await;
    server.invariant();
}

#[tokio::test]
async fn the_first_layer_added_is_the_outermost() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let record = |name| RecordLayer { name, log: Arc::clone(&log) };
    let handler_log = Arc::clone(&log);
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .layer(record("first"))
        .layer(record("second"))
        .serve(echo::<Inet>().map_request(move |connection| {
            handler_log.lock().unwrap().push("handler");
            connection
        }))
        .await
        .unwrap();
    let mut client = connect(&server).await;
    assert_echoes(&mut client, b"who saw me first?").await;
    assert_eq!(*log.lock().unwrap(), ["first", "second", "handler"]);
    server.invariant();
    within("close", server.close()).await;
    server.invariant();
}
