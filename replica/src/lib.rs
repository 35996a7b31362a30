//! The replica role of `sixfold-server` (DESIGN §5): pulls committed log
//! records from the storage nodes and hands them, in bounded batches, to the
//! data node, which applies their effects with `Engine::apply`.
//!
//! - [`source`]: which storage node to read from (own zone first, the next
//!   one after a timeout or error), as a pure state machine.
//! - [`puller`]: the QUIC loop that reads `Read{from_lsn, max_bytes}` as a
//!   `Reader` (a storage node serves only records at or below the commit
//!   LSN it knows) and sends batches into a bounded channel: when the data
//!   node falls behind, the channel fills and pulling stops (backpressure).

pub mod puller;
pub mod source;

pub use puller::{Batch, BufferGauge, PullSettings, Puller};
