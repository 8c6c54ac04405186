//! Handlers that speak in frames: a [`tokio_util::codec`] codec turns the byte stream into
//! a `Stream` of requests and a `Sink` of responses.

use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};

use tokio_util::codec::Framed;
use tower::Service;

use super::{AgeLimited, BufferAgeLimit};

/// A service that hands each connection to `handler(peer, framed)`, where `framed` is the
/// connection wrapped in a clone of `codec`, its writes under a [`BufferAgeLimit`].
///
/// Line- and length-delimited protocols are what most TCP servers speak;
/// `tokio_util::codec::{LinesCodec, LengthDelimitedCodec}` or a codec of your own do the
/// framing, and the handler reads requests with `StreamExt::next` and answers with
/// `SinkExt::send` (from the `futures` crate). See `examples/kv.rs`.
#[derive(Clone)]
pub struct Framing<C, H> {
    codec: C,
    handler: H,
    age_limit: BufferAgeLimit,
}

impl<C, H> Framing<C, H> {
    /// Serves each connection with `handler`, framed by `codec`, with the default
    /// [`BufferAgeLimit`] (2 min).
    pub fn new(codec: C, handler: H) -> Self {
        Framing { codec, handler, age_limit: BufferAgeLimit::default() }
    }

    /// How long written frames may wait for a peer that is not reading.
    pub fn buffer_age_limit(mut self, limit: BufferAgeLimit) -> Self {
        self.age_limit = limit;
        self
    }
}

impl<C, H> fmt::Debug for Framing<C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framing").field("age_limit", &self.age_limit).finish_non_exhaustive()
    }
}

impl<C, H, A, S, Fut, E> Service<(A, S)> for Framing<C, H>
where
    C: Clone,
    H: FnMut(A, Framed<AgeLimited<S>, C>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    type Response = ();
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (peer, stream): (A, S)) -> Self::Future {
        let stream = AgeLimited::new(stream, self.age_limit);
        (self.handler)(peer, Framed::new(stream, self.codec.clone()))
    }
}
