//! Roles bound to certificates (hole 10 of the log-protocol issue): a
//! storage node authorizes every request by the role the certificate on
//! the connection names, never by the `Hello` the peer sends. Before, any
//! certificate of the cluster CA could Append, Prepare, or read uncommitted
//! records by saying it was a `Peer`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Cluster;
use sixfold_net::framed;
use sixfold_net::tls::{TlsFiles, client_endpoint, connect};
use sixfold_wire::{ErrorCode, Message, Role};

/// Sends `Hello{role}` then `req` as the holder of certificate `cert`.
async fn ask(c: &Cluster, cert: &str, role: Role, req: Message) -> Message {
    let ep = client_endpoint(&TlsFiles::in_dir(&c.dir.join("certs"), cert)).unwrap();
    let conn = connect(&ep, c.addrs[0]).await.unwrap();
    let (mut tx, mut rx) = conn.open_bi().await.unwrap();
    framed::send(&mut tx, &Message::Hello { node: 99, role }).await.unwrap();
    framed::send(&mut tx, &req).await.unwrap();
    framed::recv(&mut rx).await.unwrap()
}

fn forbidden(m: &Message) -> bool {
    matches!(m, Message::Error { code: ErrorCode::Forbidden, .. })
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_authorized_by_the_certificates_role() {
    let c = Cluster::with_certs("roles", &["snapshotter", "tool"]);
    let append = || Message::Append { epoch: 1, prev_lsn: 0, prev_epoch: 0, commit_lsn: 0, records: Vec::new() };
    let read = || Message::Read { from_lsn: 1, max_bytes: 1024, wait_ms: 0 };
    for cert in ["snapshotter", "tool", "storage-2"] {
        for role in [Role::Writer, Role::Peer] {
            assert!(forbidden(&ask(&c, cert, role, Message::Prepare { epoch: 7 }).await), "{cert} prepared");
            assert!(forbidden(&ask(&c, cert, role, append()).await), "{cert} appended");
        }
    }
    for cert in ["snapshotter", "tool"] {
        assert!(forbidden(&ask(&c, cert, Role::Peer, read()).await), "{cert} read ahead of the commit");
    }
    assert!(forbidden(&ask(&c, "tool", Role::Reader, read()).await), "a tool read committed records");
    assert!(matches!(ask(&c, "snapshotter", Role::Reader, read()).await, Message::Records { .. }));
    assert!(matches!(ask(&c, "storage-2", Role::Peer, read()).await, Message::Records { .. }), "refills");
    assert!(matches!(ask(&c, "replica", Role::Peer, read()).await, Message::Records { .. }));
    assert!(matches!(ask(&c, "writer", Role::Writer, Message::Prepare { epoch: 7 }).await, Message::Promise { .. }));
    let append7 = Message::Append { epoch: 7, prev_lsn: 0, prev_epoch: 0, commit_lsn: 0, records: Vec::new() };
    assert!(matches!(ask(&c, "replica", Role::Writer, append7).await, Message::Ack { .. }), "a data node appends");
}

#[test]
fn private_keys_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("sixfold-keys-{}", std::process::id()));
    sixfold_net::certs::generate(&dir, &["storage-1".into()]).unwrap();
    let mode = std::fs::metadata(dir.join("storage-1.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::remove_dir_all(&dir).unwrap();
}
