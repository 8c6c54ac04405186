//! The futures a [`Server`](super::Server) hands out to wait on it, one named type each,
//! all made the same way (`wait_future!`): a boxed `async` block behind a type that says
//! what it waits for.

use crate::error::{Error, ServerError};
use crate::shutdown::Drained;

wait_future! {
    /// Resolves when a server's close has finished: its listening socket is closed, and with
    /// `ExistingConnections::Close` every connection's too. See
    /// [`Server::close`](super::Server::close).
    #[must_use = "the close has started; await this to know when it has finished"]
    CloseFinished, ()
}

wait_future! {
    /// Resolves when a server has stopped accepting, with the error if it stopped itself;
    /// what awaiting a [`Server`](super::Server) gives.
    Stopped<A>, Result<(), ServerError<A>>
}

wait_future! {
    /// Resolves once a server is closed and every handler has finished; see
    /// [`Server::handlers_finished`](super::Server::handlers_finished).
    HandlersFinished, ()
}

wait_future! {
    /// Resolves when a drain has ended, saying how; see [`Server::drain`](super::Server::drain).
    /// The drain runs whether or not this is awaited.
    Drain, Drained
}

wait_future! {
    /// Resolves when a server told to drain on signals has drained, saying how, or with the
    /// error that stopped it: what awaiting a
    /// [`DrainOnSignals`](super::DrainOnSignals) gives.
    Terminated<A>, Result<Drained, ServerError<A>>
}

wait_future! {
    /// Resolves once a [`Server::pause`](super::Server::pause) or
    /// [`Server::resume`](super::Server::resume) has taken effect, or with why it could not.
    /// It takes effect whether or not this is awaited.
    PauseChanged, Result<(), Error>
}
