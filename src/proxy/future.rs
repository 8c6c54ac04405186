//! The future of [`ProxyProtocol`](super::ProxyProtocol): the header under its deadline,
//! then the wrapped service.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Sleep;
use tower::Service;

use super::header::{self, Parsed, MAX_HEADER_LEN};
use super::layer::Header;
use super::stream::ProxiedStream;
use super::trust::PeerAddr;
use crate::dispatch::Dispatch;
use crate::error::{BoxError, PeerError};

/// The first read's buffer: a header from a balancer (at most a few hundred bytes) and
/// what follows it in the same segment fit; a larger v2 header grows it.
const FIRST_READ: usize = 512;

/// Reads a connection's PROXY header, then runs the wrapped service's future for it. Ends
/// with `Ok` when the connection is closed for its header, and with the service's error,
/// in a [`PeerError`] naming the client when the header named one, when the service fails.
#[pin_project]
pub struct ResponseFuture<S, A, Io>
where
    S: Service<(A, ProxiedStream<Io>)>,
{
    #[pin]
    state: State<S, S::Future, A, Io>,
}

#[pin_project(project = StateProj)]
enum State<S, F, A, Io> {
    Reading {
        // Taken when the header is in (or is not coming).
        reading: Option<Reading<S, A, Io>>,
        #[pin]
        deadline: Sleep,
    },
    Serving {
        #[pin]
        future: F,
        // The client the service was called with in the peer's place, for its error.
        client: Option<A>,
    },
    Done,
}

impl<S, A, Io> ResponseFuture<S, A, Io>
where
    S: Service<(A, ProxiedStream<Io>)>,
{
    pub(super) fn reading(reading: Reading<S, A, Io>, timeout: Duration) -> Self {
        let deadline = tokio::time::sleep(timeout);
        ResponseFuture { state: State::Reading { reading: Some(reading), deadline } }
    }

    pub(super) fn serving(future: S::Future, client: Option<A>) -> Self {
        ResponseFuture { state: State::Serving { future, client } }
    }

    pub(super) fn closed() -> Self {
        ResponseFuture { state: State::Done }
    }
}

impl<S, A, Io> Future for ResponseFuture<S, A, Io>
where
    S: Service<(A, ProxiedStream<Io>), Response = ()>,
    S::Error: Into<BoxError>,
    A: PeerAddr,
    Io: AsyncRead + Unpin,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Reading { reading, deadline } => {
                    let read = reading.as_mut().expect("the header is read once");
                    let outcome = match read.poll_header(cx) {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending => {
                            ready!(deadline.poll(cx));
                            Outcome::TimedOut
                        }
                    };
                    let read = reading.take().expect("the header is read once");
                    match read.finish(outcome) {
                        Some((future, client)) => state.set(State::Serving { future, client }),
                        None => {
                            state.set(State::Done);
                            return Poll::Ready(Ok(()));
                        }
                    }
                }
                StateProj::Serving { future, client } => {
                    let result = ready!(future.poll(cx)).map_err(|error| {
                        let error = error.into();
                        match client.take() {
                            Some(client) => Box::new(PeerError::new(client, error)) as BoxError,
                            None => error,
                        }
                    });
                    state.set(State::Done);
                    return Poll::Ready(result);
                }
                // Also a connection refused in `call`: closed, with nothing to report.
                StateProj::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<S, A, Io> fmt::Debug for ResponseFuture<S, A, Io>
where
    S: Service<(A, ProxiedStream<Io>)>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Reading { .. } => "reading the header",
            State::Serving { .. } => "serving",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish()
    }
}

/// How reading the header ended.
enum Outcome {
    /// The bytes so far decided it.
    Parsed(Parsed),
    /// The peer closed its side first.
    Eof,
    /// Reading failed (a reset, say).
    Failed(io::Error),
    /// The header timeout passed first.
    TimedOut,
}

/// A connection whose header is being read, with what is needed to serve it after.
pub(super) struct Reading<S, A, Io> {
    inner: S,
    peer: A,
    io: Io,
    dispatch: Dispatch,
    header: Header,
    // The bytes read so far are `buf[..filled]`; the rest is room for the next read.
    buf: Vec<u8>,
    filled: usize,
}

impl<S, A, Io> Reading<S, A, Io> {
    pub(super) fn new(inner: S, peer: A, io: Io, dispatch: Dispatch, header: Header) -> Self {
        Reading { inner, peer, io, dispatch, header, buf: Vec::new(), filled: 0 }
    }
}

impl<S, A, Io> Reading<S, A, Io>
where
    S: Service<(A, ProxiedStream<Io>)>,
    A: PeerAddr,
    Io: AsyncRead + Unpin,
{
    /// Reads until the bytes say what they are, the peer closes, or reading fails.
    fn poll_header(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        loop {
            match header::parse(&self.buf[..self.filled]) {
                Parsed::MaybeHeader | Parsed::Incomplete => {}
                decided => return Poll::Ready(Outcome::Parsed(decided)),
            }
            if self.filled == self.buf.len() {
                // Never past the cap: a header that long is invalid before it fills it.
                let len = (self.buf.len() * 2).clamp(FIRST_READ, MAX_HEADER_LEN);
                self.buf.resize(len, 0);
            }
            let mut room = ReadBuf::new(&mut self.buf[self.filled..]);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut room)) {
                Ok(()) if room.filled().is_empty() => return Poll::Ready(Outcome::Eof),
                Ok(()) => self.filled += room.filled().len(),
                Err(error) => return Poll::Ready(Outcome::Failed(error)),
            }
        }
    }

    /// Serves the connection as `outcome` says, through the server's dispatch: the
    /// service's future, and the client it was called with in the peer's place. `None`
    /// when the connection is closed instead.
    fn finish(mut self, outcome: Outcome) -> Option<(S::Future, Option<A>)> {
        let peer = &self.peer;
        let parsed = match outcome {
            Outcome::Parsed(parsed) => parsed,
            Outcome::Failed(error) => {
                tracing::debug!(
                    ?peer,
                    error = &error as &dyn std::error::Error,
                    "reading the PROXY header failed; closing"
                );
                return None;
            }
            Outcome::Eof | Outcome::TimedOut => {
                let eof = matches!(outcome, Outcome::Eof);
                match header::parse(&self.buf[..self.filled]) {
                    // A direct client that has not sent enough to tell, or nothing.
                    Parsed::MaybeHeader if self.header == Header::Optional => Parsed::NotAHeader,
                    Parsed::MaybeHeader if eof && self.filled == 0 => {
                        tracing::debug!(?peer, "closed before sending a PROXY header");
                        return None;
                    }
                    _ if eof => Parsed::Invalid("closed before its PROXY header was complete"),
                    _ => Parsed::Invalid("no complete PROXY header within the header timeout"),
                }
            }
        };
        let (header_len, info) = match parsed {
            Parsed::Header(info, len) => (len, Some(info)),
            Parsed::NotAHeader if self.header == Header::Optional => (0, None),
            Parsed::NotAHeader => return self.reject("not a PROXY header"),
            Parsed::Invalid(why) => return self.reject(why),
            Parsed::MaybeHeader | Parsed::Incomplete => unreachable!("parse decided it"),
        };
        let client = info.as_ref().and_then(|info| info.client());
        if let Some(client) = client {
            tracing::Span::current().record("client", tracing::field::debug(&client));
        }
        let replaced = client.and_then(|client| self.peer.replaced_by(client));
        let address = replaced.clone().unwrap_or(self.peer);
        // The bytes after the header belong to the service, in the buffer they came in.
        self.buf.truncate(self.filled);
        self.buf.drain(..header_len);
        if self.buf.is_empty() {
            self.buf = Vec::new();
        }
        let stream = ProxiedStream::new(self.io, self.buf, info);
        let (mut inner, dispatch) = (self.inner, self.dispatch);
        match dispatch.call(|| inner.call((address, stream))) {
            Some(future) => Some((future, replaced)),
            None => {
                tracing::debug!("the server closed while the PROXY header was read; closing");
                None
            }
        }
    }

    /// Closes a connection for its header: logged at DEBUG, counted as rejected.
    fn reject(self, why: &'static str) -> Option<(S::Future, Option<A>)> {
        tracing::debug!(peer = ?self.peer, why, "bad PROXY header; closing");
        self.dispatch.reject();
        None
    }
}
