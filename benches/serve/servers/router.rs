//! The one axum Router every HTTP contestant serves: `/` answers a short text, `/peer`
//! the client's address from axum's `ConnectInfo` (which each server inserts its own way).

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;

/// What `/` answers.
pub const HELLO: &str = "hello from axum\n";

/// The routes.
pub fn router() -> Router {
    Router::new().route("/", get(|| async { HELLO })).route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("{peer}\n") }),
    )
}
