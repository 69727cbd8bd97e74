//! Walking protobuf wire bytes without building a [`Message`]: the shape
//! check behind decode's fast path (json/wire.rs renders what it accepts) and
//! the few top-level fields the image layer needs for payload sizes. CRIU
//! (protobuf-c) writes fields in number order, each repeated field in one run;
//! [`is_regular`] checks that a message has that shape and would decode
//! without error. Anything else (fields out of order or interleaved, a
//! singular field twice, unknown fields, bad bytes) goes through
//! [`Message::decode`], which keeps its exact result and errors.
//!
//! [`Message`]: crate::message::Message
//! [`Message::decode`]: crate::message::Message::decode

use crate::message::{MAX_DEPTH, Value, fixed_wire, read_varint, scalar, value_u64, wire_matches};
use crate::schema::{FieldPlan, Kind, MsgId, Schema};

/// One field occurrence on the wire.
pub struct WireField<'a> {
    pub number: u32,
    pub wire: u8,
    /// The value's bytes: a varint or fixed-width value, or the contents of a
    /// length-delimited one.
    pub data: &'a [u8],
}

/// [`read_varint`] with the one-byte case inline: most keys and many
/// values are below 128.
#[inline(always)]
pub fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let b = *buf.get(*pos)?;
    if b < 0x80 {
        *pos += 1;
        return Some(u64::from(b));
    }
    read_varint(buf, pos)
}

/// Reads the field at `*pos`; None if the bytes are not a well-formed field.
#[inline(always)]
pub fn next_field<'a>(buf: &'a [u8], pos: &mut usize) -> Option<WireField<'a>> {
    let key = varint(buf, pos)?;
    let (number, wire) = (key >> 3, (key & 7) as u8);
    if number == 0 || number > u64::from(u32::MAX >> 3) {
        return None;
    }
    let start = *pos;
    let data = match wire {
        0 => {
            varint(buf, pos)?;
            &buf[start..*pos]
        }
        1 | 5 => {
            let n = if wire == 1 { 8 } else { 4 };
            let d = buf.get(start..start + n)?;
            *pos += n;
            d
        }
        2 => {
            let len = varint(buf, pos)?;
            let len = usize::try_from(len).ok()?;
            let d = buf.get(*pos..pos.checked_add(len)?)?;
            *pos += len;
            d
        }
        _ => return None,
    };
    Some(WireField {
        number: number as u32,
        wire,
        data,
    })
}

/// The raw bits of the scalar at `*pos` of `data`, read with wire type
/// `wire`: a varint as it is, a fixed-width value little-endian. None where
/// [`scalar`] fails, except that the varint's range is not checked here
/// ([`varint_fits`] does that).
#[inline(always)]
pub fn raw_scalar(wire: u8, data: &[u8], pos: &mut usize) -> Option<u64> {
    match wire {
        0 => varint(data, pos),
        1 => {
            let b = data.get(*pos..*pos + 8)?;
            *pos += 8;
            Some(u64::from_le_bytes(b.try_into().expect("8 bytes")))
        }
        5 => {
            let b = data.get(*pos..*pos + 4)?;
            *pos += 4;
            Some(u64::from(u32::from_le_bytes(
                b.try_into().expect("4 bytes"),
            )))
        }
        _ => None,
    }
}

/// Whether a varint fits its field's type as [`scalar`] requires.
#[inline(always)]
pub fn varint_fits(kind: Kind, raw: u64) -> bool {
    match kind {
        Kind::Int32 | Kind::Enum(_) => i32::try_from(raw as i64).is_ok(),
        Kind::Uint32 | Kind::Sint32 => raw <= u64::from(u32::MAX),
        Kind::Bool => raw <= 1,
        Kind::Int64 | Kind::Uint64 | Kind::Sint64 => true,
        _ => false,
    }
}

/// Whether `data`, with wire type `wire`, holds scalars of `kind` as
/// [`scalar`] reads them: one value (`packed` false, and `data` exactly
/// that value) or a packed run of them.
fn scalars_ok(kind: Kind, wire: u8, data: &[u8], packed: bool) -> bool {
    if wire != 0 {
        // Fixed width: `next_field` cut one value; a run must be whole values.
        let n = if wire == 1 { 8 } else { 4 };
        return !packed || data.len().is_multiple_of(n);
    }
    let mut p = 0;
    while p < data.len() {
        match varint(data, &mut p) {
            Some(raw) if varint_fits(kind, raw) => {}
            _ => return false,
        }
    }
    true
}

/// Whether a repeated scalar field's occurrence is a packed run.
pub fn is_packed_run(field: &FieldPlan, wire: u8) -> bool {
    wire == 2 && !matches!(field.kind, Kind::String | Kind::Bytes | Kind::Message(_))
}

/// Whether the message in `buf` decodes without error and has the shape the
/// one-pass renderer needs: known fields in increasing number order, a
/// repeated field's occurrences next to each other, a singular field once.
pub fn is_regular(schema: &Schema, msg_type: MsgId, buf: &[u8]) -> bool {
    regular(schema, msg_type, buf, 0, true)
}

/// [`is_regular`] for a message nested `depth` deep, without looking inside
/// its sub-messages (only that each is length-delimited).
pub fn is_regular_top(schema: &Schema, msg_type: MsgId, buf: &[u8], depth: usize) -> bool {
    regular(schema, msg_type, buf, depth, false)
}

fn regular(schema: &Schema, msg_type: MsgId, buf: &[u8], depth: usize, deep: bool) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let plan = schema.message(msg_type);
    let mut pos = 0;
    let mut last: Option<u32> = None;
    while pos < buf.len() {
        let Some(f) = next_field(buf, &mut pos) else {
            return false;
        };
        let Some(idx) = plan.field_by_number(f.number) else {
            return false;
        };
        let field = &plan.fields[idx];
        match last {
            Some(n) if n > f.number => return false,
            Some(n) if n == f.number && !field.repeated => return false,
            _ => {}
        }
        last = Some(f.number);
        let ok = if field.repeated && is_packed_run(field, f.wire) {
            // An empty run shows nothing, not `[]`: the tree path leaves it out.
            !f.data.is_empty() && scalars_ok(field.kind, fixed_wire(field.kind), f.data, true)
        } else if wire_matches(field.kind, f.wire) {
            match field.kind {
                Kind::Message(sub) => !deep || regular(schema, sub, f.data, depth + 1, true),
                Kind::String | Kind::Bytes => true,
                k => scalars_ok(k, f.wire, f.data, false),
            }
        } else {
            false
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether a message [`is_regular`] accepted may lack a required field,
/// here or in a sub-message: false only when every one is surely present.
/// (True for messages of more than 64 fields, which it does not track:
/// the caller then looks in the decoded message.)
pub fn may_lack_required(schema: &Schema, msg_type: MsgId, buf: &[u8], depth: usize) -> bool {
    let plan = schema.message(msg_type);
    if plan.fields.len() > 64 || depth > MAX_DEPTH {
        return true;
    }
    let mut seen = 0u64;
    let mut pos = 0;
    while pos < buf.len() {
        let Some(f) = next_field(buf, &mut pos) else {
            return true;
        };
        let Some(idx) = plan.field_by_number(f.number) else {
            return true;
        };
        seen |= 1 << idx;
        if let Kind::Message(sub) = plan.fields[idx].kind
            && may_lack_required(schema, sub, f.data, depth + 1)
        {
            return true;
        }
    }
    plan.fields
        .iter()
        .enumerate()
        .any(|(i, f)| f.required && seen & (1 << i) == 0)
}

/// The last value of a top-level integer field of a message [`is_regular`]
/// accepted, as `Message::u64` reads it from the decoded message.
pub fn top_u64(schema: &Schema, msg_type: MsgId, buf: &[u8], name: &str) -> Option<u64> {
    let plan = schema.message(msg_type);
    let [v] = top_u64s(schema, msg_type, buf, [plan.field_by_name(name)?]);
    v
}

/// [`top_u64`] of several fields (by index in the message's plan) in one
/// pass over the wire bytes, without allocating. All None if the bytes do
/// not walk as fields.
pub fn top_u64s<const N: usize>(
    schema: &Schema,
    msg_type: MsgId,
    buf: &[u8],
    fields: [usize; N],
) -> [Option<u64>; N] {
    let plan = schema.message(msg_type);
    let mut last: [Option<Value>; N] = [const { None }; N];
    let mut pos = 0;
    while pos < buf.len() {
        let Some(f) = next_field(buf, &mut pos) else {
            return [None; N];
        };
        let Some(i) = fields
            .iter()
            .position(|&x| plan.fields[x].number == f.number)
        else {
            continue;
        };
        let field = &plan.fields[fields[i]];
        if is_packed_run(field, f.wire) {
            let wire = fixed_wire(field.kind);
            let mut p = 0;
            while p < f.data.len() {
                let Ok((v, np)) = scalar(field.kind, wire, f.data, p) else {
                    return [None; N];
                };
                last[i] = Some(v);
                p = np;
            }
        } else if let Ok((v, _)) = scalar(field.kind, f.wire, f.data, 0) {
            last[i] = Some(v);
        }
    }
    last.map(|v| v.as_ref().and_then(value_u64))
}
