//! A streaming tar reader that keeps each member's header blocks as they were
//! (so a rewrite can copy them byte for byte), reads ustar, GNU and pax
//! headers, and checks every field it uses: a damaged header, an extension
//! larger than [`MAX_EXTENSION`] or a cut-short member is an error naming
//! the member, never a panic or an allocation sized by the input.

use std::io::{self, Read, Write};

use super::ArchiveError;

pub const BLOCK: usize = 512;

/// Largest pax or GNU long-name extension read into memory.
pub const MAX_EXTENSION: u64 = 1 << 20;

/// What a member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// Character or block device, FIFO: never created by crit-fs.
    Special,
}

/// One member: its header blocks as read, and what they say.
#[derive(Clone, Debug)]
pub struct Member {
    /// Every block from the first extension header to the main header, as read.
    pub raw_header: Vec<u8>,
    /// Byte offset of `raw_header` in the (decompressed) tar stream.
    pub offset: u64,
    /// The path as written (pax `path` or GNU long name first, then ustar prefix/name).
    pub path: Vec<u8>,
    pub link: Vec<u8>,
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub mtime: i64,
    /// Whether a pax header of this member sets its size (a rewrite must change it there).
    pub pax_size: bool,
}

impl Member {
    /// The path for messages.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Reads members one after the other; the data of each must be read or
/// skipped before the next header.
pub struct TarReader<R: Read> {
    inner: R,
    /// Bytes consumed so far.
    pub pos: u64,
    /// Data of the current member not yet read, then its padding.
    left: u64,
    pad: u64,
    current: String,
    /// The end-of-archive zero block [`TarReader::next_member`] consumed
    /// (written out again by [`TarReader::copy_rest`]).
    end_block: bool,
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // Base-256 (GNU): big-endian, the first byte's top bit is the marker.
        if field[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = (field[0] & 0x3f) as u64;
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let s: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ')
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Where a header keeps its checksum.
const CHECKSUM: std::ops::Range<usize> = 148..156;

/// The header's checksum is right (unsigned sum, or signed as some old tars wrote).
pub fn checksum_ok(h: &[u8]) -> bool {
    let Some(want) = parse_octal(&h[CHECKSUM]) else {
        return false;
    };
    // The sum is taken with the checksum field itself read as spaces.
    let bytes = || {
        h.iter()
            .enumerate()
            .map(|(i, b)| if CHECKSUM.contains(&i) { b' ' } else { *b })
    };
    let unsigned: u64 = bytes().map(|b| b as u64).sum();
    let signed: i64 = bytes().map(|b| b as i8 as i64).sum();
    want == unsigned || want as i64 == signed
}

/// Sets a header's checksum field after a change.
pub fn set_checksum(h: &mut [u8]) {
    h[CHECKSUM].fill(b' ');
    let sum: u64 = h.iter().map(|b| *b as u64).sum();
    let s = format!("{sum:06o}\0 ");
    h[CHECKSUM].copy_from_slice(s.as_bytes());
}

/// Writes `v` into a numeric field: octal when it fits, else base-256.
pub fn set_number(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    if s.len() <= digits {
        field[..digits].copy_from_slice(s.as_bytes());
        field[digits] = 0;
    } else {
        field.fill(0);
        let mut x = v;
        for b in field.iter_mut().rev() {
            *b = (x & 0xff) as u8;
            x >>= 8;
        }
        field[0] |= 0x80;
    }
}

/// The records of a pax extended header: `LEN key=value\n` each.
pub fn pax_records(data: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let sp = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return None;
        }
        let rec = &rest[sp + 1..len - 1];
        let eq = rec.iter().position(|b| *b == b'=')?;
        out.push((rec[..eq].to_vec(), rec[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Some(out)
}

/// One pax record, its length prefix included.
pub fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len.to_string().len() + body != len {
        len = len.to_string().len() + body;
    }
    let mut r = format!("{len} ").into_bytes();
    r.extend_from_slice(key);
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

pub fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> TarReader<R> {
        TarReader {
            inner,
            pos: 0,
            left: 0,
            pad: 0,
            current: String::new(),
            end_block: false,
        }
    }

    fn err(&self, what: impl std::fmt::Display) -> ArchiveError {
        if self.current.is_empty() {
            return ArchiveError::new(format!("{what}, before its first member"));
        }
        ArchiveError::at(&self.current, what)
    }

    fn io_err(&self, e: io::Error, doing: &str) -> ArchiveError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            self.err(format!(
                "the archive is cut short ({doing}, byte {})",
                self.pos
            ))
        } else {
            self.err(format!(
                "the archive is damaged ({doing}, byte {}): {e}",
                self.pos
            ))
        }
    }

    fn read_block(&mut self, buf: &mut [u8; BLOCK], doing: &str) -> Result<bool, ArchiveError> {
        let mut n = 0;
        while n < BLOCK {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) if n == 0 => return Ok(false),
                Ok(0) => {
                    return Err(self.io_err(io::Error::from(io::ErrorKind::UnexpectedEof), doing));
                }
                Ok(r) => n += r,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_err(e, doing)),
            }
        }
        self.pos += BLOCK as u64;
        Ok(true)
    }

    /// The next member's header, or None at the end of the archive (two zero
    /// blocks, or one then the end of the stream). Skips what is left of the
    /// previous member's data.
    pub fn next_member(&mut self) -> Result<Option<Member>, ArchiveError> {
        self.skip_data()?;
        let offset = self.pos;
        let mut raw = Vec::new();
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut block = [0u8; BLOCK];
        loop {
            let doing = "reading a header";
            if !self.read_block(&mut block, doing)? {
                if raw.is_empty() {
                    // Every tar ends with zero blocks: a stream ending at a
                    // member's boundary was cut there.
                    return Err(self.err(format!(
                        "the archive is cut short after this member: no end-of-archive blocks (byte {})",
                        self.pos
                    )));
                }
                return Err(self.err(format!(
                    "the archive is cut short after an extension header (byte {})",
                    self.pos
                )));
            }
            if block.iter().all(|b| *b == 0) {
                if !raw.is_empty() {
                    return Err(
                        self.err("an extension header is followed by the end of the archive")
                    );
                }
                self.end_block = true;
                return Ok(None);
            }
            if !checksum_ok(&block) {
                return Err(self.err(format!(
                    "the archive is damaged: the header at byte {} has a wrong checksum (not a tar archive, or corrupted)",
                    self.pos - BLOCK as u64
                )));
            }
            raw.extend_from_slice(&block);
            let size = parse_octal(&block[124..136]).ok_or_else(|| {
                self.err("the archive is damaged: a header's size is not a number")
            })?;
            let flag = block[156];
            match flag {
                b'x' | b'g' | b'L' | b'K' => {
                    if size > MAX_EXTENSION {
                        return Err(self.err(format!(
                            "an extension header of {size} bytes (at most {MAX_EXTENSION} are read)"
                        )));
                    }
                    let data = self.read_exact_padded(size, "reading an extension header")?;
                    raw.extend_from_slice(&data);
                    let body = &data[..size as usize];
                    match flag {
                        b'L' => long_name = Some(cstr(body).to_vec()),
                        b'K' => long_link = Some(cstr(body).to_vec()),
                        b'x' => {
                            pax = pax_records(body).ok_or_else(|| {
                                self.err("the archive is damaged: a pax header is malformed")
                            })?;
                        }
                        _ => {} // global pax: applies to no field we use
                    }
                    continue;
                }
                _ => {}
            }
            let pax_get = |k: &[u8]| pax.iter().rev().find(|(kk, _)| kk == k).map(|(_, v)| v);
            let ustar = &block[257..263] == b"ustar\0";
            let path = if let Some(p) = pax_get(b"path") {
                p.clone()
            } else if let Some(p) = long_name.take() {
                p
            } else {
                let name = cstr(&block[..100]);
                let prefix = cstr(&block[345..500]);
                if ustar && !prefix.is_empty() {
                    let mut p = prefix.to_vec();
                    p.push(b'/');
                    p.extend_from_slice(name);
                    p
                } else {
                    name.to_vec()
                }
            };
            self.current = String::from_utf8_lossy(&path).into_owned();
            let link = pax_get(b"linkpath")
                .cloned()
                .or(long_link.take())
                .unwrap_or_else(|| cstr(&block[157..257]).to_vec());
            let (size, pax_size) = match pax_get(b"size") {
                Some(v) => (
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| {
                            self.err("the archive is damaged: a pax size is not a number")
                        })?,
                    true,
                ),
                None => (size, false),
            };
            let kind = match flag {
                b'0' | 0 | b'7' => Kind::File,
                b'5' => Kind::Dir,
                b'2' => Kind::Symlink,
                b'1' => Kind::Hardlink,
                b'3' | b'4' | b'6' => Kind::Special,
                other => {
                    return Err(
                        self.err(format!("unsupported tar member type {:?}", other as char))
                    );
                }
            };
            let mode = parse_octal(&block[100..108]).unwrap_or(0o644) as u32 & 0o7777;
            let mtime = parse_octal(&block[136..148]).unwrap_or(0) as i64;
            // Links and directories carry no data; a size there is skipped all the same.
            self.left = size;
            self.pad = padding(size);
            return Ok(Some(Member {
                raw_header: raw,
                offset,
                path,
                link,
                kind,
                size,
                mode,
                mtime,
                pax_size,
            }));
        }
    }

    fn read_exact_padded(&mut self, size: u64, doing: &str) -> Result<Vec<u8>, ArchiveError> {
        let total = size + padding(size);
        let mut data = vec![0u8; total as usize];
        self.inner
            .read_exact(&mut data)
            .map_err(|e| self.io_err(e, doing))?;
        self.pos += total;
        Ok(data)
    }

    /// Copies the current member's data to `out`, then consumes its padding.
    /// Returns the bytes copied. A stream ending early is an error naming the member.
    pub fn copy_data(&mut self, out: &mut dyn Write) -> Result<u64, ArchiveError> {
        let mut buf = vec![0u8; 256 << 10];
        let mut copied = 0;
        while self.left > 0 {
            let want = self.left.min(buf.len() as u64) as usize;
            let n = match self.inner.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(self.io_err(
                        io::Error::from(io::ErrorKind::UnexpectedEof),
                        "reading its data",
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_err(e, "reading its data")),
            };
            out.write_all(&buf[..n])
                .map_err(|e| self.err(format!("writing it out: {e}")))?;
            self.left -= n as u64;
            self.pos += n as u64;
            copied += n as u64;
        }
        self.skip_padding()?;
        Ok(copied)
    }

    /// Reads up to `buf.len()` bytes of the current member's data (0 at its end).
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, ArchiveError> {
        let want = self.left.min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        loop {
            match self.inner.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(self.io_err(
                        io::Error::from(io::ErrorKind::UnexpectedEof),
                        "reading its data",
                    ));
                }
                Ok(n) => {
                    self.left -= n as u64;
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_err(e, "reading its data")),
            }
        }
    }

    fn skip_padding(&mut self) -> Result<(), ArchiveError> {
        if self.pad > 0 {
            let mut p = [0u8; BLOCK];
            let n = self.pad as usize;
            self.inner
                .read_exact(&mut p[..n])
                .map_err(|e| self.io_err(e, "reading its padding"))?;
            self.pos += self.pad;
            self.pad = 0;
        }
        Ok(())
    }

    /// Skips what is left of the current member's data and padding.
    pub fn skip_data(&mut self) -> Result<(), ArchiveError> {
        if self.left > 0 {
            self.copy_data(&mut io::sink())?;
        }
        self.skip_padding()
    }

    /// Everything after the last member (the zero blocks, the one
    /// `next_member` read included, and any padding to a record), copied to
    /// `out` as it is.
    pub fn copy_rest(&mut self, out: &mut dyn Write) -> Result<u64, ArchiveError> {
        self.skip_data()?;
        if std::mem::take(&mut self.end_block) {
            out.write_all(&[0u8; BLOCK])
                .map_err(|e| self.err(format!("writing it out: {e}")))?;
        }
        let n = io::copy(&mut self.inner, out)
            .map_err(|e| self.io_err(e, "reading the end of the archive"))?;
        self.pos += n;
        Ok(n)
    }

    /// The decompressing reader underneath (for copying bytes verbatim).
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_records() {
        assert_eq!(parse_octal(b"0000644\0"), Some(0o644));
        assert_eq!(parse_octal(b"   12 \0"), Some(0o12));
        assert_eq!(parse_octal(b"0009\0"), None);
        let mut f = [0u8; 12];
        set_number(&mut f, 0o777);
        assert_eq!(&f, b"00000000777\0");
        set_number(&mut f, 1 << 40);
        assert_eq!(parse_octal(&f), Some(1 << 40));
        let r = pax_record(b"size", b"123");
        assert_eq!(r, b"12 size=123\n");
        let r = pax_record(b"path", &[b'a'; 95]);
        assert_eq!(pax_records(&r).unwrap()[0].1.len(), 95);
    }
}
