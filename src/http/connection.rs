use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tower::Service;

use super::executor::ConnectionExecutor;
use super::io::{read_version, Prefixed};
use super::request::{Requests, Shared};
use crate::dispatch::Dispatch;
use crate::error::BoxError;
use crate::layer::graceful::ShutdownSignal;
use crate::timeout::{BelowMinRate, FirstByteTimeout, IdleTimeout, ReadTimeout};

/// Serves HTTP on one connection until the client leaves, the connection fails, or a drain
/// has let the requests in flight finish. `Err` only for a handler error (see [`Ending`]).
///
/// `dispatch` is the server that called the stack: its drain signal, and its count of
/// rejected connections.
pub(super) async fn serve<S, B, A, Io>(
    service: S,
    peer: A,
    mut io: Io,
    builder: Arc<auto::Builder<ConnectionExecutor>>,
    header_read_timeout: Option<Duration>,
    dispatch: Dispatch,
) -> Result<(), BoxError>
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
    let mut drain = dispatch.shutdown_signal();
    let Some(prefix) = first_bytes(&mut io, header_read_timeout, &mut drain, &dispatch).await
    else {
        return Ok(());
    };
    let shared = Arc::new(Shared::default());
    let requests = Requests::new(service, peer, Arc::clone(&shared));
    let io = TokioIo::new(Prefixed::new(prefix, io, Arc::clone(&shared)));
    let served = {
        // With upgrades, so that axum's WebSockets (and any `hyper::upgrade::on`) work.
        let connection = builder.serve_connection_with_upgrades(io, requests);
        tokio::pin!(connection);
        let stop = tokio::select! {
            served = connection.as_mut() => Ok(served),
            () = requested(&mut drain) => Err("a drain began"),
            () = shared.failed.notified() => Err("the service failed"),
        };
        match stop {
            Ok(served) => served,
            Err(why) => {
                tracing::debug!("{why}: finishing the requests in flight, then closing");
                // HTTP/1: the request in flight is answered, then the connection closes;
                // an idle one closes at once. HTTP/2: GOAWAY, and the open streams finish.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
    };
    let result = match Ending::of(served, &shared) {
        Ending::Clean => Ok(()),
        Ending::Rejected(error) => {
            tracing::debug!(error = &*error as &dyn StdError, "the client is to blame; closed");
            dispatch.reject();
            Ok(())
        }
        Ending::ClientGone(error) => {
            tracing::debug!(error = &*error as &dyn StdError, "the connection ended early");
            Ok(())
        }
        Ending::Handler(error) => Err(error),
    };
    // hyper has let go of the socket, unless an upgrade handed it to the service: then the
    // connection lasts (and counts against `max_connections`) until the service drops it.
    shared.until_stream_dropped().await;
    result
}

/// The client's first bytes, enough to tell HTTP/2's preface from HTTP/1; `None` when the
/// connection is to end first: the client left or sent nothing in time (rejected), or a
/// drain began.
async fn first_bytes<Io: AsyncRead + Unpin>(
    io: &mut Io,
    timeout: Option<Duration>,
    drain: &mut Option<ShutdownSignal>,
    dispatch: &Dispatch,
) -> Option<Vec<u8>> {
    let mut prefix = Vec::new();
    let read = tokio::select! {
        biased;
        () = requested(drain) => {
            tracing::debug!("a drain began before the first request; closing");
            return None;
        }
        read = within(timeout, read_version(io, &mut prefix)) => read,
    };
    match read {
        Some(Ok(())) if !prefix.is_empty() => return Some(prefix),
        Some(Ok(())) => tracing::debug!("the client closed the connection without a request"),
        Some(Err(error)) if timed_out_by_a_layer(&error) => {
            tracing::debug!(error = &error as &dyn StdError, "timed out before the first request");
            dispatch.reject();
        }
        Some(Err(error)) => tracing::debug!(
            error = &error as &dyn StdError,
            "the client went away before its first request"
        ),
        None => {
            tracing::debug!(?timeout, "no request within the header read timeout; closing");
            dispatch.reject();
        }
    }
    None
}

/// How a connection ended, and who is to blame.
#[derive(Debug)]
pub(super) enum Ending {
    /// The client closed an idle connection, a drain closed it, or it sat idle between
    /// requests for the header read timeout (or its HTTP/2 client stopped answering pings).
    Clean,
    /// The client sent something that is not HTTP (hyper answered 400), a head too large
    /// (431), or nothing complete before the header read timeout (or, on HTTP/2, stopped
    /// answering pings before its first request), or one of the crate's timeout layers
    /// failed its stream: bad input from the network, counted in `Metrics::rejected`,
    /// never a handler error.
    Rejected(BoxError),
    /// The client reset or closed the connection mid-request, or HTTP/2 failed on the wire:
    /// the network's doing, logged at DEBUG only.
    ClientGone(BoxError),
    /// The user's service (or the body of a response it returned) failed or panicked, or
    /// its response broke HTTP's rules (a status hyper cannot send): the server's error
    /// policy decides.
    Handler(BoxError),
}

impl Ending {
    pub(super) fn of(served: Result<(), BoxError>, shared: &Shared) -> Ending {
        if let Some(error) = shared.take_failure() {
            // A service that passes on a body's read error with `?` fails because of the
            // client when a timeout layer failed that read.
            return if timed_out_by_a_layer(&*error) {
                Ending::Rejected(error)
            } else {
                Ending::Handler(error)
            };
        }
        match served {
            Ok(()) => Ending::Clean,
            Err(error) => classify(error, shared.served()),
        }
    }
}

/// Whose fault the error that ended a connection is; `served` says whether the connection
/// passed a request to the service.
fn classify(error: BoxError, served: bool) -> Ending {
    if timed_out_by_a_layer(&*error) {
        return Ending::Rejected(error);
    }
    if let Some(hyper_error) = error.downcast_ref::<hyper::Error>() {
        if hyper_error.is_user() {
            Ending::Handler(error)
        } else if hyper_error.is_parse() {
            Ending::Rejected(error)
        } else if hyper_error.is_timeout() {
            // hyper's header read timeout (or an unanswered HTTP/2 ping) also ends an idle
            // keep-alive connection.
            if served {
                Ending::Clean
            } else {
                Ending::Rejected(error)
            }
        } else {
            // Incomplete messages, I/O errors, HTTP/2 errors, failed body reads.
            Ending::ClientGone(error)
        }
    } else if let Some(io_error) = error.downcast_ref::<io::Error>() {
        // hyper-util's version check, cancelled by a graceful shutdown, says Interrupted.
        if io_error.kind() == io::ErrorKind::Interrupted {
            Ending::Clean
        } else {
            Ending::ClientGone(error)
        }
    } else {
        // Nothing else is known to end a connection; show it rather than hide it.
        Ending::Handler(error)
    }
}

/// Whether `error` comes from one of the crate's stream timeout layers in front of the
/// adapter: a client that held its connection without sending, as the server's limits
/// define it.
fn timed_out_by_a_layer(error: &(dyn StdError + 'static)) -> bool {
    ReadTimeout::find(error).is_some()
        || BelowMinRate::find(error).is_some()
        || FirstByteTimeout::find(error).is_some()
        || IdleTimeout::find(error).is_some()
}

/// Resolves once a drain has begun; never without a server.
async fn requested(signal: &mut Option<ShutdownSignal>) {
    match signal {
        Some(signal) => signal.requested().await,
        None => std::future::pending().await,
    }
}

/// `future`'s output, or `None` if `timeout` passes first.
async fn within<F: std::future::Future>(timeout: Option<Duration>, future: F) -> Option<F::Output> {
    match timeout {
        Some(timeout) => tokio::time::timeout(timeout, future).await.ok(),
        None => Some(future.await),
    }
}
