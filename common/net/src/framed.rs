//! Length-prefixed [`Message`] frames on a QUIC stream, with the frame size
//! bounded before any body is read.

use crate::NetError;
use sixfold_wire::message::{FRAME_HEADER_BYTES, decode_body, frame_len};
use sixfold_wire::{Message, encode_frame};

/// Sends one message.
pub async fn send(stream: &mut quinn::SendStream, msg: &Message) -> Result<(), NetError> {
    let mut buf = Vec::new();
    encode_frame(msg, &mut buf)?;
    stream.write_all(&buf).await.map_err(|e| NetError::Quic(e.to_string()))
}

/// Receives one message; `Err(Closed)` when the peer finished the stream
/// between frames.
pub async fn recv(stream: &mut quinn::RecvStream) -> Result<Message, NetError> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    match stream.read_exact(&mut header).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Err(NetError::Closed),
        Err(e) => return Err(NetError::Quic(e.to_string())),
    }
    let len = frame_len(&header)?.unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(|e| NetError::Quic(e.to_string()))?;
    Ok(decode_body(&body)?)
}
