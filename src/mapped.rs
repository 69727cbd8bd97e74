//! A large input file mapped read-only instead of read into memory: for a
//! 64 MiB pipe image, `read` spent more CPU filling fresh pages and copying
//! them from the page cache than decode spent on the image itself.
//!
//! The one caveat of mapping: if another process truncates the file while it
//! is mapped, touching the lost pages raises SIGBUS. CRIU and crit-fs never
//! shrink an image in place (crit-fs replaces files by renaming, which leaves
//! the mapped inode whole), so `crit-fs decode` maps its input; everything
//! else (the mount, the explorers, `check`) reads files as before.

use std::fs::File;
use std::os::fd::AsRawFd;

/// Files smaller than this are read: mapping costs more than copying them.
const MIN_LEN: u64 = 1 << 20;

/// A read-only private mapping of a whole file, unmapped on drop.
pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapped {
    /// Maps `file` when it is a regular file of at least 1 MiB; None
    /// otherwise, or when the system refuses (the caller then reads it).
    pub fn new(file: &File) -> Option<Mapped> {
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() < MIN_LEN {
            return None;
        }
        let len = usize::try_from(meta.len()).ok()?;
        // SAFETY: a fresh mapping chosen by the kernel (no address given),
        // read-only and private; the result is checked before any use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Mapped { ptr, len })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes until drop,
        // and nothing in this process writes to it (PROT_READ).
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; `bytes` borrows
        // of it cannot outlive `self`.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}
