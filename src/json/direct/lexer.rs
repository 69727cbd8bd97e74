//! The JSON tokens the direct encoder reads, straight from the text: it
//! refuses (None) whatever the tree path might read otherwise.

use super::MAX_DEPTH;

/// The part of the text still to read.
pub(super) struct Text<'t> {
    pub(super) b: &'t [u8],
    pub(super) pos: usize,
}

/// A string as written: its raw content between the quotes.
#[derive(Clone, Copy)]
pub(super) struct RawStr<'t> {
    pub(super) raw: &'t [u8],
    pub(super) escaped: bool,
}

impl<'t> Text<'t> {
    #[inline(always)]
    pub(super) fn ws(&mut self) {
        // Usually there is none, or one space.
        match self.b.get(self.pos) {
            Some(&c) if c > b' ' => {}
            Some(b' ') if self.b.get(self.pos + 1).is_some_and(|&c| c > b' ') => self.pos += 1,
            _ => self.skip_ws(),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    pub(super) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.pos).copied()
    }

    pub(super) fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.pos += 1)
    }

    /// After an item of a container: true at `,`, false at `close`.
    pub(super) fn more(&mut self, close: u8) -> Option<bool> {
        let c = self.peek()?;
        self.pos += 1;
        match c {
            b',' => Some(true),
            c if c == close => Some(false),
            _ => None,
        }
    }

    /// Whether the container just opened is empty (and then closes it).
    pub(super) fn empty(&mut self, close: u8) -> Option<bool> {
        Some(
            self.peek()? == close && {
                self.pos += 1;
                true
            },
        )
    }

    /// A string token; its content is checked when it is read as bytes.
    pub(super) fn string(&mut self) -> Option<RawStr<'t>> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            // Most strings are short: a plain loop beats memchr's set-up there.
            let rest = &self.b[self.pos..];
            let near = &rest[..rest.len().min(32)];
            let mut i = 0;
            while i < near.len() && near[i] != b'"' && near[i] != b'\\' {
                i += 1;
            }
            let at = self.pos
                + match i < near.len() {
                    true => i,
                    false => memchr::memchr2(b'"', b'\\', rest)?,
                };
            if self.b[at] == b'"' {
                self.pos = at + 1;
                return Some(RawStr {
                    raw: &self.b[start..at],
                    escaped,
                });
            }
            escaped = true;
            self.pos = at + 2;
            if self.pos > self.b.len() {
                return None;
            }
        }
    }

    /// A string of plain ASCII without escapes (keys, enum names, the magic).
    pub(super) fn plain_str(&mut self) -> Option<&'t str> {
        let s = self.string()?;
        if s.escaped || !s.raw.iter().all(|&c| (0x20..0x80).contains(&c)) {
            return None;
        }
        std::str::from_utf8(s.raw).ok()
    }

    /// An integer as serde_json reads it (a u64, or a negative i64); None
    /// for what it reads as a float (fractions, exponents, `-0`, overflow).
    pub(super) fn integer(&mut self) -> Option<i128> {
        self.ws();
        let b = self.b;
        let neg = b.get(self.pos) == Some(&b'-');
        let start = self.pos + usize::from(neg);
        let mut i = start;
        let mut v: u64 = 0;
        // Eight digits at a time while they surely fit (16 of the 19 that always do).
        while i - start < 16
            && let Some(chunk) = b.get(i..i + 8)
        {
            let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            if !eight_digits(x) {
                break;
            }
            v = v * 100_000_000 + eight_digits_value(x);
            i += 8;
        }
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            // 19 digits always fit a u64; a 20th may overflow.
            v = if i - start < 19 {
                v * 10 + u64::from(d)
            } else {
                v.checked_mul(10)?.checked_add(u64::from(d))?
            };
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || (digits > 1 && b[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = b.get(i) {
            return None;
        }
        self.pos = i;
        match neg {
            false => Some(i128::from(v)),
            true if v == 0 || v > 1 << 63 => None,
            true => Some(-i128::from(v)),
        }
    }

    /// Reads `"name":` if that is what comes next.
    pub(super) fn key_is(&mut self, name: &str) -> bool {
        self.ws();
        let n = name.len();
        let at = self.pos;
        let hit = self
            .b
            .get(at..at + n + 2)
            .is_some_and(|s| s[0] == b'"' && s[n + 1] == b'"' && &s[1..=n] == name.as_bytes());
        if hit {
            self.pos = at + n + 2;
            if self.eat(b':').is_none() {
                self.pos = at;
                return false;
            }
        }
        hit
    }

    pub(super) fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        let end = self.pos + word.len();
        (self.b.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// Steps over any value, checking only its structure: the tree path
    /// parses what this delimits.
    pub(super) fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (close, keyed) = match self.peek()? {
            b'"' => return self.string().map(drop),
            b'{' => (b'}', true),
            b'[' => (b']', false),
            _ => {
                let len = self.b[self.pos..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
                    .count();
                self.pos += len;
                return (len > 0).then_some(());
            }
        };
        self.pos += 1;
        if self.empty(close)? {
            return Some(());
        }
        loop {
            if keyed {
                self.string()?;
                self.eat(b':')?;
            }
            self.skip_value(depth + 1)?;
            if !self.more(close)? {
                return Some(());
            }
        }
    }
}

/// The bytes a string stands for, or None where the tree path may read it
/// otherwise or refuse it: control characters, invalid UTF-8, lone
/// surrogates, and U+E000..U+EFFF (strict.rs marks part of that range).
pub(super) fn unescape<'a>(s: RawStr<'a>, scratch: &'a mut Vec<u8>) -> Option<&'a str> {
    let clean = |b: &[u8]| b.iter().all(|&c| c >= 0x20 && c != 0xee);
    if !s.escaped {
        return clean(s.raw)
            .then(|| std::str::from_utf8(s.raw).ok())
            .flatten();
    }
    scratch.clear();
    let mut rest = s.raw;
    while let Some(i) = memchr::memchr(b'\\', rest) {
        scratch.extend_from_slice(&rest[..i]);
        let (c, len) = match *rest.get(i + 1)? {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'/' => ('/', 2),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => unicode_escape(&rest[i..])?,
            _ => return None,
        };
        if ('\u{e000}'..='\u{efff}').contains(&c) {
            return None;
        }
        let mut buf = [0; 4];
        scratch.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        rest = &rest[i + len..];
    }
    scratch.extend_from_slice(rest);
    // Escapes only add valid characters; what was written raw is checked here.
    let raw_ok = clean(s.raw);
    raw_ok.then(|| std::str::from_utf8(scratch).ok()).flatten()
}

/// `\uXXXX` (or a surrogate pair of two) at the start of `s`: the character
/// and the length of its escape.
fn unicode_escape(s: &[u8]) -> Option<(char, usize)> {
    let hex = |at: usize| -> Option<u32> {
        let h = s.get(at..at + 4)?;
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    };
    let u = hex(2)?;
    if !(0xd800..=0xdbff).contains(&u) {
        return Some((char::from_u32(u)?, 6));
    }
    if s.get(6..8)? != b"\\u" {
        return None;
    }
    let low = hex(8).filter(|l| (0xdc00..=0xdfff).contains(l))?;
    Some((
        char::from_u32(0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00))?,
        12,
    ))
}

/// Whether the eight bytes of `x` (little-endian) are all ASCII digits.
fn eight_digits(x: u64) -> bool {
    let high = x & 0xf0f0_f0f0_f0f0_f0f0;
    let carried = (x.wrapping_add(0x0606_0606_0606_0606) & 0xf0f0_f0f0_f0f0_f0f0) >> 4;
    high | carried == 0x3333_3333_3333_3333
}

/// The number eight ASCII digits (little-endian in `x`) write, with three
/// multiplications instead of eight.
fn eight_digits_value(x: u64) -> u64 {
    let x = x - 0x3030_3030_3030_3030;
    let x = x * 10 + (x >> 8);
    let mask = 0x0000_00ff_0000_00ff;
    let hi = (x & mask).wrapping_mul(0x000f_4240_0000_0064);
    let lo = ((x >> 16) & mask).wrapping_mul(0x0000_2710_0000_0001);
    hi.wrapping_add(lo) >> 32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_digits_at_once() {
        for s in ["00000000", "12345678", "99999999", "10000001", "00000009"] {
            let x = u64::from_le_bytes(s.as_bytes().try_into().unwrap());
            assert!(eight_digits(x), "{s}");
            assert_eq!(eight_digits_value(x), s.parse::<u64>().unwrap(), "{s}");
        }
        for s in [
            "1234567a",
            "/2345678",
            ":2345678",
            "1234 678",
            "\u{7f}2345678",
        ] {
            let b = &s.as_bytes()[..8];
            assert!(
                !eight_digits(u64::from_le_bytes(b.try_into().unwrap())),
                "{s}"
            );
        }
        for n in [
            0u64,
            7,
            12345678,
            123456789,
            9_999_999_999_999_999,
            u64::MAX,
        ] {
            let text = format!("{n},");
            let mut t = Text {
                b: text.as_bytes(),
                pos: 0,
            };
            assert_eq!(t.integer(), Some(i128::from(n)));
            assert_eq!(t.pos, text.len() - 1);
        }
    }
}
