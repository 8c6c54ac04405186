//! Guarantee 3: out of file descriptors, the acceptor backs off without spinning a core,
//! keeps the listener open, and serves the waiting clients once descriptors are free.
//!
//! The open-file limit is lowered in a child process only (`ulimit -n`), as in
//! tests/accept_errors.rs; this test adds the CPU measurement and several starved clients.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tcp_serve::{Inet, InetServer, Serve, WhereToListen};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::common::child::{free_fds, is_child, run_child};
use crate::common::*;
use crate::{cpu_ticks, read_to_end_of, Ended};

const CHILD_TEST: &str = "exhaustion::child_out_of_descriptors_the_acceptor_backs_off";
/// The child's open-file limit.
const FD_LIMIT: usize = 96;
/// Clients left waiting in the backlog while the server has no descriptor to accept them.
const STARVED: usize = 6;
/// How long the exhaustion is measured for.
const WINDOW: Duration = Duration::from_secs(1);
/// The most CPU the process may use during the window, as a share of it: a spinning accept
/// loop would use about all of one core (100%).
const MAX_CPU_SHARE: f64 = 0.30;
/// `EMFILE`: the process has no free descriptor.
const EMFILE: i32 = 24;
/// The acceptor's longest pause after `EMFILE` (its back-off doubles from 5 ms to this).
const BACKOFF_CAP: Duration = Duration::from_secs(1);
/// How long, at most, from freeing descriptors to every starved client having its echo:
/// one pause of the back-off, at its cap, and then a second for six accepts and echoes on
/// a loaded machine (they take milliseconds).
const RECOVERY_BOUND: Duration = Duration::from_secs(2);

#[tokio::test]
async fn out_of_descriptors_the_acceptor_backs_off_without_spinning_and_recovers() {
    let ulimit = format!(r#"ulimit -n {FD_LIMIT} && exec "$0" "$@""#);
    run_child(CHILD_TEST, &["sh", "-c", &ulimit]).await;
}

/// Opens served clients (two descriptors each) until exactly `left` descriptors are free.
async fn use_all_fds_but(server: &InetServer, left: usize) -> (Vec<TcpStream>, Vec<File>) {
    let mut clients = Vec::new();
    for _ in 0..FD_LIMIT / 2 {
        if free_fds(FD_LIMIT) < left + 2 {
            break;
        }
        let mut client = connect(server).await;
        assert_echoes(&mut client, b"served").await;
        clients.push(client);
    }
    let mut fillers = Vec::new();
    while free_fds(FD_LIMIT) > left && fillers.len() < 2 {
        fillers.push(File::open("/dev/null").expect("open /dev/null"));
    }
    assert_eq!(free_fds(FD_LIMIT), left, "{left} descriptors left");
    (clients, fillers)
}

#[tokio::test]
async fn child_out_of_descriptors_the_acceptor_backs_off() {
    if !is_child(CHILD_TEST) {
        return; // run by the parent test, under a low open-file limit
    }
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_accepts_per_batch(4)
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let proc_stat = File::open("/proc/self/stat").expect("open /proc/self/stat");
    // The starved clients' sockets are made first: connecting them takes no descriptor.
    let sockets: Vec<_> = (0..STARVED).map(|_| TcpSocket::new_v4().expect("a socket")).collect();
    let (clients, mut fillers) = use_all_fds_but(&server, 1).await;
    fillers.push(File::open("/dev/null").expect("open /dev/null"));
    let no_file = File::open("/dev/null").err().and_then(|e| e.raw_os_error());
    assert_eq!(no_file, Some(EMFILE), "no descriptor left");
    let served = clients.len();

    // The starved clients connect: the kernel completes their handshakes, but every accept
    // fails with EMFILE.
    let port = server.listening_on();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut starved = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let mut client = within("connect", socket.connect(addr)).await.expect("connect");
        let message = format!("starved client {i}").into_bytes();
        client.write_all(&message).await.expect("write to the server");
        client.shutdown().await.expect("half-close");
        starved.push((client, message));
    }
    let no_fd = within("a failed connect", TcpStream::connect(("127.0.0.1", port))).await;
    assert_eq!(no_fd.err().and_then(|e| e.raw_os_error()), Some(EMFILE), "no descriptor left");

    // Measure the CPU the process uses while the server cannot accept (a sampling window:
    // there is no event to await).
    let (cpu_before, at) = (cpu_ticks(&proc_stat), Instant::now());
    tokio::time::sleep(WINDOW).await;
    let (cpu_used, window) = (cpu_ticks(&proc_stat) - cpu_before, at.elapsed());
    let share = cpu_used as f64 / 100.0 / window.as_secs_f64();

    // Nothing accepted them: no byte, no EOF.
    futures::future::join_all(starved.iter_mut().map(|(client, _)| assert_no_reply(client))).await;
    assert!(!server.is_closed(), "an accept error does not close the server");
    assert!(server.listening_socket().is_some(), "the listener stays open");
    assert_eq!(server.num_connections(), served);
    server.invariant();

    // Free the descriptors: every starved client is served, within one pause of the
    // back-off (asserted below, after the figures are printed).
    let freed_at = Instant::now();
    drop((clients, fillers));
    for (client, message) in &mut starved {
        assert_eq!(read_to_end_of(client, message).await, Ended::Echoed);
    }
    let recovered_in = freed_at.elapsed();
    drop(starved);
    let mut fresh = connect(&server).await;
    assert_echoes(&mut fresh, b"served again").await;
    drop(fresh);
    until_connections(&server, 0).await;
    assert!(!server.is_closed());
    server.invariant();

    println!(
        "[child] exhaustion: RLIMIT_NOFILE {FD_LIMIT}, {served} clients served and {STARVED} \
         starved; CPU during {window:?} of exhaustion: {cpu_used} ticks ({:.1}% of one core, \
         limit {:.0}%); all {STARVED} starved clients served {recovered_in:?} after descriptors \
         were freed (back-off cap {BACKOFF_CAP:?}, bound {RECOVERY_BOUND:?})",
        share * 100.0,
        MAX_CPU_SHARE * 100.0
    );
    assert!(
        share < MAX_CPU_SHARE,
        "the process used {:.1}% of a core while out of descriptors: the accept loop spins",
        share * 100.0
    );
    assert!(
        recovered_in <= RECOVERY_BOUND,
        "the starved clients were served {recovered_in:?} after descriptors were freed: more \
         than one back-off pause ({BACKOFF_CAP:?}) and a second"
    );
    within("close", server.close()).await;
}
