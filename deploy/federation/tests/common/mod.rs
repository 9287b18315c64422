//! Helpers shared by this crate's integration tests.

use std::net::TcpListener;

/// A port that was free a moment ago (the OS picks it), for a process to listen on.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
