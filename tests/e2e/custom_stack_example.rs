//! Runs `examples/custom_stack.rs`: a stack built by hand around an `Acceptor`, with
//! `load_shed` outside the limit.

use crate::common;

use common::example::*;
use common::*;
use tokio::net::TcpStream;

#[tokio::test]
async fn custom_stack_example_sheds_a_client_over_the_limit_and_serves_the_rest() {
    let mut example =
        start("custom_stack", &["--listen", "127.0.0.1:0", "--max-connections", "1"], &[]).await;
    let address = example.address.clone();
    let mut first = within("connect", TcpStream::connect(&address)).await.expect("connect");
    assert_echoes(&mut first, b"the one slot").await;

    // Over the limit: accepted and closed at once, not left waiting in the backlog.
    let mut shed = within("connect", TcpStream::connect(&address)).await.expect("connect");
    assert_closed_by_server(&mut shed).await;
    example.stdout_line("overloaded").await;
    assert_echoes(&mut first, b"still served").await;

    drop(first);
    example.stop_with("TERM").await;
}
