//! The future of [`ErrorPolicy`](super::ErrorPolicy).

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project::pin_project;

use super::policy::Policy;
use crate::error::{BoxError, HandlerPanicked};

/// Runs a connection's handler and hands its error or panic to the policy. Fails only with
/// an error the policy raises.
#[pin_project]
pub struct ResponseFuture<F, A> {
    #[pin]
    state: State<F>,
    // The peer the policy is told about.
    peer: A,
    policy: Arc<Policy<A>>,
}

#[pin_project(project = StateProj)]
enum State<F> {
    Running(#[pin] F),
    // `call` itself panicked; the error waits here for the first poll.
    Failed(Option<BoxError>),
    Done,
}

impl<F, A> ResponseFuture<F, A> {
    pub(super) fn new(future: Result<F, BoxError>, peer: A, policy: Arc<Policy<A>>) -> Self {
        let state = match future {
            Ok(future) => State::Running(future),
            Err(error) => State::Failed(Some(error)),
        };
        ResponseFuture { state, peer, policy }
    }
}

impl<F, E, A> Future for ResponseFuture<F, A>
where
    F: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
    A: Clone + fmt::Debug + Send + Sync + 'static,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let error = match this.state.as_mut().project() {
            StateProj::Running(future) => {
                match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(()))) => None,
                    Ok(Poll::Ready(Err(error))) => Some(error.into()),
                    Err(payload) => Some(HandlerPanicked::from_payload(payload).into()),
                }
            }
            StateProj::Failed(error) => error.take(),
            StateProj::Done => panic!("ErrorPolicy's future polled after it completed"),
        };
        // Drop the handler before reporting, so its socket is closed and it no longer
        // counts as a connection by the time the policy runs.
        this.state.set(State::Done);
        tracing::debug!("connection closed");
        Poll::Ready(match error {
            Some(error) => this.policy.handle(this.peer, error),
            None => Ok(()),
        })
    }
}

impl<F, A: fmt::Debug> fmt::Debug for ResponseFuture<F, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Running(_) => "running",
            State::Failed(_) => "failed",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture").field("peer", &self.peer).field("state", &state).finish()
    }
}
