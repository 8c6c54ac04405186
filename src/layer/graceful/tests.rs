use std::convert::Infallible;
use std::sync::Arc;

use tokio_test::{assert_pending, assert_ready, assert_ready_ok};
use tower::{service_fn, Layer, Service};
use tower_test::mock;

use super::{Graceful, GracefulLayer};

#[tokio::test]
async fn counts_a_connection_until_its_handler_ends() {
    let graceful = Graceful::new();
    let (mut service, mut handle) = mock::spawn_layer::<(), (), _>(graceful.layer());

    assert_ready_ok!(service.poll_ready());
    let mut connection = tokio_test::task::spawn(service.call(()));
    assert_eq!(graceful.count(), 1);
    let (_, reply) = handle.next_request().await.expect("the handler is called");
    assert_pending!(connection.poll());
    reply.send_response(());
    assert_ready_ok!(connection.poll());
    drop(connection);
    assert_eq!(graceful.count(), 0);
}

#[tokio::test]
async fn closing_all_drops_live_handlers_and_so_their_sockets() {
    let graceful = Graceful::new();
    // A handler that holds its "socket" and never ends by itself.
    let mut service =
        GracefulLayer::new(graceful.clone()).layer(service_fn(|socket: Arc<()>| async move {
            std::future::pending::<()>().await;
            drop(socket);
            Ok::<_, Infallible>(())
        }));
    let socket = Arc::new(());
    let mut connection = tokio_test::task::spawn(service.call(Arc::clone(&socket)));
    assert_pending!(connection.poll());
    assert_eq!((Arc::strong_count(&socket), graceful.count()), (2, 1));

    graceful.close_all();
    assert!(connection.is_woken(), "closing wakes the connection");
    assert_ready_ok!(connection.poll());
    assert_eq!(Arc::strong_count(&socket), 1, "the handler and its socket are gone on return");
    assert_eq!(graceful.count(), 0);
    graceful.stop_counting_new();
    assert_ready!(tokio_test::task::spawn(graceful.finished()).poll());
}

#[tokio::test]
async fn a_drain_wakes_the_signal_and_leaves_handlers_running() {
    let graceful = Graceful::new();
    let (mut service, mut handle) = mock::spawn_layer::<(), (), _>(graceful.layer());
    let mut signal = graceful.signal();
    assert_ready_ok!(service.poll_ready());
    let mut connection = tokio_test::task::spawn(service.call(()));
    let (_, reply) = handle.next_request().await.expect("the handler is called");
    assert_pending!(connection.poll());
    let mut watching = tokio_test::task::spawn(signal.requested());
    assert_pending!(watching.poll());

    graceful.drain();
    assert!(watching.is_woken());
    assert_ready!(watching.poll());
    assert_pending!(connection.poll(), "a drain does not end a connection by itself");
    reply.send_response(());
    assert_ready_ok!(connection.poll());
}
