//! RESP2/RESP3 codec for Sixfold, with no I/O.
//!
//! * [`RequestDecoder`] turns the bytes a client sends (multibulk or inline
//!   commands) into argument vectors, zero-copy: every argument is a slice of
//!   the connection's read buffer. It enforces Redis's protocol limits and
//!   answers with Redis's exact `Protocol error` texts.
//! * [`Frame`] is a reply value; [`Frame::encode`] writes it for a given
//!   protocol version (RESP3 types are downgraded for RESP2 clients the way
//!   Redis does).
//! * [`decode_frame`] parses any RESP2/RESP3 value (used by clients, tests,
//!   the load generator and the fuzz target).
//! * [`probe`] asks a server one thing, blocking (is it up, does it serve
//!   as the writer), for the tools around Sixfold.

mod decode;
mod frame;
pub mod probe;
mod request;

pub use decode::decode_frame;
pub use frame::{Frame, Protocol, format_double};
pub use request::{Limits, ProtocolError, RequestDecoder};
