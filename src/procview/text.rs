//! `cmdline`, `environ` (bytes of the address space between the mm image's
//! bounds, read as the kernel reads them) and `auxv` (the saved vector).

use crate::error::{Error, Result};
use crate::explore::dump::Dump;
use crate::message::Message;

use super::u64s;

/// What these files need of a process's memory.
pub trait ReadMem {
    /// Reads at `addr` like pread: Ok(n) bytes (n < buf.len() where the
    /// readable memory ends), Err(why) when nothing at `addr` can be read.
    fn read_at(&self, addr: u64, buf: &mut [u8]) -> std::result::Result<usize, String>;
}

/// Largest cmdline or environ area read (the kernel's ARG_MAX-like bound
/// keeps them small; a damaged mm image must not make us read gigabytes).
pub const MAX_AREA: u64 = 64 << 20;

/// The page the kernel reads a setproctitle()d command line from.
const PROCTITLE_PAGE: u64 = 4096;

fn mm_head(dump: &Dump, pid: u64, what: &str) -> Result<Message> {
    dump.head_only(
        &format!("mm-{pid}.img"),
        &format!("proc/{pid}/{what}"),
        &[
            "mm_arg_start",
            "mm_arg_end",
            "mm_env_start",
            "mm_env_end",
            "mm_saved_auxv",
        ],
    )
}

/// Bytes [start, end) of memory, stopping early where memory cannot be read.
/// Read a piece at a time: the buffer grows with what memory gives, not
/// with the bounds a damaged mm image claims.
fn read_range(mem: &dyn ReadMem, start: u64, end: u64, pid: u64) -> Result<Vec<u8>> {
    const PIECE: u64 = 64 << 10;
    let len = end.saturating_sub(start);
    if len > MAX_AREA {
        return Err(Error::other(format!(
            "pid {pid}: area {start:#x}-{end:#x} is larger than {MAX_AREA} bytes"
        )));
    }
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let want = (end - at).min(PIECE) as usize;
        let from = out.len();
        out.resize(from + want, 0);
        match mem.read_at(at, &mut out[from..]) {
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

/// `cmdline`: as the kernel's get_mm_cmdline. The bytes [arg_start, arg_end);
/// but when the last of them is not NUL (the program rewrote its title), the
/// title from arg_start up to its first NUL (included), within one page and
/// within the environment when that follows the arguments.
pub fn cmdline(dump: &Dump, pid: u64, mem: &dyn ReadMem) -> Result<Vec<u8>> {
    let mm = mm_head(dump, pid, "cmdline")?;
    let field = |n: &str| mm.u64(n).unwrap_or(0);
    let (arg_start, arg_end) = (field("mm_arg_start"), field("mm_arg_end"));
    let (env_start, env_end) = (field("mm_env_start"), field("mm_env_end"));
    if env_end == 0 || arg_start >= arg_end {
        return Ok(Vec::new());
    }
    let limit_end = if env_start != arg_end || env_end < env_start {
        arg_end
    } else {
        env_end
    };
    let mut last = [0u8];
    let rewritten = matches!(mem.read_at(arg_end - 1, &mut last), Ok(1)) && last[0] != 0;
    if !rewritten {
        return read_range(mem, arg_start, arg_end, pid);
    }
    let end = arg_start
        .saturating_add(PROCTITLE_PAGE)
        .min(limit_end.max(arg_end));
    let mut title = read_range(mem, arg_start, end, pid)?;
    if let Some(nul) = title.iter().position(|&b| b == 0) {
        title.truncate(nul + 1);
    }
    Ok(title)
}

/// `environ`: the bytes [env_start, env_end).
pub fn environ(dump: &Dump, pid: u64, mem: &dyn ReadMem) -> Result<Vec<u8>> {
    let mm = mm_head(dump, pid, "environ")?;
    let field = |n: &str| mm.u64(n).unwrap_or(0);
    let (start, end) = (field("mm_env_start"), field("mm_env_end"));
    if start >= end {
        return Ok(Vec::new());
    }
    read_range(mem, start, end, pid)
}

/// `auxv`: the saved auxiliary vector as native-endian words, pairs up to
/// and including the AT_NULL pair (as /proc/PID/auxv). CRIU saves what it
/// read into a buffer of fixed size, which can cut a long vector before its
/// AT_NULL: the pair is then added, as the kernel's file always ends so.
pub fn auxv(dump: &Dump, pid: u64) -> Result<Vec<u8>> {
    let mm = mm_head(dump, pid, "auxv")?;
    Ok(auxv_bytes(&u64s(&mm, "mm_saved_auxv")))
}

/// The /proc form of a saved vector.
pub fn auxv_bytes(words: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for pair in words.chunks(2) {
        let key = pair[0];
        let val = pair.get(1).copied().unwrap_or(0);
        out.extend_from_slice(&key.to_ne_bytes());
        out.extend_from_slice(&val.to_ne_bytes());
        if key == 0 {
            return out;
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auxv_ends_at_at_null() {
        let b = auxv_bytes(&[6, 4096, 0, 0, 7, 7]);
        assert_eq!(b.len(), 32);
        assert_eq!(&b[0..8], &6u64.to_ne_bytes());
        assert_eq!(&b[16..32], &[0u8; 16]);
        let cut = auxv_bytes(&[6, 4096, 7]);
        assert_eq!(cut.len(), 48);
        assert_eq!(&cut[16..24], &7u64.to_ne_bytes());
        assert_eq!(&cut[32..48], &[0u8; 16]);
    }
}
