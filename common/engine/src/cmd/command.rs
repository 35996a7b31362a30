//! `COMMAND [COUNT | INFO | DOCS | LIST | GETKEYS | HELP]`: the command
//! table as Redis 7 describes it, containers with their subcommands
//! (`config|get`, from [`super::subcommands`]) in LIST, INFO and DOCS.

use crate::args::upper;
use crate::cmd::subcommands::{SUBCOMMANDS, Sub};
use crate::cmd::{SessionResult, Spec, TABLE, help, lookup, unknown_subcommand};
use crate::engine::Engine;
use crate::exec::CmdError;
use crate::session::ClientId;
use crate::util::glob_match;
use bytes::Bytes;
use sixfold_resp::Frame;

/// The subcommands of container `name`.
fn subcommands_of(name: &str) -> impl Iterator<Item = &'static Sub> {
    SUBCOMMANDS.iter().filter(move |s| s.name.split('|').next() == Some(name))
}

/// A subcommand by its full name (`config|get`, any case).
fn lookup_sub(name: &[u8]) -> Option<&'static Sub> {
    SUBCOMMANDS.iter().find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

fn flag_set(flags: &[&str]) -> Frame {
    Frame::Set(flags.iter().filter(|f| !f.starts_with('@')).map(|f| Frame::Simple((*f).to_string().into())).collect())
}

/// COMMAND INFO's entry: name, arity, flags, keys, categories, tips, key
/// specs, subcommands.
fn info_entry(
    name: &'static str,
    arity: i32,
    flags: &[&str],
    keys: (i32, i32, i32),
    group: &str,
    subs: Vec<Frame>,
) -> Frame {
    Frame::Array(vec![
        Frame::bulk(name),
        Frame::Integer(arity.into()),
        flag_set(flags),
        Frame::Integer(keys.0.into()),
        Frame::Integer(keys.1.into()),
        Frame::Integer(keys.2.into()),
        Frame::Set(vec![Frame::Simple(format!("@{group}").into())]),
        Frame::Set(vec![]),
        Frame::Set(vec![]),
        Frame::Array(subs),
    ])
}

fn sub_info(s: &'static Sub, group: &str) -> Frame {
    info_entry(s.name, s.arity, s.flags, s.keys, group, Vec::new())
}

fn command_info(s: &'static Spec) -> Frame {
    let subs: Vec<Frame> = subcommands_of(s.name).map(|sub| sub_info(sub, s.group)).collect();
    // A container's keys are its subcommands' (Sixfold's table keeps
    // OBJECT's key position for routing; Redis reports none).
    let keys = if subs.is_empty() { s.keys } else { (0, 0, 0) };
    info_entry(s.name, s.arity, s.flags, keys, s.group, subs)
}

fn docs_map(summary: &'static str, group: &'static str, subs: Vec<(Frame, Frame)>) -> Frame {
    let mut fields = vec![
        (Frame::bulk("summary"), Frame::bulk(summary)),
        (Frame::bulk("since"), Frame::bulk("1.0.0")),
        (Frame::bulk("group"), Frame::bulk(group)),
    ];
    if !subs.is_empty() {
        fields.push((Frame::bulk("subcommands"), Frame::Map(subs)));
    }
    Frame::Map(fields)
}

fn command_docs(s: &'static Spec) -> (Frame, Frame) {
    let subs = subcommands_of(s.name).map(|sub| (Frame::bulk(sub.name), docs_map(sub.summary, s.group, vec![])));
    (Frame::bulk(s.name), docs_map(s.summary, s.group, subs.collect()))
}

/// The group of a subcommand: its container's.
fn group_of(sub: &'static Sub) -> &'static str {
    let container = sub.name.split('|').next().unwrap_or_default();
    lookup(container.as_bytes()).map_or("server", |s| s.group)
}

fn info(names: &[Bytes]) -> Frame {
    if names.is_empty() {
        return Frame::Array(TABLE.iter().map(command_info).collect());
    }
    let one = |n: &Bytes| match (lookup(n), lookup_sub(n)) {
        (Some(spec), _) => command_info(spec),
        (None, Some(sub)) => sub_info(sub, group_of(sub)),
        (None, None) => Frame::NullArray,
    };
    Frame::Array(names.iter().map(one).collect())
}

fn docs(names: &[Bytes]) -> Frame {
    if names.is_empty() {
        return Frame::Map(TABLE.iter().map(command_docs).collect());
    }
    let one = |n: &Bytes| match (lookup(n), lookup_sub(n)) {
        (Some(spec), _) => Some(command_docs(spec)),
        (None, Some(sub)) => Some((Frame::bulk(sub.name), docs_map(sub.summary, group_of(sub), vec![]))),
        (None, None) => None,
    };
    Frame::Map(names.iter().filter_map(one).collect())
}

/// Every command's name and every served subcommand's, as Redis lists them.
fn list(pattern: Option<&Bytes>) -> Frame {
    let names = TABLE.iter().map(|s| s.name).chain(SUBCOMMANDS.iter().map(|s| s.name));
    let matching = names.filter(|n| pattern.is_none_or(|p| glob_match(&p.to_ascii_lowercase(), n.as_bytes())));
    Frame::Array(matching.map(Frame::bulk).collect())
}

fn getkeys(args: &[Bytes]) -> SessionResult {
    let Some(spec) = lookup(&args[0]) else {
        return Err(CmdError::msg("ERR Invalid command specified"));
    };
    let (first, last, step) = spec.keys;
    if first == 0 {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    let last = if last < 0 { args.len() as i32 + last } else { last };
    let keys = (first..=last.min(args.len() as i32 - 1))
        .step_by(step.max(1) as usize)
        .map(|i| Frame::Bulk(args[i as usize].clone()))
        .collect();
    Ok(Some(Frame::Array(keys)))
}

/// `COMMAND [COUNT | INFO [name ...] | DOCS [name ...] | LIST | GETKEYS cmd ... | HELP]`
pub fn command(_e: &mut Engine, _id: ClientId, a: &[Bytes]) -> SessionResult {
    if a.len() == 1 {
        return Ok(Some(info(&[])));
    }
    let names = &a[2..];
    match upper(&a[1]).as_str() {
        "COUNT" => Ok(Some(Frame::Integer(TABLE.len() as i64))),
        "INFO" => Ok(Some(info(names))),
        "DOCS" => Ok(Some(docs(names))),
        "LIST" => match names {
            [] => Ok(Some(list(None))),
            [f, kind, p] if f.eq_ignore_ascii_case(b"FILTERBY") && kind.eq_ignore_ascii_case(b"PATTERN") => {
                Ok(Some(list(Some(p))))
            }
            _ => Err(CmdError::Syntax),
        },
        "GETKEYS" if a.len() >= 3 => getkeys(&a[2..]),
        "GETKEYS" => Err(CmdError::msg("ERR wrong number of arguments for 'command|getkeys' command")),
        "HELP" => Ok(Some(help(
            "COMMAND",
            &[
                "(no subcommand)",
                "COUNT",
                "INFO [<command-name> ...]",
                "DOCS [<command-name> ...]",
                "LIST [FILTERBY PATTERN <pattern>]",
                "GETKEYS <full-command>",
            ],
        ))),
        _ => Err(unknown_subcommand(&a[1], "COMMAND")),
    }
}
