//! Connection commands: PING ECHO HELLO AUTH SELECT QUIT RESET CLIENT.

use crate::args::{int, is, upper};
use crate::cmd::{SessionResult, help, unknown_subcommand};
use crate::db::DATABASES;
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::{ClientId, ReplyMode, Session};
use bytes::Bytes;
use sixfold_resp::{Frame, Protocol};

fn sess(e: &mut Engine, id: ClientId) -> Result<&mut Session, CmdError> {
    e.sessions.get_mut(&id).ok_or_else(|| CmdError::msg("ERR no such client"))
}

/// `PING [message]`
pub fn ping(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    if a.len() > 2 {
        return Err(CmdError::msg("ERR wrong number of arguments for 'ping' command"));
    }
    let s = sess(e, id)?;
    if s.subscriptions() > 0 && s.proto == Protocol::Resp2 {
        let msg = a.get(1).cloned().unwrap_or_default();
        return Ok(Some(Frame::Array(vec![Frame::bulk("pong"), Frame::Bulk(msg)])));
    }
    Ok(Some(a.get(1).map_or(Frame::Simple("PONG".into()), |m| Frame::Bulk(m.clone()))))
}

/// `ECHO message`
pub fn echo(_e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    Ok(Some(Frame::Bulk(a[1].clone())))
}

/// `SELECT index`
pub fn select(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let n = int(&a[1])?;
    if !(0..DATABASES as i64).contains(&n) {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    sess(e, id)?.db = n as usize;
    Ok(Some(Frame::ok()))
}

/// `QUIT`
pub fn quit(e: &mut Engine, id: ClientId, _a: &[Bytes]) -> SessionResult {
    e.reply(id, &Frame::ok());
    e.close_client(id);
    Ok(None)
}

/// `RESET`
pub fn reset(e: &mut Engine, id: ClientId, _a: &[Bytes]) -> SessionResult {
    crate::cmd::multi::unwatch(e, id);
    crate::cmd::pubsub::unsubscribe_all(e, id);
    crate::cmd::monitor::stop(e, id);
    let auth = e.config.requirepass.is_none();
    let s = sess(e, id)?;
    s.multi = None;
    s.multi_error = false;
    s.db = 0;
    s.proto = Protocol::Resp2;
    s.name = None;
    s.reply_mode = ReplyMode::On;
    s.no_evict = false;
    s.no_touch = false;
    s.readonly = false;
    s.authenticated = auth;
    Ok(Some(Frame::Simple("RESET".into())))
}

/// Whether two passwords are equal, in time that depends on neither (their
/// BLAKE3 digests are compared in constant time), as Redis compares
/// password hashes: a guesser learns nothing from how long AUTH takes.
fn same_password(a: &[u8], b: &[u8]) -> bool {
    blake3::hash(a) == blake3::hash(b)
}

/// Checks a password for the default user.
fn check_password(e: &Engine, user: Option<&Bytes>, pass: &Bytes) -> Result<(), CmdError> {
    let wrong = || CmdError::msg("WRONGPASS invalid username-password pair or user is disabled.");
    if user.is_some_and(|u| u.as_ref() != b"default") {
        return Err(wrong());
    }
    match &e.config.requirepass {
        Some(p) if same_password(p, pass) => Ok(()),
        Some(_) => Err(wrong()),
        None if user.is_some() => Ok(()),
        None => Err(CmdError::msg(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        )),
    }
}

/// `AUTH [username] password`
pub fn auth(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let (user, pass) = match a.len() {
        2 => (None, &a[1]),
        3 => (Some(&a[1]), &a[2]),
        _ => return Err(CmdError::Syntax),
    };
    check_password(e, user, pass)?;
    sess(e, id)?.authenticated = true;
    Ok(Some(Frame::ok()))
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
pub fn hello(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let mut proto = None;
    if a.len() >= 2 {
        match int(&a[1]) {
            Ok(2) => proto = Some(Protocol::Resp2),
            Ok(3) => proto = Some(Protocol::Resp3),
            Ok(_) => return Err(CmdError::msg("NOPROTO unsupported protocol version")),
            Err(_) => {
                return Err(CmdError::msg("ERR Protocol version is not an integer or out of range"));
            }
        }
    }
    let mut name = None;
    let mut i = 2;
    while i < a.len() {
        if is(&a[i], "AUTH") && i + 2 < a.len() {
            check_password(e, Some(&a[i + 1]), &a[i + 2])?;
            sess(e, id)?.authenticated = true;
            i += 3;
        } else if is(&a[i], "SETNAME") && i + 1 < a.len() {
            check_name(&a[i + 1])?;
            name = Some(a[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&a[i])
            )));
        }
    }
    let port = e.config.port;
    let s = sess(e, id)?;
    if !s.authenticated {
        return Err(CmdError::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(p) = proto {
        s.proto = p;
    }
    if name.is_some() {
        s.name = name;
    }
    let _ = port;
    let proto_n = if s.proto == Protocol::Resp3 { 3 } else { 2 };
    let field = |k: &str, v: Frame| (Frame::bulk(k.to_string()), v);
    Ok(Some(Frame::Map(vec![
        field("server", Frame::bulk("redis")),
        field("version", Frame::bulk(crate::cmd::server::REDIS_VERSION)),
        field("proto", Frame::Integer(proto_n)),
        field("id", Frame::Integer(id as i64)),
        field("mode", Frame::bulk("standalone")),
        field("role", Frame::bulk("master")),
        field("modules", Frame::Array(vec![])),
    ])))
}

fn check_name(n: &[u8]) -> Result<(), CmdError> {
    if n.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::msg("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    Ok(())
}

fn on_off(b: &[u8]) -> Result<bool, CmdError> {
    match upper(b).as_str() {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

/// `CLIENT ID | SETNAME | GETNAME | LIST | INFO | KILL | NO-EVICT | NO-TOUCH | REPLY | SETINFO | HELP`
pub fn client(e: &mut Engine, id: ClientId, a: &[Bytes]) -> SessionResult {
    let sub = upper(&a[1]);
    let now = e.now_ms;
    let arity = |n: usize| {
        if a.len() == n {
            Ok(())
        } else {
            Err(CmdError::msg(format!("ERR wrong number of arguments for 'client|{}' command", sub.to_lowercase())))
        }
    };
    match sub.as_str() {
        "ID" => arity(2).map(|_| Some(Frame::Integer(id as i64))),
        "GETNAME" => {
            arity(2)?;
            Ok(Some(sess(e, id)?.name.clone().map_or(Frame::Null, Frame::Bulk)))
        }
        "SETNAME" => {
            arity(3)?;
            check_name(&a[2])?;
            sess(e, id)?.name = (!a[2].is_empty()).then(|| a[2].clone());
            Ok(Some(Frame::ok()))
        }
        "SETINFO" => {
            arity(4)?;
            let v = String::from_utf8_lossy(&a[3]).into_owned();
            let s = sess(e, id)?;
            match upper(&a[2]).as_str() {
                "LIB-NAME" => s.lib.0 = v,
                "LIB-VER" => s.lib.1 = v,
                _ => {
                    return Err(CmdError::msg(format!("ERR Unrecognized option '{}'", String::from_utf8_lossy(&a[2]))));
                }
            }
            Ok(Some(Frame::ok()))
        }
        "INFO" => {
            arity(2)?;
            let line = sess(e, id)?.describe(now) + "\n";
            Ok(Some(Frame::Verbatim("txt".into(), Bytes::from(line))))
        }
        "LIST" => {
            let mut ids: Vec<ClientId> = e.sessions.keys().copied().collect();
            ids.sort_unstable();
            if a.len() >= 4 && is(&a[2], "ID") {
                let wanted: Vec<ClientId> = a[3..].iter().filter_map(|x| int(x).ok()).map(|x| x as u64).collect();
                ids.retain(|i| wanted.contains(i));
            } else if a.len() != 2 {
                return Err(CmdError::Syntax);
            }
            let text: String = ids.iter().filter_map(|i| e.sessions.get(i)).map(|s| s.describe(now) + "\n").collect();
            Ok(Some(Frame::Verbatim("txt".into(), Bytes::from(text))))
        }
        "KILL" => kill(e, id, &a[2..]),
        "PAUSE" | "UNPAUSE" | "UNBLOCK" => super::client_flow::client(e, id, &sub, a),
        "TRACKING" if a.len() >= 3 => crate::tracking::client_tracking(e, id, a),
        "CACHING" if a.len() == 3 => crate::tracking::client_caching(e, id, a),
        "TRACKINGINFO" if a.len() == 2 => Ok(Some(crate::tracking::client_trackinginfo(e, id))),
        "GETREDIR" if a.len() == 2 => Ok(Some(crate::tracking::client_getredir(e, id))),
        "TRACKING" | "CACHING" | "TRACKINGINFO" | "GETREDIR" => {
            Err(CmdError::msg(format!("ERR wrong number of arguments for 'client|{}' command", sub.to_lowercase())))
        }
        "NO-EVICT" => {
            arity(3)?;
            sess(e, id)?.no_evict = on_off(&a[2])?;
            Ok(Some(Frame::ok()))
        }
        "NO-TOUCH" => {
            arity(3)?;
            sess(e, id)?.no_touch = on_off(&a[2])?;
            Ok(Some(Frame::ok()))
        }
        "REPLY" => {
            arity(3)?;
            let s = sess(e, id)?;
            match upper(&a[2]).as_str() {
                "ON" => {
                    s.reply_mode = ReplyMode::On;
                    Ok(Some(Frame::ok()))
                }
                "OFF" => {
                    s.reply_mode = ReplyMode::Off;
                    Ok(None)
                }
                "SKIP" => {
                    s.reply_mode = ReplyMode::SkipNext;
                    Ok(None)
                }
                _ => Err(CmdError::Syntax),
            }
        }
        "HELP" => Ok(Some(help(
            "CLIENT",
            &[
                "ID",
                "GETNAME",
                "SETNAME <name>",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "INFO",
                "LIST [ID <id> ...]",
                "KILL <ip:port> | KILL <ID|ADDR|LADDR|SKIPME> <value> ...",
                "NO-EVICT <ON|OFF>",
                "NO-TOUCH <ON|OFF>",
                "REPLY <ON|OFF|SKIP>",
                "PAUSE <timeout> [WRITE|ALL]",
                "UNPAUSE",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
                "GETREDIR",
                "TRACKINGINFO",
                "CACHING <YES|NO>",
            ],
        ))),
        _ => Err(unknown_subcommand(&a[1], "CLIENT")),
    }
}

fn client_id(b: &[u8]) -> Result<u64, CmdError> {
    let bad = || CmdError::msg("ERR client-id should be greater than 0");
    int(b).ok().filter(|n| *n > 0).map(|n| n as u64).ok_or_else(bad)
}

/// A `CLIENT KILL TYPE` filter: `Some(is_pubsub)`, or `None` for types no
/// client of a data node has (master, replica).
fn client_type(b: &[u8]) -> Result<Option<bool>, CmdError> {
    match upper(b).as_str() {
        "NORMAL" => Ok(Some(false)),
        "PUBSUB" => Ok(Some(true)),
        "MASTER" | "REPLICA" | "SLAVE" => Ok(None),
        _ => Err(CmdError::msg(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(b)))),
    }
}

/// `CLIENT KILL ip:port` or `CLIENT KILL <filter> <value> ...`
fn kill(e: &mut Engine, me: ClientId, a: &[Bytes]) -> SessionResult {
    if a.len() == 1 {
        let addr = String::from_utf8_lossy(&a[0]);
        let Some(victim) = e.sessions.values().find(|s| s.info.addr == addr).map(|s| s.id) else {
            return Err(CmdError::msg("ERR No such client"));
        };
        e.close_client(victim);
        return Ok(Some(Frame::ok()));
    }
    if a.is_empty() || !a.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let (mut id, mut addr, mut laddr, mut skipme) = (None, None, None, true);
    let (mut pubsub, mut user, mut maxage_s) = (None, None, None);
    for kv in a.chunks(2) {
        let v = String::from_utf8_lossy(&kv[1]).into_owned();
        match upper(&kv[0]).as_str() {
            "ID" => id = Some(client_id(&kv[1])?),
            "ADDR" => addr = Some(v),
            "LADDR" => laddr = Some(v),
            "SKIPME" => {
                skipme = match upper(&kv[1]).as_str() {
                    "YES" => true,
                    "NO" => false,
                    _ => return Err(CmdError::Syntax),
                }
            }
            "USER" => user = Some(v),
            "MAXAGE" => maxage_s = Some(int(&kv[1])?),
            "TYPE" => pubsub = Some(client_type(&kv[1])?),
            _ => return Err(CmdError::Syntax),
        }
    }
    let now = e.now_ms;
    let victims: Vec<ClientId> = e
        .sessions
        .values()
        .filter(|s| id.is_none_or(|i| s.id == i))
        .filter(|s| addr.as_ref().is_none_or(|x| &s.info.addr == x))
        .filter(|s| laddr.as_ref().is_none_or(|x| &s.info.laddr == x))
        .filter(|s| pubsub.is_none_or(|p| p == Some(s.subscriptions() > 0)))
        .filter(|_| user.as_ref().is_none_or(|u| u == "default"))
        .filter(|s| maxage_s.is_none_or(|m| (now - s.created_ms) / 1000 >= m))
        .filter(|s| !(skipme && s.id == me))
        .map(|s| s.id)
        .collect();
    for v in &victims {
        e.close_client(*v);
    }
    Ok(Some(Frame::Integer(victims.len() as i64)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_compare_by_value() {
        assert!(super::same_password(b"s3cret", b"s3cret"));
        assert!(!super::same_password(b"s3cret", b"s3cres"));
        assert!(!super::same_password(b"s3cret", b"s3cre"));
        assert!(super::same_password(b"", b""));
    }
}
