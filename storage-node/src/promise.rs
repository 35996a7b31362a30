//! The persisted `promised_epoch` (DESIGN §4 fencing): written to a
//! temporary file with a CRC, fsynced, renamed over the old one, and the
//! directory fsynced, all before the node answers the request that raised it.

use sixfold_wire::Epoch;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const FILE: &str = "promised_epoch";

/// The promise file of a node's data directory.
#[derive(Debug, Clone)]
pub struct PromiseFile {
    dir: PathBuf,
}

impl PromiseFile {
    /// The promise file in `dir`.
    pub fn new(dir: &Path) -> PromiseFile {
        PromiseFile { dir: dir.to_path_buf() }
    }

    /// The stored epoch (0 if none was ever stored). A damaged file is an
    /// error: the node must not start with a forgotten promise.
    pub fn load(&self) -> io::Result<Epoch> {
        let data = match fs::read(self.dir.join(FILE)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let bytes: [u8; 12] =
            data.as_slice().try_into().map_err(|_| io::Error::other("promise file has a bad size"))?;
        let epoch =
            u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]);
        let crc = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if crc32c::crc32c(&bytes[..8]) != crc {
            return Err(io::Error::other("promise file fails its CRC"));
        }
        Ok(epoch)
    }

    /// Durably stores `epoch`.
    pub fn store(&self, epoch: Epoch) -> io::Result<()> {
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let mut f = File::create(&tmp)?;
        let bytes = epoch.to_le_bytes();
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
        assert_eq!(p.load().unwrap(), 0);
        p.store(42).unwrap();
        assert_eq!(p.load().unwrap(), 42);
        let mut data = fs::read(dir.join(FILE)).unwrap();
        data[0] ^= 1;
        fs::write(dir.join(FILE), data).unwrap();
        assert!(p.load().is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
