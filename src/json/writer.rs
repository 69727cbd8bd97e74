//! A JSON writer that produces exactly what Python's `json.dump` prints:
//! `", "` / `": "` separators when compact, `indent=4` when pretty, and
//! ASCII-only strings (`ensure_ascii`).

use std::fmt::Write as _;
use std::io;

/// How much output is buffered before it is handed to a sink: large enough
/// that the kernel's cost per write(2) does not count (64 KiB pieces made
/// the 92 MB of a 64 MiB pipe's JSON 15–20 % slower to write), small enough
/// to keep memory flat.
const SPILL_AT: usize = 1024 * 1024;

/// Streaming writer into a byte buffer, optionally drained into an
/// [`io::Write`] sink as it fills (see [`JsonWriter::with_sink`]).
pub struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    sink: Option<&'a mut dyn io::Write>,
    /// The first error of the sink; later output is dropped.
    sink_error: Option<io::Error>,
    pretty: bool,
    /// How many containers are open.
    depth: usize,
    /// Whether the innermost open container has items yet (an outer one
    /// always has: the inner one).
    has_items: bool,
    /// A key was just written: the next value needs no separator.
    after_key: bool,
    /// While above zero, output stays in the buffer so that it can be
    /// taken back ([`JsonWriter::undo`]).
    held: usize,
}

/// Where the output was, for [`JsonWriter::undo`].
#[derive(Clone, Copy)]
pub struct Mark {
    len: usize,
    depth: usize,
    has_items: bool,
    after_key: bool,
}

impl<'a> JsonWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>, pretty: bool) -> Self {
        JsonWriter {
            out,
            sink: None,
            sink_error: None,
            pretty,
            depth: 0,
            has_items: false,
            after_key: false,
            held: 0,
        }
    }

    /// A writer that uses `out` as a buffer and drains it into `sink` at
    /// container ends and during long base64 strings. Call
    /// [`JsonWriter::finish`] to write the rest and learn of errors.
    pub fn with_sink(out: &'a mut Vec<u8>, sink: &'a mut dyn io::Write, pretty: bool) -> Self {
        let mut w = JsonWriter::new(out, pretty);
        w.sink = Some(sink);
        w
    }

    /// Whether the sink has failed (the rest of the output is then pointless).
    pub fn failed(&self) -> bool {
        self.sink_error.is_some()
    }

    /// The current position, to come back to with [`JsonWriter::undo`].
    #[inline]
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.out.len(),
            depth: self.depth,
            has_items: self.has_items,
            after_key: self.after_key,
        }
    }

    /// Takes back what was written since `mark`, which must not have left
    /// the buffer: taken while [`JsonWriter::hold`] was in force, or with
    /// nothing but opening brackets and keys written since.
    pub fn undo(&mut self, mark: Mark) {
        debug_assert!(self.out.len() >= mark.len, "output left the buffer");
        self.out.truncate(mark.len);
        self.depth = mark.depth;
        self.has_items = mark.has_items;
        self.after_key = mark.after_key;
    }

    /// Keeps output in the buffer until the matching [`JsonWriter::unhold`].
    #[inline]
    pub fn hold(&mut self) {
        self.held += 1;
    }

    #[inline]
    pub fn unhold(&mut self) {
        self.held -= 1;
    }

    /// Hands the buffer to the sink once it holds [`SPILL_AT`] bytes.
    #[inline(always)]
    fn spill(&mut self) {
        if self.out.len() >= SPILL_AT && self.held == 0 {
            self.drain();
        }
    }

    fn drain(&mut self) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        if self.sink_error.is_none()
            && let Err(e) = sink.write_all(self.out)
        {
            self.sink_error = Some(e);
        }
        self.out.clear();
    }

    /// Writes what is buffered to the sink (if any) and reports its first error.
    pub fn finish(mut self) -> io::Result<()> {
        self.drain();
        match self.sink_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    #[inline]
    fn newline(&mut self) {
        push_indent(self.out, self.depth);
    }

    /// Separator before the next item of the innermost container.
    #[inline(always)]
    fn item(&mut self) {
        if std::mem::take(&mut self.after_key) || self.depth == 0 {
            return;
        }
        if std::mem::replace(&mut self.has_items, true) {
            // Two pushes, not a slice of either length: that would be a
            // call to memmove.
            self.out.push(b',');
            if !self.pretty {
                self.out.push(b' ');
            }
        }
        if self.pretty {
            self.newline();
        }
    }

    #[inline(always)]
    fn open(&mut self, c: u8) {
        self.item();
        self.out.push(c);
        self.depth += 1;
        self.has_items = false;
    }

    pub fn begin_object(&mut self) {
        self.open(b'{');
    }

    pub fn end_object(&mut self) {
        self.close(b'}');
    }

    pub fn begin_array(&mut self) {
        self.open(b'[');
    }

    pub fn end_array(&mut self) {
        self.close(b']');
    }

    #[inline(always)]
    fn close(&mut self, c: u8) {
        let had = self.depth > 0 && self.has_items;
        self.depth = self.depth.saturating_sub(1);
        if had && self.pretty {
            self.newline();
        }
        self.out.push(c);
        // The container just closed is an item of the one around it.
        self.has_items = true;
        self.spill();
    }

    /// An object key; exactly one value must follow.
    pub fn key(&mut self, k: &str) {
        self.item();
        write_str(self.out, k);
        self.out.extend_from_slice(b": ");
        self.after_key = true;
    }

    /// A key that needs no escaping, such as a protobuf field name (letters,
    /// digits and `_`): copied as it is, the hot path of decode.
    #[inline(always)]
    pub fn plain_key(&mut self, k: &str) {
        debug_assert!(needs_no_escape(k.as_bytes()), "{k:?}");
        self.item();
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\": ");
        self.after_key = true;
    }

    /// A key prepared by [`Key::new`]: one fixed-size copy.
    #[inline(always)]
    pub fn fixed_key(&mut self, k: &Key) {
        self.item();
        push_prefix(self.out, &k.text, usize::from(k.len));
        self.after_key = true;
    }

    /// A name from the schema (an enum value's): an identifier, so written
    /// without looking for characters to escape.
    pub fn name(&mut self, s: &str) {
        debug_assert!(needs_no_escape(s.as_bytes()), "{s:?}");
        self.raw_string(|out| out.extend_from_slice(s.as_bytes()));
    }

    pub fn string(&mut self, s: &str) {
        self.item();
        write_str(self.out, s);
    }

    /// A string given as bytes: valid UTF-8 is written as by
    /// [`JsonWriter::string`], each other byte as `\udcXX` (Python's
    /// `surrogateescape`), which the strict reader turns back into the byte.
    pub fn string_bytes(&mut self, s: &[u8]) {
        self.item();
        write_str_bytes(self.out, s);
    }

    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.item();
        push_u64(self.out, v);
    }

    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.item();
        if v < 0 {
            self.out.push(b'-');
        }
        push_u64(self.out, v.unsigned_abs());
    }

    /// A string value written by `f` straight into the output, which must
    /// append only printable ASCII other than `"` and `\\` (no escaping is done).
    #[inline]
    pub fn raw_string(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        self.item();
        self.out.push(b'"');
        f(self.out);
        self.out.push(b'"');
    }

    pub fn f64(&mut self, v: f64) {
        self.item();
        let _ = write!(Buf(self.out), "{}", python_float_repr(v));
    }

    /// CRIT's base64 text of `data` (76-character lines) as a string value.
    pub fn base64(&mut self, data: &[u8]) {
        // Whole lines (57 input bytes each) per piece give the same text as
        // one call, and let a large payload stream out piece by piece.
        const PIECE: usize = 57 * 1024;
        self.item();
        self.out.push(b'"');
        for piece in data.chunks(PIECE) {
            super::text::push_base64_lines_json(self.out, piece);
            self.spill();
        }
        self.out.push(b'"');
    }

    pub fn bool(&mut self, v: bool) {
        self.item();
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }
}

/// Longest JSON key text `"name": ` a [`Key`] holds; every field name of
/// the CRIU schema fits.
const KEY_MAX: usize = 48;

/// A field name's key text, `"name": `, kept in a fixed-size array so that
/// writing it is one fixed-size copy ([`push_prefix`]).
#[derive(Clone, Copy)]
pub struct Key {
    text: [u8; KEY_MAX],
    len: u8,
}

impl Key {
    /// The key of a name that needs no escaping (a protobuf field name);
    /// None if it is too long to hold.
    pub fn new(name: &str) -> Option<Key> {
        debug_assert!(needs_no_escape(name.as_bytes()), "{name:?}");
        let len = name.len() + 4;
        let mut text = [0; KEY_MAX];
        text.get_mut(..len)?
            .copy_from_slice(&[b"\"", name.as_bytes(), b"\": "].concat());
        Some(Key {
            text,
            len: len as u8,
        })
    }
}

/// Appends the first `n` bytes of `chunk`. The whole array is copied and the
/// rest cut off again: for the short pieces of decode (keys, digits,
/// indentation) a copy of known size is inlined, where one of variable size
/// is a call to `memmove` (a sixth of mm decode's samples).
#[inline(always)]
pub(crate) fn push_prefix<const N: usize>(out: &mut Vec<u8>, chunk: &[u8; N], n: usize) {
    debug_assert!(n <= N);
    let len = out.len();
    out.extend_from_slice(chunk);
    out.truncate(len + n);
}

/// A line break and the indentation of `depth` levels, from one constant
/// when it is deep enough (pretty output writes one per item).
#[inline]
fn push_indent(out: &mut Vec<u8>, depth: usize) {
    // Sixteen levels: deep enough for CRIU's images, small enough for the
    // copy to be inlined.
    const INDENT: [u8; 65] = {
        let mut a = [b' '; 65];
        a[0] = b'\n';
        a
    };
    let n = 1 + 4 * depth;
    if n <= INDENT.len() {
        return push_prefix(out, &INDENT, n);
    }
    out.push(b'\n');
    for _ in 0..depth {
        out.extend_from_slice(b"    ");
    }
}

/// The two digits of each number below 100.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Appends the decimal digits of `v` (the hot path of decode: no fmt
/// machinery, two digits per division).
#[inline(always)]
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

struct Buf<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Python's `repr(float)` for the values JSON can carry.
fn python_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let s = format!("{v:?}");
    // Rust prints 1e16 as "1e16"; Python as "1e+16".
    match s.find('e') {
        Some(i) if !s[i + 1..].starts_with('-') => format!("{}e+{}", &s[..i], &s[i + 1..]),
        _ => s,
    }
}

/// Writes bytes as a JSON string literal: the UTF-8 parts as [`write_str`]
/// does, each byte that is not part of valid UTF-8 as `\udcXX`, the lone
/// surrogate Python's `surrogateescape` error handler decodes it to.
pub fn write_str_bytes(out: &mut Vec<u8>, s: &[u8]) {
    if let Ok(s) = std::str::from_utf8(s) {
        return write_str(out, s);
    }
    out.push(b'"');
    for chunk in s.utf8_chunks() {
        write_str_body(out, chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(Buf(out), "\\udc{b:02x}");
        }
    }
    out.push(b'"');
}

/// Writes a JSON string literal with Python's `ensure_ascii` escaping.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Whether `bytes` go into a JSON string literal as they are.
fn needs_no_escape(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

/// The inside of [`write_str`]'s literal.
fn write_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Keys and most values need no escaping: copy them whole.
    if needs_no_escape(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&[u8]> = match c {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            '\u{8}' => Some(b"\\b"),
            '\u{c}' => Some(b"\\f"),
            ' '..='~' => continue,
            _ => None,
        };
        out.extend_from_slice(&bytes[plain_from..i]);
        plain_from = i + c.len_utf8();
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(Buf(out), "\\u{:04x}", u);
                }
            }
        }
    }
    out.extend_from_slice(&bytes[plain_from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(pretty: bool) -> String {
        let mut out = Vec::new();
        let mut w = JsonWriter::new(&mut out, pretty);
        w.begin_object();
        w.key("a");
        w.u64(1);
        w.key("l");
        w.begin_array();
        w.string("x\u{e9}\u{1F600}\"\u{7f}");
        w.begin_object();
        w.end_object();
        w.end_array();
        w.key("e");
        w.begin_array();
        w.end_array();
        w.end_object();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn integers_match_display() {
        for v in [0, 1, 9, 10, 99, 100, 12345, i64::MAX, i64::MIN, -1, -10] {
            let mut out = Vec::new();
            JsonWriter::new(&mut out, false).i64(v);
            assert_eq!(out, v.to_string().as_bytes());
        }
        let mut tens: Vec<u64> = (0..20).map(|k| 10u64.pow(k)).collect();
        tens.extend(tens.clone().iter().map(|t| t - 1));
        tens.extend(tens.clone().iter().map(|t| t + 1));
        for v in tens.into_iter().chain([0, 7, 10, u64::MAX, u64::MAX / 10]) {
            let mut out = Vec::new();
            JsonWriter::new(&mut out, false).u64(v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }

    #[test]
    fn compact_matches_python() {
        assert_eq!(
            render(false),
            r#"{"a": 1, "l": ["x\u00e9\ud83d\ude00\"\u007f", {}], "e": []}"#
        );
    }

    #[test]
    fn pretty_matches_python() {
        let want = "{\n    \"a\": 1,\n    \"l\": [\n        \"x\\u00e9\\ud83d\\ude00\\\"\\u007f\",\n        {}\n    ],\n    \"e\": []\n}";
        assert_eq!(render(true), want);
    }

    #[test]
    fn every_enum_name_is_written_as_json_would_escape_it() {
        // `JsonWriter::name` skips the escape scan: true only while every
        // enum value of the schema needs none.
        for e in &crate::schema::Schema::get().enums {
            for (name, _) in e.values() {
                let mut plain = Vec::new();
                JsonWriter::new(&mut plain, false).name(name);
                let mut escaped = Vec::new();
                JsonWriter::new(&mut escaped, false).string(name);
                assert_eq!(plain, escaped, "{}.{name}", e.name);
            }
        }
    }
}
