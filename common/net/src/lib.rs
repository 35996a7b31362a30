//! Sixfold's fabric network layer: QUIC endpoints (quinn) with mutual TLS
//! (rustls, ring) under a cluster CA ([`tls`]), certificate generation for
//! development clusters ([`certs`]), framed message streams ([`framed`]),
//! and local ports for processes that restart on the same port ([`ports`]).
//! A peer without a certificate signed by the cluster CA is refused during
//! the handshake.

pub mod certs;
pub mod framed;
pub mod ports;
pub mod tls;

/// A network-layer failure.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Reading or writing certificate files, or a socket.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Bad certificates or keys, or a TLS configuration error.
    #[error("TLS: {0}")]
    Tls(String),
    /// A QUIC connection or stream failed.
    #[error("QUIC: {0}")]
    Quic(String),
    /// The peer sent bytes that are not a valid frame.
    #[error("bad frame: {0}")]
    Frame(#[from] sixfold_wire::WireError),
    /// The peer closed the stream.
    #[error("stream closed")]
    Closed,
}

impl NetError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> NetError {
        NetError::Io { context: context.into(), source }
    }
}
