//! The command line and environment as `/proc/PID/cmdline` and
//! `/proc/PID/environ` give them, read from the address space between the
//! mm image's bounds.

use super::{AddressSpace, MemError};

/// Largest cmdline or environ area read (the kernel's ARG_MAX-like bound
/// keeps them small; a damaged mm image must not make us read gigabytes).
const MAX_AREA: u64 = 64 << 20;

/// The page the kernel reads a setproctitle()d command line from.
const PROCTITLE_PAGE: u64 = 4096;

impl AddressSpace {
    /// The command line, as the kernel's get_mm_cmdline: the bytes
    /// [arg_start, arg_end); but when the last of them is not NUL (the
    /// program rewrote its title), the title from arg_start up to its first
    /// NUL (included), within one page and within the environment when that
    /// follows the arguments. Memory that cannot be read ends it early (none:
    /// empty); an error only for bounds larger than 64 MiB.
    pub fn cmdline(&self) -> Result<Vec<u8>, MemError> {
        let mm = &self.mm;
        let (arg_start, arg_end) = (mm.arg_start, mm.arg_end);
        if mm.env_end == 0 || arg_start >= arg_end {
            return Ok(Vec::new());
        }
        let limit_end = if mm.env_start != arg_end || mm.env_end < mm.env_start {
            arg_end
        } else {
            mm.env_end
        };
        let mut last = [0u8];
        let rewritten = matches!(self.read(arg_end - 1, &mut last), Ok(1)) && last[0] != 0;
        if !rewritten {
            return self.read_area(arg_start, arg_end);
        }
        let end = arg_start
            .saturating_add(PROCTITLE_PAGE)
            .min(limit_end.max(arg_end));
        let mut title = self.read_area(arg_start, end)?;
        if let Some(nul) = title.iter().position(|&b| b == 0) {
            title.truncate(nul + 1);
        }
        Ok(title)
    }

    /// The environment: the bytes [env_start, env_end), read as
    /// [`AddressSpace::cmdline`] reads.
    pub fn environ(&self) -> Result<Vec<u8>, MemError> {
        let (start, end) = (self.mm.env_start, self.mm.env_end);
        if start >= end {
            return Ok(Vec::new());
        }
        self.read_area(start, end)
    }

    /// Bytes [start, end) of memory, stopping early where memory cannot be
    /// read. Read a piece at a time: the buffer grows with what memory
    /// gives, not with the bounds a damaged mm image claims.
    fn read_area(&self, start: u64, end: u64) -> Result<Vec<u8>, MemError> {
        const PIECE: u64 = 64 << 10;
        let len = end.saturating_sub(start);
        if len > MAX_AREA {
            return Err(MemError::eio(format!(
                "pid {}: area {start:#x}-{end:#x} is larger than {MAX_AREA} bytes",
                self.pid
            )));
        }
        let mut out = Vec::new();
        let mut at = start;
        while at < end {
            let want = (end - at).min(PIECE) as usize;
            let from = out.len();
            out.resize(from + want, 0);
            match self.read(at, &mut out[from..]) {
                Ok(n) if n > 0 => {
                    out.truncate(from + n);
                    at += n as u64;
                }
                _ => {
                    out.truncate(from);
                    break;
                }
            }
        }
        Ok(out)
    }
}
