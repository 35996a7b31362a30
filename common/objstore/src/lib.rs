//! Object stores for off-box snapshots (DESIGN §7): one trait,
//! [`ObjectStore`], with a local directory ([`local::LocalDir`], the
//! default) and S3 ([`s3::S3Store`], any S3-compatible endpoint, on
//! `aws-sdk-s3`). Objects are written as a stream ([`ObjectWriter`]) and
//! read by ranges, so memory stays bounded whatever their size; an object
//! is visible (listed, readable) only once it is complete.
//!
//! A store is named by a URL ([`open`]): a path or `file:///path` for a
//! local directory, `s3://bucket/prefix` for S3, with the endpoint, region
//! and path style from the query (`?endpoint=http://host:port&region=r&path_style=true`)
//! and credentials from the standard AWS environment and config files.

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;

pub mod local;
pub mod s3;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object of that name.
    #[error("no object {0:?}")]
    NotFound(String),
    /// A name the stores do not accept.
    #[error("bad object name {0:?}: use letters, digits, '.', '-', '_' and '/' between non-empty parts")]
    BadName(String),
    /// A store URL that names no store.
    #[error("bad store URL {0:?}: {1}")]
    BadUrl(String, String),
    /// The local file system failed.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// S3 refused or failed.
    #[error("S3 {op} {name:?}: {detail}")]
    S3 {
        /// The operation.
        op: &'static str,
        /// The object (or bucket).
        name: String,
        /// What S3 said.
        detail: String,
    },
}

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A store of named, immutable objects.
#[async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Starts writing object `name`; nothing of it is visible before
    /// [`ObjectWriter::finish`] (an existing object of that name is
    /// replaced then).
    async fn create(&self, name: &str) -> Result<Box<dyn ObjectWriter>, StoreError>;
    /// Up to `len` bytes of `name` from `offset` (fewer at its end, none
    /// past it).
    async fn read_range(&self, name: &str, offset: u64, len: u64) -> Result<Bytes, StoreError>;
    /// The complete objects whose names start with `prefix`, by name.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;
    /// Removes `name` (no error if it is not there).
    async fn delete(&self, name: &str) -> Result<(), StoreError>;
    /// Where the store is, for messages.
    fn describe(&self) -> String;
}

/// An object being written.
#[async_trait]
pub trait ObjectWriter: Send {
    /// Appends `data`.
    async fn write(&mut self, data: Bytes) -> Result<(), StoreError>;
    /// Makes the object visible, complete; returns its size.
    async fn finish(self: Box<Self>) -> Result<u64, StoreError>;
    /// Drops what was written; nothing becomes visible.
    async fn abort(self: Box<Self>) -> Result<(), StoreError>;
}

/// Checks an object name: non-empty parts of `[A-Za-z0-9._-]` separated
/// by `/`, no part `.` or `..`.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let ok_part = |p: &str| {
        !p.is_empty() && p != "." && p != ".." && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    if name.split('/').all(ok_part) { Ok(()) } else { Err(StoreError::BadName(name.to_string())) }
}

/// Opens the store a URL names (see the module doc).
pub async fn open(url: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    if let Some(rest) = url.strip_prefix("s3://") {
        return Ok(Arc::new(s3::S3Store::open(rest).await?));
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if path.is_empty() || url.contains("://") && !url.starts_with("file://") {
        return Err(StoreError::BadUrl(url.to_string(), "expected a path, file:///path or s3://bucket/prefix".into()));
    }
    Ok(Arc::new(local::LocalDir::open(path)?))
}

/// Reads all of `name` in pieces of `piece` bytes (memory: one piece at a
/// time for the caller that consumes each as it comes).
pub async fn read_pieces(
    store: &dyn ObjectStore,
    name: &str,
    piece: u64,
    mut each: impl FnMut(Bytes) -> Result<(), StoreError> + Send,
) -> Result<u64, StoreError> {
    let mut offset = 0;
    loop {
        let b = store.read_range(name, offset, piece).await?;
        if b.is_empty() {
            return Ok(offset);
        }
        offset += b.len() as u64;
        each(b)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "snapshots/0000000001-abc.snap", "x_y-z.1"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "/a", "a/", "a//b", "../a", "a/./b", "a b", "a\0", "ä"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
