//! Histories: what each client invoked, when, and how it ended.

/// Nanoseconds on one monotonic clock shared by all clients of a run.
pub type Nanos = u64;

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: it took effect, between invocation and completion.
    Ok,
    /// Refused: it did not take effect.
    Fail,
    /// Unknown (timeout, connection lost): it may take effect, at any time
    /// after its invocation.
    Info,
}

/// One operation on a register key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOp {
    /// SET key value (values are unique per key).
    Write(u64),
    /// GET key, and what it returned (`None`: nil).
    Read(Option<u64>),
}

/// One completed (or abandoned) register operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterCall {
    /// Client (process) that made it.
    pub process: u64,
    /// The key.
    pub key: String,
    /// What was done (for reads, what was seen).
    pub op: RegisterOp,
    /// Invocation time.
    pub invoked: Nanos,
    /// Completion time (ignored unless `Ok`).
    pub completed: Nanos,
    /// How it ended.
    pub outcome: Outcome,
}
