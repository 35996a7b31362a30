//! The network a harness cluster runs on. As root, every process gets its
//! own network namespace (`ip netns`) joined by veth pairs to a bridge that
//! lives in one more namespace; the harness itself reaches them through a
//! veth of its own. Partitions, one-way drops and packet loss are nftables
//! rules inside a process's namespace. Without root (or without `ip`/`nft`)
//! every process listens on its own 127.0.0.x address instead, and
//! partitions are not available; [`Net::new`] says so.

use anyhow::Context as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Subnets tried before giving up (one /24 per cluster: 10.99.<n>.0).
const SUBNETS_MAX: u32 = 250;
/// The nftables table the harness owns in each namespace.
const TABLE: &str = "sixfold_harness";
/// Set `SIXFOLD_HARNESS_NET=loopback` to skip namespaces even as root.
pub const NET_ENV: &str = "SIXFOLD_HARNESS_NET";

/// A rule added to one process's namespace.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Drop packets arriving from these addresses.
    From(Vec<Ipv4Addr>),
    /// Drop packets leaving for these addresses.
    To(Vec<Ipv4Addr>),
    /// Drop this percentage of packets on the process's interface, both ways.
    Loss(u8),
}

/// Namespaces of one cluster.
#[derive(Debug)]
struct Namespaces {
    /// Name prefix of every namespace and link (`sf<n>`).
    prefix: String,
    /// Subnet number `n` of 10.99.n.0/24.
    subnet: u8,
}

/// Addresses and, as root, namespaces for `count` processes.
#[derive(Debug)]
pub struct Net {
    ns: Option<Namespaces>,
    count: usize,
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().with_context(|| format!("{cmd:?}"))?;
    anyhow::ensure!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    run(Command::new("ip").args(args))
}

/// Runs an nftables script inside namespace `ns`.
fn nft(ns: &str, script: &str) -> anyhow::Result<()> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("nft")?;
    child.stdin.take().context("nft stdin")?.write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "nft in {ns}: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

impl Net {
    /// Namespaces when possible, else 127.0.0.x (printing why).
    pub fn new(count: usize) -> Net {
        if std::env::var(NET_ENV).is_ok_and(|v| v == "loopback") {
            eprintln!("harness: {NET_ENV}=loopback: processes on 127.0.0.x, no network partitions");
            return Net { ns: None, count };
        }
        match Namespaces::create(count) {
            Ok(ns) => Net { ns: Some(ns), count },
            Err(e) => {
                eprintln!("harness: no network namespaces ({e:#}); processes on 127.0.0.x, no network partitions");
                Net { ns: None, count }
            }
        }
    }

    /// One line on how the processes are networked.
    pub fn describe(&self) -> String {
        match &self.ns {
            Some(ns) => format!("each process in its own network namespace on 10.99.{}.0/24, bridged", ns.subnet),
            None => "processes on 127.0.0.x addresses: network partitions are not available".into(),
        }
    }

    /// Whether partitions, drops and loss can be injected.
    pub fn partitions(&self) -> bool {
        self.ns.is_some()
    }

    /// The address of process `i`.
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        match &self.ns {
            Some(ns) => Ipv4Addr::new(10, 99, ns.subnet, 10 + i as u8),
            None => Ipv4Addr::new(127, 0, 0, 10 + i as u8),
        }
    }

    /// The addresses of every process but those in `except`.
    pub fn others(&self, except: &[usize]) -> Vec<Ipv4Addr> {
        (0..self.count).filter(|i| !except.contains(i)).map(|i| self.ip(i)).collect()
    }

    /// The harness's own address as the processes see it.
    pub fn host(&self) -> Ipv4Addr {
        match &self.ns {
            Some(ns) => Ipv4Addr::new(10, 99, ns.subnet, 1),
            None => Ipv4Addr::LOCALHOST,
        }
    }

    /// An address for process `i` to listen on: a fixed port in its own
    /// namespace, else a port found free on its 127.0.0.x address.
    pub fn listen_addr(&self, i: usize, udp: bool, port: u16) -> SocketAddr {
        let ip = self.ip(i);
        if self.ns.is_some() {
            return (ip, port).into();
        }
        let free = if udp {
            std::net::UdpSocket::bind((ip, 0)).and_then(|s| s.local_addr()).map(|a| a.port())
        } else {
            std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port())
        };
        (ip, free.unwrap_or(port)).into()
    }

    /// A command that runs `program` as process `i` (inside its namespace).
    pub fn command(&self, i: usize, program: &std::path::Path) -> Command {
        match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.name(i)]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// Adds `filter` in process `i`'s namespace, in chains of its own
    /// named after `tag` so that [`Net::remove`] takes away only it.
    pub fn add(&self, i: usize, tag: u64, filter: &Filter) -> anyhow::Result<()> {
        let ns = self.ns.as_ref().context("network partitions need network namespaces (run as root)")?;
        let set = |a: &[Ipv4Addr]| a.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let (input, output) = (format!("in_{tag}"), format!("out_{tag}"));
        let rules = match filter {
            Filter::From(a) if a.is_empty() => return Ok(()),
            Filter::To(a) if a.is_empty() => return Ok(()),
            Filter::From(a) => format!("add rule inet {TABLE} {input} ip saddr {{ {} }} drop\n", set(a)),
            Filter::To(a) => format!("add rule inet {TABLE} {output} ip daddr {{ {} }} drop\n", set(a)),
            Filter::Loss(p) => format!(
                "add rule inet {TABLE} {input} iifname \"eth0\" numgen random mod 100 < {p} drop\n\
                 add rule inet {TABLE} {output} oifname \"eth0\" numgen random mod 100 < {p} drop\n"
            ),
        };
        let script = format!(
            "add table inet {TABLE}\n\
             add chain inet {TABLE} {input} {{ type filter hook input priority 0; policy accept; }}\n\
             add chain inet {TABLE} {output} {{ type filter hook output priority 0; policy accept; }}\n{rules}"
        );
        nft(&ns.name(i), &script)
    }

    /// Removes the filters added to process `i` under `tag`.
    pub fn remove(&self, i: usize, tag: u64) -> anyhow::Result<()> {
        let Some(ns) = &self.ns else { return Ok(()) };
        let script = format!(
            "add table inet {TABLE}\n\
             add chain inet {TABLE} in_{tag} {{ type filter hook input priority 0; policy accept; }}\n\
             add chain inet {TABLE} out_{tag} {{ type filter hook output priority 0; policy accept; }}\n\
             flush chain inet {TABLE} in_{tag}\nflush chain inet {TABLE} out_{tag}\n\
             delete chain inet {TABLE} in_{tag}\ndelete chain inet {TABLE} out_{tag}\n"
        );
        nft(&ns.name(i), &script)
    }

    /// Removes every filter.
    pub fn heal(&self) -> anyhow::Result<()> {
        let Some(ns) = &self.ns else { return Ok(()) };
        for i in 0..self.count {
            nft(&ns.name(i), "flush ruleset\n")?;
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(ns) = &self.ns {
            ns.remove(self.count);
        }
    }
}

impl Namespaces {
    fn name(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    fn bridge(&self) -> String {
        format!("{}-br", self.prefix)
    }

    /// Claims a free subnet (its bridge namespace is the lock), then links
    /// the harness and `count` process namespaces to the bridge.
    fn create(count: usize) -> anyhow::Result<Namespaces> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let start = std::process::id().wrapping_mul(7);
        let mut claimed = None;
        for _ in 0..SUBNETS_MAX {
            let n = (start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % SUBNETS_MAX + 1) as u8;
            if ip(&["netns", "add", &format!("sf{n}-br")]).is_ok() {
                claimed = Some(n);
                break;
            }
        }
        let subnet = claimed.context("no free subnet (is `ip netns add` allowed?)")?;
        let ns = Namespaces { prefix: format!("sf{subnet}"), subnet };
        ns.link(count).inspect_err(|_| ns.remove(count))?;
        Ok(ns)
    }

    fn link(&self, count: usize) -> anyhow::Result<()> {
        anyhow::ensure!(installed("nft"), "nft is not installed");
        let (p, br) = (&self.prefix, self.bridge());
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        let (host, host_peer) = (format!("{p}h"), format!("{p}hb"));
        ip(&["link", "add", &host, "type", "veth", "peer", "name", &host_peer, "netns", &br])?;
        ip(&["-n", &br, "link", "set", &host_peer, "master", "br0", "up"])?;
        ip(&["addr", "add", &format!("10.99.{}.1/24", self.subnet), "dev", &host])?;
        ip(&["link", "set", &host, "up"])?;
        for i in 0..count {
            let (name, end, peer) = (self.name(i), format!("{p}v{i}"), format!("{p}b{i}"));
            ip(&["netns", "add", &name])?;
            ip(&["link", "add", &end, "netns", &name, "type", "veth", "peer", "name", &peer, "netns", &br])?;
            ip(&["-n", &br, "link", "set", &peer, "master", "br0", "up"])?;
            ip(&["-n", &name, "link", "set", &end, "name", "eth0"])?;
            ip(&["-n", &name, "addr", "add", &format!("10.99.{}.{}/24", self.subnet, 10 + i), "dev", "eth0"])?;
            ip(&["-n", &name, "link", "set", "eth0", "up"])?;
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Deletes the namespaces (their links go with them).
    fn remove(&self, count: usize) {
        for i in 0..count {
            let _ = ip(&["netns", "del", &self.name(i)]);
        }
        let _ = ip(&["netns", "del", &self.bridge()]);
        let _ = ip(&["link", "del", &format!("{}h", self.prefix)]);
    }
}

/// Whether `program` is on the PATH.
pub fn installed(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loopback_addresses_are_distinct_and_filters_are_refused() {
        let net = Net { ns: None, count: 3 };
        assert!(!net.partitions());
        assert_eq!(net.ip(0), Ipv4Addr::new(127, 0, 0, 10));
        assert_eq!(net.others(&[1]), vec![Ipv4Addr::new(127, 0, 0, 10), Ipv4Addr::new(127, 0, 0, 12)]);
        assert!(net.add(0, 1, &Filter::Loss(10)).is_err());
        assert!(net.remove(0, 1).is_ok());
        assert!(net.heal().is_ok());
    }
}
