//! A JSON writer that produces exactly what Python's `json.dump` prints:
//! `", "` / `": "` separators when compact, `indent=4` when pretty, and
//! ASCII-only strings (`ensure_ascii`).

use std::fmt::Write as _;
use std::io;

/// How much output is buffered before it is handed to a sink: large enough
/// that the kernel copy dominates, small enough to keep memory flat.
const SPILL_AT: usize = 64 * 1024;

/// Streaming writer into a byte buffer, optionally drained into an
/// [`io::Write`] sink as it fills (see [`JsonWriter::with_sink`]).
pub struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    sink: Option<&'a mut dyn io::Write>,
    /// The first error of the sink; later output is dropped.
    sink_error: Option<io::Error>,
    pretty: bool,
    /// One entry per open container: whether it has items yet.
    stack: Vec<bool>,
    /// A key was just written: the next value needs no separator.
    after_key: bool,
}

impl<'a> JsonWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>, pretty: bool) -> Self {
        JsonWriter {
            out,
            sink: None,
            sink_error: None,
            pretty,
            stack: Vec::new(),
            after_key: false,
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

    /// Hands the buffer to the sink once it holds [`SPILL_AT`] bytes.
    fn spill(&mut self) {
        if self.out.len() >= SPILL_AT {
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

    fn newline(&mut self) {
        self.out.push(b'\n');
        for _ in 0..self.stack.len() {
            self.out.extend_from_slice(b"    ");
        }
    }

    /// Separator before the next item of the innermost container.
    fn item(&mut self) {
        if std::mem::take(&mut self.after_key) {
            return;
        }
        if let Some(has) = self.stack.last_mut() {
            let had = std::mem::replace(has, true);
            if had {
                self.out.push(b',');
                if !self.pretty {
                    self.out.push(b' ');
                }
            }
            if self.pretty {
                self.newline();
            }
        }
    }

    pub fn begin_object(&mut self) {
        self.item();
        self.out.push(b'{');
        self.stack.push(false);
    }

    pub fn end_object(&mut self) {
        self.close(b'}');
    }

    pub fn begin_array(&mut self) {
        self.item();
        self.out.push(b'[');
        self.stack.push(false);
    }

    pub fn end_array(&mut self) {
        self.close(b']');
    }

    fn close(&mut self, c: u8) {
        let had = self.stack.pop().unwrap_or(false);
        if had && self.pretty {
            self.newline();
        }
        self.out.push(c);
        self.spill();
    }

    /// An object key; exactly one value must follow.
    pub fn key(&mut self, k: &str) {
        self.item();
        write_str(self.out, k);
        self.out.extend_from_slice(b": ");
        self.after_key = true;
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

    pub fn u64(&mut self, v: u64) {
        self.item();
        push_u64(self.out, v);
    }

    pub fn i64(&mut self, v: i64) {
        self.item();
        if v < 0 {
            self.out.push(b'-');
        }
        push_u64(self.out, v.unsigned_abs());
    }

    /// A string value written by `f` straight into the output, which must
    /// append only printable ASCII other than `"` and `\\` (no escaping is done).
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

/// Appends the decimal digits of `v` (the hot path of decode: no fmt machinery).
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
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

/// The inside of [`write_str`]'s literal.
fn write_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Keys and most values need no escaping: copy them whole.
    if bytes
        .iter()
        .all(|&b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
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
        for v in [0, 7, 10, u64::MAX, u64::MAX / 10] {
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
}
