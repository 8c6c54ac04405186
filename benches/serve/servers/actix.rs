//! actix-server: one worker, on a listener with actix's default backlog.

use std::net::SocketAddr;

use super::{echo, Control, Started, MAX_CONNECTIONS};
use crate::contestants::Contestant;

/// actix-server's own default backlog, for the listener we hand it.
const ACTIX_BACKLOG: i32 = 2048;

/// Serves until the parent's `close` (`ServerHandle::stop(false)`).
pub(super) fn serve(c: &Contestant, tx: &Started) {
    let buf = c.buf;
    actix_rt::System::new().block_on(async move {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .expect("socket");
        socket.set_reuse_address(true).expect("reuseaddr");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        socket.bind(&any.into()).expect("bind");
        socket.listen(ACTIX_BACKLOG).expect("listen");
        let listener: std::net::TcpListener = socket.into();
        let addr = listener.local_addr().expect("addr");
        let server = actix_server::Server::build()
            .workers(1)
            .max_concurrent_connections(MAX_CONNECTIONS)
            .disable_signals()
            .listen("echo", listener, move || {
                actix_service::fn_service(move |stream: actix_rt::net::TcpStream| echo(stream, buf))
            })
            .expect("listen")
            .run();
        tx.send((addr, Control::Actix(server.handle()))).expect("send");
        let _ = server.await;
    });
}
