//! Bad input over the network: garbage on a stream, a frame over the size
//! limit, a record with a bad CRC, an LSN gap, an old epoch. Each gets a
//! clear error or a closed stream; the node keeps serving and loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Cluster, read_all, records, wait_ready};
use sixfold_net::framed;
use sixfold_net::tls::connect;
use sixfold_storage_node::metrics as m;
use sixfold_wire::{ErrorCode, Message, Role, encode_run};

async fn writer_stream(ep: &quinn::Endpoint, addr: std::net::SocketAddr) -> (quinn::SendStream, quinn::RecvStream) {
    let conn = connect(ep, addr).await.unwrap();
    let (mut tx, rx) = conn.open_bi().await.unwrap();
    framed::send(&mut tx, &Message::Hello { node: 100, role: Role::Writer }).await.unwrap();
    (tx, rx)
}

fn code(m: &Message) -> Option<ErrorCode> {
    match m {
        Message::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_the_node_keeps_serving() {
    let c = Cluster::new("bad");
    let ep = c.writer_endpoint();
    let node = c.addrs[0];
    wait_ready(&ep, &c.addrs).await;

    // A good append, then the faults.
    let (mut tx, mut rx) = writer_stream(&ep, node).await;
    let good =
        Message::Append { epoch: 2, prev_lsn: 0, prev_epoch: 0, commit_lsn: 0, records: encode_run(&records(1, 10)) };
    framed::send(&mut tx, &good).await.unwrap();
    assert!(matches!(framed::recv(&mut rx).await.unwrap(), Message::Ack { scl: 10, .. }));

    let mut bad_crc = encode_run(&records(11, 1));
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 1;
    let cases = [
        (
            Message::Append { epoch: 2, prev_lsn: 10, prev_epoch: 1, commit_lsn: 0, records: bad_crc },
            ErrorCode::BadRequest,
        ),
        (
            Message::Append {
                epoch: 2,
                prev_lsn: 12,
                prev_epoch: 1,
                commit_lsn: 0,
                records: encode_run(&records(13, 1)),
            },
            ErrorCode::LogMismatch,
        ),
        (
            Message::Append {
                epoch: 1,
                prev_lsn: 10,
                prev_epoch: 1,
                commit_lsn: 0,
                records: encode_run(&records(11, 1)),
            },
            ErrorCode::Fenced,
        ),
    ];
    for (msg, want) in cases {
        framed::send(&mut tx, &msg).await.unwrap();
        let got = framed::recv(&mut rx).await.unwrap();
        assert_eq!(code(&got), Some(want), "{got:?}");
    }

    // Garbage bytes: the stream is closed.
    let (mut gtx, mut grx) = writer_stream(&ep, node).await;
    gtx.write_all(&[9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).await.unwrap();
    assert!(framed::recv(&mut grx).await.is_err(), "garbage closes the stream");

    // A frame header over the limit: closed before any body is read.
    let (mut otx, mut orx) = writer_stream(&ep, node).await;
    otx.write_all(&((sixfold_wire::message::FRAME_BYTES_MAX + 1) as u32).to_le_bytes()).await.unwrap();
    assert!(framed::recv(&mut orx).await.is_err(), "oversized frame closes the stream");

    // The node still serves, and lost nothing.
    let (mut tx2, mut rx2) = writer_stream(&ep, node).await;
    let next =
        Message::Append { epoch: 2, prev_lsn: 10, prev_epoch: 1, commit_lsn: 11, records: encode_run(&records(11, 1)) };
    framed::send(&mut tx2, &next).await.unwrap();
    assert!(matches!(framed::recv(&mut rx2).await.unwrap(), Message::Ack { scl: 11, .. }));
    let log = read_all(&ep, node, Role::Peer).await;
    assert_eq!(log, encode_run(&records(1, 11)));

    // Flushed-LSN confirmations are pushed to subscribers.
    let (mut stx, mut srx) = writer_stream(&ep, node).await;
    framed::send(&mut stx, &Message::SubscribeFlushed).await.unwrap();
    loop {
        match framed::recv(&mut srx).await.unwrap() {
            Message::FlushedLsn { lsn: 11, .. } => break,
            Message::FlushedLsn { .. } => {}
            other => panic!("{other:?}"),
        }
    }

    // Its metrics say so.
    let text = scrape(c.metrics[0]);
    for (name, want) in [
        (m::APPENDS, Some(11.0)),
        (m::FENCED, Some(1.0)),
        (m::SCL, Some(11.0)),
        (m::COMMIT_LSN, Some(11.0)),
        (m::APPEND_BYTES, None),
        (m::FLUSHED_LSN, None),
        (m::HOT_TAIL_BYTES, None),
        (m::FSYNC_SECONDS, None),
    ] {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing in:\n{text}"));
        if let Some(v) = want {
            assert_eq!(line.rsplit(' ').next().unwrap().parse::<f64>().unwrap(), v, "{line}");
        }
    }
}

fn scrape(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
