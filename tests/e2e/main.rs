//! The end-to-end tests: servers on real sockets (127.0.0.1:0 and temporary Unix paths),
//! driven as clients drive them, and the examples run as processes against real clients
//! (socat, curl, openssl). One test binary, a module per subject.

#[path = "../common/mod.rs"]
mod common;

mod accept_errors;
mod axum_example;
mod balanced;
mod buffered;
mod close;
mod custom_stack_example;
mod drop_incoming;
mod echo_example;
mod handlers;
mod http;
mod hyper_example;
mod introspection;
mod kv_example;
mod limits;
mod listen;
mod listeners;
mod metrics;
mod middleware_example;
mod pause;
mod proxy;
mod restart;
mod second_pass;
mod signals;
mod systemd;
mod termination;
mod timeouts;
mod tls_example;
mod tls_layer;
mod tower_layers;
mod tracing_events;
