//! Sixfold's log protocol, checked exhaustively for small worlds with
//! [stateright](https://docs.rs/stateright): six storage nodes, up to three
//! writers (epochs), a few records; links that break and lose what is in
//! flight (then reconnect and resend: loss, duplication and reordering
//! across nodes), node crashes that lose the in-memory tail, wipes, writer
//! deaths, and a reader that sees whatever a node serves as committed;
//! with `--staging`, a replica that stages records above the commit LSN
//! and applies them at writers' commit notifications.
//!
//! Every step runs the project's own pure state machines: the storage
//! node's `LogState`, the writer's `Recovery` and `Pipeline` (with its
//! `CommitTracker`), and the replica's `Staging`. The properties are in [`props`]; `docs/protocol.md`
//! gives the rules and the counterexamples found on the old protocol.

pub mod model;
pub mod props;
pub mod state;

pub use model::{Action, Config, LogModel};
