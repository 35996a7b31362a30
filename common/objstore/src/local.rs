//! A local directory as an object store: object `a/b` is the file
//! `<root>/a/b`. A new object is written under `<root>/.partial/` and
//! renamed into place once complete and fsynced (then the directory is
//! fsynced), so a reader never sees part of one; partial files left by a
//! killed writer are never listed, and are removed when the store opens
//! once they are an hour old.

use crate::{ObjectInfo, ObjectStore, ObjectWriter, StoreError, check_name};
use async_trait::async_trait;
use bytes::Bytes;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where unfinished objects are written.
const PARTIAL_DIR: &str = ".partial";
/// A partial object untouched this long is a killed writer's.
pub const PARTIAL_STALE_SECS: u64 = 3600;

/// A directory of objects.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |e| StoreError::Io(what, e)
}

impl LocalDir {
    /// The store in `root` (created if missing); drops partial objects a
    /// killed writer left over [`PARTIAL_STALE_SECS`] ago (younger ones may
    /// be another writer's, still at work).
    pub fn open(root: impl AsRef<Path>) -> Result<LocalDir, StoreError> {
        let root = root.as_ref().to_path_buf();
        let partial = root.join(PARTIAL_DIR);
        std::fs::create_dir_all(&partial).map_err(io(format!("creating {}", partial.display())))?;
        let stale = |e: &std::fs::DirEntry| {
            let age = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            age.is_some_and(|a| a.as_secs() > PARTIAL_STALE_SECS)
        };
        for e in std::fs::read_dir(&partial).map_err(io(format!("listing {}", partial.display())))?.flatten() {
            if stale(&e) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(LocalDir { root })
    }

    fn path(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name(name)?;
        Ok(self.root.join(name))
    }

    fn list_sync(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = Vec::new();
        let mut dirs = vec![(self.root.clone(), String::new())];
        while let Some((dir, at)) = dirs.pop() {
            let entries = std::fs::read_dir(&dir).map_err(io(format!("listing {}", dir.display())))?;
            for e in entries {
                let e = e.map_err(io(format!("listing {}", dir.display())))?;
                let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
                if at.is_empty() && name == PARTIAL_DIR {
                    continue;
                }
                let full = if at.is_empty() { name } else { format!("{at}/{name}") };
                let meta = e.metadata().map_err(io(format!("reading {}", e.path().display())))?;
                if meta.is_dir() {
                    dirs.push((e.path(), full));
                } else if full.starts_with(prefix) && check_name(&full).is_ok() {
                    out.push(ObjectInfo { name: full, size: meta.len() });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

#[async_trait]
impl ObjectStore for LocalDir {
    async fn create(&self, name: &str) -> Result<Box<dyn ObjectWriter>, StoreError> {
        let target = self.path(name)?;
        let temp =
            self.root.join(PARTIAL_DIR).join(format!("{}.{:016x}", name.replace('/', "_"), rand::random::<u64>()));
        let file = std::fs::File::create(&temp).map_err(io(format!("creating {}", temp.display())))?;
        Ok(Box::new(LocalWriter { file, temp, target, size: 0 }))
    }

    async fn read_range(&self, name: &str, offset: u64, len: u64) -> Result<Bytes, StoreError> {
        let path = self.path(name)?;
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::open(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::NotFound(name.clone()),
                _ => StoreError::Io(format!("opening {}", path.display()), e),
            })?;
            f.seek(SeekFrom::Start(offset)).map_err(io(format!("seeking {}", path.display())))?;
            let mut buf = Vec::new();
            f.take(len).read_to_end(&mut buf).map_err(io(format!("reading {}", path.display())))?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|e| StoreError::Io("reading".into(), std::io::Error::other(e.to_string())))?
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let (me, prefix) = (self.clone(), prefix.to_string());
        tokio::task::spawn_blocking(move || me.list_sync(&prefix))
            .await
            .map_err(|e| StoreError::Io("listing".into(), std::io::Error::other(e.to_string())))?
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        let path = self.path(name)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::Io(format!("removing {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }
}

struct LocalWriter {
    file: std::fs::File,
    temp: PathBuf,
    target: PathBuf,
    size: u64,
}

#[async_trait]
impl ObjectWriter for LocalWriter {
    async fn write(&mut self, data: Bytes) -> Result<(), StoreError> {
        let temp = &self.temp;
        tokio::task::block_in_place(|| self.file.write_all(&data))
            .map_err(io(format!("writing {}", temp.display())))?;
        self.size += data.len() as u64;
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<u64, StoreError> {
        let LocalWriter { file, temp, target, size } = *self;
        tokio::task::spawn_blocking(move || {
            file.sync_all().map_err(io(format!("syncing {}", temp.display())))?;
            let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            std::fs::rename(&temp, &target).map_err(io(format!("renaming to {}", target.display())))?;
            std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io(format!("syncing {}", dir.display())))?;
            Ok(size)
        })
        .await
        .map_err(|e| StoreError::Io("finishing".into(), std::io::Error::other(e.to_string())))?
    }

    async fn abort(self: Box<Self>) -> Result<(), StoreError> {
        let _ = std::fs::remove_file(&self.temp);
        Ok(())
    }
}
