//! A decoded protobuf message of the CRIU schema, with lossless protobuf wire
//! decoding and encoding: fields keep their presence (proto2), and fields our
//! schema does not know are kept as raw wire bytes in their place.

use crate::schema::{FieldPlan, Kind, MsgId, Schema};

/// Scalar or nested value of one field element.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// int32, int64, sint32, sint64, sfixed32, sfixed64
    I64(i64),
    /// uint32, uint64, fixed32, fixed64
    U64(u64),
    Bool(bool),
    /// A string field's raw bytes: usually UTF-8, but CRIU writes file names
    /// as the kernel has them, so any bytes are kept (the JSON form escapes
    /// the invalid ones, docs/json.md).
    Str(Vec<u8>),
    Bytes(Vec<u8>),
    /// An enum number (possibly one the schema does not name).
    Enum(i32),
    F64(f64),
    Msg(Box<Message>),
}

/// One present field: a single value, or every element of a repeated field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldValue {
    /// Index of the field in the message plan.
    pub field: usize,
    pub values: Values,
}

/// A field's values, as a slice. Most fields hold one value, kept inline:
/// a Vec per field made decoding a core image mostly malloc and free.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    One(Value),
    Many(Vec<Value>),
}

impl Values {
    pub fn push(&mut self, v: Value) {
        match self {
            Values::Many(vs) => vs.push(v),
            Values::One(_) => {
                let Values::One(first) = std::mem::replace(self, Values::Many(Vec::new())) else {
                    unreachable!()
                };
                let mut vs = Vec::with_capacity(4);
                vs.extend([first, v]);
                *self = Values::Many(vs);
            }
        }
    }

    pub fn extend(&mut self, more: impl IntoIterator<Item = Value>) {
        for v in more {
            self.push(v);
        }
    }
}

impl<'a> IntoIterator for &'a Values {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Values {
    type Item = &'a mut Value;
    type IntoIter = std::slice::IterMut<'a, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl IntoIterator for Values {
    type Item = Value;
    type IntoIter = std::vec::IntoIter<Value>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            Values::One(v) => vec![v].into_iter(),
            Values::Many(vs) => vs.into_iter(),
        }
    }
}

impl From<Vec<Value>> for Values {
    fn from(mut vs: Vec<Value>) -> Values {
        match vs.len() {
            1 => Values::One(vs.pop().expect("one value")),
            _ => Values::Many(vs),
        }
    }
}

impl std::ops::Deref for Values {
    type Target = [Value];

    fn deref(&self) -> &[Value] {
        match self {
            Values::One(v) => std::slice::from_ref(v),
            Values::Many(vs) => vs,
        }
    }
}

impl std::ops::DerefMut for Values {
    fn deref_mut(&mut self) -> &mut [Value] {
        match self {
            Values::One(v) => std::slice::from_mut(v),
            Values::Many(vs) => vs,
        }
    }
}

/// A field the schema does not know, kept as its raw wire bytes (tag included).
#[derive(Clone, Debug, PartialEq)]
pub struct UnknownField {
    pub number: u32,
    pub raw: Vec<u8>,
}

/// A message: the present fields in field-number order plus unknown fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub msg_type: MsgId,
    pub fields: Vec<FieldValue>,
    pub unknown: Vec<UnknownField>,
}

/// Where and why wire decoding failed.
#[derive(Debug, Clone, PartialEq)]
pub struct WireError {
    /// Byte offset inside the message buffer.
    pub offset: usize,
    /// Dotted field path inside the message.
    pub path: String,
    pub what: String,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{} (message byte {})", self.what, self.offset)
        } else {
            write!(
                f,
                "{} in field {} (message byte {})",
                self.what, self.path, self.offset
            )
        }
    }
}

/// How deep messages may nest before decoding gives up.
pub(crate) const MAX_DEPTH: usize = 64;

impl Message {
    /// An empty message of the given type.
    pub fn new(msg_type: MsgId) -> Message {
        Message {
            msg_type,
            fields: Vec::new(),
            unknown: Vec::new(),
        }
    }

    /// The schema name of this message's type.
    pub fn type_name(&self) -> &'static str {
        Schema::get().message(self.msg_type).name
    }

    /// The present values of a field by name (empty if absent or unknown).
    pub fn get(&self, name: &str) -> &[Value] {
        let plan = Schema::get().message(self.msg_type);
        match plan.field_by_name(name) {
            Some(idx) => self
                .fields
                .iter()
                .find(|f| f.field == idx)
                .map_or(&[], |f| &f.values[..]),
            None => &[],
        }
    }

    /// Whether a field is present.
    pub fn has(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// An integer field (last value), as u64; negative values are None.
    pub fn u64(&self, name: &str) -> Option<u64> {
        value_u64(self.get(name).last()?)
    }

    /// An integer field (last value), as i64.
    pub fn i64(&self, name: &str) -> Option<i64> {
        match self.get(name).last()? {
            Value::U64(v) => i64::try_from(*v).ok(),
            Value::I64(v) => Some(*v),
            Value::Enum(v) => Some(*v as i64),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// A bool field.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name).last()? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A string field, bytes that are not UTF-8 replaced by U+FFFD (for
    /// display; [`Message::bytes`] gives the exact bytes).
    pub fn str(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        match self.get(name).last()? {
            Value::Str(s) => Some(String::from_utf8_lossy(s)),
            _ => None,
        }
    }

    /// A bytes field (or a string field's raw bytes).
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        match self.get(name).last()? {
            Value::Bytes(b) => Some(b),
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A nested message field.
    pub fn msg(&self, name: &str) -> Option<&Message> {
        match self.get(name).last()? {
            Value::Msg(m) => Some(m),
            _ => None,
        }
    }

    /// Every element of a repeated message field.
    pub fn msgs<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Message> + 'a {
        self.get(name).iter().filter_map(|v| match v {
            Value::Msg(m) => Some(&**m),
            _ => None,
        })
    }

    /// The symbolic name of an enum field (None if absent or not named by the schema).
    pub fn enum_name(&self, name: &str) -> Option<&'static str> {
        let schema = Schema::get();
        let plan = schema.message(self.msg_type);
        let field = &plan.fields[plan.field_by_name(name)?];
        let Kind::Enum(e) = field.kind else {
            return None;
        };
        match self.get(name).last()? {
            Value::Enum(n) => schema.enums[e].name_of(*n),
            _ => None,
        }
    }

    /// Decodes a message of type `msg_type` from protobuf wire bytes.
    pub fn decode(msg_type: MsgId, buf: &[u8]) -> Result<Message, WireError> {
        let mut path = Vec::new();
        decode_message(Schema::get(), msg_type, buf, 0, 0, &mut path, None)
    }

    /// [`Message::decode`] of only the fields on the dotted paths in `only`
    /// (`"tc.comm"`: just that field of `tc`; `"tc"`: all of `tc`). Other
    /// fields, unknown ones too, are skipped by their wire lengths, so damage
    /// inside them is not reported: for readers that need a few fields of a
    /// large message, such as a core image's command name.
    pub fn decode_only(msg_type: MsgId, buf: &[u8], only: &[&str]) -> Result<Message, WireError> {
        let only = Only::new(Schema::get(), msg_type, only);
        let mut path = Vec::new();
        decode_message(Schema::get(), msg_type, buf, 0, 0, &mut path, Some(&only))
    }

    /// Encodes the message to protobuf wire bytes: fields in number order,
    /// unknown fields merged in at their number.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoding of the message to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let plan = Schema::get().message(self.msg_type);
        let mut unknown = self.unknown.iter().peekable();
        for fv in &self.fields {
            let field = &plan.fields[fv.field];
            while let Some(u) = unknown.next_if(|u| u.number < field.number) {
                out.extend_from_slice(&u.raw);
            }
            encode_field(field, &fv.values, out);
        }
        for u in unknown {
            out.extend_from_slice(&u.raw);
        }
    }

    /// Sets (replacing) the values of a field by plan index, keeping fields in order.
    pub fn set(&mut self, field: usize, values: Vec<Value>) {
        match self.fields.binary_search_by_key(&field, |f| f.field) {
            Ok(i) => self.fields[i].values = values.into(),
            Err(i) => self.fields.insert(
                i,
                FieldValue {
                    field,
                    values: values.into(),
                },
            ),
        }
    }
}

/// Which fields [`Message::decode_only`] decodes, by plan index: each with the
/// fields of its sub-message to decode, or None for all of it.
struct Only(Vec<(usize, Option<Only>)>);

impl Only {
    fn new(schema: &Schema, msg_type: MsgId, paths: &[&str]) -> Only {
        let plan = schema.message(msg_type);
        let mut fields: Vec<(usize, Vec<&str>, bool)> = Vec::new();
        for path in paths {
            let (name, rest) = match path.split_once('.') {
                Some((name, rest)) => (name, Some(rest)),
                None => (*path, None),
            };
            let Some(idx) = plan.field_by_name(name) else {
                continue;
            };
            let at = match fields.iter().position(|f| f.0 == idx) {
                Some(at) => at,
                None => {
                    fields.push((idx, Vec::new(), false));
                    fields.len() - 1
                }
            };
            match rest {
                Some(rest) => fields[at].1.push(rest),
                None => fields[at].2 = true,
            }
        }
        Only(
            fields
                .into_iter()
                .map(|(idx, rests, whole)| {
                    let sub = match plan.fields[idx].kind {
                        Kind::Message(sub) if !whole => Some(Only::new(schema, sub, &rests)),
                        _ => None,
                    };
                    (idx, sub)
                })
                .collect(),
        )
    }

    /// Whether field `idx` is decoded, and what of it.
    fn get(&self, idx: usize) -> Option<Option<&Only>> {
        self.0.iter().find(|f| f.0 == idx).map(|f| f.1.as_ref())
    }
}

/// An integer value as u64; negative values and non-integers are None.
pub(crate) fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::U64(v) => Some(*v),
        Value::I64(v) => u64::try_from(*v).ok(),
        Value::Enum(v) => u64::try_from(*v).ok(),
        Value::Bool(b) => Some(*b as u64),
        _ => None,
    }
}

fn err(offset: usize, path: &[&str], what: impl Into<String>) -> WireError {
    WireError {
        offset,
        path: path.join("."),
        what: what.into(),
    }
}

/// Reads a varint at `*pos`; None at a truncated or over-long varint.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if i == 9 && b > 1 {
            return None;
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Writes the varint length of what follows `at` into the one byte reserved
/// for it there, widening it when the body is 128 bytes or more (rare: most
/// nested messages are small, so they are encoded in place, not copied).
pub(crate) fn close_length(out: &mut Vec<u8>, at: usize) {
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(10);
        write_varint(len as u64, &mut prefix);
        out.splice(at..at + 1, prefix);
    }
}

/// Appends a varint.
#[inline]
pub fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn decode_message(
    schema: &'static Schema,
    msg_type: MsgId,
    buf: &[u8],
    base: usize,
    depth: usize,
    path: &mut Vec<&'static str>,
    only: Option<&Only>,
) -> Result<Message, WireError> {
    if depth > MAX_DEPTH {
        return Err(err(base, path, "messages nested too deeply"));
    }
    let plan = schema.message(msg_type);
    let mut msg = Message::new(msg_type);
    // Room for every field the type has (each takes at least two bytes), so
    // that a message is one allocation instead of four growing ones.
    msg.fields = Vec::with_capacity(plan.fields.len().min(buf.len() / 2));
    let mut pos = 0;
    let mut sorted = true;
    while pos < buf.len() {
        let start = pos;
        let key = crate::wire::varint(buf, &mut pos)
            .ok_or_else(|| err(base + start, path, "truncated field key"))?;
        let number = key >> 3;
        let wire = (key & 7) as u8;
        if number == 0 || number > u32::MAX as u64 >> 3 {
            return Err(err(
                base + start,
                path,
                format!("invalid field number {number}"),
            ));
        }
        let number = number as u32;
        // Extent of the field's value.
        let value_start = pos;
        let (payload, end) = match wire {
            0 => {
                crate::wire::varint(buf, &mut pos)
                    .ok_or_else(|| err(base + value_start, path, "truncated varint"))?;
                (&buf[value_start..pos], pos)
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if buf.len() - pos < n {
                    return Err(err(base + value_start, path, "truncated fixed-width value"));
                }
                (&buf[pos..pos + n], pos + n)
            }
            2 => {
                let len = crate::wire::varint(buf, &mut pos)
                    .ok_or_else(|| err(base + value_start, path, "truncated length"))?;
                if len > (buf.len() - pos) as u64 {
                    return Err(err(
                        base + value_start,
                        path,
                        format!(
                            "length {len} runs past the end of the message ({} bytes left)",
                            buf.len() - pos
                        ),
                    ));
                }
                let len = len as usize;
                (&buf[pos..pos + len], pos + len)
            }
            _ => {
                return Err(err(
                    base + start,
                    path,
                    format!("unsupported wire type {wire}"),
                ));
            }
        };
        pos = end;
        let idx = plan.field_by_number(number);
        // What of the field to decode: None skips it.
        let sub_only = match (only, idx) {
            (None, _) => Some(None),
            (Some(only), Some(idx)) => only.get(idx),
            (Some(_), None) => None,
        };
        let Some(sub_only) = sub_only else {
            continue;
        };
        let Some(idx) = idx else {
            msg.unknown.push(UnknownField {
                number,
                raw: buf[start..end].to_vec(),
            });
            continue;
        };
        let field = &plan.fields[idx];
        path.push(field.name);
        let packed_run =
            wire == 2 && !matches!(field.kind, Kind::String | Kind::Bytes | Kind::Message(_));
        let mut run = Vec::new();
        let one = if packed_run && field.repeated {
            let mut p = 0;
            while p < payload.len() {
                let (v, np) = scalar(field.kind, fixed_wire(field.kind), payload, p)
                    .map_err(|what| err(base + (end - payload.len()) + p, path, what))?;
                run.push(v);
                p = np;
            }
            None
        } else if wire_matches(field.kind, wire) {
            Some(match field.kind {
                Kind::Message(sub) => Value::Msg(Box::new(decode_message(
                    schema,
                    sub,
                    payload,
                    base + (end - payload.len()),
                    depth + 1,
                    path,
                    sub_only,
                )?)),
                // Any bytes: file names need not be UTF-8 (the JSON form
                // escapes what is not, as Python's surrogateescape does).
                Kind::String => Value::Str(payload.to_vec()),
                Kind::Bytes => Value::Bytes(payload.to_vec()),
                k => {
                    scalar(k, wire, payload, 0)
                        .map_err(|what| err(base + value_start, path, what))?
                        .0
                }
            })
        } else {
            // A known field with a wire type that does not fit it. Kept as an
            // unknown field it would be re-encoded at another place (and a
            // required field would then be missing); protobuf-c, which CRIU
            // uses, refuses such a message too.
            return Err(err(
                base + start,
                path,
                format!(
                    "wire type {wire} does not fit the field's type {}",
                    kind_name(field.kind)
                ),
            ));
        };
        path.pop();
        // proto2 writes a repeated scalar as one key per element: the common
        // case appends to the field decoded just before.
        if field.repeated
            && let Some(last) = msg.fields.last_mut().filter(|l| l.field == idx)
        {
            match one {
                Some(v) => last.values.push(v),
                None => last.values.extend(run),
            }
            continue;
        }
        let values = match one {
            Some(v) => Values::One(v),
            // An empty packed run: nothing to keep. Python's protobuf, and so
            // CRIT, shows no such field (not even `[]`).
            None if run.is_empty() => continue,
            None => Values::Many(run),
        };
        // Fields come in number order from CRIU: while they do, a field after
        // the last one is new, and only one out of order needs looking for.
        let last = msg.fields.last().map(|l| l.field);
        let existing = match last {
            Some(l) if l < idx && sorted => None,
            _ => msg.fields.iter_mut().find(|f| f.field == idx),
        };
        if let Some(existing) = existing {
            merge(field, existing, values);
        } else {
            if last.is_some_and(|l| l > idx) {
                sorted = false;
            }
            msg.fields.push(FieldValue { field: idx, values });
        }
    }
    if !sorted {
        msg.fields.sort_by_key(|f| f.field);
    }
    // encode_into merges unknown fields in by number, as the JSON form does:
    // keep them in that order here too (stable, so repeats keep theirs).
    msg.unknown.sort_by_key(|u| u.number);
    Ok(msg)
}

/// A repeated field accumulates; a singular one keeps the last value (a
/// message merges, as protobuf parsers do).
fn merge(field: &FieldPlan, existing: &mut FieldValue, values: Values) {
    if field.repeated {
        existing.values.extend(values);
        return;
    }
    let Some(new) = values.into_iter().last() else {
        return;
    };
    match (existing.values.last_mut(), new) {
        (Some(Value::Msg(old)), Value::Msg(new)) => {
            for fv in new.fields {
                let plan = Schema::get().message(old.msg_type);
                let f = &plan.fields[fv.field];
                match old.fields.iter_mut().find(|o| o.field == fv.field) {
                    Some(o) => merge(f, o, fv.values),
                    None => old.set(fv.field, fv.values.into_iter().collect()),
                }
            }
            old.unknown.extend(new.unknown);
            // In number order, as decode keeps them (stable: repeats keep theirs).
            old.unknown.sort_by_key(|u| u.number);
        }
        (_, new) => existing.values = Values::One(new),
    }
}

pub(crate) fn fixed_wire(kind: Kind) -> u8 {
    match kind {
        Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => 1,
        Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => 5,
        _ => 0,
    }
}

pub(crate) fn wire_matches(kind: Kind, wire: u8) -> bool {
    match kind {
        Kind::String | Kind::Bytes | Kind::Message(_) => wire == 2,
        k => fixed_wire(k) == wire,
    }
}

/// Decodes one scalar at `pos`. A varint that does not fit its field's type
/// (2^32 in a uint32, 2 in a bool) is an error: protobuf parsers truncate it,
/// which would silently change the value and the bytes on re-encoding.
pub(crate) fn scalar(
    kind: Kind,
    wire: u8,
    buf: &[u8],
    pos: usize,
) -> Result<(Value, usize), String> {
    let mut p = pos;
    let truncated = || "truncated value".to_string();
    let fixed = |n: usize| buf.get(p..p + n).ok_or_else(truncated);
    match wire {
        0 => {
            let raw = crate::wire::varint(buf, &mut p).ok_or_else(truncated)?;
            let out_of_range = || {
                format!(
                    "value {raw} does not fit the field's type {}",
                    kind_name(kind)
                )
            };
            let v = match kind {
                // Negative 32-bit values are sign-extended to 64 bits on the wire.
                Kind::Int32 | Kind::Enum(_) => {
                    let x = i32::try_from(raw as i64).map_err(|_| out_of_range())?;
                    if matches!(kind, Kind::Enum(_)) {
                        Value::Enum(x)
                    } else {
                        Value::I64(x.into())
                    }
                }
                Kind::Int64 => Value::I64(raw as i64),
                Kind::Uint32 => Value::U64(u32::try_from(raw).map_err(|_| out_of_range())?.into()),
                Kind::Uint64 => Value::U64(raw),
                Kind::Sint32 => {
                    let raw = u32::try_from(raw).map_err(|_| out_of_range())?;
                    Value::I64(((raw >> 1) as i32 ^ -((raw & 1) as i32)).into())
                }
                Kind::Sint64 => Value::I64((raw >> 1) as i64 ^ -((raw & 1) as i64)),
                Kind::Bool if raw <= 1 => Value::Bool(raw == 1),
                Kind::Bool => return Err(out_of_range()),
                _ => return Err("varint in a field of another type".into()),
            };
            Ok((v, p))
        }
        1 => {
            let b: [u8; 8] = fixed(8)?.try_into().expect("8 bytes");
            let v = match kind {
                Kind::Fixed64 => Value::U64(u64::from_le_bytes(b)),
                Kind::Sfixed64 => Value::I64(i64::from_le_bytes(b)),
                Kind::Double => Value::F64(f64::from_le_bytes(b)),
                _ => return Err("64-bit value in a field of another type".into()),
            };
            Ok((v, p + 8))
        }
        5 => {
            let b: [u8; 4] = fixed(4)?.try_into().expect("4 bytes");
            let v = match kind {
                Kind::Fixed32 => Value::U64(u32::from_le_bytes(b).into()),
                Kind::Sfixed32 => Value::I64(i32::from_le_bytes(b).into()),
                Kind::Float => Value::F64(f32::from_le_bytes(b).into()),
                _ => return Err("32-bit value in a field of another type".into()),
            };
            Ok((v, p + 4))
        }
        _ => Err(format!("unsupported wire type {wire}")),
    }
}

/// The protobuf name of a scalar kind.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::Enum(_) => "enum",
        Kind::Float => "float",
        Kind::Double => "double",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Message(_) => "message",
    }
}

pub(crate) fn encode_scalar(kind: Kind, v: &Value, out: &mut Vec<u8>) {
    match (kind, v) {
        (Kind::Int32 | Kind::Int64, Value::I64(x)) => write_varint(*x as u64, out),
        (Kind::Uint32 | Kind::Uint64, Value::U64(x)) => write_varint(*x, out),
        (Kind::Sint32, Value::I64(x)) => write_varint(
            (((*x as i32) << 1) ^ ((*x as i32) >> 31)) as u32 as u64,
            out,
        ),
        (Kind::Sint64, Value::I64(x)) => write_varint(((x << 1) ^ (x >> 63)) as u64, out),
        (Kind::Bool, Value::Bool(b)) => out.push(*b as u8),
        (Kind::Enum(_), Value::Enum(e)) => write_varint(*e as i64 as u64, out),
        (Kind::Fixed64, Value::U64(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Kind::Sfixed64, Value::I64(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Kind::Fixed32, Value::U64(x)) => out.extend_from_slice(&(*x as u32).to_le_bytes()),
        (Kind::Sfixed32, Value::I64(x)) => out.extend_from_slice(&(*x as i32).to_le_bytes()),
        (Kind::Double, Value::F64(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Kind::Float, Value::F64(x)) => out.extend_from_slice(&(*x as f32).to_le_bytes()),
        _ => unreachable!("value {v:?} does not fit field kind {kind:?}; the builders check this"),
    }
}

pub(crate) fn encode_field(field: &FieldPlan, values: &[Value], out: &mut Vec<u8>) {
    let key = |wire: u8, out: &mut Vec<u8>| {
        write_varint((u64::from(field.number) << 3) | u64::from(wire), out)
    };
    match field.kind {
        Kind::Message(_) | Kind::String | Kind::Bytes => {
            for v in values {
                key(2, out);
                match v {
                    Value::Msg(m) => {
                        // Encode in place behind a one-byte length; widen it
                        // afterwards in the rare case the body is 128 bytes or more.
                        let at = out.len();
                        out.push(0);
                        m.encode_into(out);
                        close_length(out, at);
                    }
                    Value::Str(s) => {
                        write_varint(s.len() as u64, out);
                        out.extend_from_slice(s);
                    }
                    Value::Bytes(b) => {
                        write_varint(b.len() as u64, out);
                        out.extend_from_slice(b);
                    }
                    _ => unreachable!("builders keep kinds consistent"),
                }
            }
        }
        kind if field.packed && field.repeated => {
            if values.is_empty() {
                return;
            }
            let mut body = Vec::new();
            for v in values {
                encode_scalar(kind, v, &mut body);
            }
            key(2, out);
            write_varint(body.len() as u64, out);
            out.extend_from_slice(&body);
        }
        kind => {
            for v in values {
                key(fixed_wire(kind), out);
                encode_scalar(kind, v, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_hold_one_inline_and_grow_to_many() {
        let mut v = Values::from(vec![Value::U64(1)]);
        assert!(matches!(v, Values::One(Value::U64(1))));
        v.push(Value::U64(2));
        v.extend([Value::U64(3)]);
        assert_eq!(&v[..], &[Value::U64(1), Value::U64(2), Value::U64(3)]);
        v[0] = Value::U64(9);
        assert_eq!(v.iter().count(), 3);
        assert_eq!(v.into_iter().next(), Some(Value::U64(9)));
        assert!(Values::from(Vec::new()).is_empty());
    }
}
