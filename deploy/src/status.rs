//! `sixfold status`: asks every data node of a running local cluster for
//! INFO replication and prints roles, LSNs and lag, each storage node's
//! acknowledged LSN as the writer sees it, and who holds the lease, in
//! which epoch.

use crate::layout::read_endpoints;
use std::path::Path;
use std::time::Duration;

/// The fields of an INFO reply.
fn fields(info: &str) -> Vec<(String, String)> {
    info.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
}

fn get<'a>(f: &'a [(String, String)], k: &str) -> &'a str {
    f.iter().find(|(n, _)| n == k).map_or("-", |(_, v)| v.as_str())
}

/// A node's INFO replication, authenticating with `password` if given.
fn info(addr: &str, password: Option<&str>) -> redis::RedisResult<Vec<(String, String)>> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let mut c = client.get_connection_with_timeout(Duration::from_secs(2))?;
    if let Some(p) = password {
        redis::cmd("AUTH").arg(p).query::<()>(&mut c)?;
    }
    let text: String = redis::cmd("INFO").arg("replication").query(&mut c)?;
    Ok(fields(&text))
}

/// One line per node; a node that does not answer is reported as down, one
/// that asks for a password (or refuses the one given) as such.
pub fn lines(dir: &Path, password: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut out =
        vec![format!("{:<11} {:<8} {:<17} {:>10} {:>10} {:>8}", "NODE", "ROLE", "ADDRESS", "LSN", "LAG", "LAG_MS")];
    let mut lease = Vec::new();
    for (name, addr) in read_endpoints(dir)? {
        let f = match info(&addr, password) {
            Ok(f) => f,
            Err(e) if matches!(e.code(), Some("NOAUTH" | "WRONGPASS")) => {
                let hint =
                    if password.is_some() { "the password was refused" } else { "give --password or REDISCLI_AUTH" };
                out.push(format!("{name:<11} {:<8} {addr:<17} ({hint}: {e})", "auth"));
                continue;
            }
            Err(_) => {
                out.push(format!("{name:<11} {:<8} {addr:<17}", "down"));
                continue;
            }
        };
        let role = get(&f, "role");
        if role == "master" {
            lease.push(format!(
                "lease: held by {name} ({addr}) in epoch {}, {} ms left",
                get(&f, "writer_epoch"),
                get(&f, "lease_left_ms")
            ));
        }
        let line = if role == "master" {
            let mut l =
                format!("{name:<11} {:<8} {addr:<17} {:>10} {:>10} {:>8}", "writer", get(&f, "commit_lsn"), "-", "-");
            for i in 1..=6 {
                let node = get(&f, &format!("storage_node_{i}"));
                l.push_str(&format!("\n  storage-{i}  {node}"));
            }
            l
        } else {
            format!(
                "{name:<11} {:<8} {addr:<17} {:>10} {:>10} {:>8}",
                "replica",
                get(&f, "replica_applied_lsn"),
                get(&f, "replica_lag_records"),
                get(&f, "replica_lag_ms")
            )
        };
        out.push(line);
    }
    if lease.is_empty() {
        lease.push("lease: no data node serves as the writer now (an election may be under way)".into());
    }
    out.extend(lease);
    Ok(out)
}
