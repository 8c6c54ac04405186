use std::sync::Arc;

use tokio_test::{assert_pending, assert_ready, assert_ready_ok};
use tokio_util::task::TaskTracker;
use tower_test::mock;

use super::{CloseAll, TrackLayer};

#[tokio::test]
async fn counts_a_connection_until_its_handler_ends() {
    let tracker = TaskTracker::new();
    let (mut service, mut handle) =
        mock::spawn_layer::<(), (), _>(TrackLayer::new(tracker.clone(), CloseAll::new()));

    assert_ready_ok!(service.poll_ready());
    let mut connection = tokio_test::task::spawn(service.call(()));
    assert_eq!(tracker.len(), 1);
    let (_, reply) = handle.next_request().await.expect("the handler is called");
    assert_pending!(connection.poll());
    reply.send_response(());
    assert_ready_ok!(connection.poll());
    drop(connection);
    assert_eq!(tracker.len(), 0);
}

#[tokio::test]
async fn closing_all_ends_live_handlers_and_drops_them() {
    let tracker = TaskTracker::new();
    let close_all = CloseAll::new();
    let (mut service, mut handle) =
        mock::spawn_layer::<Arc<()>, (), _>(TrackLayer::new(tracker.clone(), close_all.clone()));
    let socket = Arc::new(());

    assert_ready_ok!(service.poll_ready());
    let mut connection = tokio_test::task::spawn(service.call(Arc::clone(&socket)));
    let (request, _reply) = handle.next_request().await.expect("the handler is called");
    assert_pending!(connection.poll());

    close_all.close();
    assert!(connection.is_woken(), "closing wakes the connection");
    assert_ready_ok!(connection.poll());
    drop(connection);
    drop(request);
    assert_eq!(tracker.len(), 0);
    tracker.close();
    assert_ready!(tokio_test::task::spawn(tracker.wait()).poll());
}
