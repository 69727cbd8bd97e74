//! Protobuf wire bytes → CRIT JSON without building a [`Message`] tree: the
//! fast path of decode, for messages [`crate::wire::is_regular`] accepts.
//! Fields come in number order with each repeated field in one run, so the
//! JSON follows the wire bytes in one pass.
//!
//! [`Message`]: crate::message::Message

use super::render::{ip_of, write_int, write_value};
use super::writer::JsonWriter;
use crate::message::{Value, fixed_wire, scalar};
use crate::schema::{FieldPlan, Kind, MsgId, Schema};
use crate::wire::{WireField, is_packed_run, next_field, raw_scalar};

/// Writes the fields of a message that [`crate::wire::is_regular`] accepted as keys of the
/// object the caller has opened, exactly as `render::write_fields` would
/// write the decoded message.
pub fn write_fields(
    w: &mut JsonWriter,
    schema: &'static Schema,
    msg_type: MsgId,
    buf: &[u8],
    pretty: bool,
    hex: bool,
) {
    let plan = schema.message(msg_type);
    let mut pos = 0;
    // The repeated field whose array is open.
    let mut open: Option<u32> = None;
    while pos < buf.len() {
        let f = next_field(buf, &mut pos).expect("checked by is_regular");
        let idx = plan
            .field_by_number(f.number)
            .expect("checked by is_regular");
        let field = &plan.fields[idx];
        let is_hex = hex || field.opts.hex;
        if open.is_some_and(|n| n != f.number) {
            w.end_array();
            open = None;
        }
        if !field.repeated {
            w.plain_key(field.name);
            write_one(w, schema, field, &f, pretty, is_hex);
            continue;
        }
        if pretty && field.opts.ipadd {
            // Shown as one address when the words make one: needs them all.
            let mut values = Vec::new();
            let mut end = pos;
            let mut g = f;
            loop {
                push_values(field, &g, &mut values);
                let mut p = end;
                match next_field(buf, &mut p) {
                    Some(n) if n.number == g.number => {
                        g = n;
                        end = p;
                    }
                    _ => break,
                }
            }
            pos = end;
            w.key(field.name);
            w.begin_array();
            match ip_of(&values) {
                Some(ip) => w.string(&ip),
                None => values
                    .iter()
                    .for_each(|v| write_value(w, schema, field, v, pretty, is_hex)),
            }
            w.end_array();
            continue;
        }
        if open.is_none() {
            w.plain_key(field.name);
            w.begin_array();
            open = Some(f.number);
        }
        if is_packed_run(field, f.wire) {
            let wire = fixed_wire(field.kind);
            let mut p = 0;
            while p < f.data.len() {
                let raw = raw_scalar(wire, f.data, &mut p).expect("checked by is_regular");
                write_raw(w, schema, field, raw, pretty, is_hex);
            }
        } else {
            write_one(w, schema, field, &f, pretty, is_hex);
        }
    }
    if open.is_some() {
        w.end_array();
    }
}

/// The values of one occurrence of a scalar field.
fn push_values(field: &FieldPlan, f: &WireField, values: &mut Vec<Value>) {
    if is_packed_run(field, f.wire) {
        let wire = fixed_wire(field.kind);
        let mut p = 0;
        while p < f.data.len() {
            let (v, np) = scalar(field.kind, wire, f.data, p).expect("checked by is_regular");
            values.push(v);
            p = np;
        }
    } else if let Ok((v, _)) = scalar(field.kind, f.wire, f.data, 0) {
        values.push(v);
    }
}

/// Writes one non-packed occurrence's value.
fn write_one(
    w: &mut JsonWriter,
    schema: &'static Schema,
    field: &FieldPlan,
    f: &WireField,
    pretty: bool,
    hex: bool,
) {
    match field.kind {
        Kind::Message(sub) => {
            w.begin_object();
            write_fields(w, schema, sub, f.data, pretty, hex);
            w.end_object();
        }
        Kind::String => w.string_bytes(f.data),
        Kind::Bytes if field.opts.unix_name => w.string(&super::text::qp_encode_lossless(f.data)),
        Kind::Bytes => w.base64(f.data),
        _ => {
            let raw = raw_scalar(f.wire, f.data, &mut 0).expect("checked by is_regular");
            write_raw(w, schema, field, raw, pretty, hex);
        }
    }
}

/// Writes a scalar from its raw wire bits (see [`raw_scalar`]) as
/// `render::write_value` writes the value `message::scalar` makes of them,
/// without making it: is_regular has checked that it fits the field.
#[inline(always)]
fn write_raw(
    w: &mut JsonWriter,
    schema: &Schema,
    field: &FieldPlan,
    raw: u64,
    pretty: bool,
    hex: bool,
) {
    let v = match field.kind {
        Kind::Uint32 | Kind::Uint64 | Kind::Fixed32 | Kind::Fixed64 => i128::from(raw),
        // Negative 32-bit values are sign-extended on the wire.
        Kind::Int32 | Kind::Int64 | Kind::Sfixed64 => i128::from(raw as i64),
        Kind::Sfixed32 => i128::from(raw as u32 as i32),
        Kind::Sint32 | Kind::Sint64 => i128::from((raw >> 1) as i64 ^ -((raw & 1) as i64)),
        Kind::Bool => return w.bool(raw == 1),
        Kind::Float => return w.f64(f32::from_bits(raw as u32).into()),
        Kind::Double => return w.f64(f64::from_bits(raw)),
        Kind::Enum(_) => {
            return write_value(
                w,
                schema,
                field,
                &Value::Enum(raw as i64 as i32),
                pretty,
                hex,
            );
        }
        Kind::String | Kind::Bytes | Kind::Message(_) => unreachable!("not a scalar"),
    };
    write_int(w, field, v, pretty, hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::render;
    use crate::message::{Message, write_varint};
    use crate::wire::is_regular;

    /// A field's key.
    fn key(number: u64, wire: u64, out: &mut Vec<u8>) {
        write_varint(number << 3 | wire, out);
    }

    fn varint_field(number: u64, v: u64, out: &mut Vec<u8>) {
        key(number, 0, out);
        write_varint(v, out);
    }

    fn len_field(number: u64, data: &[u8], out: &mut Vec<u8>) {
        key(number, 2, out);
        write_varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }

    /// A pstree_entry from (field, value) pairs in the given order.
    fn pstree(fields: &[(u64, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(n, v) in fields {
            varint_field(n, v, &mut out);
        }
        out
    }

    fn id(name: &str) -> MsgId {
        Schema::get().message_id(name).unwrap()
    }

    fn via_wire(msg_type: MsgId, body: &[u8], pretty: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = JsonWriter::new(&mut out, pretty);
        w.begin_object();
        write_fields(&mut w, Schema::get(), msg_type, body, pretty, false);
        w.end_object();
        out
    }

    fn via_tree(msg_type: MsgId, body: &[u8], pretty: bool) -> Vec<u8> {
        let msg = Message::decode(msg_type, body).unwrap();
        let mut out = Vec::new();
        let mut w = JsonWriter::new(&mut out, pretty);
        render::write_message(&mut w, &msg, pretty, false);
        out
    }

    /// Regular messages render the same from the wire as from the tree.
    #[test]
    fn wire_rendering_matches_the_tree() {
        let mut packed = pstree(&[(1, 1), (2, 0), (3, 1), (4, 1)]);
        len_field(5, &[7, 8, 0x80, 1], &mut packed);
        // Packed and unpacked runs of one repeated field, next to each other.
        let mut mixed = packed.clone();
        varint_field(5, 9, &mut mixed);
        // ipadd: four words make one IPv6 address when pretty; one word not.
        let mut sit = Vec::new();
        varint_field(1, 3, &mut sit);
        for w in [0x0000_80fe, 0, 0, 0x0100_0000] {
            varint_field(2, w, &mut sit);
        }
        varint_field(3, 0x0100_007f, &mut sit);
        varint_field(6, 1, &mut sit);
        // Nested messages with their own hex fields; below, an empty packed
        // run, which is an empty list.
        let mut vma = Vec::new();
        varint_field(1, 0x1000, &mut vma);
        varint_field(2, 0x2000, &mut vma);
        let mut mm = Vec::new();
        for n in 1..=6 {
            varint_field(n, 0x400000 + n, &mut mm);
        }
        len_field(14, &vma, &mut mm);
        len_field(14, &vma, &mut mm);
        let cases = [
            (
                "pstree_entry",
                pstree(&[(1, 1), (2, 0), (3, 1), (4, 1), (5, 1), (5, 2)]),
            ),
            ("pstree_entry", packed),
            ("pstree_entry", mixed),
            ("pstree_entry", {
                let mut b = pstree(&[(1, 1), (2, 0), (3, 1), (4, 1)]);
                len_field(5, &[], &mut b);
                b
            }),
            ("sit_entry", sit),
            ("mm_entry", mm),
        ];
        for (name, body) in cases {
            assert!(is_regular(Schema::get(), id(name), &body), "{name}");
            for pretty in [false, true] {
                let (a, b) = (
                    via_wire(id(name), &body, pretty),
                    via_tree(id(name), &body, pretty),
                );
                assert_eq!(
                    String::from_utf8(a).unwrap(),
                    String::from_utf8(b).unwrap(),
                    "{name} pretty={pretty}"
                );
            }
        }
    }

    /// Messages the one-pass renderer cannot follow are refused, and decode
    /// renders them through the tree: an image of such entries gives the
    /// same JSON (and errors) as the tree renderer.
    #[test]
    fn irregular_messages_fall_back_to_the_tree() {
        let mut unknown = pstree(&[(1, 1), (2, 0), (3, 1), (4, 1)]);
        varint_field(99, 5, &mut unknown);
        let mut bad_wire = pstree(&[(1, 1), (2, 0)]);
        len_field(3, &[1], &mut bad_wire);
        let bodies = [
            // Out of order.
            pstree(&[(2, 0), (1, 1), (4, 1), (3, 1)]),
            // A repeated field interleaved with another.
            pstree(&[(1, 1), (2, 0), (3, 1), (5, 1), (4, 1), (5, 2)]),
            // A singular field twice: the last wins.
            pstree(&[(1, 1), (1, 2), (2, 0), (3, 1), (4, 1)]),
            unknown,
            // Errors: a value too big for uint32, a truncated varint, a
            // length-delimited singular scalar.
            pstree(&[(1, 1 << 33)]),
            vec![0x08, 0x80],
            bad_wire,
        ];
        let pstree_id = id("pstree_entry");
        let magic = crate::image::Magic::by_name("PSTREE").unwrap();
        for body in bodies {
            assert!(!is_regular(Schema::get(), pstree_id, &body), "{body:x?}");
            let mut img = Vec::new();
            crate::image::encode_magic(magic, &mut img);
            img.extend_from_slice(&(body.len() as u32).to_le_bytes());
            img.extend_from_slice(&body);
            for pretty in [false, true] {
                let opts = crate::json::image::RenderOptions {
                    pretty,
                    no_payload: false,
                };
                let fast = crate::json::image::decode_image_to_json(&img, opts);
                let tree = crate::image::Image::decode(&img)
                    .map(|i| crate::json::image::image_to_json(&i, opts));
                assert_eq!(fast, tree, "{body:x?}");
            }
        }
    }
}
