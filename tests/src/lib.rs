//! The fault-injection harness and its history checker (DESIGN §6, the
//! fault-injection issue). Workloads record histories of operations with
//! their invocation and completion times; the checker decides:
//!
//! - [`register`]: linearizability of per-key register histories (SET/GET
//!   with unique values), a Wing–Gong search with memoization, split per
//!   key, with a step budget that answers "unknown" rather than pass;
//! - [`appends`]: no acknowledged list append or counter increment is lost;
//! - [`replica`]: reads from one replica never go back and only show values
//!   the writer's order contains.
//!
//! The harness that starts clusters and injects faults builds on this;
//! [`failover`] measures failover under load.

pub mod appends;
pub mod cluster;
pub mod failover;
pub mod faults;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod register;
pub mod replica;
pub mod scenario;
pub mod schedule;
pub mod verify;
pub mod workload;
