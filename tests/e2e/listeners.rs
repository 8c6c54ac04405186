//! Serving a socket someone else made listen (`Serve::from_listener`): a `std` listener, a
//! `socket2` socket, an owned descriptor; each is checked, made non-blocking and
//! close-on-exec, or refused with an error that says why.

use crate::common;

use common::*;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use socket2::{Domain, SockAddr, Socket, Type};
use tcp_serve::{Error, Inet, Listener, Serve, Unix};
use tokio::net::{TcpStream, UnixStream};

fn flags(fd: &impl AsFd) -> (bool, bool) {
    let fd = fd.as_fd().as_raw_fd();
    let status = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).expect("fdinfo");
    let flags = status.lines().find_map(|l| l.strip_prefix("flags:")).expect("flags");
    let flags = u32::from_str_radix(flags.trim(), 8).expect("octal flags");
    // O_NONBLOCK and O_CLOEXEC, as /proc shows them.
    (flags & 0o4000 != 0, flags & 0o2000000 != 0)
}

#[tokio::test]
async fn a_blocking_std_tcp_listener_is_made_non_blocking_and_served() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    assert!(!flags(&std_listener).0, "std listeners start blocking");
    let listener = Listener::<Inet>::from_std(std_listener).expect("a listening TCP socket");
    assert_eq!(*listener.local_addr(), addr);
    assert_eq!(flags(&listener), (true, true), "non-blocking and close-on-exec");
    let server = Serve::from_listener(listener).serve(echo::<Inet>()).await.unwrap();
    assert_eq!(server.listening_on(), addr.port());
    assert_eq!(server.backlog(), None, "a socket handed in has the backlog it was given");
    assert_echoes(&mut connect(&server).await, b"served on a socket handed in").await;
    within("close", server.close()).await;
    let refused = TcpStream::connect(addr).await.expect_err("closed");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn a_std_unix_listener_and_an_owned_descriptor_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handed.sock");
    let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let server = Serve::from_listener(Listener::<Unix>::from_std(std_listener).unwrap())
        .serve(echo::<Unix>())
        .await
        .unwrap();
    assert_eq!(server.listening_on(), path);
    let mut client = within("connect", UnixStream::connect(&path)).await.unwrap();
    assert_echoes(&mut client, b"served on a Unix socket handed in").await;

    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SockAddr::from(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap();
    socket.listen(16).unwrap();
    let fd: OwnedFd = socket.into();
    let server = Serve::from_listener(Listener::<Inet>::from_fd(fd).unwrap())
        .serve(echo::<Inet>())
        .await
        .unwrap();
    assert_echoes(&mut connect(&server).await, b"served on a descriptor").await;
}

#[tokio::test]
async fn sockets_that_cannot_be_served_are_refused_with_the_reason() {
    // Bound, not listening.
    let bound = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    bound.bind(&SockAddr::from(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap();
    let error = Listener::<Inet>::from_socket(bound).expect_err("not listening");
    assert!(matches!(error, Error::NotListening { .. }), "{error:?}");
    assert!(error.to_string().contains("listen(2)"), "{error}");

    // A datagram socket.
    let udp: OwnedFd = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().into();
    let error = Listener::<Inet>::from_fd(udp).expect_err("a datagram socket");
    assert!(matches!(error, Error::NotAStreamSocket { .. }), "{error:?}");

    // The other family.
    let dir = tempfile::tempdir().unwrap();
    let unix = std::os::unix::net::UnixListener::bind(dir.path().join("other.sock")).unwrap();
    let error = Listener::<Inet>::from_fd(unix.into()).expect_err("a Unix socket for TCP");
    assert!(matches!(error, Error::WrongFamily { .. }), "{error:?}");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let error = Listener::<Unix>::from_fd(tcp.into()).expect_err("a TCP socket for Unix");
    assert!(matches!(error, Error::WrongFamily { .. }), "{error:?}");

    // Not a socket at all.
    let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let raw = file.as_raw_fd();
    match Listener::<Inet>::from_fd(file) {
        Err(Error::NotASocket { fd }) => assert_eq!(fd, raw),
        other => panic!("expected NotASocket, got {other:?}"),
    }
}
