//! Effects: the deterministic commands a write is logged as (DESIGN §2).
//!
//! An effect is a Redis command that, applied in order to the state the
//! writer had before the write, reproduces the writer's state exactly: it
//! never depends on the clock, on randomness or on expiry. The effects of one
//! client command (or one MULTI/EXEC) form one group, logged as one record.

use bytes::Bytes;

/// One deterministic command in one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// Database number.
    pub db: u32,
    /// The command and its arguments.
    pub args: Vec<Bytes>,
}

impl Effect {
    /// An effect in database `db`.
    pub fn new(db: usize, args: Vec<Bytes>) -> Effect {
        Effect { db: db as u32, args }
    }

    /// The effect as text, for logs and tests: `db 0: SET k v`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self.args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        format!("db {}: {}", self.db, parts.join(" "))
    }
}
