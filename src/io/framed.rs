//! Services that speak in frames: a [`tokio_util::codec`] codec turns the byte stream into
//! a `Stream` of requests and a `Sink` of responses.

use std::task::{Context, Poll};

use tokio_util::codec::Framed;
use tower::{Layer, Service};

use super::{AgeLimited, BufferAgeLimit};

/// What the service behind a [`FramingLayer`] is called with: the peer, and the
/// connection's stream `S` framed by the codec `C`, its writes under a [`BufferAgeLimit`].
pub type FramedConnection<A, S, C> = (A, Framed<AgeLimited<S>, C>);

/// Hands each connection to the wrapped service framed by a clone of `codec`.
///
/// Line- and length-delimited protocols are what most TCP servers speak;
/// `tokio_util::codec::{LinesCodec, LengthDelimitedCodec}` or a codec of your own do the
/// framing, and the service reads requests with `StreamExt::next` and answers with
/// `SinkExt::send` (from the `futures` crate). See `examples/kv.rs`.
///
/// ```
/// use tcp_serve::io::FramingLayer;
/// use tcp_serve::{Serve, WhereToListen};
/// use tokio_util::codec::LinesCodec;
///
/// let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .layer(FramingLayer::new(LinesCodec::new_with_max_length(1024)));
/// # let _ = serve;
/// ```
#[derive(Clone, Debug)]
pub struct FramingLayer<C> {
    codec: C,
    age_limit: BufferAgeLimit,
}

impl<C> FramingLayer<C> {
    /// Frames each connection with `codec`, with the default [`BufferAgeLimit`] (2 min).
    pub fn new(codec: C) -> Self {
        FramingLayer { codec, age_limit: BufferAgeLimit::default() }
    }

    /// How long written frames may wait for a peer that is not reading.
    pub fn buffer_age_limit(mut self, limit: BufferAgeLimit) -> Self {
        self.age_limit = limit;
        self
    }
}

impl<S, C: Clone> Layer<S> for FramingLayer<C> {
    type Service = Framing<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Framing { inner, codec: self.codec.clone(), age_limit: self.age_limit }
    }
}

/// The service of a [`FramingLayer`].
#[derive(Clone, Debug)]
pub struct Framing<S, C> {
    inner: S,
    codec: C,
    age_limit: BufferAgeLimit,
}

impl<S, C> Framing<S, C> {
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

impl<S, C, A, Io> Service<(A, Io)> for Framing<S, C>
where
    S: Service<FramedConnection<A, Io, C>>,
    C: Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, (peer, stream): (A, Io)) -> Self::Future {
        let stream = AgeLimited::new(stream, self.age_limit);
        self.inner.call((peer, Framed::new(stream, self.codec.clone())))
    }
}
