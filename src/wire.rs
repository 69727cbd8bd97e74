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

/// Reads the field at `*pos`; None if the bytes are not a well-formed field.
pub fn next_field<'a>(buf: &'a [u8], pos: &mut usize) -> Option<WireField<'a>> {
    let key = read_varint(buf, pos)?;
    let (number, wire) = (key >> 3, (key & 7) as u8);
    if number == 0 || number > u64::from(u32::MAX >> 3) {
        return None;
    }
    let start = *pos;
    let data = match wire {
        0 => {
            read_varint(buf, pos)?;
            &buf[start..*pos]
        }
        1 | 5 => {
            let n = if wire == 1 { 8 } else { 4 };
            let d = buf.get(start..start + n)?;
            *pos += n;
            d
        }
        2 => {
            let len = read_varint(buf, pos)?;
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

/// Whether a repeated scalar field's occurrence is a packed run.
pub fn is_packed_run(field: &FieldPlan, wire: u8) -> bool {
    wire == 2 && !matches!(field.kind, Kind::String | Kind::Bytes | Kind::Message(_))
}

/// Whether the message in `buf` decodes without error and has the shape the
/// one-pass renderer needs: known fields in increasing number order, a
/// repeated field's occurrences next to each other, a singular field once.
pub fn is_regular(schema: &Schema, msg_type: MsgId, buf: &[u8]) -> bool {
    regular(schema, msg_type, buf, 0)
}

fn regular(schema: &Schema, msg_type: MsgId, buf: &[u8], depth: usize) -> bool {
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
            let wire = fixed_wire(field.kind);
            let mut p = 0;
            let mut ok = true;
            while ok && p < f.data.len() {
                match scalar(field.kind, wire, f.data, p) {
                    Ok((_, np)) => p = np,
                    Err(_) => ok = false,
                }
            }
            ok
        } else if wire_matches(field.kind, f.wire) {
            match field.kind {
                Kind::Message(sub) => regular(schema, sub, f.data, depth + 1),
                Kind::String | Kind::Bytes => true,
                k => scalar(k, f.wire, f.data, 0).is_ok(),
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

/// The last value of a top-level integer field of a message [`is_regular`]
/// accepted, as `Message::u64` reads it from the decoded message.
pub fn top_u64(schema: &Schema, msg_type: MsgId, buf: &[u8], name: &str) -> Option<u64> {
    let plan = schema.message(msg_type);
    let field = &plan.fields[plan.field_by_name(name)?];
    let mut pos = 0;
    let mut last: Option<Value> = None;
    while pos < buf.len() {
        let f = next_field(buf, &mut pos)?;
        if f.number != field.number {
            continue;
        }
        if is_packed_run(field, f.wire) {
            let wire = fixed_wire(field.kind);
            let mut p = 0;
            while p < f.data.len() {
                let (v, np) = scalar(field.kind, wire, f.data, p).ok()?;
                last = Some(v);
                p = np;
            }
        } else if let Ok((v, _)) = scalar(field.kind, f.wire, f.data, 0) {
            last = Some(v);
        }
    }
    value_u64(&last?)
}
