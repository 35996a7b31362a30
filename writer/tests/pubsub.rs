//! Pub/sub against Debian's `redis-server`: the same script of SUBSCRIBE,
//! PSUBSCRIBE, SSUBSCRIBE (sharded channels, their own namespace), their
//! unsubscribes, PUBLISH/SPUBLISH from another connection and PUBSUB
//! introspection gives the same frames on both servers, the subscriber's
//! pushes included, in RESP2 (with its pub/sub context) and RESP3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, redis, sixfold};
use sixfold_resp::Frame;

/// Sends `args` (if any), then a PING, and returns every frame before the
/// PING's answer (pushes and replies alike).
fn frames(c: &mut Raw, args: &[&str]) -> Vec<Frame> {
    if !args.is_empty() {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        c.send(&a);
    }
    c.send(&[b"PING", b"fence"]);
    let mut out = Vec::new();
    loop {
        let f = c.read().expect("connection closed");
        let fence = match &f {
            Frame::Bulk(b) => b.as_ref() == b"fence",
            Frame::Array(x) | Frame::Push(x) => x.len() == 2 && x[1] == Frame::Bulk("fence".into()),
            _ => false,
        };
        if fence {
            return out;
        }
        out.push(f);
    }
}

/// PUBSUB replies list channels in no defined order: sorted here.
fn sorted(mut fs: Vec<Frame>) -> Vec<Frame> {
    for f in &mut fs {
        if let Frame::Array(items) = f
            && items.iter().all(|i| matches!(i, Frame::Bulk(_)))
        {
            items.sort_by_key(|i| format!("{i:?}"));
        }
    }
    fs
}

fn script(resp3: bool) -> Vec<(bool, Vec<&'static str>)> {
    // (true: the subscriber sends it; false: the publisher)
    let mut s = vec![
        (true, vec!["SSUBSCRIBE", "news", "sports"]),
        (true, vec!["GET", "k"]),
        (true, vec!["SUBSCRIBE", "news"]),
        (true, vec!["PSUBSCRIBE", "n*"]),
        (false, vec!["PUBLISH", "news", "plain"]),
        (false, vec!["SPUBLISH", "news", "sharded"]),
        (false, vec!["SPUBLISH", "nobody", "x"]),
        (false, vec!["PUBSUB", "SHARDCHANNELS"]),
        (false, vec!["PUBSUB", "SHARDCHANNELS", "s*"]),
        (false, vec!["PUBSUB", "SHARDNUMSUB", "news", "zz"]),
        (false, vec!["PUBSUB", "NUMSUB", "news", "sports"]),
        (false, vec!["PUBSUB", "CHANNELS"]),
        (false, vec!["PUBSUB", "NUMPAT"]),
        (true, vec!["SUNSUBSCRIBE", "sports"]),
        (false, vec!["SPUBLISH", "sports", "gone"]),
        (true, vec!["SUNSUBSCRIBE"]),
        (true, vec!["SUNSUBSCRIBE"]),
        (true, vec!["UNSUBSCRIBE"]),
        (true, vec!["PUNSUBSCRIBE"]),
        (true, vec!["SSUBSCRIBE"]),
        (false, vec!["SPUBLISH", "news"]),
        (false, vec!["PUBSUB", "SHARDNUMSUB"]),
        (true, vec!["GET", "k"]),
    ];
    if resp3 {
        s.insert(0, (true, vec!["HELLO", "3"]));
    }
    s
}

#[test]
fn sharded_and_plain_pubsub_answer_like_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    for resp3 in [false, true] {
        let (mut sub_a, mut sub_b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
        let (mut pub_a, mut pub_b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
        let mut mismatches = Vec::new();
        for (subscriber, args) in script(resp3) {
            let (x, y) = if subscriber {
                (frames(&mut sub_a, &args), frames(&mut sub_b, &args))
            } else {
                (sorted(frames(&mut pub_a, &args)), sorted(frames(&mut pub_b, &args)))
            };
            // The subscriber's pushes from the publisher's command.
            let (px, py) =
                if subscriber { (vec![], vec![]) } else { (frames(&mut sub_a, &[]), frames(&mut sub_b, &[])) };
            if args[0] == "HELLO" {
                continue;
            }
            if x != y || px != py {
                mismatches.push(format!("{args:?}\n  sixfold: {x:?} {px:?}\n  redis:   {y:?} {py:?}"));
            }
        }
        assert!(mismatches.is_empty(), "resp3={resp3}: {} differ:\n{}", mismatches.len(), mismatches.join("\n"));
    }
}
