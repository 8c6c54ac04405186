//! Handlers over buffered or framed I/O, and `buffer_age_limit`.
//!
//! - [`Buffered`]: Async's `Tcp.Server.create`. The handler gets `(peer, reader, writer)`,
//!   a [`Reader`] (tokio's `BufReader`) and a [`Writer`] whose bytes are flushed in the
//!   background and once more after the handler returns.
//! - [`Framing`]: the handler gets the connection as a `tokio_util::codec::Framed`.
//! - [`AgeLimited`] and [`BufferAgeLimitLayer`]: a stream whose writes fail with
//!   [`BufferAgeLimitExceeded`] once they have waited longer than the [`BufferAgeLimit`],
//!   so a peer that stops reading cannot hold a connection forever. `Buffered` and
//!   `Framing` apply it themselves; the layer brings it to any other service.

mod age_limit;
mod buffered;
mod framed;
mod layer;
mod writer;

pub use self::age_limit::{AgeLimited, BufferAgeLimit, BufferAgeLimitExceeded};
pub use self::buffered::{Buffered, Connection, Reader};
pub use self::framed::Framing;
pub use self::layer::{BufferAgeLimitLayer, BufferAgeLimitService};
pub use self::writer::Writer;
