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
mod plans;
mod run;
mod window;

use std::io::{self, Read, Write};

use self::base64::{Lines, decode_base64_lines, whole_lines};
use self::lexer::{RawStr, Text, unescape};
use self::run::{Fields, Stop, varint_run};
use self::window::Window;
use super::image::EntryBuilder;
use super::parse::int_from_str;
use super::{strict, text};
use crate::image::{Layout, Magic, PayloadKind, encode_entry, encode_magic};
use crate::mapped::Mapping;
use crate::message::{
    Value, close_length, encode_field, encode_scalar, fixed_wire, read_varint, write_varint,
};
use crate::schema::{FieldPlan, Kind, MessagePlan, MsgId, Schema};

/// Encodes CRIT JSON text to image bytes, or None when the tree path must
/// read it (see the module comment).
pub(super) fn encode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 64);
    let mut w = Window::whole(text);
    let done = Encoder::new(true).document(&mut w, &mut out, None).ok()?;
    done.then_some(out)
}

/// Encodes CRIT JSON read from `input` into `sink`. A text under
/// [`WHOLE`] is read at once; a longer one in windows, a payload decoded as
/// it is read, so that memory holds a few tens of MiB whatever its size. Ok(false) when the tree path must read
/// the text instead; `sink` may then have received part of an image.
pub(crate) fn encode_stream(
    input: &mut dyn Read,
    len: Option<u64>,
    sink: &mut dyn Write,
) -> io::Result<bool> {
    // A text of up to WHOLE is read at once, into no more memory than it
    // needs: an entry longer than a window would be parsed in vain first.
    let read = match len.and_then(|n| usize::try_from(n).ok()) {
        Some(n) if n < WHOLE => n + 1,
        _ => READ,
    };
    encode_with_window(Window::reading(input, read), sink)
}

/// [`encode_stream`] of a mapped file, brought into view as
/// [`encode_stream`] reads one, so that a long payload goes to `sink` in
/// pieces rather than into one buffer, and pages already encoded leave
/// memory.
pub(crate) fn encode_mapped(text: &Mapping, sink: &mut dyn Write) -> io::Result<bool> {
    let read = if text.len() < WHOLE { text.len() } else { READ };
    encode_with_window(Window::mapped(text, read), sink)
}

/// [`encode_mapped`] of a text in memory, `read` bytes or more in view at a time.
pub(crate) fn encode_revealed_by(
    text: &[u8],
    sink: &mut dyn Write,
    read: usize,
) -> io::Result<bool> {
    encode_with_window(Window::revealing(text, read), sink)
}

/// [`encode_stream`], reading `read` bytes or more at a time.
pub(crate) fn encode_stream_by(
    input: &mut dyn Read,
    sink: &mut dyn Write,
    read: usize,
) -> io::Result<bool> {
    encode_with_window(Window::reading(input, read), sink)
}

/// Encodes the text `w` reads into `sink`, as [`encode_stream`] says.
fn encode_with_window(mut w: Window, sink: &mut dyn Write) -> io::Result<bool> {
    let mut out = Vec::with_capacity(2 * FLUSH_AT);
    let done = Encoder::new(true).document(&mut w, &mut out, Some(&mut *sink))?;
    if done {
        sink.write_all(&out)?;
    }
    Ok(done)
}

/// Output goes to the sink in pieces of about this size.
const FLUSH_AT: usize = 1 << 20;

/// How much of a payload string is decoded at a time: about [`FLUSH_AT`]
/// bytes of output.
const PAYLOAD_PIECE: usize = FLUSH_AT / 3 * 4;

/// How much text is read at a time. An entry longer than what is in memory
/// is read again with four times as much, so that long entries cost at most
/// about a third more.
const READ: usize = 16 << 20;

/// A text up to this long is read whole: the `--pretty` JSON of an mm
/// image near the kernel's 65,530-mapping limit is one entry of about
/// 27 MB. A longer text (a big payload, mostly) is read a window at a time.
const WHOLE: usize = 48 << 20;

/// What follows an element of the entries list.
enum Next {
    More,
    End,
    /// The entry's payload string runs past the text in memory: it is to be
    /// decoded as it is read, and hold `want` bytes.
    Payload {
        want: u64,
    },
}

/// Where an entry's `"extra"` string is: its content's start and end, or
/// only its start when it runs past the text in memory.
#[derive(Clone, Copy)]
enum Extra {
    Closed(usize, usize),
    Open(usize),
}

/// Nesting deeper than this is left to the tree path (serde_json stops at 128).
const MAX_DEPTH: usize = 100;

/// The fields of wire bytes this encoder wrote: (number, start, end).
fn wire_fields(b: &[u8]) -> Vec<(u64, usize, usize)> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let from = pos;
        let key = read_varint(b, &mut pos).expect("written by this encoder");
        match key & 7 {
            0 => drop(read_varint(b, &mut pos)),
            1 => pos += 8,
            5 => pos += 4,
            _ => pos += read_varint(b, &mut pos).expect("written by this encoder") as usize,
        }
        fields.push((key >> 3, from, pos));
    }
    fields
}

/// `{"magic": "NAME", "entries": [`: the image's magic.
fn header(t: &mut Text) -> Option<Magic> {
    t.eat(b'{')?;
    (t.plain_str()? == "magic").then_some(())?;
    t.eat(b':')?;
    let magic = Magic::by_name(t.plain_str()?)?;
    t.eat(b',')?;
    (t.plain_str()? == "entries").then_some(())?;
    t.eat(b':')?;
    t.eat(b'[')?;
    Some(magic)
}

/// Hands the output to the sink once there is enough of it.
fn flush(out: &mut Vec<u8>, sink: &mut Option<&mut dyn Write>) -> io::Result<()> {
    if let Some(sink) = sink
        && out.len() >= FLUSH_AT
    {
        sink.write_all(out)?;
        out.clear();
    }
    Ok(())
}

/// What the encoder keeps between values.
struct Encoder {
    schema: &'static Schema,
    /// Whether an entry the fast path gives up on goes to the tree path.
    fallback: bool,
    scratch: Vec<u8>,
    /// The message types of the image's entries: the first and the others.
    ids: (Option<MsgId>, Option<MsgId>),
    /// Whether a payload string may run past the text in memory.
    may_stream: bool,
    /// Where the entry being read has its `"extra"` string (the payload):
    /// start and end of its content in the text.
    extra: Option<Extra>,
}

impl Encoder {
    fn new(fallback: bool) -> Encoder {
        Encoder {
            schema: Schema::get(),
            fallback,
            scratch: Vec::new(),
            ids: (None, None),
            may_stream: false,
            extra: None,
        }
    }

    /// Encodes the document into `out`, handing it to `sink` (if any) in
    /// pieces. Ok(false) when the tree path must read it.
    fn document(
        &mut self,
        w: &mut Window,
        out: &mut Vec<u8>,
        mut sink: Option<&mut dyn Write>,
    ) -> io::Result<bool> {
        let mut pos = 0;
        let Some(magic) = self.step(w, &mut pos, out, |_, t, _| header(t))? else {
            return Ok(false);
        };
        let id = |name| self.schema.message_id(name);
        self.ids = match magic.layout {
            Layout::Pagemap => (id("pagemap_head"), id("pagemap_entry")),
            Layout::Entries(name, _) => (id(name), Some(0)),
            // Ghost files check their entries against each other: tree path.
            Layout::Ghost | Layout::NotEntries => return Ok(false),
        };
        encode_magic(magic, out);
        for index in 0.. {
            let next = self.step(w, &mut pos, out, |enc, t, out| {
                enc.element(t, magic, index, out)
            })?;
            let more = match next {
                None => return Ok(false),
                Some(Next::More) => true,
                Some(Next::End) => false,
                Some(Next::Payload { want }) => {
                    if !self.stream_payload(w, &mut pos, want, out, &mut sink)? {
                        return Ok(false);
                    }
                    let rest = self.step(w, &mut pos, out, |_, t, _| {
                        t.eat(b'}')?;
                        t.more(b']')
                    })?;
                    match rest {
                        None => return Ok(false),
                        Some(more) => more,
                    }
                }
            };
            flush(out, &mut sink)?;
            if !more {
                break;
            }
        }
        // Only white space may follow the top-level object.
        while !w.complete() {
            pos -= w.advance(pos, w.read)?;
        }
        let mut t = Text { b: w.bytes(), pos };
        Ok(t.eat(b'}').is_some() && {
            t.ws();
            t.pos == t.b.len()
        })
    }

    /// Runs `f` on the text from `*pos` and moves `*pos` to where it
    /// stopped. While `f` fails and the text is not all in memory, it is
    /// tried again with more of it (the output it wrote taken back).
    fn step<T>(
        &mut self,
        w: &mut Window,
        pos: &mut usize,
        out: &mut Vec<u8>,
        mut f: impl FnMut(&mut Self, &mut Text, &mut Vec<u8>) -> Option<T>,
    ) -> io::Result<Option<T>> {
        let mark = out.len();
        loop {
            self.may_stream = !w.complete();
            let mut t = Text {
                b: w.bytes(),
                pos: *pos,
            };
            if let Some(v) = f(self, &mut t, out) {
                *pos = t.pos;
                return Ok(Some(v));
            }
            out.truncate(mark);
            if w.complete() {
                return Ok(None);
            }
            let more = w.read.max(3 * w.bytes().len());
            *pos -= w.advance(*pos, more)?;
        }
    }

    /// One element of the entries list and the `,` or `]` after it (or, at
    /// the first, the `]` of an empty list).
    fn element(
        &mut self,
        t: &mut Text,
        magic: Magic,
        index: usize,
        out: &mut Vec<u8>,
    ) -> Option<Next> {
        if index == 0 && t.empty(b']')? {
            return Some(Next::End);
        }
        if let Some(want) = self.entry_or_fallback(t, magic, index, out)? {
            return Some(Next::Payload { want });
        }
        Some(match t.more(b']')? {
            true => Next::More,
            false => Next::End,
        })
    }

    /// Decodes the payload string whose content starts at `*pos` as it is
    /// read, and moves `*pos` past its closing quote. Ok(false) if it is not
    /// CRIT's base64 lines of `want` bytes.
    fn stream_payload(
        &mut self,
        w: &mut Window,
        pos: &mut usize,
        want: u64,
        out: &mut Vec<u8>,
        sink: &mut Option<&mut dyn Write>,
    ) -> io::Result<bool> {
        let mut lines = Lines::default();
        let mut decoded = 0;
        loop {
            let rest = &w.bytes()[*pos..];
            // A piece at a time, so that output goes out as it is made.
            let piece = &rest[..rest.len().min(PAYLOAD_PIECE)];
            let (cut, closed) = match memchr::memchr(b'"', piece) {
                Some(q) => (q, true),
                None => match whole_lines(piece) {
                    // A line longer than a piece: look at all there is.
                    0 => match memchr::memchr(b'"', rest) {
                        Some(q) => (q, true),
                        None => (whole_lines(rest), false),
                    },
                    n => (n, false),
                },
            };
            if cut == 0 && !closed {
                if w.complete() {
                    return Ok(false);
                }
                let more = w.read.max(rest.len());
                *pos -= w.advance(*pos, more)?;
                continue;
            }
            let before = out.len();
            let ok =
                lines.push(&rest[..cut], out).is_some() && (!closed || lines.finish(out).is_some());
            if !ok {
                return Ok(false);
            }
            decoded += (out.len() - before) as u64;
            *pos += cut + usize::from(closed);
            if closed {
                return Ok(decoded == want);
            }
            flush(out, sink)?;
            if w.bytes().len() - *pos < PAYLOAD_PIECE && !w.complete() {
                *pos -= w.advance(*pos, w.read)?;
            }
        }
    }

    /// One entry, by the fast path or else the tree path. Some(want) when
    /// its payload string is still to be read (see [`Next::Payload`]).
    fn entry_or_fallback(
        &mut self,
        t: &mut Text,
        magic: Magic,
        index: usize,
        out: &mut Vec<u8>,
    ) -> Option<Option<u64>> {
        t.ws();
        let (start, len) = (t.pos, out.len());
        if let Some(open) = self.entry(t, magic.layout, index, out) {
            return Some(open);
        }
        if !self.fallback {
            return None;
        }
        t.pos = start;
        out.truncate(len);
        t.skip_value(0)?;
        let json = strict::parse(&t.b[start..t.pos]).ok()?;
        let entry = EntryBuilder::at(magic, index).entry(&json).ok()?;
        encode_entry(index, &entry, out).ok()?;
        Some(None)
    }

    /// One entry: its framed message, then its payload (unless its string
    /// runs past the text in memory: then Some(want), see [`Next::Payload`]).
    fn entry(
        &mut self,
        t: &mut Text,
        layout: Layout,
        index: usize,
        out: &mut Vec<u8>,
    ) -> Option<Option<u64>> {
        let (id, payload) = match layout {
            Layout::Pagemap if index == 0 => (self.ids.0?, None),
            Layout::Pagemap => (self.ids.1?, None),
            Layout::Entries(_, kind) => (self.ids.0?, Some(kind)),
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
            None | Some(PayloadKind::None) => return self.extra.is_none().then_some(None),
            Some(PayloadKind::PipeData) => num("bytes"),
            Some(PayloadKind::SkQueue) => num("length"),
            Some(PayloadKind::BpfMapData) => num("keys_bytes").checked_add(num("values_bytes"))?,
            // Payloads of several parts: tree path.
            Some(_) => return None,
        };
        match self.extra.take()? {
            Extra::Open(from) => {
                t.pos = from;
                Some(Some(want))
            }
            Extra::Closed(from, to) => {
                let start = out.len();
                decode_base64_lines(&t.b[from..to], out)?;
                (out.len() - start == usize::try_from(want).ok()?).then_some(None)
            }
        }
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
        let fast = plans::plan(id);
        let keys = &fast.keys;
        if depth > MAX_DEPTH || plan.fields.len() > 256 {
            return None;
        }
        t.eat(b'{')?;
        let start = out.len();
        let mut fields = Fields::new();
        if !t.empty(b'}')? {
            loop {
                match varint_run(t, fast, entry, &mut fields, out) {
                    Stop::Closed => break,
                    Stop::Value if t.more(b'}')? => continue,
                    Stop::Value => break,
                    Stop::Key => {}
                }
                // A skipped optional field or two is the common miss.
                let guess = fields.guess;
                let near = (guess..keys.len().min(guess + 3))
                    .find(|&i| !(entry && keys[i].extra) && t.key(&keys[i]));
                let idx = match near {
                    Some(i) => Some(i),
                    None => {
                        let key = t.string()?;
                        t.eat(b':')?;
                        if entry && key.raw == b"extra" {
                            self.take_extra(t)?;
                            if let Some(Extra::Open(_)) = self.extra {
                                // The rest is read once the payload is.
                                break;
                            }
                            None
                        } else {
                            Some(field_index(plan, key)?)
                        }
                    }
                };
                if let Some(idx) = idx {
                    if !fields.see(idx) {
                        return None;
                    }
                    let from = out.len();
                    self.field(t, &plan.fields[idx], out, depth)?;
                    if out.len() > from {
                        fields.wrote(idx);
                    }
                }
                if !t.more(b'}')? {
                    break;
                }
            }
        }
        let seen = fields.seen;
        if !fields.sorted {
            self.reorder(out, start);
        }
        let required = &fast.required;
        if (0..4).any(|k| required[k] & !seen[k] != 0) {
            return None;
        }
        Some(())
    }

    /// Notes where the entry's `"extra"` string is; it is decoded once the
    /// message is written.
    fn take_extra(&mut self, t: &mut Text) -> Option<()> {
        if self.extra.is_some() || t.peek()? != b'"' {
            return None;
        }
        let start = t.pos + 1;
        // When it may be streamed, a string not closed within a piece is:
        // scanning a long payload's escaped line breaks to its end first was
        // a fifth of the instructions of a 64 MiB pipe's encode.
        let closed = if self.may_stream {
            let end = t.b.len().min(start + PAYLOAD_PIECE);
            let mut near = Text {
                b: &t.b[..end],
                pos: t.pos,
            };
            let s = near.string();
            t.pos = near.pos;
            s
        } else {
            t.string()
        };
        self.extra = Some(match closed {
            Some(s) => Extra::Closed(start, start + s.raw.len()),
            None if self.may_stream => Extra::Open(start),
            None => return None,
        });
        Some(())
    }

    /// Rewrites the fields of the message at `start` in number order, as the
    /// tree encoder writes them (a list's values stay together, in order).
    fn reorder(&mut self, out: &mut Vec<u8>, start: usize) {
        let mut fields = wire_fields(&out[start..]);
        fields.sort_by_key(|f| f.0);
        self.scratch.clear();
        self.scratch.extend_from_slice(&out[start..]);
        out.truncate(start);
        for (_, from, to) in fields {
            out.extend_from_slice(&self.scratch[from..to]);
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
