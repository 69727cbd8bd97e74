//! Protobuf message → CRIT JSON, with CRIT's `--pretty` rules.

use super::text;
use super::writer::JsonWriter;
use crate::message::{Message, Value};
use crate::schema::{FieldPlan, Kind, Schema};

/// Key under which fields unknown to our schema are kept (base64 of their raw
/// wire bytes), so that images from a newer CRIU survive decode → encode.
pub const UNKNOWN_KEY: &str = "__unknown_fields__";

/// Writes `msg` as a JSON object. `hex` is inherited from a `(criu).hex` parent.
pub fn write_message(w: &mut JsonWriter, msg: &Message, pretty: bool, hex: bool) {
    w.begin_object();
    write_fields(w, msg, pretty, hex);
    w.end_object();
}

/// Writes the fields of `msg` as keys of the object the caller has opened.
pub fn write_fields(w: &mut JsonWriter, msg: &Message, pretty: bool, hex: bool) {
    let schema = Schema::get();
    let plan = schema.message(msg.msg_type);
    for fv in &msg.fields {
        let field = &plan.fields[fv.field];
        w.plain_key(field.name);
        let is_hex = hex || field.opts.hex;
        if field.repeated {
            w.begin_array();
            if pretty
                && field.opts.ipadd
                && let Some(ip) = ip_of(&fv.values)
            {
                w.string(&ip);
                w.end_array();
                continue;
            }
            for v in &fv.values {
                write_value(w, schema, field, v, pretty, is_hex);
            }
            w.end_array();
        } else if let Some(v) = fv.values.last() {
            write_value(w, schema, field, v, pretty, is_hex);
        }
    }
    if !msg.unknown.is_empty() {
        let raw: Vec<u8> = msg
            .unknown
            .iter()
            .flat_map(|u| u.raw.iter().copied())
            .collect();
        w.key(UNKNOWN_KEY);
        w.base64(&raw);
    }
}

pub(super) fn ip_of(values: &[Value]) -> Option<String> {
    let words: Option<Vec<u32>> = values
        .iter()
        .map(|v| match v {
            Value::U64(x) => u32::try_from(*x).ok(),
            _ => None,
        })
        .collect();
    text::ip_text(&words?)
}

pub(super) fn write_value(
    w: &mut JsonWriter,
    schema: &Schema,
    field: &FieldPlan,
    v: &Value,
    pretty: bool,
    hex: bool,
) {
    match v {
        Value::Msg(m) => write_message(w, m, pretty, hex),
        Value::Bytes(b) if field.opts.unix_name => w.string(&text::qp_encode_lossless(b)),
        Value::Bytes(b) => w.base64(b),
        Value::Str(s) => w.string_bytes(s),
        Value::Bool(b) => w.bool(*b),
        Value::F64(f) => w.f64(*f),
        Value::Enum(n) => {
            let Kind::Enum(e) = field.kind else {
                unreachable!("enum value of a non-enum field")
            };
            match schema.enums[e].name_of(*n) {
                Some(name) => w.name(name),
                // A number this schema does not name: kept as a number.
                None => w.i64(i64::from(*n)),
            }
        }
        Value::U64(x) => write_int(w, field, i128::from(*x), pretty, hex),
        Value::I64(x) => write_int(w, field, i128::from(*x), pretty, hex),
    }
}

#[inline]
pub(super) fn write_int(w: &mut JsonWriter, field: &FieldPlan, v: i128, pretty: bool, hex: bool) {
    if pretty {
        if hex {
            return w.raw_string(|out| push_hex(out, v));
        }
        if field.opts.dev {
            return w.raw_string(|out| text::push_dev(out, v as u64, field.opts.odev));
        }
        if let Some(map) = field.opts.flags {
            return w.raw_string(|out| text::push_flags(out, v as u64, map));
        }
        if let Some(map) = field.opts.dict
            && let Some(name) = i64::try_from(v)
                .ok()
                .and_then(|x| text::dict_name(map, field.name, x))
        {
            return w.string(name);
        }
    }
    if v < 0 {
        w.i64(v as i64)
    } else {
        w.u64(v as u64)
    }
}

/// Python's `"0x%x" % v`, appended without a temporary string (hex fields
/// are most of a pretty mm image).
fn push_hex(out: &mut Vec<u8>, v: i128) {
    if v < 0 {
        out.push(b'-');
    }
    // From an i64 or a u64: the magnitude fits 64 bits.
    text::push_hex(out, v.unsigned_abs() as u64);
}

#[cfg(test)]
mod tests {
    use super::push_hex;

    #[test]
    fn hex_matches_python() {
        for v in [
            0i128,
            1,
            15,
            16,
            0x7fff_ffff_ffff,
            -1,
            -255,
            u64::MAX as i128,
            i64::MIN as i128,
        ] {
            let mut out = Vec::new();
            push_hex(&mut out, v);
            let want = if v < 0 {
                format!("-0x{:x}", -v)
            } else {
                format!("0x{v:x}")
            };
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}
