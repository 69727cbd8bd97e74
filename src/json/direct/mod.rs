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

mod base64;
mod lexer;

use self::base64::decode_base64_lines;
use self::lexer::{RawStr, Text, unescape};
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

#[cfg(test)]
mod tests;
