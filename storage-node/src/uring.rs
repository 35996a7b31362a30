//! Segment writes and data syncs through io-uring, used when the kernel
//! allows it (the plain `write`/`fdatasync` path is the fallback). Each
//! operation is submitted and waited for before returning, so the buffers
//! it points to outlive it.
#![allow(unsafe_code)]

use io_uring::{IoUring, opcode, squeue, types};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Submission queue entries (one operation is in flight at a time).
const RING_ENTRIES: u32 = 8;
/// Largest single write submitted.
const WRITE_BYTES_MAX: usize = 1 << 30;

/// An io-uring instance for one segment store.
pub struct Uring {
    ring: IoUring,
}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Uring")
    }
}

impl Uring {
    /// A ring, or the kernel's refusal (old kernel, seccomp, disabled).
    pub fn new() -> io::Result<Uring> {
        Ok(Uring { ring: IoUring::new(RING_ENTRIES)? })
    }

    /// Writes all of `buf` at `offset` in `file`.
    pub fn write_all_at(&mut self, file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            let len = buf.len().min(WRITE_BYTES_MAX) as u32;
            let op = opcode::Write::new(types::Fd(file.as_raw_fd()), buf.as_ptr(), len).offset(offset).build();
            let n = self.run(op)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "io-uring wrote nothing"));
            }
            buf = &buf[n..];
            offset += n as u64;
        }
        Ok(())
    }

    /// `fdatasync(file)`.
    pub fn sync_data(&mut self, file: &File) -> io::Result<()> {
        let op = opcode::Fsync::new(types::Fd(file.as_raw_fd())).flags(types::FsyncFlags::DATASYNC).build();
        self.run(op).map(|_| ())
    }

    fn run(&mut self, op: squeue::Entry) -> io::Result<usize> {
        // SAFETY: the file descriptor and buffer `op` refers to are borrowed
        // by the caller for the whole call, and we wait for the completion
        // before returning, so they outlive the operation.
        unsafe {
            self.ring.submission().push(&op).map_err(|_| io::Error::other("io-uring submission queue full"))?;
        }
        self.ring.submit_and_wait(1)?;
        let cqe = self.ring.completion().next().ok_or_else(|| io::Error::other("io-uring gave no completion"))?;
        if cqe.result() < 0 {
            return Err(io::Error::from_raw_os_error(-cqe.result()));
        }
        Ok(cqe.result() as usize)
    }
}
