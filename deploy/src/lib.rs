//! The `sixfold` launcher and the deployment files under `deploy/`.
//!
//! - [`layout`]: which processes a local cluster has, their ports, zones,
//!   data directories and command lines (pure, tested without processes).
//! - [`up`]: `sixfold up`: certificates, child processes, their logs with a
//!   prefix, the endpoint table, and a clean stop on Ctrl-C or SIGTERM.
//! - [`status`]: `sixfold status`: roles, LSNs and lag of a running
//!   cluster, and who holds the lease.
//! - [`failover`]: `sixfold failover`: a planned handover of the writer's role.

pub mod failover;
pub mod layout;
pub mod status;
pub mod up;
