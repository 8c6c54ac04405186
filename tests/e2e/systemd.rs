//! Socket activation and sd_notify for real, without systemd running: the echo example
//! started by `systemd-socket-activate` (which listens itself and execs the example, in its
//! own process, at the first connection, with the socket as descriptor 3), bad LISTEN_*
//! values handed in by a shell, NOTIFY_SOCKET read by the test with the sender's pid, and
//! the unit files of `examples/systemd/` checked by `systemd-analyze verify`.

use crate::common;

use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::linux::net::SocketAddrExt;
use std::path::{Path, PathBuf};

use common::child::{is_child, run_child, CHILD_ENV};
use common::example::*;
use common::*;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tcp_serve::systemd::{AnyListener, ListenFds};
use tcp_serve::{Error, Inet, Listener, Unix};
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixDatagram, UnixStream};
use tokio::process::Command;

const ACTIVATE: &str = "systemd-socket-activate";
const UNITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/systemd");

/// The shipped unit pair's `FileDescriptorName=` (as `--fdname=`) and the arguments
/// `ExecStart=` gives the example, so the tests run the example as the units would.
fn as_the_units_say() -> (String, Vec<String>) {
    let socket = std::fs::read_to_string(format!("{UNITS}/tcp-serve-echo.socket")).unwrap();
    let service = std::fs::read_to_string(format!("{UNITS}/tcp-serve-echo.service")).unwrap();
    let setting = |unit: &str, key: &str| {
        let line = unit.lines().find_map(|line| line.strip_prefix(key));
        line.unwrap_or_else(|| panic!("the unit sets no {key}")).to_owned()
    };
    let exec_start = setting(&service, "ExecStart=");
    let args = exec_start.split_whitespace().skip(1).map(str::to_owned).collect();
    (format!("--fdname={}", setting(&socket, "FileDescriptorName=")), args)
}

/// The program running as process `pid`: the tool until it execs the example.
fn program_of(pid: u32) -> String {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("read /proc/PID/exe");
    exe.file_name().expect("a program's name").to_string_lossy().into_owned()
}

/// `systemd-socket-activate -l <listen> <tool_args> <echo> <example_args>`, once it listens
/// (the example not started yet); `None` if the tool says something else first.
async fn activate(listen: &str, tool_args: &[&str], example_args: &[&str]) -> Option<Example> {
    let mut command = Command::new(ACTIVATE);
    command.args(["-l", listen]).args(tool_args).arg(example_binary("echo")).args(example_args);
    let mut activator = spawn("echo", command);
    // Its first words: "Listening on ADDR as 3." or why it cannot.
    let first = activator.stderr_line("").await;
    first.starts_with("Listening on").then_some(activator)
}

/// [`activate`] on a free port of 127.0.0.1. The port is free when picked and may be taken
/// before the tool binds it (no port 0 for the tool), so a refusal picks another.
async fn activate_tcp(tool_args: &[&str], example_args: &[&str]) -> (Example, String) {
    for _ in 0..3 {
        let address = format!("127.0.0.1:{}", free_port());
        if let Some(activator) = activate(&address, tool_args, example_args).await {
            return (activator, address);
        }
    }
    panic!("{ACTIVATE} could not listen on three free ports in a row");
}

/// A stand-in for systemd's notification socket: what arrives, and from which process.
struct NotifySocket {
    socket: UnixDatagram,
    /// What NOTIFY_SOCKET is set to: a path, or `@name`.
    address: String,
}

impl NotifySocket {
    fn at_path(path: &Path) -> Self {
        Self::passing_credentials(UnixDatagram::bind(path).unwrap(), path.display().to_string())
    }

    fn at_abstract_name(name: &str) -> Self {
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
        let socket = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        socket.set_nonblocking(true).unwrap();
        Self::passing_credentials(UnixDatagram::from_std(socket).unwrap(), format!("@{name}"))
    }

    fn passing_credentials(socket: UnixDatagram, address: String) -> Self {
        rustix::net::sockopt::set_socket_passcred(&socket, true).unwrap();
        NotifySocket { socket, address }
    }

    /// The next notification and the pid of the process that sent it.
    async fn next(&self) -> (String, u32) {
        within("a notification on NOTIFY_SOCKET", async {
            loop {
                self.socket.readable().await.expect("wait for a notification");
                let mut buf = [0; 4096];
                let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
                let mut control = RecvAncillaryBuffer::new(&mut space);
                let received = self.socket.try_io(Interest::READABLE, || {
                    let mut bufs = [IoSliceMut::new(&mut buf)];
                    rustix::net::recvmsg(&self.socket, &mut bufs, &mut control, RecvFlags::empty())
                        .map_err(io::Error::from)
                });
                let bytes = match received {
                    Ok(message) => message.bytes,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("read a notification: {e}"),
                };
                let pid = control.drain().find_map(|message| match message {
                    RecvAncillaryMessage::ScmCredentials(sender) => Some(sender.pid),
                    _ => None,
                });
                let pid = pid.expect("SO_PASSCRED gives the sender").as_raw_nonzero().get();
                return (String::from_utf8_lossy(&buf[..bytes]).into_owned(), pid as u32);
            }
        })
        .await
    }
}

#[tokio::test]
async fn a_tcp_client_that_connects_before_the_server_starts_is_served_as_the_units_say() {
    if !tool(ACTIVATE, "systemd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let notify = NotifySocket::at_path(&dir.path().join("notify.sock"));
    let (fdname, args) = as_the_units_say();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let setenv = format!("NOTIFY_SOCKET={}", notify.address);
    let (mut server, address) = activate_tcp(&[&fdname, "-E", &setenv], &args).await;
    let pid = server.child.id().expect("running");
    assert_eq!(program_of(pid), ACTIVATE, "nothing has started the example yet");

    // The first client wakes the tool, which execs the example; meanwhile it waits in the
    // kernel's backlog, and is then echoed.
    let mut early = within("connect", TcpStream::connect(&address)).await.expect("connect");
    assert_echoes(&mut early, b"connected before the server started").await;
    server.stdout_line(&format!("echo: listening on {address}")).await;
    assert_eq!(program_of(pid), "echo", "the tool exec'd the example in its own process");
    assert_eq!(notify.next().await, ("READY=1\n".to_owned(), pid));

    if let Some(echoed) = socat(&format!("TCP:{address}"), b"hello from socat\n").await {
        assert_eq!(echoed, b"hello from socat\n");
    }
    assert_echoes(&mut early, b"still served").await;
    server.stop_with("TERM").await;
    assert_closed_by_server(&mut early).await;
    assert_eq!(notify.next().await, ("STOPPING=1\n".to_owned(), pid));
}

#[tokio::test]
async fn a_unix_client_that_connects_before_the_server_starts_is_served() {
    if !tool(ACTIVATE, "systemd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let listen = path.to_str().expect("a UTF-8 path");
    // No name asked for: the example takes the first socket.
    let mut server = activate(listen, &[], &["--systemd"]).await.expect("the tool listens");

    let mut early = within("connect", UnixStream::connect(&path)).await.expect("connect");
    assert_echoes(&mut early, b"connected before the server started").await;
    server.stdout_line(&format!("echo: listening on {listen}")).await;
    if let Some(echoed) = socat(&format!("UNIX-CONNECT:{listen}"), b"hello over unix\n").await {
        assert_eq!(echoed, b"hello over unix\n");
    }
    server.stop_with("TERM").await;
    assert_closed_by_server(&mut early).await;
}

#[tokio::test]
async fn sockets_the_example_cannot_serve_are_reported_and_the_client_is_closed() {
    if !tool(ACTIVATE, "systemd") {
        return;
    }
    let cases: [(&[&str], &[&str], &str); 3] = [
        (
            &["--fdname=web"],
            &["--systemd", "--systemd-name", "echo"],
            "systemd passed no socket named \"echo\"; the names there are: web",
        ),
        // The tool warns about the count, and passes the names anyway.
        (
            &["--fdname=a:b"],
            &["--systemd"],
            "LISTEN_FDNAMES names 2 sockets (a:b) but LISTEN_FDS passes 1",
        ),
        // --accept passes each connection, not the listening socket.
        (&["--accept"], &["--systemd"], "is not listening"),
    ];
    for (tool_args, example_args, error) in cases {
        let (mut activator, address) = activate_tcp(tool_args, example_args).await;
        let connected = within("connect", TcpStream::connect(&address)).await;
        activator.stderr_line(error).await;
        match connected {
            Ok(mut client) => {
                assert_closed_by_server(&mut client).await;
            }
            // Closed before the connect had finished: reset in the handshake's wake.
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
        if !tool_args.contains(&"--accept") {
            let status = activator.exited().await;
            assert_eq!(status.code(), Some(1), "{tool_args:?}: {status}");
        }
    }
}

#[tokio::test]
async fn bad_listen_variables_and_descriptors_are_reported_not_served() {
    // `sh` sets LISTEN_PID to its own pid, which `exec` keeps for the example; the
    // redirection puts a file at descriptor 3, or closes it.
    let cases = [
        (None, "", "", "no sockets were passed to this process (LISTEN_FDS is not set)"),
        (Some("1"), "", "LISTEN_PID=1", "were passed to process 1, not to this one"),
        (Some("two"), "", "", "LISTEN_FDS=\"two\" is not a count of descriptors"),
        (Some("1"), "3</dev/null", "", "descriptor 3 is not a socket"),
        (Some("1"), "3<&-", "", "descriptor 3 is not open"),
    ];
    for (listen_fds, redirect, listen_pid, error) in cases {
        let set_pid = if listen_pid.is_empty() { "LISTEN_PID=$$" } else { listen_pid };
        let script = format!("export {set_pid}; exec \"$0\" --systemd {redirect}");
        let mut command = Command::new("sh");
        command.args(["-c", &script]).arg(example_binary("echo")).env_remove("LISTEN_FDNAMES");
        match listen_fds {
            Some(count) => command.env("LISTEN_FDS", count),
            None => command.env_remove("LISTEN_FDS"),
        };
        let output = command.kill_on_drop(true).output();
        let output = within("the example to fail", output).await.expect("run it");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{script}: {stderr}");
        assert!(stderr.contains(error), "{script}: stderr was {stderr}");
    }
}

const TAKES: &str = "systemd::child_takes_the_passed_sockets_and_clears_the_environment";

#[tokio::test]
async fn passed_sockets_are_taken_by_name_once_and_the_environment_is_cleared() {
    if !tool(ACTIVATE, "systemd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin.sock");
    let web = format!("127.0.0.1:{}", free_port());
    let admin = admin.to_str().unwrap().to_owned();
    let tool_args = format!(
        "-l {web} -l {admin} --fdname=web:admin -E {CHILD_ENV} -E PATH \
         -E EXPECT_WEB={web} -E EXPECT_ADMIN={admin}"
    );
    let wrapper: Vec<&str> = std::iter::once(ACTIVATE).chain(tool_args.split(' ')).collect();
    // The tool execs the child test at the first connection. Its "Listening on" goes to
    // the child's captured output, so knock (bounded) until it listens, and keep the
    // knocking client open until the child is done.
    let knock = within("the tool to listen", async {
        loop {
            match UnixStream::connect(&admin).await {
                Ok(client) => return client,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    });
    let (stdout, _knock) = tokio::join!(run_child(TAKES, &wrapper), knock);
    assert!(stdout.contains("[child] taken: web, admin"), "{stdout}");
}

/// Run only as a child of the test above, as the program systemd-socket-activate started.
#[test]
fn child_takes_the_passed_sockets_and_clears_the_environment() {
    if !is_child(TAKES) {
        return;
    }
    let mut fds = ListenFds::from_env().expect("the sockets systemd-socket-activate passed");
    assert_eq!(fds.names().collect::<Vec<_>>(), ["web", "admin"]);
    assert_eq!(fds.len(), 2);

    // Gone from our environment, so from every child's.
    for variable in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        assert_eq!(std::env::var_os(variable), None, "{variable} is still set");
    }
    let env = std::process::Command::new("env").output().expect("run env");
    let env = String::from_utf8_lossy(&env.stdout);
    assert!(!env.contains("LISTEN_"), "a child process still sees: {env}");
    assert!(env.contains(CHILD_ENV), "env printed the environment: {env}");
    let again = ListenFds::from_env().unwrap_err();
    assert!(matches!(again, Error::NoListenFds { missing: "LISTEN_FDS" }), "{again:?}");

    // A wrong guess of the family leaves the socket for the right one.
    let wrong = fds.take_named::<Listener<Unix>>("web").unwrap_err();
    assert!(matches!(wrong, Error::WrongFamily { .. }), "{wrong:?}");
    let web: Listener<Inet> = fds.take_named("web").expect("web, as TCP");
    assert_eq!(web.endpoint().to_string(), std::env::var("EXPECT_WEB").unwrap());
    // Blocking when passed; tokio needs non-blocking, and children must not inherit it.
    let flags = std::fs::read_to_string("/proc/self/fdinfo/3").unwrap();
    let flags = flags.lines().find_map(|line| line.strip_prefix("flags:")).unwrap().trim();
    let flags = u32::from_str_radix(flags, 8).unwrap();
    assert_ne!(flags & 0o4000, 0, "O_NONBLOCK is set");
    assert_ne!(flags & 0o2000000, 0, "O_CLOEXEC is set");

    let taken = fds.take::<Listener<Inet>>(0).unwrap_err();
    assert!(matches!(taken, Error::ListenFdTaken { index: 0, .. }), "{taken:?}");
    let AnyListener::Unix(admin) = fds.take(1).expect("admin") else { panic!("admin is Unix") };
    assert_eq!(admin.endpoint().to_string(), std::env::var("EXPECT_ADMIN").unwrap());
    let beyond = fds.take::<AnyListener>(2).unwrap_err();
    assert!(matches!(beyond, Error::ListenFdIndexOutOfRange { index: 2, len: 2 }), "{beyond:?}");
    let unknown = fds.take_named::<AnyListener>("api").unwrap_err();
    assert!(unknown.to_string().contains("the names there are: web, admin"), "{unknown}");
    println!("[child] taken: web, admin");
}

#[tokio::test]
async fn the_example_tells_an_abstract_notify_socket_ready_then_stopping() {
    let name = format!("tcp-serve-e2e-notify-{}", std::process::id());
    let notify = NotifySocket::at_abstract_name(&name);
    let env = [("NOTIFY_SOCKET", notify.address.as_str())];
    let server = start("echo", &["--listen", "127.0.0.1:0"], &env).await;
    let pid = server.child.id().expect("running");
    assert_eq!(notify.next().await, ("READY=1\n".to_owned(), pid));
    server.stop_with("TERM").await;
    assert_eq!(notify.next().await, ("STOPPING=1\n".to_owned(), pid));
}

#[tokio::test]
async fn the_unit_files_pass_systemd_analyze_verify() {
    if !tool("systemd-analyze", "systemd") {
        return;
    }
    // ExecStart= must name a program that exists: the built example stands in for the
    // installed one.
    let dir = tempfile::tempdir().unwrap();
    let mut units: Vec<PathBuf> = Vec::new();
    for unit in ["tcp-serve-echo.socket", "tcp-serve-echo.service"] {
        let text = std::fs::read_to_string(format!("{UNITS}/{unit}")).unwrap();
        let installed = "/usr/local/bin/tcp-serve-echo";
        let text = text.replace(installed, example_binary("echo").to_str().unwrap());
        std::fs::write(dir.path().join(unit), text).unwrap();
        units.push(dir.path().join(unit));
    }
    let output = within(
        "systemd-analyze verify",
        Command::new("systemd-analyze").arg("verify").args(&units).kill_on_drop(true).output(),
    )
    .await
    .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // It exits 0 on unknown keys and bad values, and warns: both must be quiet.
    assert!(output.status.success() && stderr.trim().is_empty(), "{}: {stderr}", output.status);
}
