//! Protobuf wire bytes → CRIT JSON without building a [`Message`] tree: the
//! fast path of decode. CRIU (protobuf-c) writes fields in number order with
//! each repeated field in one run, so the JSON follows the wire bytes in one
//! pass, which also checks what [`crate::wire::is_regular`] checks. A
//! message that turns out otherwise (or malformed) is taken back and
//! rendered from its decoded tree, so output and errors are the tree's.
//!
//! [`Message`]: crate::message::Message

use super::render::{ip_of, write_int, write_value};
use super::writer::{JsonWriter, Key};
use crate::image::Refused;
use crate::message::{MAX_DEPTH, Message, Value, fixed_wire, scalar, wire_matches};
use crate::schema::{FieldPlan, Kind, MsgId, Schema};
use crate::wire::{WireField, is_packed_run, is_regular_top, next_field, raw_scalar, varint_fits};
use std::sync::OnceLock;

/// Messages up to this size are rendered while checked, their output kept
/// in the writer's buffer until they are done so that an irregular one can
/// be taken back. A larger one (an mm entry with all its VMAs) has its top
/// level checked first, then each sub-message rendered the same way in turn,
/// so that memory holds a piece of output, not the whole message's.
const HOLD_MAX: usize = 64 << 10;

/// Writes the fields of a message, nested `depth` deep in its entry (the
/// entry's own message is 0), as keys of the object the caller has opened,
/// exactly as `render::write_fields` writes the decoded message.
///
/// `Refused::Irregular`: the message is not of the regular shape or does
/// not decode, and nothing was written. `Refused::Broken`: a part of it does
/// not decode, found after other parts were written out.
pub fn write_message_fields(
    w: &mut JsonWriter,
    schema: &'static Schema,
    msg_type: MsgId,
    body: &[u8],
    depth: usize,
    pretty: bool,
    hex: bool,
) -> Result<(), Refused> {
    let at = Where {
        msg_type,
        depth,
        pretty,
        hex,
    };
    if body.len() <= HOLD_MAX {
        let mark = w.mark();
        w.hold();
        let r = fields(w, schema, at, body, true);
        w.unhold();
        if r.is_err() {
            w.undo(mark);
            return Err(Refused::Irregular);
        }
        return Ok(());
    }
    if !is_regular_top(schema, msg_type, body, depth) {
        return Err(Refused::Irregular);
    }
    // The top level passed the same checks, so only a sub-message can fail
    // here, after output that cannot be taken back.
    fields(w, schema, at, body, false).map_err(|_| Refused::Broken)
}

/// The keys of a message type's fields, made on first use.
fn keys(schema: &'static Schema, msg_type: MsgId) -> &'static [Option<Key>] {
    type Keys = Box<[Option<Key>]>;
    static KEYS: OnceLock<Box<[OnceLock<Keys>]>> = OnceLock::new();
    let all = KEYS.get_or_init(|| schema.messages.iter().map(|_| OnceLock::new()).collect());
    all[msg_type].get_or_init(|| {
        let fields = schema.message(msg_type).fields;
        fields.iter().map(|f| Key::new(f.name)).collect()
    })
}

/// Writes the key of field `idx` of a message whose keys are `keys`.
#[inline(always)]
fn write_key(w: &mut JsonWriter, keys: &[Option<Key>], field: &FieldPlan, idx: usize) {
    match &keys[idx] {
        Some(k) => w.fixed_key(k),
        None => w.plain_key(field.name),
    }
}

/// What is being rendered, and how.
#[derive(Clone, Copy)]
struct Where {
    msg_type: MsgId,
    depth: usize,
    pretty: bool,
    hex: bool,
}

/// Writes the fields of `buf`, checking what `is_regular` checks. With
/// `held`, an irregularity anywhere inside returns `Irregular` with part of
/// the fields written, for the caller to take back. Without, the top level
/// has been checked and each sub-message is rendered on its own
/// ([`sub_message`]).
fn fields(
    w: &mut JsonWriter,
    schema: &'static Schema,
    at: Where,
    buf: &[u8],
    held: bool,
) -> Result<(), Refused> {
    if at.depth > MAX_DEPTH {
        return Err(Refused::Irregular);
    }
    let plan = schema.message(at.msg_type);
    let keys = keys(schema, at.msg_type);
    let mut pos = 0;
    let mut last: Option<u32> = None;
    // Whether the array of repeated field `last` is open.
    let mut open = false;
    while pos < buf.len() {
        let f = next_field(buf, &mut pos).ok_or(Refused::Irregular)?;
        let idx = plan.field_by_number(f.number).ok_or(Refused::Irregular)?;
        let field = &plan.fields[idx];
        // An empty packed run shows nothing, not `[]`: the tree path leaves it out.
        if field.repeated && is_packed_run(field, f.wire) && f.data.is_empty() {
            return Err(Refused::Irregular);
        }
        if let Some(n) = last {
            if n > f.number || (n == f.number && !field.repeated) {
                return Err(Refused::Irregular);
            }
            if open && n != f.number {
                w.end_array();
                open = false;
            }
        }
        last = Some(f.number);
        let at = Where {
            hex: at.hex || field.opts.hex,
            ..at
        };
        if !field.repeated {
            write_key(w, keys, field, idx);
            one(w, schema, field, &f, at, held)?;
            continue;
        }
        if at.pretty && field.opts.ipadd {
            pos = ip_words(w, schema, field, f, buf, pos, at)?;
            continue;
        }
        if !open {
            write_key(w, keys, field, idx);
            w.begin_array();
            open = true;
        }
        if is_packed_run(field, f.wire) {
            let wire = fixed_wire(field.kind);
            let mut p = 0;
            while p < f.data.len() {
                let raw = raw_scalar(wire, f.data, &mut p).ok_or(Refused::Irregular)?;
                if wire == 0 && !varint_fits(field.kind, raw) {
                    return Err(Refused::Irregular);
                }
                write_raw(w, schema, field, raw, at.pretty, at.hex);
            }
        } else {
            one(w, schema, field, &f, at, held)?;
        }
    }
    if open {
        w.end_array();
    }
    Ok(())
}

/// A repeated `ipadd` field when pretty, from its first occurrence `f` to
/// its last: shown as one address when the words make one, so it needs them
/// all. Returns where the next field starts.
fn ip_words(
    w: &mut JsonWriter,
    schema: &Schema,
    field: &FieldPlan,
    f: WireField,
    buf: &[u8],
    pos: usize,
    at: Where,
) -> Result<usize, Refused> {
    let mut values = Vec::new();
    let mut end = pos;
    let mut g = f;
    loop {
        push_values(field, &g, &mut values)?;
        let mut p = end;
        match next_field(buf, &mut p) {
            Some(n) if n.number == g.number => {
                g = n;
                end = p;
            }
            _ => break,
        }
    }
    w.key(field.name);
    w.begin_array();
    match ip_of(&values) {
        Some(ip) => w.string(&ip),
        None => values
            .iter()
            .for_each(|v| write_value(w, schema, field, v, at.pretty, at.hex)),
    }
    w.end_array();
    Ok(end)
}

/// The values of one occurrence of a scalar field.
fn push_values(field: &FieldPlan, f: &WireField, values: &mut Vec<Value>) -> Result<(), Refused> {
    let wire = if is_packed_run(field, f.wire) {
        fixed_wire(field.kind)
    } else if wire_matches(field.kind, f.wire) {
        f.wire
    } else {
        return Err(Refused::Irregular);
    };
    // Not packed, the data is exactly one value.
    let mut p = 0;
    while p < f.data.len() {
        let (v, np) = scalar(field.kind, wire, f.data, p).map_err(|_| Refused::Irregular)?;
        values.push(v);
        p = np;
    }
    Ok(())
}

/// Writes one non-packed occurrence's value.
#[inline(always)]
fn one(
    w: &mut JsonWriter,
    schema: &'static Schema,
    field: &FieldPlan,
    f: &WireField,
    at: Where,
    held: bool,
) -> Result<(), Refused> {
    if !wire_matches(field.kind, f.wire) {
        return Err(Refused::Irregular);
    }
    match field.kind {
        Kind::Message(sub) => {
            let at = Where {
                msg_type: sub,
                depth: at.depth + 1,
                ..at
            };
            return sub_message(w, schema, at, f.data, held);
        }
        Kind::String => w.string_bytes(f.data),
        Kind::Bytes if field.opts.unix_name => w.string(&super::text::qp_encode_lossless(f.data)),
        Kind::Bytes => w.base64(f.data),
        _ => {
            let raw = raw_scalar(f.wire, f.data, &mut 0).ok_or(Refused::Irregular)?;
            if f.wire == 0 && !varint_fits(field.kind, raw) {
                return Err(Refused::Irregular);
            }
            write_raw(w, schema, field, raw, at.pretty, at.hex);
        }
    }
    Ok(())
}

/// A sub-message as an object. Inside a held message it is checked with
/// it; otherwise on its own, and rendered from its tree if irregular.
fn sub_message(
    w: &mut JsonWriter,
    schema: &'static Schema,
    at: Where,
    data: &[u8],
    held: bool,
) -> Result<(), Refused> {
    w.begin_object();
    if held {
        fields(w, schema, at, data, true)?;
    } else {
        match write_message_fields(w, schema, at.msg_type, data, at.depth, at.pretty, at.hex) {
            Ok(()) => {}
            Err(Refused::Irregular) => from_tree(w, at, data)?,
            Err(Refused::Broken) => return Err(Refused::Broken),
        }
    }
    w.end_object();
    Ok(())
}

/// Renders an irregular sub-message from its decoded tree, as decoding its
/// whole entry would give it; `Broken` if it would not decode there.
fn from_tree(w: &mut JsonWriter, at: Where, data: &[u8]) -> Result<(), Refused> {
    let msg = Message::decode(at.msg_type, data).map_err(|_| Refused::Broken)?;
    // Decoded alone it started at depth 0; in its entry it is deeper.
    if at.depth + nesting(&msg) > MAX_DEPTH {
        return Err(Refused::Broken);
    }
    super::render::write_fields(w, &msg, at.pretty, at.hex);
    Ok(())
}

/// How deep the sub-messages of `msg` go (0 without any).
fn nesting(msg: &Message) -> usize {
    msg.fields
        .iter()
        .flat_map(|f| &f.values)
        .filter_map(|v| match v {
            Value::Msg(m) => Some(1 + nesting(m)),
            _ => None,
        })
        .max()
        .unwrap_or(0)
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
    // Most integers are shown as plain numbers: no detour through i128.
    let o = &field.opts;
    let plain = !pretty || !(hex || o.dev || o.flags.is_some() || o.dict.is_some());
    let v = match field.kind {
        Kind::Uint32 | Kind::Uint64 | Kind::Fixed32 | Kind::Fixed64 if plain => return w.u64(raw),
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
    if plain {
        return w.i64(v as i64);
    }
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
        write_message_fields(&mut w, Schema::get(), msg_type, body, 0, pretty, false).unwrap();
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
        // Nested messages with their own hex fields.
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
            // An empty packed run: not shown at all (see below).
            {
                let mut b = pstree(&[(1, 1), (2, 0), (3, 1), (4, 1)]);
                len_field(5, &[], &mut b);
                b
            },
            // Errors: a value too big for uint32, a truncated varint, a
            // length-delimited singular scalar.
            pstree(&[(1, 1 << 33)]),
            vec![0x08, 0x80],
            bad_wire,
        ];
        let pstree_id = id("pstree_entry");
        for body in bodies {
            assert!(!is_regular(Schema::get(), pstree_id, &body), "{body:x?}");
            assert_fast_is_tree(&image_of("PSTREE", &[body]));
        }
    }

    /// Found by the `decode` fuzzer: an empty packed run of a repeated field
    /// was shown as `[]`; Python's protobuf, and so CRIT, shows no field
    /// (checked with CRIT 3.17), also when the run is next to values.
    #[test]
    fn an_empty_packed_run_is_not_shown() {
        use crate::json::image::{RenderOptions, decode_image_to_json};
        let with = |runs: &[&[u8]]| {
            let mut b = pstree(&[(1, 1), (2, 0), (3, 1), (4, 1)]);
            for run in runs {
                len_field(5, run, &mut b);
            }
            let img = image_of("PSTREE", &[b]);
            String::from_utf8(decode_image_to_json(&img, RenderOptions::default()).unwrap())
                .unwrap()
        };
        let head = r#"{"magic": "PSTREE", "entries": [{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1"#;
        assert_eq!(with(&[&[]]), format!("{head}}}]}}"));
        assert_eq!(with(&[&[], &[]]), format!("{head}}}]}}"));
        assert_eq!(
            with(&[&[], &[5]]),
            format!(r#"{head}, "threads": [5]}}]}}"#)
        );
        assert_eq!(
            with(&[&[5, 6], &[]]),
            format!(r#"{head}, "threads": [5, 6]}}]}}"#)
        );
    }

    /// An image of `magic` with one entry per body.
    fn image_of(magic: &str, bodies: &[Vec<u8>]) -> Vec<u8> {
        let mut img = Vec::new();
        crate::image::encode_magic(crate::image::Magic::by_name(magic).unwrap(), &mut img);
        for body in bodies {
            img.extend_from_slice(&(body.len() as u32).to_le_bytes());
            img.extend_from_slice(body);
        }
        img
    }

    /// Decode gives the JSON (or the error) of the tree renderer, whole
    /// and streamed to a sink.
    fn assert_fast_is_tree(img: &[u8]) {
        use crate::json::image::{
            DecodeWriteError, RenderOptions, decode_image_to_json, decode_image_to_writer,
            image_to_json,
        };
        for pretty in [false, true] {
            let opts = RenderOptions {
                pretty,
                no_payload: false,
            };
            let tree = crate::image::Image::decode(img).map(|i| image_to_json(&i, opts));
            let fast = decode_image_to_json(img, opts);
            assert_eq!(fast, tree, "pretty={pretty}");
            let mut sink = Vec::new();
            let streamed = decode_image_to_writer(img, opts, &mut sink).map(|()| sink);
            match (streamed, tree) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "pretty={pretty}"),
                (Err(DecodeWriteError::Image(a)), Err(b)) => assert_eq!(a, b, "pretty={pretty}"),
                (a, b) => panic!("streamed {:?}, tree {b:?}", a.map(|_| ())),
            }
        }
    }

    /// An mm entry too big to be held whole (json/wire.rs HOLD_MAX) is
    /// checked at its top level, then VMA by VMA: an irregular VMA is
    /// rendered from its tree, a broken one fails the entry with the tree's
    /// error, and a top-level surprise after the VMAs sends the whole entry
    /// to the tree.
    #[test]
    fn large_messages_fall_back_part_by_part() {
        let vma = |i: u64| {
            let mut v = Vec::new();
            for (n, x) in [(1, 0x1000 * i), (2, 0x1000 * i + 0x800), (3, 0), (4, 1)] {
                varint_field(n, x, &mut v);
            }
            for n in 5..=9 {
                varint_field(n, i % 7, &mut v);
            }
            v
        };
        let mm = |odd: Option<Vec<u8>>, tail: &[(u64, u64)]| {
            let mut mm = Vec::new();
            for n in 1..=6 {
                varint_field(n, 0x400000 + n, &mut mm);
            }
            for i in 0..3000 {
                match (&odd, i) {
                    (Some(v), 1500) => len_field(14, v, &mut mm),
                    _ => len_field(14, &vma(i), &mut mm),
                }
            }
            for &(n, x) in tail {
                varint_field(n, x, &mut mm);
            }
            assert!(mm.len() > HOLD_MAX);
            mm
        };
        let reversed = {
            let mut v = Vec::new();
            for n in (1..=9).rev() {
                varint_field(n, n, &mut v);
            }
            v
        };
        let mut unknown = vma(1500);
        varint_field(40, 1, &mut unknown);
        let mut truncated = vma(1500);
        truncated.push(0x08);
        let too_big = {
            let mut v = vma(1500);
            varint_field(5, 1 << 33, &mut v);
            v
        };
        let cases = [
            mm(None, &[]),
            mm(Some(reversed), &[]),
            mm(Some(unknown), &[]),
            mm(Some(truncated), &[]),
            mm(Some(too_big), &[]),
            // dumpable after the VMAs, then mm_start_code again.
            mm(None, &[(15, 3)]),
            mm(None, &[(15, 3), (1, 7)]),
        ];
        for body in cases {
            assert_fast_is_tree(&image_of("MM", &[body.clone(), body]));
        }
    }
}
