//! Integration tests of the feature store: the value encoding, the input
//! tables, and both stores against real `redis-server` processes started on
//! free loopback ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod encoding;
mod redis;
mod tables;
