//! The writer's registry of replicas: each replica keeps a RESP connection
//! to the writer on which it sends `REPLCONF LISTENING-PORT`, `IP-ADDRESS`
//! and, after every batch it applies, `REPLCONF ACK <lsn>`. WAIT counts the
//! replicas whose acknowledged LSN covers the client's last write; INFO
//! replication, ROLE and the CLUSTER commands list them.

use sixfold_engine::ClientId;
use sixfold_engine::cmd::replication::ReplConf;
use sixfold_wire::Lsn;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// Most replicas a writer tracks (further REPLCONF connections are ignored).
pub const REPLICAS_MAX: usize = 64;

/// One replica, as its connection described it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    /// Address clients use.
    pub ip: String,
    /// RESP port (0 until LISTENING-PORT).
    pub port: u16,
    /// Last LSN it applied.
    pub applied: Lsn,
}

/// Replicas by the id of their connection to the writer.
#[derive(Debug)]
pub struct Registry {
    replicas: Mutex<BTreeMap<ClientId, Replica>>,
    changed: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry { replicas: Mutex::new(BTreeMap::new()), changed: watch::channel(0).0 }
    }
}

impl Registry {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<ClientId, Replica>) -> T) -> T {
        let mut g = self.replicas.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    /// Connection `id` sent a REPLCONF.
    pub fn on_replconf(&self, id: ClientId, c: ReplConf) {
        let known = self.with(|m| {
            if !m.contains_key(&id) && m.len() >= REPLICAS_MAX {
                return false;
            }
            let r = m.entry(id).or_default();
            match c {
                ReplConf::ListeningPort(p) => r.port = p,
                ReplConf::IpAddress(ip) => r.ip = ip,
                ReplConf::Ack(lsn) => r.applied = r.applied.max(lsn),
                ReplConf::Takeover(_) | ReplConf::Notify(_) | ReplConf::SnapshotMarker(_) => {}
            }
            true
        });
        if known {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Connection `id` closed.
    pub fn disconnect(&self, id: ClientId) {
        if self.with(|m| m.remove(&id)).is_some() {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Replicas that applied `lsn`.
    pub fn count_at_least(&self, lsn: Lsn) -> i64 {
        self.with(|m| m.values().filter(|r| r.port > 0 && r.applied >= lsn).count() as i64)
    }

    /// What the replica at `addr` (`ip:port`) applied, if it is connected.
    pub fn applied_of(&self, addr: &str) -> Option<Lsn> {
        self.with(|m| m.values().find(|r| r.port > 0 && format!("{}:{}", r.ip, r.port) == addr).map(|r| r.applied))
    }

    /// Changes whenever an acknowledgement arrives or a replica leaves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// INFO replication fields, Redis style: `connected_slaves` and
    /// `slaveN:ip=..,port=..,state=online,offset=..,lag=..` (lag in LSNs
    /// behind `commit`).
    pub fn info(&self, commit: Lsn) -> Vec<(String, String)> {
        let replicas = self.announced();
        let mut v = vec![("connected_slaves".to_string(), replicas.len().to_string())];
        for (i, r) in replicas.iter().enumerate() {
            let lag = commit.saturating_sub(r.applied);
            v.push((
                format!("slave{i}"),
                format!("ip={},port={},state=online,offset={},lag={lag}", r.ip, r.port, r.applied),
            ));
        }
        v
    }

    /// The replicas that announced their port, as ROLE and CLUSTER show them.
    pub fn members(&self) -> Vec<sixfold_engine::cmd::cluster::Member> {
        let offset = |lsn: Lsn| i64::try_from(lsn).unwrap_or(i64::MAX);
        let member =
            |r: Replica| sixfold_engine::cmd::cluster::Member { ip: r.ip, port: r.port, offset: offset(r.applied) };
        self.announced().into_iter().map(member).collect()
    }

    fn announced(&self) -> Vec<Replica> {
        self.with(|m| m.values().filter(|r| r.port > 0).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_replicas_that_applied_a_write() {
        let r = Registry::default();
        let mut changes = r.subscribe();
        r.on_replconf(1, ReplConf::IpAddress("10.0.0.2".into()));
        r.on_replconf(1, ReplConf::ListeningPort(6380));
        r.on_replconf(2, ReplConf::ListeningPort(6381));
        r.on_replconf(1, ReplConf::Ack(10));
        r.on_replconf(2, ReplConf::Ack(5));
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        assert_eq!((r.count_at_least(5), r.count_at_least(6), r.count_at_least(11)), (2, 1, 0));
        r.on_replconf(1, ReplConf::Ack(3));
        assert_eq!(r.count_at_least(10), 1, "acknowledgements never go back");
        assert_eq!(r.info(12)[1].1, "ip=10.0.0.2,port=6380,state=online,offset=10,lag=2");
        r.disconnect(1);
        assert!(changes.has_changed().unwrap());
        assert_eq!(r.count_at_least(5), 1);
    }
}
