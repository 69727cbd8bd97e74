//! Searching memory for bytes, text or a regular expression, a chunk at a
//! time: a match that crosses a page, a pagemap entry or a chunk is found
//! like any other (each range is searched as one stream of bytes).

use std::io::Write;

use memchr::memmem;
use regex::bytes::Regex;

use super::hexdump;
use crate::error::{Error, Result};
use crate::memory::{AddressSpace, MemError};

/// Bytes read at a time.
const CHUNK: usize = 4 << 20;
/// Bytes a regex match may extend past the part of a chunk searched: a
/// match longer than this may be cut or missed at a chunk's end.
pub const REGEX_REACH: usize = 64 << 10;

/// What to look for.
#[derive(Debug)]
pub enum Pattern {
    Bytes(Vec<u8>),
    Regex(Regex),
}

impl Pattern {
    /// `--hex`: pairs of hex digits, spaces and colons ignored.
    pub fn from_hex(s: &str) -> std::result::Result<Pattern, String> {
        let digits: Vec<u8> = s
            .bytes()
            .filter(|b| !matches!(b, b' ' | b':' | b'\t'))
            .collect();
        let digits = digits.strip_prefix(b"0x").unwrap_or(&digits).to_vec();
        if digits.is_empty() || !digits.len().is_multiple_of(2) {
            return Err(format!("{s:?} is not an even number of hex digits"));
        }
        let mut bytes = Vec::with_capacity(digits.len() / 2);
        for pair in digits.chunks(2) {
            let text = std::str::from_utf8(pair).map_err(|_| format!("{s:?} is not hex"))?;
            bytes.push(u8::from_str_radix(text, 16).map_err(|_| format!("{s:?} is not hex"))?);
        }
        Ok(Pattern::Bytes(bytes))
    }

    /// `--regex`: the `regex` crate's syntax, matched against bytes.
    pub fn from_regex(s: &str) -> std::result::Result<Pattern, String> {
        Regex::new(s)
            .map(Pattern::Regex)
            .map_err(|e| format!("bad regex: {e}"))
    }
}

/// A match: where it is and how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub addr: u64,
    pub len: u64,
}

/// Why a search stopped.
pub enum Failure {
    Read(MemError),
    Out(Error),
}

/// Finds the matches of a pattern in ranges of memory.
pub struct Searcher<'p> {
    pattern: &'p Pattern,
    finder: Option<memmem::Finder<'p>>,
    buf: Vec<u8>,
    chunk: usize,
}

impl<'p> Searcher<'p> {
    pub fn new(pattern: &'p Pattern) -> Searcher<'p> {
        let finder = match pattern {
            Pattern::Bytes(b) => Some(memmem::Finder::new(b)),
            Pattern::Regex(_) => None,
        };
        Searcher {
            pattern,
            finder,
            buf: Vec::new(),
            chunk: CHUNK,
        }
    }

    /// Reads `chunk` bytes at a time (at least 1) instead of 4 MiB: tests use
    /// it to put matches across chunk ends.
    pub fn with_chunk(mut self, chunk: usize) -> Searcher<'p> {
        self.chunk = chunk.max(1);
        self
    }

    /// Bytes kept from one chunk to the next so that matches across them are found.
    fn reach(&self) -> usize {
        match self.pattern {
            Pattern::Bytes(b) => b.len().saturating_sub(1),
            Pattern::Regex(_) => REGEX_REACH,
        }
    }

    /// Calls `found` for each match in `[a, b)`, in order, not overlapping
    /// (as `grep -o` finds them). A read failure stops it with the address.
    pub fn run(
        &mut self,
        space: &AddressSpace,
        a: u64,
        b: u64,
        mut found: impl FnMut(Match) -> Result<()>,
    ) -> std::result::Result<(), (u64, Failure)> {
        let reach = self.reach();
        self.buf.clear();
        let mut buf_start = a; // address of buf[0]
        let mut next = a; // no match may start before this
        let mut read_at = a;
        loop {
            // Fill the buffer with the next chunk.
            let want = (b - read_at).min(self.chunk as u64) as usize;
            if want > 0 {
                let old = self.buf.len();
                self.buf.resize(old + want, 0);
                let n = space
                    .read(read_at, &mut self.buf[old..])
                    .map_err(|e| (read_at, Failure::Read(e)))?;
                self.buf.truncate(old + n);
                if n == 0 {
                    return Err((
                        read_at,
                        Failure::Read(MemError::new(libc::EIO, "nothing could be read")),
                    ));
                }
                read_at += n as u64;
            }
            let at_end = read_at == b;
            // Matches starting before `limit` are complete (or as long as
            // `reach` allows); later ones wait for the next chunk.
            let limit = if at_end {
                self.buf.len()
            } else {
                self.buf.len().saturating_sub(reach)
            };
            let mut from = (next - buf_start) as usize;
            while from <= limit && from <= self.buf.len() {
                let Some((s, e)) = self.find(from) else { break };
                if s >= limit && !at_end {
                    break;
                }
                found(Match {
                    addr: buf_start + s as u64,
                    len: (e - s) as u64,
                })
                .map_err(|e| (buf_start + s as u64, Failure::Out(e)))?;
                from = if e > s { e } else { s + 1 };
                next = buf_start + from as u64;
            }
            if at_end {
                return Ok(());
            }
            // Every start before `limit` is settled; keep the bytes from
            // there on (and one before, for `\b` and the like).
            let limit_addr = buf_start + limit as u64;
            next = next.max(limit_addr);
            let keep_from = limit.saturating_sub(1);
            self.buf.drain(..keep_from);
            buf_start += keep_from as u64;
        }
    }

    /// The first match at or after `from` in the buffer.
    fn find(&self, from: usize) -> Option<(usize, usize)> {
        let hay = &self.buf;
        match (self.pattern, &self.finder) {
            (Pattern::Bytes(b), Some(f)) => {
                f.find(&hay[from..]).map(|i| (from + i, from + i + b.len()))
            }
            (Pattern::Regex(re), _) => re.find_at(hay, from).map(|m| (m.start(), m.end())),
            _ => None,
        }
    }
}

/// Prints a match: its address, the mapping it is in (maps-style), then
/// `context` bytes before and after it as a hexdump.
pub fn print_match(
    space: &AddressSpace,
    m: Match,
    context: u64,
    out: &mut dyn Write,
) -> Result<()> {
    let vma = space.vma_at(m.addr);
    write!(out, "{:x}: {} bytes", m.addr, m.len)?;
    if let Some(v) = vma {
        write!(
            out,
            " in {:x}-{:x} {} {:x}",
            v.start,
            v.end,
            v.perms(),
            v.pgoff
        )?;
        if let Some(p) = &v.path {
            write!(out, " {p}")?;
        }
    }
    writeln!(out)?;
    // Context stays inside the mapping (a read outside one would fail).
    let (lo, hi) = match vma {
        Some(v) => (v.start, v.end),
        None => (m.addr, m.addr + m.len),
    };
    let start = m.addr.saturating_sub(context).max(lo);
    let end = m.addr.saturating_add(m.len).saturating_add(context).min(hi);
    let mut buf = vec![0u8; (end - start).min(1 << 20) as usize];
    let n = space.read(start, &mut buf).unwrap_or(0);
    hexdump(start, &buf[..n], out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_patterns() {
        let Ok(Pattern::Bytes(b)) = Pattern::from_hex("de ad:BE ef") else {
            panic!()
        };
        assert_eq!(b, [0xde, 0xad, 0xbe, 0xef]);
        let Ok(Pattern::Bytes(b)) = Pattern::from_hex("0x0a0b") else {
            panic!()
        };
        assert_eq!(b, [10, 11]);
        assert!(Pattern::from_hex("abc").is_err());
        assert!(Pattern::from_hex("zz").is_err());
        assert!(Pattern::from_hex("").is_err());
        assert!(Pattern::from_regex("(").is_err());
    }
}
