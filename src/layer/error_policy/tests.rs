use std::sync::{Arc, Mutex};

use tokio_test::{assert_pending, assert_ready, assert_ready_ok};
use tower::{service_fn, Layer, Service};
use tower_test::mock;

use super::{ErrorPolicyLayer, OnHandlerError};
use crate::error::{BoxError, PeerError};

/// What a `Call` policy was told: `(peer, error message, sockets still open)`.
type Reports = Arc<Mutex<Vec<(u16, String, usize)>>>;

/// A `Call` policy that also notes how many references to `socket` were alive when it ran.
fn calling(reports: &Reports, socket: &Arc<()>) -> OnHandlerError<u16> {
    let (reports, socket) = (Arc::clone(reports), Arc::downgrade(socket));
    OnHandlerError::call(move |peer, error| {
        let open = socket.strong_count();
        reports.lock().unwrap().push((*peer, error.to_string(), open));
    })
}

#[tokio::test]
async fn a_failed_handler_is_reported_with_its_peer_after_its_socket_is_closed() {
    let (reports, socket) = (Reports::default(), Arc::new(()));
    let layer = ErrorPolicyLayer::new(calling(&reports, &socket));
    let (mut service, mut handle) = mock::spawn_layer::<(u16, Arc<()>), (), _>(layer.clone());

    assert_ready_ok!(service.poll_ready());
    let mut connection = tokio_test::task::spawn(service.call((7, Arc::clone(&socket))));
    let (request, reply) = handle.next_request().await.expect("the handler is called");
    assert_pending!(connection.poll());
    drop(request);
    reply.send_error("boom");
    assert_ready_ok!(connection.poll(), "Call keeps serving: the future does not fail");
    assert_eq!(*reports.lock().unwrap(), vec![(7, "boom".to_owned(), 1)]);
    assert_eq!(layer.failures(), 1);
}

#[tokio::test]
async fn the_socket_is_closed_before_the_policy_runs_when_the_handler_holds_it() {
    let (reports, socket) = (Reports::default(), Arc::new(()));
    let mut service = ErrorPolicyLayer::new(calling(&reports, &socket)).layer(service_fn(
        |(_peer, socket): (u16, Arc<()>)| async move {
            let _held_until_the_handler_is_dropped = socket;
            Err::<(), _>("nope")
        },
    ));
    let mut connection = tokio_test::task::spawn(service.call((3, Arc::clone(&socket))));
    assert_ready_ok!(connection.poll());
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].2, 1, "only the test's own reference was left: {reports:?}");
}

#[tokio::test]
async fn raise_ends_the_future_with_the_error_and_ignore_and_log_do_not() {
    for (on_error, raises) in [
        (OnHandlerError::Raise, true),
        (OnHandlerError::Ignore, false),
        (OnHandlerError::Log, false),
    ] {
        let layer = ErrorPolicyLayer::new(on_error);
        let mut service = layer.layer(service_fn(|_: (u16, ())| async { Err::<(), _>("nope") }));
        let mut connection = tokio_test::task::spawn(service.call((9, ())));
        let ended = assert_ready!(connection.poll());
        if let Err(raised) = &ended {
            let raised = raised.downcast_ref::<PeerError<u16>>().expect("raised with its peer");
            assert_eq!(*raised.peer(), 9);
        }
        assert_eq!(
            ended.map_err(|e| e.to_string()),
            if raises { Err("nope".into()) } else { Ok(()) }
        );
        assert_eq!(layer.failures(), 1);
    }
}

#[tokio::test]
async fn panics_in_call_and_in_the_future_become_errors() {
    let (reports, socket) = (Reports::default(), Arc::new(()));
    let layer = ErrorPolicyLayer::new(calling(&reports, &socket));
    let mut in_call =
        layer.layer(service_fn(|_: (u16, ())| -> std::future::Ready<Result<(), BoxError>> {
            panic!("in call")
        }));
    assert_ready_ok!(tokio_test::task::spawn(in_call.call((1, ()))).poll());
    let mut in_future = layer.layer(service_fn(|_: (u16, ())| async {
        panic!("in the future");
        #[allow(unreachable_code)]
        Ok::<(), BoxError>(())
    }));
    assert_ready_ok!(tokio_test::task::spawn(in_future.call((2, ()))).poll());

    let reports = reports.lock().unwrap();
    assert_eq!(reports[0].0, 1);
    assert!(reports[0].1.contains("in call"), "{reports:?}");
    assert_eq!(reports[1].0, 2);
    assert!(reports[1].1.contains("in the future"), "{reports:?}");
}

#[tokio::test]
async fn a_panicking_callback_raises_the_handlers_error() {
    let layer = ErrorPolicyLayer::new(OnHandlerError::call(|_, _| panic!("callback")));
    let mut service = layer.layer(service_fn(|_: (u16, ())| async { Err::<(), _>("first") }));
    let ended = assert_ready!(tokio_test::task::spawn(service.call((3, ()))).poll());
    assert_eq!(ended.map_err(|e| e.to_string()), Err("first".to_owned()));
}
