//! CRIT JSON text straight to image bytes, with neither a JSON tree nor a
//! message tree: the fast path of [`super::image::encode_json_text`].
//!
//! It reads the shapes CRIT and crit-fs write, and that hand edits keep:
//! `{"magic": …, "entries": […]}` with the magic first, fields by name with
//! values in the plain or `--pretty` forms, payloads as CRIT's base64 lines.
//! An entry it is unsure of (an escape it does not read, a float, an unknown
//! key, any error at all) is read again on its own by the tree path; when the
//! document as a whole is in doubt it gives up (`None`) and the caller reads
//! everything with the tree path. So the bytes and the errors are always the
//! tree path's; this one only skips building the trees.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::image::EntryBuilder;
use super::parse::int_from_str;
use super::{strict, text};
use crate::image::{Layout, Magic, PayloadKind, encode_entry, encode_magic};
use crate::message::{Value, encode_field, encode_scalar, fixed_wire, write_varint};
use crate::schema::{FieldPlan, Kind, MessagePlan, MsgId, Schema};

/// Encodes CRIT JSON text to image bytes, or None when the tree path must
/// read it (see the module comment).
pub(super) fn encode(text: &[u8]) -> Option<Vec<u8>> {
    Encoder::new(true).document(text)
}

/// Nesting deeper than this is left to the tree path (serde_json stops at 128).
const MAX_DEPTH: usize = 100;

/// Payload bytes are decoded in blocks of this many base64 characters.
const BASE64_BLOCK: usize = 64 * 1024;

/// The part of the text still to read.
struct Text<'t> {
    b: &'t [u8],
    pos: usize,
}

/// A string as written: its raw content between the quotes.
#[derive(Clone, Copy)]
struct RawStr<'t> {
    raw: &'t [u8],
    escaped: bool,
}

impl<'t> Text<'t> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.pos += 1)
    }

    /// After an item of a container: true at `,`, false at `close`.
    fn more(&mut self, close: u8) -> Option<bool> {
        let c = self.peek()?;
        self.pos += 1;
        match c {
            b',' => Some(true),
            c if c == close => Some(false),
            _ => None,
        }
    }

    /// Whether the container just opened is empty (and then closes it).
    fn empty(&mut self, close: u8) -> Option<bool> {
        Some(
            self.peek()? == close && {
                self.pos += 1;
                true
            },
        )
    }

    /// A string token; its content is checked when it is read as bytes.
    fn string(&mut self) -> Option<RawStr<'t>> {
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
    fn plain_str(&mut self) -> Option<&'t str> {
        let s = self.string()?;
        if s.escaped || !s.raw.iter().all(|&c| (0x20..0x80).contains(&c)) {
            return None;
        }
        std::str::from_utf8(s.raw).ok()
    }

    /// An integer as serde_json reads it (a u64, or a negative i64); None
    /// for what it reads as a float (fractions, exponents, `-0`, overflow).
    fn integer(&mut self) -> Option<i128> {
        self.ws();
        let b = self.b;
        let neg = b.get(self.pos) == Some(&b'-');
        let start = self.pos + usize::from(neg);
        let mut i = start;
        let mut v: u64 = 0;
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
    fn key_is(&mut self, name: &str) -> bool {
        self.ws();
        let n = name.len();
        let at = self.pos;
        // Names are short: a loop the compiler inlines beats a memcmp call.
        let hit = self.b.get(at) == Some(&b'"')
            && self.b.get(at + 1 + n) == Some(&b'"')
            && name.bytes().zip(&self.b[at + 1..]).all(|(a, &b)| a == b);
        if hit {
            self.pos = at + n + 2;
            if self.eat(b':').is_none() {
                self.pos = at;
                return false;
            }
        }
        hit
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        let end = self.pos + word.len();
        (self.b.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// Steps over any value, checking only its structure: the tree path
    /// parses what this delimits.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
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
fn unescape<'a>(s: RawStr<'a>, scratch: &'a mut Vec<u8>) -> Option<&'a str> {
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

/// Appends the varint length of what was written after `at`, where one byte
/// was reserved for it, widening it when the body is 128 bytes or more.
fn close_length(out: &mut Vec<u8>, at: usize) {
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(10);
        write_varint(len as u64, &mut prefix);
        out.splice(at..at + 1, prefix);
    }
}

/// What the encoder keeps between values.
struct Encoder {
    schema: &'static Schema,
    /// Whether an entry the fast path gives up on goes to the tree path.
    fallback: bool,
    /// Per open message, the bytes each field took in the output, in the
    /// order of the JSON keys: (field index, start, end).
    segments: Vec<(usize, usize, usize)>,
    scratch: Vec<u8>,
    /// The message types of the image's entries: the first and the others.
    ids: (MsgId, MsgId),
    /// Where the entry being read has its `"extra"` string (the payload):
    /// start and end of its content in the text.
    extra: Option<(usize, usize)>,
}

impl Encoder {
    fn new(fallback: bool) -> Encoder {
        Encoder {
            schema: Schema::get(),
            fallback,
            segments: Vec::new(),
            scratch: Vec::new(),
            ids: (0, 0),
            extra: None,
        }
    }

    fn document(&mut self, text: &[u8]) -> Option<Vec<u8>> {
        let mut t = Text { b: text, pos: 0 };
        t.eat(b'{')?;
        (t.plain_str()? == "magic").then_some(())?;
        t.eat(b':')?;
        let magic = Magic::by_name(t.plain_str()?)?;
        t.eat(b',')?;
        (t.plain_str()? == "entries").then_some(())?;
        t.eat(b':')?;
        t.eat(b'[')?;
        // Ghost files check their entries against each other: tree path.
        let id = |name| self.schema.message_id(name);
        self.ids = match magic.layout {
            Layout::Pagemap => (id("pagemap_head")?, id("pagemap_entry")?),
            Layout::Entries(name, _) => (id(name)?, 0),
            Layout::Ghost | Layout::NotEntries => return None,
        };
        let mut out = Vec::with_capacity(text.len() / 4 * 3 + 64);
        encode_magic(magic, &mut out);
        if !t.empty(b']')? {
            for index in 0.. {
                self.entry_or_fallback(&mut t, magic, index, &mut out)?;
                if !t.more(b']')? {
                    break;
                }
            }
        }
        t.eat(b'}')?;
        t.ws();
        (t.pos == text.len()).then_some(out)
    }

    fn entry_or_fallback(
        &mut self,
        t: &mut Text,
        magic: Magic,
        index: usize,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        t.ws();
        let (start, len) = (t.pos, out.len());
        if self.entry(t, magic.layout, index, out).is_some() {
            return Some(());
        }
        if !self.fallback {
            return None;
        }
        t.pos = start;
        out.truncate(len);
        t.skip_value(0)?;
        let json = strict::parse(&t.b[start..t.pos]).ok()?;
        let entry = EntryBuilder::at(magic, index).entry(&json).ok()?;
        encode_entry(index, &entry, out).ok()
    }

    /// One entry: its framed message, then its payload.
    fn entry(
        &mut self,
        t: &mut Text,
        layout: Layout,
        index: usize,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        let (id, payload) = match layout {
            Layout::Pagemap if index == 0 => (self.ids.0, None),
            Layout::Pagemap => (self.ids.1, None),
            Layout::Entries(_, kind) => (self.ids.0, Some(kind)),
            Layout::Ghost | Layout::NotEntries => return None,
        };
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        self.extra = None;
        self.message(t, id, out, payload.is_some(), 0)?;
        let size = u32::try_from(out.len() - at - 4).ok()?;
        out[at..at + 4].copy_from_slice(&size.to_le_bytes());
        let body = &out[at + 4..];
        let num = |name| crate::wire::top_u64(self.schema, id, body, name).unwrap_or(0);
        let want = match payload {
            None | Some(PayloadKind::None) => return self.extra.is_none().then_some(()),
            Some(PayloadKind::PipeData) => num("bytes"),
            Some(PayloadKind::SkQueue) => num("length"),
            Some(PayloadKind::BpfMapData) => num("keys_bytes").checked_add(num("values_bytes"))?,
            // Payloads of several parts: tree path.
            Some(_) => return None,
        };
        let (from, to) = self.extra.take()?;
        let start = out.len();
        decode_base64_lines(&t.b[from..to], out, &mut self.scratch)?;
        (out.len() - start == usize::try_from(want).ok()?).then_some(())
    }

    /// A message's object; `entry` says whether it is an entry's top level,
    /// where `"extra"` is the payload.
    fn message(
        &mut self,
        t: &mut Text,
        id: MsgId,
        out: &mut Vec<u8>,
        entry: bool,
        depth: usize,
    ) -> Option<()> {
        let plan = self.schema.message(id);
        if depth > MAX_DEPTH || plan.fields.len() > 256 {
            return None;
        }
        t.eat(b'{')?;
        let (base, start) = (self.segments.len(), out.len());
        let mut seen = [0u64; 4];
        let mut sorted = true;
        if !t.empty(b'}')? {
            // Keys usually come in field order: the one after the last is tried first.
            let mut guess = 0;
            loop {
                // A skipped optional field or two is the common miss.
                let near = (guess..plan.fields.len().min(guess + 3))
                    .find(|&i| plan.fields[i].name != "extra" && t.key_is(plan.fields[i].name));
                let idx = match near {
                    Some(i) => Some(i),
                    None => {
                        let key = t.string()?;
                        t.eat(b':')?;
                        if entry && key.raw == b"extra" {
                            self.take_extra(t)?;
                            None
                        } else {
                            Some(field_index(plan, key)?)
                        }
                    }
                };
                if let Some(idx) = idx {
                    guess = idx + 1;
                    let bit = 1u64 << (idx % 64);
                    if seen[idx / 64] & bit != 0 {
                        return None;
                    }
                    seen[idx / 64] |= bit;
                    let from = out.len();
                    self.field(t, &plan.fields[idx], out, depth)?;
                    if out.len() > from {
                        let last = self.segments[base..].last().map(|s| s.0);
                        sorted &= last.is_none_or(|l| l < idx);
                        self.segments.push((idx, from, out.len()));
                    }
                }
                if !t.more(b'}')? {
                    break;
                }
            }
        }
        let missing = plan
            .fields
            .iter()
            .enumerate()
            .any(|(i, f)| f.required && seen[i / 64] & (1 << (i % 64)) == 0);
        if missing {
            return None;
        }
        if !sorted {
            self.reorder(out, start, base);
        }
        self.segments.truncate(base);
        Some(())
    }

    /// Notes where the entry's `"extra"` string is; it is decoded once the
    /// message is written.
    fn take_extra(&mut self, t: &mut Text) -> Option<()> {
        if self.extra.is_some() || t.peek()? != b'"' {
            return None;
        }
        let start = t.pos + 1;
        let s = t.string()?;
        self.extra = Some((start, start + s.raw.len()));
        Some(())
    }

    /// Rewrites the fields of the message at `start` in number order, as the
    /// tree encoder writes them.
    fn reorder(&mut self, out: &mut Vec<u8>, start: usize, base: usize) {
        let segs = &mut self.segments[base..];
        segs.sort_unstable_by_key(|s| s.0);
        self.scratch.clear();
        self.scratch.extend_from_slice(&out[start..]);
        out.truncate(start);
        for &(_, from, to) in segs.iter() {
            out.extend_from_slice(&self.scratch[from - start..to - start]);
        }
    }

    /// One field's JSON value, encoded.
    fn field(
        &mut self,
        t: &mut Text,
        field: &FieldPlan,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Option<()> {
        if !field.repeated {
            return self.value(t, field, out, depth, true);
        }
        t.eat(b'[')?;
        if t.empty(b']')? {
            return Some(());
        }
        if field.opts.ipadd && t.peek()? == b'"' {
            return self.ip_address(t, field, out);
        }
        // CRIU's schemas pack no list; should one ever, the tree path writes it.
        if field.packed {
            return None;
        }
        loop {
            self.value(t, field, out, depth, true)?;
            if !t.more(b']')? {
                return Some(());
            }
        }
    }

    /// `["1.2.3.4"]`: an address field in its `--pretty` form.
    fn ip_address(&mut self, t: &mut Text, field: &FieldPlan, out: &mut Vec<u8>) -> Option<()> {
        let s = t.string()?;
        let words = text::ip_words(unescape(s, &mut self.scratch)?)?;
        // The tree path reads only the first item; others are left to it.
        t.eat(b']')?;
        let values: Vec<Value> = words.into_iter().map(|w| Value::U64(w.into())).collect();
        encode_field(field, &values, out);
        Some(())
    }

    /// One value of a field, behind its tag when `tagged`.
    fn value(
        &mut self,
        t: &mut Text,
        field: &FieldPlan,
        out: &mut Vec<u8>,
        depth: usize,
        tagged: bool,
    ) -> Option<()> {
        let key = |wire: u8, out: &mut Vec<u8>| {
            if tagged {
                tag(field, wire, out);
            }
        };
        match field.kind {
            Kind::Message(sub) => {
                key(2, out);
                let at = out.len();
                out.push(0);
                self.message(t, sub, out, false, depth + 1)?;
                close_length(out, at);
            }
            Kind::String => {
                let s = unescape(t.string()?, &mut self.scratch)?;
                key(2, out);
                write_varint(s.len() as u64, out);
                out.extend_from_slice(s.as_bytes());
            }
            Kind::Bytes => {
                let s = unescape(t.string()?, &mut self.scratch)?;
                let bytes = match field.opts.unix_name {
                    true => text::qp_decode(s),
                    false => text::base64_decode(s).ok()?,
                };
                key(2, out);
                write_varint(bytes.len() as u64, out);
                out.extend_from_slice(&bytes);
            }
            kind if kind.is_signed() || kind.is_unsigned() => {
                let n = self.integer(t, field)?;
                key(fixed_wire(kind), out);
                encode_int(kind, n, out);
            }
            kind => {
                let v = self.scalar(t, field)?;
                key(fixed_wire(kind), out);
                encode_scalar(kind, &v, out);
            }
        }
        Some(())
    }

    /// A number, boolean or enum value as the tree path reads it.
    fn scalar(&mut self, t: &mut Text, field: &FieldPlan) -> Option<Value> {
        let c = t.peek()?;
        match field.kind {
            Kind::Bool => match c {
                b't' => t.literal(b"true").map(|_| Value::Bool(true)),
                b'f' => t.literal(b"false").map(|_| Value::Bool(false)),
                _ => match t.integer()? {
                    n @ (0 | 1) => Some(Value::Bool(n == 1)),
                    _ => None,
                },
            },
            Kind::Enum(e) => {
                let n = match c {
                    b'"' => self.schema.enums[e].number_of(t.plain_str()?)?,
                    _ => i32::try_from(t.integer()?).ok()?,
                };
                Some(Value::Enum(n))
            }
            _ => None,
        }
    }

    /// An integer field's value (a number, or a string in a `--pretty`
    /// form), within the range of its kind.
    fn integer(&mut self, t: &mut Text, field: &FieldPlan) -> Option<i128> {
        let n = match t.peek()? {
            b'"' => int_from_str(field, unescape(t.string()?, &mut self.scratch)?).ok()?,
            _ => t.integer()?,
        };
        let (lo, hi) = field.kind.int_range();
        (lo..=hi).contains(&n).then_some(n)
    }
}

/// The index of the field a key names.
fn field_index(plan: &MessagePlan, key: RawStr) -> Option<usize> {
    if plan.fields.len() <= 32 {
        return plan
            .fields
            .iter()
            .position(|f| f.name.as_bytes() == key.raw);
    }
    if key.escaped {
        return None;
    }
    plan.field_by_name(std::str::from_utf8(key.raw).ok()?)
}

/// Writes an integer of a kind whose range it is in, as
/// [`encode_scalar`] writes the tree path's value for it.
fn encode_int(kind: Kind, n: i128, out: &mut Vec<u8>) {
    match kind {
        Kind::Uint32 | Kind::Uint64 => write_varint(n as u64, out),
        // Negative int32s take ten bytes, sign-extended, as in protobuf.
        Kind::Int32 | Kind::Int64 => write_varint(n as i64 as u64, out),
        Kind::Sint32 => write_varint((((n as i32) << 1) ^ ((n as i32) >> 31)) as u32 as u64, out),
        Kind::Sint64 => write_varint((((n as i64) << 1) ^ ((n as i64) >> 63)) as u64, out),
        Kind::Fixed32 => out.extend_from_slice(&(n as u32).to_le_bytes()),
        Kind::Sfixed32 => out.extend_from_slice(&(n as i32).to_le_bytes()),
        Kind::Fixed64 => out.extend_from_slice(&(n as u64).to_le_bytes()),
        Kind::Sfixed64 => out.extend_from_slice(&(n as i64).to_le_bytes()),
        _ => unreachable!("encode_int is called for integer kinds only"),
    }
}

/// Writes a field's tag: its number and wire type.
fn tag(field: &FieldPlan, wire: u8, out: &mut Vec<u8>) {
    write_varint((u64::from(field.number) << 3) | u64::from(wire), out)
}

/// Decodes CRIT's base64 lines from a JSON string's raw content into `out`:
/// whole 4-character groups between `\n` escapes, padded only at the very
/// end. None for any other shape (the tree path reads those, or refuses them).
fn decode_base64_lines(raw: &[u8], out: &mut Vec<u8>, block: &mut Vec<u8>) -> Option<()> {
    block.clear();
    let mut padded = false;
    let mut rest = raw;
    loop {
        let (piece, next) = match memchr::memchr(b'\\', rest) {
            Some(i) if rest.get(i + 1) == Some(&b'n') => (&rest[..i], Some(&rest[i + 2..])),
            Some(_) => return None,
            None => (rest, None),
        };
        if !piece.is_empty() {
            if padded || piece.len() % 4 != 0 {
                return None;
            }
            padded = piece.ends_with(b"=");
            for part in piece.chunks(BASE64_BLOCK) {
                block.extend_from_slice(part);
                if block.len() >= BASE64_BLOCK {
                    decode_block(block, out)?;
                }
            }
        }
        match next {
            Some(n) => rest = n,
            None => return decode_block(block, out),
        }
    }
}

/// Decodes whole base64 groups gathered in `block` into `out`, and empties it.
fn decode_block(block: &mut Vec<u8>, out: &mut Vec<u8>) -> Option<()> {
    let at = out.len();
    out.resize(at + block.len() / 4 * 3, 0);
    let n = STANDARD.decode_slice(&block[..], &mut out[at..]).ok()?;
    out.truncate(at + n);
    block.clear();
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::image::{EncodeError, encode_json_text, encode_json_text_tree};
    use std::path::{Path, PathBuf};

    fn describe(e: EncodeError) -> String {
        match e {
            EncodeError::Syntax(e) => format!("syntax: {e}"),
            EncodeError::Schema(e) => format!("schema: {e}"),
            EncodeError::Image(e) => format!("image: {e}"),
        }
    }

    fn tree(text: &[u8]) -> Result<Vec<u8>, String> {
        encode_json_text_tree(text).map_err(describe)
    }

    /// Asserts that the encoder with its fast path agrees with the tree path.
    fn agrees(text: &[u8]) {
        let now = encode_json_text(text).map_err(describe);
        assert_eq!(now, tree(text), "{}", String::from_utf8_lossy(text));
    }

    /// The fast path alone, without falling back for any entry.
    fn fast_only(text: &[u8]) -> Option<Vec<u8>> {
        Encoder::new(false).document(text)
    }

    fn corpus_json() -> Vec<(PathBuf, Vec<u8>)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
        let mut out = Vec::new();
        for case in std::fs::read_dir(&root).unwrap() {
            let dir = case.unwrap().path().join("expected");
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for f in files {
                let p = f.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if name.ends_with(".json")
                    && !name.ends_with(".nopl.json")
                    && !name.ends_with(".info.json")
                {
                    let text = std::fs::read(&p).unwrap();
                    out.push((p, text));
                }
            }
        }
        out.sort();
        out
    }

    fn layout_is_fast(text: &[u8]) -> bool {
        let v: serde_json::Value = serde_json::from_slice(text).unwrap();
        let magic = Magic::by_name(v["magic"].as_str().unwrap()).unwrap();
        let kinds = [
            PayloadKind::None,
            PayloadKind::PipeData,
            PayloadKind::SkQueue,
            PayloadKind::BpfMapData,
        ];
        match magic.layout {
            Layout::Pagemap => true,
            Layout::Entries(_, kind) => kinds.contains(&kind),
            _ => false,
        }
    }

    /// Every plain and pretty JSON of the corpus encodes as the tree path
    /// encodes it, and the fast path alone reads all of those whose image
    /// kind it handles (so it is really the path taken).
    #[test]
    fn corpus_json_takes_the_fast_path_and_agrees() {
        let (mut fast, mut total) = (0, 0);
        for (path, text) in corpus_json() {
            let want = tree(&text);
            assert!(want.is_ok(), "{}: {want:?}", path.display());
            agrees(&text);
            total += 1;
            let only = fast_only(&text);
            if layout_is_fast(&text) {
                assert_eq!(only.as_ref(), want.as_ref().ok(), "{}", path.display());
                fast += 1;
            } else if let Some(bytes) = only {
                assert_eq!(Ok(bytes), want, "{}", path.display());
            }
        }
        assert!(total > 500 && fast * 10 > total * 8, "{fast} of {total}");
    }

    /// Hand-written documents at the edges of what the fast path reads.
    #[test]
    fn edge_cases_agree_with_the_tree_path() {
        let pstree = |entry: &str| format!(r#"{{"magic": "PSTREE", "entries": [{entry}]}}"#);
        let entries = [
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"sid": 1, "pgid": 1, "ppid": 0, "pid": 1}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": []}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [1, 2, 3]}"#,
            r#"{"threads": [4294967295], "pid": 1, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [4294967296]}"#,
            r#"{"pid": "0x10", "ppid": "0o7", "pgid": "1_0", "sid": " 12 "}"#,
            r#"{"pid": "010", "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": -1, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": -0, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": 01, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": 1.0, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": 1e2, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": 18446744073709551616, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": true, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": null, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "pid": 2}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "bogus": 2}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "p\u0069d2": 2}"#,
            r#"{"p\u0069d": 1, "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "extra": "AA=="}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1,}"#,
            r#"{"pid": 1 "ppid": 0, "pgid": 1, "sid": 1}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}, {"pid": 2, "ppid": 1, "pgid": 1, "sid": 1}"#,
            r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}, "x""#,
            "{\"pid\":1,\"ppid\":0,\"pgid\":1,\"sid\":1}",
            "{\r\n\t\"pid\" : 1 ,\n \"ppid\":0,\"pgid\":1,\"sid\":1 }",
        ];
        for e in entries {
            agrees(pstree(e).as_bytes());
        }
        let vma = |v: &str| {
            format!(
                r#"{{"magic": "MM", "entries": [{{"mm_start_code": 1, "mm_end_code": 2, "mm_start_data": 3, "mm_end_data": 4, "mm_start_stack": 5, "mm_start_brk": 6, "mm_brk": 7, "mm_arg_start": 8, "mm_arg_end": 9, "mm_env_start": 10, "mm_env_end": 11, "exe_file_id": 1, "vmas": [{v}]}}]}}"#
            )
        };
        let vmas = [
            r#"{"start": 4096, "end": 8192, "pgoff": 0, "shmid": 0, "prot": 1, "flags": 2, "status": 1, "fd": -1}"#,
            r#"{"start": "0x1000", "end": "0x2000", "pgoff": 0, "shmid": 0, "prot": "PROT_READ | PROT_EXEC", "flags": "MAP_PRIVATE | MAP_ANON", "status": "VMA_AREA_REGULAR", "fd": -9223372036854775808}"#,
            r#"{"fd": 9223372036854775807, "status": 1, "flags": 2, "prot": 1, "shmid": 0, "pgoff": 0, "end": 8192, "start": 4096, "madv": "0x10"}"#,
            r#"{"start": 4096, "end": 8192, "pgoff": 0, "shmid": 0, "prot": 1, "flags": 2, "status": 1, "fd": -9223372036854775809}"#,
            r#"{"start": 4096, "end": 8192, "pgoff": 0, "shmid": 0, "prot": "PROT_NOPE", "flags": 2, "status": 1, "fd": 0}"#,
            r#"{"start": 4096, "end": 8192, "pgoff": 0, "shmid": 0, "prot": 1, "flags": 2, "status": 1, "fd": 0, "fdflags": 4294967296}"#,
        ];
        let many: Vec<String> = (0..40).map(|i| vmas[i % 3].to_string()).collect();
        for v in vmas.iter().copied().chain([many.join(", ").as_str()]) {
            agrees(vma(v).as_bytes());
        }
        let fdinfo = |e: &str| format!(r#"{{"magic": "FDINFO", "entries": [{e}]}}"#);
        for e in [
            r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0}"#,
            r#"{"id": 1, "flags": 0, "type": 1, "fd": 0}"#,
            r#"{"id": 1, "flags": 0, "type": 2147483648, "fd": 0}"#,
            r#"{"id": 1, "flags": 0, "type": "NOPE", "fd": 0}"#,
            r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac\ud83d\ude00 é €"}"#,
            r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "\udc80\udcff"}"#,
            r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "\ud83d"}"#,
            r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "\uef80\uef00"}"#,
            "{\"id\": 1, \"flags\": 0, \"type\": \"REG\", \"fd\": 0, \"xattr_security_selinux\": \"\u{ef80}\u{e000}\"}",
            "{\"id\": 1, \"flags\": 0, \"type\": \"REG\", \"fd\": 0, \"xattr_security_selinux\": \"tab\there\"}",
            r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "\x"}"#,
        ] {
            agrees(fdinfo(e).as_bytes());
        }
        let sk = |addr: &str| {
            format!(
                r#"{{"magic": "INETSK", "entries": [{{"id": 1, "ino": 2, "family": "INET", "type": "STREAM", "proto": "TCP", "state": 10, "src_port": 80, "dst_port": 0, "flags": 2, "backlog": 5, "src_addr": {addr}, "dst_addr": [0]}}]}}"#
            )
        };
        for a in [
            r#"["127.0.0.1"]"#,
            r#"["::1"]"#,
            r#"["127.0.0.1", 5]"#,
            r#"["1.2.3"]"#,
            r#"[16777343]"#,
            r#"[]"#,
        ] {
            agrees(sk(a).as_bytes());
        }
        let pipe = |e: &str| format!(r#"{{"magic": "PIPES_DATA", "entries": [{e}]}}"#);
        for e in [
            r#"{"pipe_id": 1, "bytes": 3, "extra": "YWJj\n"}"#,
            r#"{"extra": "YWJj\n", "bytes": 3, "pipe_id": 1}"#,
            r#"{"pipe_id": 1, "bytes": 2, "extra": "YWI=\n"}"#,
            r#"{"pipe_id": 1, "bytes": 2, "extra": "YWJ=\n"}"#,
            r#"{"pipe_id": 1, "bytes": 1, "extra": "YQ==\n"}"#,
            r#"{"pipe_id": 1, "bytes": 4, "extra": "YQ==\nYQ==\n"}"#,
            r#"{"pipe_id": 1, "bytes": 6, "extra": "YWJj\nYWJj"}"#,
            r#"{"pipe_id": 1, "bytes": 6, "extra": "YWJjYW\nJj"}"#,
            r#"{"pipe_id": 1, "bytes": 6, "extra": "YWJj\r\nYWJj\n"}"#,
            r#"{"pipe_id": 1, "bytes": 6, "extra": "YWJj YWJj"}"#,
            r#"{"pipe_id": 1, "bytes": 3, "extra": "YW=j\n"}"#,
            r#"{"pipe_id": 1, "bytes": 4, "extra": "YWJj\n"}"#,
            r#"{"pipe_id": 1, "bytes": 0, "extra": ""}"#,
            r#"{"pipe_id": 1, "bytes": 0}"#,
            r#"{"pipe_id": 1, "bytes": 3, "extra": "... <3B>"}"#,
            r#"{"pipe_id": 1, "bytes": 3, "extra": 5}"#,
            r#"{"pipe_id": 1, "bytes": 3, "extra": "YWJj\n", "extra": "YWJj\n"}"#,
            r#"{"pipe_id": 1, "bytes": 3, "extra": "YWJj\u000a"}"#,
        ] {
            agrees(pipe(e).as_bytes());
        }
        let big =
            crate::json::text::base64_lines(&(0..200_000u32).map(|i| i as u8).collect::<Vec<_>>());
        agrees(
            pipe(&format!(
                r#"{{"pipe_id": 1, "bytes": 200000, "extra": "{}"}}"#,
                big.replace('\n', "\\n")
            ))
            .as_bytes(),
        );
        agrees(
            pipe(&format!(
                r#"{{"pipe_id": 1, "bytes": 200000, "extra": "{}"}}"#,
                big.replace('\n', "")
            ))
            .as_bytes(),
        );
        for doc in [
            r#"{"entries": [], "magic": "PSTREE"}"#,
            r#"{"magic": "PSTREE", "entries": []}"#,
            r#"{"magic": "PSTREE", "entries": [], "x": 1}"#,
            r#"{"magic": "PSTREE", "entries": [] } x"#,
            r#"{"magic": "PS\u0054REE", "entries": []}"#,
            r#"{"magic": "NOPE", "entries": []}"#,
            r#"{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"vaddr": 4096, "nr_pages": 1, "flags": "PE_PRESENT"}]}"#,
            r#"{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"pages_id": 1}]}"#,
            r#"{"magic": "GHOST_FILE", "entries": [{"id": 1, "chunks": true}, {"len": 1, "off": 0, "extra": "YQ=="}]}"#,
            "\u{feff}{\"magic\": \"PSTREE\", \"entries\": []}",
            "",
            "{",
        ] {
            agrees(doc.as_bytes());
        }
        let deep = format!(
            r#"{{"magic": "PSTREE", "entries": [{{"pid": {}1{}}}]}}"#,
            "[".repeat(300),
            "]".repeat(300)
        );
        agrees(deep.as_bytes());
    }

    /// Small corpus documents damaged in many ways: the result, bytes or
    /// error, is always the tree path's.
    #[test]
    fn damaged_documents_agree_with_the_tree_path() {
        let picks = [
            "pstree",
            "fdinfo",
            "mm-",
            "core-",
            "pagemap-",
            "pipes-data",
            "inetsk",
            "reg-files",
        ];
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for (path, text) in corpus_json() {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if text.len() < 6000 && picks.iter().any(|p| name.starts_with(p)) && texts.len() < 24 {
                texts.push(text);
            }
        }
        assert!(texts.len() >= 12, "{}", texts.len());
        let inserts: &[&[u8]] = &[
            b"\"",
            b",",
            b":",
            b"{",
            b"}",
            b"[",
            b"]",
            b"0",
            b"-",
            b".5",
            b"e",
            b"\\",
            b"x",
            b" ",
            b"\\u00e9",
            b"\\udc80",
            b"99999999999999999999",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for text in &texts {
            for _ in 0..150 {
                let mut t = text.clone();
                let at = next(t.len());
                match next(4) {
                    0 => {
                        t.remove(at);
                    }
                    1 => {
                        let ins = inserts[next(inserts.len())];
                        t.splice(at..at, ins.iter().copied());
                    }
                    2 if t[at].is_ascii_digit() => t[at] = b"0123456789a-"[next(12)],
                    2 => t[at] = b"\"{}[],:0x"[next(9)],
                    _ => t.truncate(at),
                }
                agrees(&t);
            }
        }
    }

    /// `encode_int` writes what `encode_scalar` writes for the tree's value.
    #[test]
    fn integers_encode_as_in_the_tree() {
        use crate::message::Value;
        let kinds = [
            Kind::Int32,
            Kind::Int64,
            Kind::Uint32,
            Kind::Uint64,
            Kind::Sint32,
            Kind::Sint64,
            Kind::Fixed32,
            Kind::Fixed64,
            Kind::Sfixed32,
            Kind::Sfixed64,
        ];
        let edges: [i128; 12] = [
            0,
            1,
            -1,
            127,
            128,
            i32::MIN as i128,
            i32::MAX as i128,
            u32::MAX as i128,
            i64::MIN as i128,
            i64::MAX as i128,
            u64::MAX as i128,
            -300,
        ];
        for kind in kinds {
            let (lo, hi) = kind.int_range();
            for n in edges.into_iter().filter(|n| (lo..=hi).contains(n)) {
                let v = if kind.is_signed() {
                    Value::I64(n as i64)
                } else {
                    Value::U64(n as u64)
                };
                let (mut a, mut b) = (Vec::new(), Vec::new());
                encode_int(kind, n, &mut a);
                encode_scalar(kind, &v, &mut b);
                assert_eq!(a, b, "{kind:?} {n}");
            }
        }
    }
}
