//! The Redis Cluster protocol for one shard (DESIGN §8): every data node
//! answers CLUSTER MYID, KEYSLOT, SLOTS, SHARDS, NODES and INFO, describing
//! the writer as the master of all 16384 slots and the replicas as its
//! replicas, so cluster-aware clients route writes to the writer and, with
//! READONLY, reads to replicas. Key slots are CRC16 (XMODEM) of the key or
//! its hash tag, modulo 16384, as Redis computes them.
//!
//! The topology comes from the server: the writer's own address or
//! `replica_of`, and the [`Shard`] it reports (the writer's registry of
//! replicas; on a replica, the copy it keeps of the writer's ROLE).

use crate::args::upper;
use crate::cmd::SessionResult;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use bytes::Bytes;
use sixfold_resp::Frame;

/// Slots in a Redis Cluster.
pub const SLOTS: u16 = 16_384;

const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);

/// The slot of `key`.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| key[open + 1..].iter().position(|&b| b == b'}').map(|len| &key[open + 1..open + 1 + len]))
        .filter(|tag| !tag.is_empty());
    CRC16.checksum(tagged.unwrap_or(key)) % SLOTS
}

/// One data node of the shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Address clients use.
    pub ip: String,
    /// RESP port.
    pub port: u16,
    /// Applied (replica) or committed (writer) LSN.
    pub offset: i64,
}

impl Member {
    /// A stable 40-hex-digit node id derived from the address.
    pub fn id(&self) -> String {
        let h = blake3::hash(format!("{}:{}", self.ip, self.port).as_bytes());
        h.to_hex()[..40].to_string()
    }
}

/// What the server reports of the shard's replication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shard {
    /// The writer's commit LSN (on a replica, as the writer last reported it).
    pub commit_lsn: u64,
    /// On a replica: the LSN it applied.
    pub applied_lsn: u64,
    /// On a replica: whether it caught up with the writer and follows it.
    pub link_up: bool,
    /// The replicas the writer knows (on a replica, as the writer last reported them).
    pub replicas: Vec<Member>,
}

/// The shard as this node knows it.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The writer.
    pub master: Member,
    /// The replicas.
    pub replicas: Vec<Member>,
    /// Whether this node is the writer.
    pub me_master: bool,
    /// This node's address.
    pub me: Member,
}

fn split_addr(a: &str) -> (String, u16) {
    let (ip, port) = a.rsplit_once(':').unwrap_or((a, "0"));
    (ip.to_string(), port.parse().unwrap_or(0))
}

/// The topology from the engine's settings and the server's [`Shard`].
pub fn topology(e: &Engine) -> Topology {
    let shard = (e.shard)();
    let announce = e.config.announce.clone().unwrap_or_else(|| format!("127.0.0.1:{}", e.config.port));
    let (ip, port) = split_addr(&announce);
    let offset = |lsn: u64| i64::try_from(lsn).unwrap_or(i64::MAX);
    let mut replicas = shard.replicas;
    match &e.config.replica_of {
        Some(w) => {
            let (wip, wport) = split_addr(w);
            let me = Member { ip, port, offset: offset(shard.applied_lsn) };
            if !replicas.iter().any(|r| r.ip == me.ip && r.port == me.port) {
                replicas.push(me.clone());
            }
            Topology {
                master: Member { ip: wip, port: wport, offset: offset(shard.commit_lsn) },
                replicas,
                me_master: false,
                me,
            }
        }
        None => {
            let me = Member { ip, port, offset: offset(shard.commit_lsn) };
            Topology { master: me.clone(), replicas, me_master: true, me }
        }
    }
}

fn node_frame(m: &Member) -> Frame {
    Frame::Array(vec![Frame::bulk(m.ip.clone()), Frame::Integer(i64::from(m.port)), Frame::bulk(m.id())])
}

fn shard_node(m: &Member, role: &str) -> Frame {
    let kv = |k: &str, v: Frame| [Frame::bulk(k.to_string()), v];
    Frame::Array(
        [
            kv("id", Frame::bulk(m.id())),
            kv("port", Frame::Integer(i64::from(m.port))),
            kv("ip", Frame::bulk(m.ip.clone())),
            kv("endpoint", Frame::bulk(m.ip.clone())),
            kv("role", Frame::bulk(role.to_string())),
            kv("replication-offset", Frame::Integer(m.offset)),
            kv("health", Frame::bulk("online")),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )
}

fn nodes_text(t: &Topology) -> String {
    let line = |m: &Member, master: bool| {
        let myself = if *m == t.me || (m.ip == t.me.ip && m.port == t.me.port) { "myself," } else { "" };
        let (flags, of, slots) =
            if master { ("master", "-".to_string(), " 0-16383") } else { ("slave", t.master.id(), "") };
        format!("{} {}:{}@0 {myself}{flags} {of} 0 0 1 connected{slots}\n", m.id(), m.ip, m.port)
    };
    let mut out = line(&t.master, true);
    for r in &t.replicas {
        out.push_str(&line(r, false));
    }
    out
}

/// A slot number argument (0..16383).
fn slot_arg(b: &[u8]) -> Option<u16> {
    crate::util::parse_i64(b).filter(|n| (0..i64::from(SLOTS)).contains(n)).map(|n| n as u16)
}

/// The live keys of database 0 (the only one in cluster mode) in `slot`,
/// found by a scan: Sixfold keeps no per-slot index (one shard holds every
/// slot), so this is O(keys).
fn keys_in_slot(e: &Engine, slot: u16) -> impl Iterator<Item = Bytes> + '_ {
    let now = e.now_ms;
    e.ks.dbs[0].iter().filter(move |(k, v)| !v.is_expired(now) && key_slot(k) == slot).map(|(k, _)| k.clone())
}

/// `ASKING`: accepted (one shard holds every slot, so no slot is ever
/// being imported).
pub fn asking(_e: &mut Engine, _id: ClientId, _a: &[Bytes]) -> SessionResult {
    Ok(Some(Frame::ok()))
}

/// CLUSTER MYID | KEYSLOT key | SLOTS | SHARDS | NODES | INFO |
/// COUNTKEYSINSLOT slot | GETKEYSINSLOT slot count.
pub fn cluster(e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    let t = topology(e);
    let sub = upper(&a[1]);
    let reply = match (sub.as_str(), a.len()) {
        ("MYID", 2) => Frame::bulk(t.me.id()),
        // One shard holds every slot: its id is fixed, the same on every
        // data node and across failovers.
        ("MYSHARDID", 2) => Frame::bulk(blake3::hash(b"sixfold shard 0").to_hex()[..40].to_string()),
        ("HELP", 2) => crate::cmd::help(
            "CLUSTER",
            &[
                "COUNTKEYSINSLOT <slot>",
                "    Return the number of keys in <slot>.",
                "GETKEYSINSLOT <slot> <count>",
                "    Return key names stored by current node in a slot.",
                "INFO",
                "    Return information about the cluster.",
                "KEYSLOT <key>",
                "    Return the hash slot for <key>.",
                "MYID",
                "    Return the node id.",
                "MYSHARDID",
                "    Return the node's shard id.",
                "NODES",
                "    Return cluster configuration seen by node. Output format:",
                "    <id> <ip:port@bus-port[,hostname]> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
                "SHARDS",
                "    Return information about slot range mappings and the nodes associated with them.",
                "SLOTS",
                "    Return information about slots range mappings. Each range is made of:",
                "    start, end, master and replicas IP addresses, ports and ids",
                "HELP",
                "    Prints this help.",
            ],
        ),
        ("KEYSLOT", 3) => Frame::Integer(i64::from(key_slot(&a[2]))),
        ("SLOTS", 2) => {
            let mut entry = vec![Frame::Integer(0), Frame::Integer(i64::from(SLOTS - 1)), node_frame(&t.master)];
            entry.extend(t.replicas.iter().map(node_frame));
            Frame::Array(vec![Frame::Array(entry)])
        }
        ("SHARDS", 2) => {
            let mut nodes = vec![shard_node(&t.master, "master")];
            nodes.extend(t.replicas.iter().map(|r| shard_node(r, "replica")));
            let slots = Frame::Array(vec![Frame::Integer(0), Frame::Integer(i64::from(SLOTS - 1))]);
            Frame::Array(vec![Frame::Array(vec![
                Frame::bulk("slots"),
                slots,
                Frame::bulk("nodes"),
                Frame::Array(nodes),
            ])])
        }
        ("NODES", 2) => Frame::Bulk(Bytes::from(nodes_text(&t))),
        ("COUNTKEYSINSLOT", 3) => {
            crate::util::parse_i64(&a[2])
                .ok_or_else(|| CmdError::msg("ERR value is not an integer or out of range"))?;
            let slot = slot_arg(&a[2]).ok_or_else(|| CmdError::msg("ERR Invalid slot"))?;
            Frame::Integer(keys_in_slot(e, slot).count() as i64)
        }
        ("GETKEYSINSLOT", 4) => {
            let slot = slot_arg(&a[2]);
            let count = crate::util::parse_i64(&a[3]).filter(|n| *n >= 0);
            let (Some(slot), Some(count)) = (slot, count) else {
                return Err(CmdError::msg("ERR Invalid slot or number of keys"));
            };
            Frame::Array(keys_in_slot(e, slot).take(count as usize).map(Frame::Bulk).collect())
        }
        ("INFO", 2) => {
            let known = 1 + t.replicas.len();
            Frame::Bulk(Bytes::from(format!(
                "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{known}\r\ncluster_size:1\r\ncluster_current_epoch:1\r\ncluster_my_epoch:1\r\n"
            )))
        }
        _ => {
            return Err(CmdError::msg(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
                String::from_utf8_lossy(&a[1])
            )));
        }
    };
    Ok(Some(reply))
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from `redis-cli CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"), "an empty first tag hashes the whole key");
        assert_eq!(key_slot(b"123456789"), 0x31C3, "the CRC16-XMODEM check value (below 16384)");
    }
}
