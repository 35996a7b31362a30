//! The CONFIG parameters Sixfold stores without acting on them: every
//! parameter of Redis 7.0 ([`crate::redis_config::PARAMS`]) that has no
//! effect here is accepted by CONFIG SET with Redis's checks and errors,
//! kept, and reported by CONFIG GET (`docs/config.md` lists which ones
//! act). The ones that act are in [`super::server`].

use crate::engine::Engine;
use crate::exec::CmdError;
use crate::redis_config::{Kind, PARAMS};
use bytes::Bytes;

/// Parameters whose value CONFIG GET never shows (a deliberate difference
/// from Redis: passwords do not leave the server).
pub const SECRETS: [&str; 2] = ["requirepass", "masterauth"];
/// What CONFIG GET shows for a secret that is set.
pub const REDACTED: &str = "<redacted>";

/// Every stored parameter with its value (set, or Redis's default);
/// `skip` names the ones the caller reports itself.
pub fn stored(e: &Engine, skip: &[&str]) -> Vec<(&'static str, String)> {
    PARAMS
        .iter()
        .filter(|(name, ..)| !skip.contains(name))
        .map(|&(name, default, _)| {
            let value = match e.config.stored.get(name) {
                Some(v) if SECRETS.contains(&name) && !v.is_empty() => REDACTED.to_string(),
                Some(v) => v.clone(),
                None if name == "dir" => std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
                None => default.to_string(),
            };
            (name, value)
        })
        .collect()
}

/// The value of stored parameter `name`: as set, or Redis's default
/// (`None` when Redis has no such parameter).
pub fn value<'a>(e: &'a Engine, name: &str) -> Option<&'a str> {
    let &(key, default, _) = PARAMS.iter().find(|(n, ..)| *n == name)?;
    Some(e.config.stored.get(key).map_or(default, String::as_str))
}

/// CONFIG SET of a stored parameter (`Err`: Redis's reason for refusing
/// the value); `None` when Redis has no such parameter.
pub fn set(e: &mut Engine, name: &str, v: &Bytes) -> Option<Result<(), String>> {
    let &(key, _, kind) = PARAMS.iter().find(|(n, ..)| *n == name)?;
    Some(check(kind, v).map(|value| {
        e.config.stored.insert(key, value);
    }))
}

/// The value to store for `v`, normalized as Redis reports it, or
/// Redis's reason for refusing it.
pub(crate) fn check(kind: Kind, v: &Bytes) -> Result<String, String> {
    let text = String::from_utf8_lossy(v);
    let refuse = |why: String| Err(why);
    let in_range = |n: i64, min: i64, max: i64| {
        if (min..=max).contains(&n) {
            Ok(n.to_string())
        } else {
            refuse(format!("argument must be between {min} and {max} inclusive"))
        }
    };
    match kind {
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            b @ ("yes" | "no") => Ok(b.to_string()),
            _ => refuse("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => match crate::util::parse_i64(v) {
            Some(n) => in_range(n, min, max),
            None => refuse("argument couldn't be parsed into an integer".into()),
        },
        Kind::Memory { min, max } => match super::server::memory_value(v).and_then(|n| i64::try_from(n).ok()) {
            Some(n) => in_range(n, min, max),
            None => refuse("argument must be a memory value".into()),
        },
        Kind::Enum(options) => match options.iter().find(|o| o.eq_ignore_ascii_case(&text)) {
            Some(o) => Ok(o.to_string()),
            None => refuse(format!("argument(s) must be one of the following: {}", options.join(", "))),
        },
        Kind::Text => Ok(text.into_owned()),
        Kind::Immutable => refuse("can't set immutable config".into()),
        Kind::Protected => refuse("can't set protected config".into()),
    }
}

/// The value CONFIG REWRITE writes for `name`: the secrets' real values
/// (CONFIG GET shows them redacted), the others as CONFIG GET shows them.
fn real_value(e: &Engine, name: &str, shown: &str) -> String {
    match name {
        "requirepass" => {
            e.config.requirepass.as_ref().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default()
        }
        n if SECRETS.contains(&n) => e.config.stored.get(n).cloned().unwrap_or_default(),
        _ => shown.to_string(),
    }
}

/// CONFIG REWRITE: writes the `[config]` table of the server's TOML file
/// (`--config`) with every parameter CONFIG SET may change whose value is
/// not Redis's default, keeping the rest of the file (comments included);
/// the file is replaced whole, synced, then renamed over the old one.
pub fn rewrite(e: &Engine, current: &[(&'static str, String)]) -> Result<(), CmdError> {
    let failed = |why: String| CmdError::msg(format!("ERR Rewriting config file: {why}"));
    let Some(path) = &e.config.config_file else {
        return Err(CmdError::msg("ERR The server is running without a config file"));
    };
    let text = std::fs::read_to_string(path).map_err(|x| failed(x.to_string()))?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|x: toml_edit::TomlError| failed(x.to_string()))?;
    let mut table = toml_edit::Table::new();
    for (name, shown) in current {
        let Some(&(_, default, kind)) = PARAMS.iter().find(|(n, ..)| n == name) else { continue };
        let settable = !matches!(kind, Kind::Immutable | Kind::Protected) && !super::server::FIXED.contains(name);
        let value = real_value(e, name, shown);
        if settable && value != default && !table.contains_key(name) {
            table.insert(name, toml_edit::value(value));
        }
    }
    doc.insert("config", toml_edit::Item::Table(table));
    let tmp = path.with_extension("rewrite.tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(doc.to_string().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|x| failed(x.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_and_normalized_as_redis_does() {
        let ok = |k, v: &str| check(k, &Bytes::from(v.to_string()));
        assert_eq!(ok(Kind::Bool, "YES"), Ok("yes".into()));
        assert_eq!(ok(Kind::Bool, "maybe"), Err("argument must be 'yes' or 'no'".into()));
        assert_eq!(ok(Kind::Int { min: -1, max: 10 }, "7"), Ok("7".into()));
        assert_eq!(
            ok(Kind::Int { min: -1, max: 10 }, "-5"),
            Err("argument must be between -1 and 10 inclusive".into())
        );
        assert_eq!(ok(Kind::Int { min: 0, max: 10 }, "1k"), Err("argument couldn't be parsed into an integer".into()));
        assert_eq!(ok(Kind::Memory { min: 0, max: i64::MAX }, "2mb"), Ok("2097152".into()));
        assert_eq!(ok(Kind::Memory { min: 0, max: i64::MAX }, "abc"), Err("argument must be a memory value".into()));
        assert_eq!(ok(Kind::Enum(&["everysec", "always", "no"]), "ALWAYS"), Ok("always".into()));
        assert_eq!(
            ok(Kind::Enum(&["everysec", "always", "no"]), "sometimes"),
            Err("argument(s) must be one of the following: everysec, always, no".into())
        );
        assert_eq!(ok(Kind::Immutable, "1"), Err("can't set immutable config".into()));
    }
}
