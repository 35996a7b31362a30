//! A replica keeps the records it applied until the writer's flush
//! confirmation covers them, and a storage node that lost its data refills
//! from them (`--fabric-listen` on the replica, `--replica` on the nodes),
//! with six real storage nodes, a writer and a replica.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fabric, client, free_port, info_field, sixfold_on};
use sixfold_fabric::{LogReader, ReadError};
use sixfold_net::tls::{TlsFiles, client_endpoint};
use sixfold_wire::{ErrorCode, Lsn, Role};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Runs `read` on a log reader of `addr` opened as a peer with a data
/// node's (the writer's) certificate.
fn as_writer_peer<T>(
    fabric: &Fabric,
    addr: SocketAddr,
    read: impl AsyncFnOnce(&mut LogReader) -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let ep = client_endpoint(&TlsFiles::in_dir(&fabric.dir.join("certs"), "writer")).unwrap();
        let mut reader = LogReader::open(&ep, addr, (1000, Role::Peer), Duration::from_secs(2)).await?;
        read(&mut reader).await
    })
}

/// The LSNs storage node `addr` holds from 1 on, without a gap (0 when it
/// does not answer).
fn held_from_one(fabric: &Fabric, addr: SocketAddr) -> Lsn {
    let held = as_writer_peer(fabric, addr, async |reader| {
        let mut next = 1;
        while let Ok(got) = reader.read(next, 1 << 20).await {
            let Some(last) = got.records.last() else { break };
            next = last.lsn + 1;
        }
        Ok(next - 1)
    });
    held.unwrap_or(0)
}

/// A read of the replica's retained records with a data node's certificate.
fn read_retained_as_writer(fabric: &Fabric, addr: SocketAddr) -> Result<usize, ReadError> {
    as_writer_peer(fabric, addr, async |reader| Ok(reader.read(1, 1 << 20).await?.records.len()))
}

#[test]
fn a_wiped_storage_node_refills_from_a_replicas_retained_records() {
    let retention = SocketAddr::from(([127, 0, 0, 1], free_port()));
    // Disks so slow that nothing reaches them during the test: the
    // writer's flush confirmation never comes, the replica keeps every
    // record it applied.
    let node_args = ["--fault-flush-delay-ms", "600000", "--replica", &retention.to_string()];
    let mut fabric = Fabric::start_with("retention", &node_args);
    let writer = sixfold_on(free_port(), &fabric.server_args());
    let replica_args = fabric.replica_args(writer.port, "b", &["--fabric-listen", &retention.to_string()]);
    let replica = sixfold_on(free_port(), &replica_args);
    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut client(writer.port)).unwrap();
    let commit = info_field(writer.port, "master_repl_offset");
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(replica.port, "replica_applied_lsn") < commit {
        assert!(Instant::now() < deadline, "the replica did not apply the writes");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(info_field(replica.port, "replica_retained_bytes") > 0, "nothing flushed: everything is retained");
    assert!(
        matches!(
            read_retained_as_writer(&fabric, retention),
            Err(ReadError::Refused { code: ErrorCode::Forbidden, .. })
        ),
        "only storage nodes' certificates read a replica's retained records"
    );
    // Storage node 1 loses its data directory while the five others are
    // stopped: only the replica can give the records back.
    for i in 1..6 {
        fabric.signal(i, "-STOP");
    }
    fabric.kill_node(0);
    let dir = fabric.dir.join("node-1");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    fabric.start_node(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut held = 0;
    while held < commit {
        assert!(Instant::now() < deadline, "node 1 holds records 1..={held}, the replica applied up to {commit}");
        std::thread::sleep(Duration::from_millis(100));
        held = held_from_one(&fabric, fabric.addrs[0]);
    }
    for i in 1..6 {
        fabric.signal(i, "-CONT");
    }
    // The shard goes on.
    let _: () = redis::cmd("SET").arg("after").arg("refill").query(&mut client(writer.port)).unwrap();
}
