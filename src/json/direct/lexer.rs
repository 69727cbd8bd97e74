//! The JSON tokens the direct encoder reads, straight from the text: it
//! refuses (None) whatever the tree path might read otherwise.

use super::MAX_DEPTH;
use super::plans::KeyPattern;

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
        loop {
            // Indentation (`--pretty`) eight spaces at a time.
            while let Some(chunk) = self.b.get(self.pos..self.pos + 8) {
                let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                let other = x ^ (u64::from(b' ') * ONES);
                if other != 0 {
                    self.pos += (other.trailing_zeros() / 8) as usize;
                    break;
                }
                self.pos += 8;
            }
            match self.b.get(self.pos) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                _ => return,
            }
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
            let rest = &self.b[self.pos..];
            // Most strings are short: eight bytes at a time beats memchr's
            // set-up there.
            let mut i = 0;
            while let Some(chunk) = rest.get(i..i + 8).filter(|_| i < 32) {
                let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                let stops = zero_bytes(x ^ (u64::from(b'"') * ONES))
                    | zero_bytes(x ^ (u64::from(b'\\') * ONES));
                if stops != 0 {
                    i += (stops.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            let at = self.pos
                + match rest.get(i) {
                    Some(b'"' | b'\\') => i,
                    _ => i + memchr::memchr2(b'"', b'\\', &rest[i.min(rest.len())..])?,
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
        let (v, end) = match b.get(start..start + 24) {
            Some(near) => digits_near(near)?,
            None => digits_slowly(&b[start..])?,
        };
        let i = start + end;
        if end == 0 || (end > 1 && b[start] == b'0') {
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

    /// Reads the key `k` if it comes next as CRIT writes it; false may
    /// also mean it is written otherwise.
    #[inline(always)]
    pub(super) fn key(&mut self, k: &KeyPattern) -> bool {
        self.ws();
        match k.matches(&self.b[self.pos..]) {
            Some(n) => {
                self.pos += n;
                true
            }
            None => false,
        }
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

/// The plain number of at most 16 digits `near` starts with, and its
/// length; None for anything else (no digit, a leading zero, a 17th
/// digit, a fraction or an exponent), which [`Text::integer`] reads.
#[inline(always)]
pub(super) fn plain_uint(near: &[u8; 24]) -> Option<(u64, usize)> {
    // One digit is the commonest number of all (flags, counts, zeros).
    let first = near[0].wrapping_sub(b'0');
    if first > 9 {
        return None;
    }
    if !matches!(near[1], b'0'..=b'9' | b'.' | b'e' | b'E') {
        return Some((u64::from(first), 1));
    }
    let load = |at: usize| u64::from_le_bytes(near[at..at + 8].try_into().expect("8 bytes"));
    let (x0, x1) = (load(0), load(8));
    let (v, n) = match leading_digits(x0) {
        8 => match leading_digits(x1) {
            0 => (eight_digits_value(x0), 8),
            8 => (
                eight_digits_value(x0) * 100_000_000 + eight_digits_value(x1),
                16,
            ),
            n1 => (
                eight_digits_value(x0) * POW10[n1] + eight_digits_value(right_aligned(x1, n1)),
                8 + n1,
            ),
        },
        n0 => (eight_digits_value(right_aligned(x0, n0)), n0),
    };
    if (first == 0 && n > 1) || matches!(near[n.min(16)], b'0'..=b'9' | b'.' | b'e' | b'E') {
        return None;
    }
    Some((v, n))
}

/// The value and count of the ASCII digits `b` starts with, read eight at
/// a time; None if they overflow a u64. `b` must hold 24 bytes, enough for
/// 20 digits (more overflow) and what ends them.
#[inline(always)]
fn digits_near(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    let mut count = 0;
    for chunk in b.chunks_exact(8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let n = leading_digits(x);
        if n == 8 {
            // 16 digits always fit; the caller's 24 bytes hold the rest.
            if count == 16 {
                return digits_slowly(b);
            }
            v = v * 100_000_000 + eight_digits_value(x);
            count += 8;
            continue;
        }
        if n > 0 {
            let part = eight_digits_value(right_aligned(x, n));
            v = match count {
                16 => v.checked_mul(POW10[n])?.checked_add(part)?,
                _ => v * POW10[n] + part,
            };
            count += n;
        }
        return Some((v, count));
    }
    digits_slowly(b)
}

/// [`digits_near`] a digit at a time, for the text's last bytes and the
/// longest numbers.
fn digits_slowly(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    let mut count = 0;
    while let Some(&c) = b.get(count) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
        count += 1;
    }
    Some((v, count))
}

/// The first `n` (1..=7) bytes of `x`, right-aligned behind ASCII zeros.
#[inline(always)]
fn right_aligned(x: u64, n: usize) -> u64 {
    (x << (8 * (8 - n))) | (ZEROS >> (8 * n))
}

const ZEROS: u64 = 0x3030_3030_3030_3030;

const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each zero byte of `x` set, and possibly of bytes after
/// the first zero one (borrows only run upwards): good for finding the
/// first.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & (0x80 * ONES)
}

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// How many of the eight bytes of `x` (little-endian) are ASCII digits
/// before the first that is not.
#[inline(always)]
fn leading_digits(x: u64) -> usize {
    let t = x ^ ZEROS;
    // A byte's high bit is set where it is not 0..=9 once '0' is taken off;
    // carries out of such a byte only reach later bytes.
    let not_digit = (t.wrapping_add(0x76 * ONES) | t) & (0x80 * ONES);
    (not_digit.trailing_zeros() / 8) as usize
}

/// The number eight ASCII digits (little-endian in `x`) write, with three
/// multiplications instead of eight.
fn eight_digits_value(x: u64) -> u64 {
    let x = x - ZEROS;
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
            assert_eq!(leading_digits(x), 8, "{s}");
            assert_eq!(eight_digits_value(x), s.parse::<u64>().unwrap(), "{s}");
        }
        for (s, n) in [
            ("1234567a", 7),
            ("/2345678", 0),
            (":2345678", 0),
            ("1234 678", 4),
            ("\u{7f}2345678", 0),
            ("9\u{ff}999999", 1),
            ("99\u{8a}99999", 2),
        ] {
            let b = &s.as_bytes()[..8];
            assert_eq!(
                leading_digits(u64::from_le_bytes(b.try_into().unwrap())),
                n,
                "{s:?}"
            );
        }
    }

    /// `extra`, then runs of nines and powers of ten up to `longest` digits.
    fn number_cases(extra: &[&str], longest: usize) -> Vec<String> {
        let mut cases: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for len in 1..=longest {
            cases.push("9".repeat(len));
            cases.push(format!("1{}", "0".repeat(len - 1)));
        }
        cases
    }

    /// What `integer` must read, checked against str::parse.
    fn expect(text: &str) -> Option<i128> {
        let end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(text.len());
        let num = &text[..end];
        let digits = num.trim_start_matches('-');
        let float = matches!(text[end..].chars().next(), Some('.' | 'e' | 'E'));
        let n: i128 = num.parse().ok()?;
        let fits = n >= i128::from(i64::MIN) && n <= i128::from(u64::MAX);
        let zero_led = digits.len() > 1 && digits.starts_with('0');
        (fits
            && !float
            && !zero_led
            && num != "-0"
            && digits.len() == num.len() - usize::from(num.starts_with('-')))
        .then_some(n)
    }

    #[test]
    fn plain_uints_agree_with_integer() {
        let cases = number_cases(
            &[
                "0",
                "00",
                "01",
                "-1",
                "1.5",
                "2e3",
                "x",
                "9223372036854775807",
            ],
            18,
        );
        for case in cases {
            for tail in [",", "}", " ", ".0", "E1", "e"] {
                let text = format!("{case}{tail}{}", " ".repeat(24));
                let near: &[u8; 24] = text.as_bytes()[..24].try_into().unwrap();
                let mut slow = Text {
                    b: text.as_bytes(),
                    pos: 0,
                };
                match plain_uint(near) {
                    Some((v, n)) => {
                        assert_eq!(slow.integer(), Some(i128::from(v)), "{text:?}");
                        assert_eq!(n, slow.pos, "{text:?}");
                    }
                    None => {
                        // Left to the slow way only when it is not a short plain number.
                        let plain = case.len() <= 16
                            && !case.starts_with('0')
                            && case.bytes().all(|c| c.is_ascii_digit())
                            && !matches!(tail.as_bytes()[0], b'.' | b'e' | b'E');
                        assert!(!plain, "{text:?}");
                    }
                }
            }
        }
    }

    /// The string token as a plain loop finds it: (content, escaped, end).
    fn naive_string(b: &[u8]) -> Option<(&[u8], bool, usize)> {
        let mut i = 1;
        let mut escaped = false;
        loop {
            match *b.get(i)? {
                b'"' => return Some((&b[1..i], escaped, i + 1)),
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => i += 1,
            }
        }
    }

    #[test]
    fn strings_end_where_a_plain_loop_says() {
        for len in 0..70 {
            for special in [None, Some(b'\\'), Some(b'"')] {
                for at in 0..len.max(1) {
                    for pad in [0, 1, 9, 40] {
                        let mut body = vec![b'a'; len];
                        if let Some(c) = special
                            && at < len
                        {
                            body[at] = c;
                        }
                        let mut text = vec![b'"'];
                        text.extend_from_slice(&body);
                        text.push(b'"');
                        text.extend(std::iter::repeat_n(b' ', pad));
                        let open = &text[..len + 1];
                        for text in [&text[..], open] {
                            let mut t = Text { b: text, pos: 0 };
                            let got = t.string().map(|s| (s.raw, s.escaped, t.pos));
                            let text_lossy = String::from_utf8_lossy(text);
                            assert_eq!(got, naive_string(text), "{text_lossy:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn white_space_of_any_length_is_skipped() {
        for len in 0..40 {
            for first in [b' ', b'\n', b'\t', b'\r'] {
                let mut text = vec![first];
                text.extend(std::iter::repeat_n(b' ', len));
                for end in [&b"x"[..], b"\n  y", b""] {
                    let mut all = text.clone();
                    all.extend_from_slice(end);
                    let mut t = Text { b: &all, pos: 0 };
                    t.skip_ws();
                    let want = all
                        .iter()
                        .position(|c| !matches!(c, b' ' | b'\n' | b'\t' | b'\r'))
                        .unwrap_or(all.len());
                    assert_eq!(t.pos, want, "{all:?}");
                }
            }
        }
    }

    #[test]
    fn integers_near_and_at_the_end_of_the_text() {
        let cases = number_cases(
            &[
                "0",
                "7",
                "-1",
                "-0",
                "00",
                "012",
                "12345678",
                "123456789",
                "9999999999999999",
                "18446744073709551615",
                "18446744073709551616",
                "99999999999999999999",
                "-9223372036854775808",
                "-9223372036854775809",
                "100000000000000000000000000",
                "1.5",
                "2e3",
                "-",
                "x",
            ],
            21,
        );
        for case in cases {
            for tail in ["", ",", "}", " ", ".0", "e1"] {
                for pad in [0, 40] {
                    let text = format!("{case}{tail}{}", " ".repeat(pad));
                    let mut t = Text {
                        b: text.as_bytes(),
                        pos: 0,
                    };
                    let want = expect(&text);
                    assert_eq!(t.integer(), want, "{text:?}");
                    if want.is_some() {
                        assert_eq!(t.pos, case.len(), "{text:?}");
                    }
                }
            }
        }
    }
}
