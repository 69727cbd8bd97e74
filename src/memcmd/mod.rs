//! `crit-fs mem DIR PID`: a process's memory from a dump, for scripts and
//! for dumps that are not mounted — a hexdump of the dumped ranges or of a
//! given range, raw bytes to a file, or a search (docs/mem.md).

mod hexdump;
mod search;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::memory::{AddressSpace, MemError};

pub use hexdump::hexdump;
pub use search::{Match, Pattern, REGEX_REACH, Searcher};

/// Bytes read at a time when streaming memory out (as `cat`'s buffer; 4 MiB
/// cost the same CPU time and twice the RSS).
const CHUNK: usize = 128 << 10;

/// What `crit-fs mem` was asked.
#[derive(Debug, Default)]
pub struct MemArgs {
    pub dir: PathBuf,
    pub pid: u64,
    /// A range `[addr, addr + len)` instead of the dumped ranges.
    pub addr: Option<u64>,
    pub len: Option<u64>,
    /// Raw bytes to this file instead of a hexdump.
    pub output: Option<PathBuf>,
    pub pattern: Option<Pattern>,
    /// Bytes shown before and after each match.
    pub context: u64,
    /// Only the number of matches.
    pub count: bool,
}

/// Bytes shown around a range when `--addr` comes without `--len`.
pub const DEFAULT_LEN: u64 = 256;

/// Runs `crit-fs mem`, writing to `out` (unless `-o`).
pub fn run(args: &MemArgs, out: &mut dyn Write) -> Result<()> {
    let space = AddressSpace::open(&args.dir, args.pid)?;
    for p in space.problems() {
        log::warn!("{}: {p}", args.dir.display());
    }
    let ranges = match (args.addr, args.len) {
        (Some(a), len) => {
            let len = len.unwrap_or(DEFAULT_LEN);
            let end = a.checked_add(len).ok_or_else(|| {
                Error::other(format!("--addr {a:#x} with --len {len} passes 2^64"))
            })?;
            vec![(a, end)]
        }
        (None, Some(_)) => return Err(Error::other("--len needs --addr")),
        (None, None) => space.data_ranges().to_vec(),
    };
    let err = |addr: u64, e: MemError| read_error(&args.dir, space.pid(), addr, e);
    if let Some(pattern) = &args.pattern {
        let mut searcher = Searcher::new(pattern);
        let mut n = 0u64;
        for &(a, b) in &ranges {
            searcher
                .run(&space, a, b, |m| {
                    n += 1;
                    if !args.count {
                        search::print_match(&space, m, args.context, &mut *out)?;
                    }
                    Ok(())
                })
                .map_err(|(at, e)| match e {
                    search::Failure::Read(e) => err(at, e),
                    search::Failure::Out(e) => e,
                })?;
        }
        if args.count {
            writeln!(out, "{n}")?;
        }
        return Ok(());
    }
    match &args.output {
        Some(path) => crate::atomic::replace_file_with(path, |f: &mut std::fs::File| {
            let mut w = std::io::BufWriter::with_capacity(CHUNK, f);
            stream(&space, &ranges, &err, |_, bytes| {
                w.write_all(bytes).map_err(Error::from)
            })?;
            w.flush().map_err(Error::from)
        })
        .map_err(|e| e.in_file(path.display())),
        None => stream(&space, &ranges, &err, |addr, bytes| {
            hexdump(addr, bytes, &mut *out).map_err(Error::from)
        }),
    }
}

/// Reads `ranges` a chunk at a time, handing each piece with its address
/// to `sink`. A byte that cannot be read (outside every mapping, or a
/// damaged range) ends it with an error: the output would silently lack it.
fn stream(
    space: &AddressSpace,
    ranges: &[(u64, u64)],
    err: &dyn Fn(u64, MemError) -> Error,
    mut sink: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; CHUNK];
    for &(a, b) in ranges {
        let mut at = a;
        while at < b {
            let want = (b - at).min(CHUNK as u64) as usize;
            let n = space.read(at, &mut buf[..want]).map_err(|e| err(at, e))?;
            if n == 0 {
                return Err(err(at, MemError::new(libc::EIO, "nothing could be read")));
            }
            sink(at, &buf[..n])?;
            at += n as u64;
        }
    }
    Ok(())
}

/// One error line: the dump, the process, the address, what failed.
fn read_error(dir: &Path, pid: u64, addr: u64, e: MemError) -> Error {
    Error::other(format!("pid {pid} at {addr:#x}: {}", e.message)).in_file(dir.display())
}

/// An address or length as given: decimal, or hex with `0x`.
pub fn parse_number(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => t.replace('_', "").parse::<u64>(),
    };
    parsed.map_err(|_| format!("{s:?} is not a number (decimal, or hex with 0x)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_hex_and_decimal() {
        assert_eq!(parse_number("0x10"), Ok(16));
        assert_eq!(parse_number("4096"), Ok(4096));
        assert_eq!(parse_number("0x7f90_b49b_2000"), Ok(0x7f90b49b2000));
        assert!(parse_number("ten").is_err());
        assert!(parse_number("0x").is_err());
        assert!(parse_number("-1").is_err());
    }
}
