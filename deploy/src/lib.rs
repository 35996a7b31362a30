//! The `sixfold` launcher and the deployment files under `deploy/`.
//!
//! - [`layout`]: which processes a local cluster has, their ports, zones,
//!   data directories and command lines (pure, tested without processes).
//! - [`up`]: `sixfold up`: certificates, child processes, their logs with a
//!   prefix, the endpoint table, and a clean stop on Ctrl-C or SIGTERM.
//! - [`status`]: `sixfold status`: roles, LSNs and lag of a running
//!   cluster, and who holds the lease.
//! - [`failover`]: `sixfold failover`: a planned handover of the writer's role.
//! - [`snapshot`]: `sixfold snapshot now | list | verify`: off-box snapshots
//!   into a directory or S3.

pub mod failover;
pub mod layout;
pub mod snapshot;
pub mod status;
pub mod up;
