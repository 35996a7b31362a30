//! The persisted promise (DESIGN §4 fencing) and memory state
//! (`docs/protocol.md`): `promised_epoch` and whether the node may have
//! lost records it acknowledged, written to a temporary file with a CRC,
//! fsynced, renamed over the old one, and the directory fsynced, all before
//! the node answers the request that changed them.
//!
//! Layout (13 bytes): epoch `u64` LE, memory `u8` (0 intact, 1 restarted,
//! 2 wiped), CRC32C of the first 9 bytes `u32` LE. A file of 12 bytes (the
//! layout before the memory byte) is read as "restarted".

use sixfold_wire::{Epoch, Memory};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const FILE: &str = "promised_epoch";

/// The promise file of a node's data directory.
#[derive(Debug, Clone)]
pub struct PromiseFile {
    dir: PathBuf,
}

fn memory_byte(m: Memory) -> u8 {
    match m {
        Memory::Intact => 0,
        Memory::Restarted => 1,
        Memory::Wiped => 2,
    }
}

impl PromiseFile {
    /// The promise file in `dir`.
    pub fn new(dir: &Path) -> PromiseFile {
        PromiseFile { dir: dir.to_path_buf() }
    }

    /// The stored epoch and memory state; `None` if the file was never
    /// written (a new or wiped data directory). A damaged file is an
    /// error: the node must not start with a forgotten promise.
    pub fn load(&self) -> io::Result<Option<(Epoch, Memory)>> {
        let data = match fs::read(self.dir.join(FILE)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let (body, crc) = match data.len() {
            12 | 13 => data.split_at(data.len() - 4),
            _ => return Err(io::Error::other("promise file has a bad size")),
        };
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32c::crc32c(body) != crc {
            return Err(io::Error::other("promise file fails its CRC"));
        }
        let epoch = u64::from_le_bytes([body[0], body[1], body[2], body[3], body[4], body[5], body[6], body[7]]);
        let memory = match body.get(8) {
            Some(0) => Memory::Intact,
            None | Some(1) => Memory::Restarted,
            Some(2) => Memory::Wiped,
            Some(b) => return Err(io::Error::other(format!("promise file has an unknown memory state {b}"))),
        };
        Ok(Some((epoch, memory)))
    }

    /// Durably stores `epoch` and `memory`.
    pub fn store(&self, epoch: Epoch, memory: Memory) -> io::Result<()> {
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let mut f = File::create(&tmp)?;
        let mut bytes = epoch.to_le_bytes().to_vec();
        bytes.push(memory_byte(memory));
        f.write_all(&bytes)?;
        f.write_all(&crc32c::crc32c(&bytes).to_le_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join(FILE))?;
        crate::segments::sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_loads_and_detects_damage() {
        let dir = std::env::temp_dir().join(format!("sixfold-promise-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = PromiseFile::new(&dir);
        assert_eq!(p.load().unwrap(), None);
        p.store(42, Memory::Wiped).unwrap();
        assert_eq!(p.load().unwrap(), Some((42, Memory::Wiped)));
        let mut data = fs::read(dir.join(FILE)).unwrap();
        data[0] ^= 1;
        fs::write(dir.join(FILE), data).unwrap();
        assert!(p.load().is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
