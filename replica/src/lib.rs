//! The replica role of `sixfold-server`: pulls committed log records from the
//! storage nodes and applies their effects with `Engine::apply`.
//!
//! Reserved in the workspace layout of `DESIGN.md` §1; built by the replica
//! issue. The engine's effect apply it will drive already exists and is
//! tested in `common/engine`.
