//! The variables' rules as a pure function, what each bad value is reported as, what each
//! take of a socket reports, and notifications over a real datagram socket. (The environment
//! itself, and real passed descriptors, are tested end to end in `tests/e2e/systemd.rs`.)

use std::ffi::OsStr;
use std::net::{TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use socket2::Socket;

use super::listen_fds::{ListenFds, Passed};
use super::notify::send;
use super::vars::{parse, Reader, Vars};
use super::AnyListener;
use crate::error::{Endpoint, Error};
use crate::{Inet, Listener};

/// The bound on a `recv` of a datagram already sent: it fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

const US: Reader = Reader { pid: 4242, fd_limit: 1024 };

fn vars<'a>(pid: Option<&'a str>, fds: Option<&'a str>, names: Option<&'a str>) -> Vars<'a> {
    Vars { pid: pid.map(OsStr::new), fds: fds.map(OsStr::new), names: names.map(OsStr::new) }
}

#[test]
fn sockets_passed_to_us_are_named_by_listen_fdnames_or_unknown() {
    let named = parse(vars(Some("4242"), Some("2"), Some("web:admin")), US).unwrap();
    assert_eq!(named, ["web", "admin"]);
    let unnamed = parse(vars(Some("4242"), Some("2"), None), US).unwrap();
    assert_eq!(unnamed, ["unknown", "unknown"]);
    let none = parse(vars(Some("4242"), Some("0"), None), US).unwrap();
    assert!(none.is_empty());
    // An empty value is no names (as systemd splits it), which fits zero sockets.
    assert!(parse(vars(Some("4242"), Some("0"), Some("")), US).unwrap().is_empty());
}

#[test]
fn without_listen_fds_or_listen_pid_no_sockets_were_passed() {
    let error = parse(vars(None, None, None), US).unwrap_err();
    assert!(matches!(error, Error::NoListenFds { missing: "LISTEN_FDS" }), "{error:?}");
    // As sd_listen_fds(3): without LISTEN_PID the sockets are not known to be ours.
    let error = parse(vars(None, Some("1"), None), US).unwrap_err();
    assert!(matches!(error, Error::NoListenFds { missing: "LISTEN_PID" }), "{error:?}");
    assert!(error.to_string().contains("LISTEN_PID is not set"), "{error}");
}

#[test]
fn a_listen_pid_of_another_process_names_both_pids() {
    let error = parse(vars(Some("1"), Some("1"), None), US).unwrap_err();
    assert!(matches!(error, Error::ListenPidMismatch { listen_pid: 1, pid: 4242 }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("process 1,") && message.contains("(4242)"), "{message}");
}

#[test]
fn malformed_values_name_the_variable_and_the_value() {
    for (pid, fds, variable, value) in [
        ("4242", "two", "LISTEN_FDS", "two"),
        ("4242", "", "LISTEN_FDS", ""),
        ("4242", "-1", "LISTEN_FDS", "-1"),
        ("4242", "+1", "LISTEN_FDS", "+1"),
        ("4242", " 1", "LISTEN_FDS", " 1"),
        ("4242", "18446744073709551616", "LISTEN_FDS", "18446744073709551616"),
        ("4242", "18446744073709551615", "LISTEN_FDS", "18446744073709551615"),
        // Descriptors 3..=1024 cannot all be below an open-file limit of 1024.
        ("4242", "1022", "LISTEN_FDS", "1022"),
        ("pid", "1", "LISTEN_PID", "pid"),
        ("-4242", "1", "LISTEN_PID", "-4242"),
    ] {
        let error = parse(vars(Some(pid), Some(fds), None), US).unwrap_err();
        match &error {
            Error::MalformedListenFds { variable: v, value: found, .. } => {
                assert_eq!((*v, found.as_str()), (variable, value), "{error}");
            }
            other => panic!("LISTEN_PID={pid} LISTEN_FDS={fds}: {other:?}"),
        }
        assert!(error.to_string().starts_with(&format!("{variable}={value:?} is not")), "{error}");
    }
    // The largest count that fits: descriptors 3..=1023.
    assert_eq!(parse(vars(Some("4242"), Some("1021"), None), US).unwrap().len(), 1021);
}

#[test]
fn names_that_do_not_match_the_count_are_reported_with_both() {
    for (fds, names, found) in [
        ("1", "a:b", &["a", "b"][..]),
        ("2", "a", &["a"]),
        ("1", "", &[]),
        ("2", "a::", &["a", "", ""]),
    ] {
        let error = parse(vars(Some("4242"), Some(fds), Some(names)), US).unwrap_err();
        match &error {
            Error::ListenFdNamesMismatch { fds: count, names } => {
                assert_eq!(count.to_string(), fds);
                assert_eq!(names, found);
            }
            other => panic!("LISTEN_FDS={fds} LISTEN_FDNAMES={names}: {other:?}"),
        }
        assert!(error.to_string().contains(&format!("LISTEN_FDS passes {fds}")), "{error}");
    }
}

#[test]
fn the_lookup_errors_say_what_there_is() {
    let unknown = Error::UnknownListenFdName {
        name: "web".into(),
        names: vec!["api".into(), "admin".into()],
    };
    assert!(unknown.to_string().contains("the names there are: api, admin"), "{unknown}");
    let none = Error::UnknownListenFdName { name: "web".into(), names: vec![] };
    assert!(none.to_string().contains("passed no sockets at all"), "{none}");
    let range = Error::ListenFdIndexOutOfRange { index: 2, len: 2 };
    assert!(range.to_string().contains("passed 2 sockets, so there is none at index 2"), "{range}");
}

/// What `systemd-socket-activate --accept` passes: a connection, not a listening socket.
/// Returns the client too, to keep the connection open, and the address it was made to.
fn connection(name: &str) -> (Passed, TcpStream, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let client = TcpStream::connect(address).unwrap();
    // The handshake is done, so the connection is queued and `accept` does not wait.
    let (connection, _) = listener.accept().unwrap();
    (Passed { name: name.to_owned(), slot: Ok(Socket::from(connection)) }, client, address)
}

/// What a `.socket` unit passes: a listening socket.
fn listening(name: &str) -> Passed {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    Passed { name: name.to_owned(), slot: Ok(Socket::from(listener)) }
}

#[test]
fn a_socket_that_is_not_listening_is_reported_as_such_on_every_take_not_as_taken() {
    let (web, _client, address) = connection("web");
    let mut fds = ListenFds::from_passed(vec![web, listening("admin")]);

    let first = fds.take::<Listener<Inet>>(0).unwrap_err();
    assert!(
        matches!(&first, Error::NotListening { endpoint } if *endpoint == Endpoint::Inet(address)),
        "{first:?}"
    );
    // The first take closed the connection; a retry, by index or by name and as either
    // type, still says why it was refused.
    let by_index = fds.take::<AnyListener>(0).unwrap_err();
    let by_name = fds.take_named::<Listener<Inet>>("web").unwrap_err();
    for again in [by_index, by_name] {
        assert!(matches!(again, Error::NotListening { .. }), "{again:?}");
        assert_eq!(again.to_string(), first.to_string());
    }

    // A socket handed out is what a second take calls taken.
    let _admin: Listener<Inet> = fds.take_named("admin").unwrap();
    let taken = fds.take::<AnyListener>(1).unwrap_err();
    assert!(matches!(taken, Error::ListenFdTaken { index: 1, .. }), "{taken:?}");
}

#[test]
fn a_refused_socket_does_not_hide_the_next_of_its_name() {
    let (first, _client, _) = connection("web");
    let mut fds = ListenFds::from_passed(vec![first, listening("web")]);
    let refused = fds.take_named::<AnyListener>("web").unwrap_err();
    assert!(matches!(refused, Error::NotListening { .. }), "{refused:?}");
    let AnyListener::Inet(_web) = fds.take_named("web").unwrap() else { panic!("web is TCP") };
    // Each has had its take: the first says why it was refused.
    let again = fds.take_named::<AnyListener>("web").unwrap_err();
    assert!(matches!(again, Error::NotListening { .. }), "{again:?}");
}

#[test]
fn a_notification_reaches_a_socket_by_path_and_by_abstract_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let by_path = UnixDatagram::bind(&path).unwrap();
    by_path.set_read_timeout(Some(WAIT)).unwrap();
    send(path.as_os_str(), b"READY=1\n").unwrap();
    let mut buf = [0; 64];
    let n = by_path.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1\n");

    let name = format!("tcp-serve-unit-{}", std::process::id());
    let by_name =
        UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    by_name.set_read_timeout(Some(WAIT)).unwrap();
    send(OsStr::new(&format!("@{name}")), b"STOPPING=1\n").unwrap();
    let n = by_name.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1\n");
}

#[test]
fn a_notify_socket_that_is_not_a_path_or_an_abstract_name_is_an_error() {
    for address in ["vsock:2:1234", "relative/notify.sock", ""] {
        let error = send(OsStr::new(address), b"READY=1\n").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{address}: {error}");
        assert!(error.to_string().contains("NOTIFY_SOCKET="), "{error}");
    }
    // A path nobody listens on: the OS's error, not a hang.
    let dir = tempfile::tempdir().unwrap();
    let error = send(dir.path().join("nobody").as_os_str(), b"READY=1\n").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
}
