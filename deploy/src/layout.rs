//! The shape of a local cluster: six storage nodes (zones a, a, b, b, c, c)
//! and N equal data nodes (their election picks the writer), with their
//! ports, data directories and command lines. Nothing here starts a process.

use std::path::{Path, PathBuf};

/// Storage nodes in a shard.
pub const STORAGE_NODES: usize = 6;
/// Zone of each storage node, in `--storage` order.
pub const ZONES: [&str; STORAGE_NODES] = ["a", "a", "b", "b", "c", "c"];
/// The file `sixfold up` writes with the data nodes' addresses.
pub const ENDPOINTS_FILE: &str = "endpoints.txt";

/// Where a cluster lives and which ports it uses.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Data directory (certificates, storage node logs).
    pub dir: PathBuf,
    /// The first data node's RESP port; the others take the next ones.
    pub port: u16,
    /// Data nodes (each may become the writer).
    pub data_nodes: usize,
    /// First storage node QUIC port.
    pub storage_port: u16,
    /// First Prometheus port (storage nodes, then data nodes).
    pub metrics_port: u16,
    /// The object store of the cluster's snapshots (a directory or an
    /// `s3://` URL); `None`: `DIR/snapshots`.
    pub snapshot_store: Option<String>,
    /// More arguments for every storage node (`--truncate-margin-records`,
    /// `--segment-bytes-max`).
    pub storage_options: Vec<String>,
}

/// What a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `sixfold-storage`.
    Storage,
    /// `sixfold-server` (role `auto`): replica or writer, by election.
    Data,
    /// `sixfold snapshot run`.
    Snapshotter,
}

/// One process of the cluster.
#[derive(Debug, Clone)]
pub struct Member {
    /// Log prefix and table name (`storage-1`, `data-1`).
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Its zone.
    pub zone: String,
    /// Where clients (or the data nodes) reach it.
    pub listen: String,
    /// Its Prometheus endpoint.
    pub metrics: String,
    /// Arguments after the binary.
    pub args: Vec<String>,
}

impl Layout {
    fn certs(&self) -> PathBuf {
        self.dir.join("certs")
    }

    /// The certificate names the cluster needs.
    pub fn cert_names() -> Vec<String> {
        (1..=STORAGE_NODES).map(|i| format!("storage-{i}")).chain(["data".into(), "snapshotter".into()]).collect()
    }

    /// The object store of the cluster's snapshots.
    pub fn snapshot_store(&self) -> String {
        self.snapshot_store.clone().unwrap_or_else(|| self.dir.join("snapshots").display().to_string())
    }

    /// The directory with the cluster's certificates.
    pub fn certs_dir(&self) -> PathBuf {
        self.certs()
    }

    /// Storage node `i`'s QUIC address (0-based).
    pub fn storage_addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.storage_port as usize + i)
    }

    /// Where data node `d` serves its retained records to storage nodes
    /// (QUIC, after the storage nodes' ports).
    fn retention_addr(&self, d: usize) -> String {
        format!("127.0.0.1:{}", self.storage_port as usize + STORAGE_NODES + d)
    }

    fn storage_args(&self) -> Vec<String> {
        let mut a = vec!["--certs".to_string(), self.certs().display().to_string()];
        for i in 0..STORAGE_NODES {
            a.extend(["--storage".to_string(), self.storage_addr(i)]);
        }
        a
    }

    /// Every process, storage nodes first (start order; stop in reverse).
    pub fn members(&self) -> Vec<Member> {
        let metrics = |n: usize| format!("127.0.0.1:{}", self.metrics_port as usize + n);
        let mut out: Vec<Member> = (0..STORAGE_NODES).map(|i| self.storage(i, metrics(i + 1))).collect();
        for d in 0..self.data_nodes {
            let listen = format!("127.0.0.1:{}", self.port as usize + d);
            let zone = ["a", "b", "c"][d % 3].to_string();
            let m = metrics(STORAGE_NODES + 1 + d);
            let mut args = vec!["--listen".to_string(), listen.clone(), "--zone".into(), zone.clone()];
            args.extend(["--cert-name".to_string(), "data".into()]);
            args.extend(self.storage_args());
            args.extend(["--metrics-listen".to_string(), m.clone()]);
            args.extend(["--fabric-listen".to_string(), self.retention_addr(d)]);
            args.extend(["--snapshot-store".to_string(), self.snapshot_store()]);
            out.push(Member { name: format!("data-{}", d + 1), kind: Kind::Data, zone, listen, metrics: m, args });
        }
        out
    }

    fn storage(&self, i: usize, metrics: String) -> Member {
        let n = i + 1;
        let listen = self.storage_addr(i);
        let mut args = vec!["--node-id".to_string(), n.to_string(), "--zone".into(), ZONES[i].into()];
        args.extend(["--listen".to_string(), listen.clone(), "--threads".into(), "1".into()]);
        args.extend(["--data-dir".to_string(), self.dir.join(format!("storage-{n}")).display().to_string()]);
        args.extend(["--certs".to_string(), self.certs().display().to_string()]);
        args.extend(["--metrics-listen".to_string(), metrics.clone()]);
        for j in (0..STORAGE_NODES).filter(|&j| j != i) {
            args.extend(["--peer".to_string(), self.storage_addr(j)]);
        }
        for d in 0..self.data_nodes {
            args.extend(["--replica".to_string(), self.retention_addr(d)]);
        }
        args.extend(self.storage_options.iter().cloned());
        Member { name: format!("storage-{n}"), kind: Kind::Storage, zone: ZONES[i].into(), listen, metrics, args }
    }
}

/// The one of `nodes` (`(name, address)`, as [`read_endpoints`] gives
/// them) that serves as the writer now.
pub fn serving_writer(nodes: &[(String, String)]) -> anyhow::Result<&(String, String)> {
    let found = nodes.iter().find(|(_, a)| sixfold_resp::probe::serves_as_writer(a));
    found.ok_or_else(|| anyhow::anyhow!("no data node serves as the writer now; try again"))
}

/// The data nodes recorded in `dir` by `sixfold up`: `(name, address)`.
pub fn read_endpoints(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let path = dir.join(ENDPOINTS_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e} (is a cluster running from this directory?)", path.display()))?;
    Ok(text.lines().filter_map(|l| l.split_once(' ')).map(|(n, a)| (n.to_string(), a.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_storage_nodes_and_equal_data_nodes_with_distinct_ports() {
        let l = Layout {
            dir: "/d".into(),
            port: 6379,
            data_nodes: 3,
            storage_port: 7101,
            metrics_port: 9100,
            snapshot_store: None,
            storage_options: vec!["--segment-bytes-max".into(), "4096".into()],
        };
        let m = l.members();
        assert_eq!(m.len(), 9);
        assert_eq!(m.iter().filter(|x| x.kind == Kind::Storage).map(|x| x.zone.as_str()).collect::<Vec<_>>(), ZONES);
        assert_eq!(
            (m[6].listen.as_str(), m[7].listen.as_str(), m[8].listen.as_str()),
            ("127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381")
        );
        assert_eq!(m[6..].iter().map(|x| x.zone.as_str()).collect::<Vec<_>>(), ["a", "b", "c"], "one per zone");
        let mut ports: Vec<&str> = m.iter().flat_map(|x| [x.listen.as_str(), x.metrics.as_str()]).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 18, "every listen and metrics address is distinct");
        for d in &m[6..] {
            assert!(!d.args.iter().any(|a| a == "--role" || a == "--writer"), "equal data nodes: the election decides");
            assert_eq!(d.args.iter().filter(|a| *a == "--storage").count(), 6);
        }
        assert_eq!(m[0].args.iter().filter(|a| *a == "--peer").count(), 5);
        assert_eq!(m[0].args.iter().filter(|a| *a == "--replica").count(), 3, "every data node's retention");
        assert!(m[0].args.ends_with(&["--segment-bytes-max".into(), "4096".into()]), "storage options passed on");
        let fabric_ports: Vec<&String> = m[6..].iter().map(|d| &d.args[d.args.len() - 3]).collect();
        assert_eq!(fabric_ports, ["127.0.0.1:7107", "127.0.0.1:7108", "127.0.0.1:7109"]);
    }
}
