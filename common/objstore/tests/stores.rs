//! The same checks on both stores: a local directory, and S3 against a
//! real S3-compatible server the test starts (`moto_server`, from PyPI's
//! `moto[server]`, which `.ci/run` installs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use sixfold_objstore::s3::{PART_BYTES, S3Store};
use sixfold_objstore::{ObjectStore, StoreError, local::LocalDir, read_pieces};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn pattern(n: usize, seed: u8) -> Bytes {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>().into()
}

async fn put(store: &dyn ObjectStore, name: &str, pieces: &[Bytes]) -> u64 {
    let mut w = store.create(name).await.unwrap();
    for p in pieces {
        w.write(p.clone()).await.unwrap();
    }
    w.finish().await.unwrap()
}

async fn exercise(store: &dyn ObjectStore) {
    assert!(store.list("").await.unwrap().is_empty(), "a new store is empty");
    // A small object, and ranges of it.
    assert_eq!(put(store, "snap/a", &[Bytes::from_static(b"hello "), Bytes::from_static(b"world")]).await, 11);
    assert_eq!(store.read_range("snap/a", 0, 5).await.unwrap(), Bytes::from_static(b"hello"));
    assert_eq!(store.read_range("snap/a", 6, 100).await.unwrap(), Bytes::from_static(b"world"));
    assert!(store.read_range("snap/a", 11, 10).await.unwrap().is_empty(), "past the end: nothing");
    // A large one, in uneven pieces, crossing multipart part boundaries.
    let big = pattern(2 * PART_BYTES + 12_345, 7);
    let pieces: Vec<Bytes> = big.chunks(1_000_003).map(Bytes::copy_from_slice).collect();
    assert_eq!(put(store, "snap/big", &pieces).await, big.len() as u64);
    let mut back = Vec::new();
    let n = read_pieces(store, "snap/big", 3 * 1024 * 1024, |b| {
        back.extend_from_slice(&b);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!((n, back.len()), (big.len() as u64, big.len()));
    assert!(back == big, "the large object reads back equal");
    let at = PART_BYTES as u64 - 10;
    assert_eq!(store.read_range("snap/big", at, 20).await.unwrap(), big.slice(at as usize..at as usize + 20));
    // Unfinished or aborted writes leave nothing visible.
    let mut unfinished = store.create("snap/unfinished").await.unwrap();
    unfinished.write(pattern(PART_BYTES + 1, 1)).await.unwrap();
    let mut aborted = store.create("snap/aborted").await.unwrap();
    aborted.write(pattern(PART_BYTES + 1, 2)).await.unwrap();
    aborted.abort().await.unwrap();
    let names: Vec<String> = store.list("snap/").await.unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(names, ["snap/a", "snap/big"]);
    assert!(matches!(store.read_range("snap/unfinished", 0, 1).await, Err(StoreError::NotFound(_))));
    drop(unfinished);
    // Replacing, listing by prefix, deleting.
    put(store, "snap/a", &[Bytes::from_static(b"again")]).await;
    assert_eq!(store.read_range("snap/a", 0, 100).await.unwrap(), Bytes::from_static(b"again"));
    put(store, "other", &[Bytes::from_static(b"x")]).await;
    assert_eq!(store.list("snap/").await.unwrap().len(), 2);
    assert_eq!(store.list("").await.unwrap().len(), 3);
    store.delete("snap/a").await.unwrap();
    store.delete("snap/a").await.unwrap();
    assert!(matches!(store.read_range("snap/a", 0, 1).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.create("../escape").await, Err(StoreError::BadName(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_directory_store() {
    let dir = std::env::temp_dir().join(format!("sixfold-objstore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = LocalDir::open(&dir).unwrap();
    exercise(&store).await;
    // A writer killed mid-object leaves a partial file: never listed, and
    // gone when the store opens once it is old (a young one may be another
    // writer's at work).
    let mut w = store.create("late").await.unwrap();
    w.write(Bytes::from_static(b"part")).await.unwrap();
    std::mem::forget(w);
    assert!(store.list("late").await.unwrap().is_empty());
    let partials = || std::fs::read_dir(dir.join(".partial")).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>();
    let young = partials().len();
    assert!(young >= 1);
    LocalDir::open(&dir).unwrap();
    assert_eq!(partials().len(), young, "young partial objects stay");
    let old = std::time::SystemTime::now() - Duration::from_secs(sixfold_objstore::local::PARTIAL_STALE_SECS + 60);
    for p in partials() {
        std::fs::File::options().write(true).open(&p).unwrap().set_modified(old).unwrap();
    }
    let again = LocalDir::open(&dir).unwrap();
    assert!(partials().is_empty(), "an old one is removed");
    assert_eq!(again.list("").await.unwrap().len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `moto_server` on a free port, killed when dropped.
struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server (python3 -m pip install 'moto[server]') runs the S3 test");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto(child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_store_on_a_real_s3_compatible_server() {
    let moto = start_moto();
    let spec = format!("sixfold-test/snapshots?endpoint=http://127.0.0.1:{}&region=us-east-1&path_style=true", moto.1);
    let store = S3Store::open_with(&spec, Some(("test", "test"))).await.unwrap();
    store.create_bucket().await.unwrap();
    exercise(&store).await;
    assert!(store.describe().contains("s3://sixfold-test/snapshots"));
    let bad = S3Store::open_with("?region=x", None).await;
    assert!(matches!(bad, Err(StoreError::BadUrl(..))));
}
