//! CRIT JSON → protobuf message. Accepts both the plain and the `--pretty`
//! forms (numbers or strings in any base, flag strings, `major:minor`, IP
//! addresses, dictionary names). Stricter than CRIT on purpose: an unknown key,
//! a wrong type or an out-of-range number is an error naming its JSON path.

use serde_json::Value as Json;

use super::render::UNKNOWN_KEY;
use super::text;
use crate::message::{Message, UnknownField, Value, kind_name, read_varint};
use crate::schema::{FieldPlan, Kind, MsgId, Schema};

/// A JSON value that does not fit the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonError {
    /// JSON path such as `entries[3].vmas[2].start`.
    pub path: String,
    pub what: String,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.what)
    }
}

/// Where a value sits in the JSON document; turned into text only when an
/// error is reported, so that the happy path formats no paths.
#[derive(Clone, Copy)]
enum JPath<'a> {
    Root(&'a str),
    Key(&'a JPath<'a>, &'a str),
    Index(&'a JPath<'a>, usize),
}

impl std::fmt::Display for JPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JPath::Root(s) => f.write_str(s),
            JPath::Key(p, k) => write!(f, "{p}.{k}"),
            JPath::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

/// `s` quoted as `{s:?}` would, cut in the middle when huge (a hostile key or
/// value), so that the message quoting it stays readable.
pub(crate) fn quoted(s: &str) -> String {
    crate::error::clip_fmt_to(crate::error::MAX_MESSAGE / 4, format_args!("{s:?}"))
}

fn fail<T>(path: &JPath, what: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError {
        // A path through a huge key is cut, so that path and reason together
        // stay readable (crate::error::MAX_MESSAGE).
        path: crate::error::clip_fmt_to(crate::error::MAX_MESSAGE / 4, format_args!("{path}")),
        what: what.into(),
    })
}

/// Builds a message of type `msg_type` from a JSON object. `path` names the
/// object in error messages; `skip` lists keys the caller handles (`extra`).
pub fn message_from_json(
    msg_type: MsgId,
    json: &Json,
    path: &str,
    skip: &[&str],
) -> Result<Message, JsonError> {
    message_at(msg_type, json, &JPath::Root(path), skip)
}

fn message_at(
    msg_type: MsgId,
    json: &Json,
    path: &JPath,
    skip: &[&str],
) -> Result<Message, JsonError> {
    let schema = Schema::get();
    let plan = schema.message(msg_type);
    let Json::Object(map) = json else {
        return fail(
            path,
            format!(
                "expected an object for {}, found {}",
                plan.name,
                kind_of(json)
            ),
        );
    };
    let mut msg = Message::new(msg_type);
    msg.fields = Vec::with_capacity(map.len());
    for (key, value) in map {
        if skip.contains(&key.as_str()) {
            continue;
        }
        let fpath = JPath::Key(path, key);
        if key == UNKNOWN_KEY {
            let Json::String(s) = value else {
                return fail(&fpath, "expected a base64 string");
            };
            let raw = text::base64_decode(s).or_else(|e| fail(&fpath, e))?;
            msg.unknown = split_unknown(&raw).ok_or_else(|| JsonError {
                path: fpath.to_string(),
                what: "not a sequence of protobuf fields".into(),
            })?;
            continue;
        }
        let Some(idx) = plan.field_by_name(key) else {
            let key = quoted(key);
            return fail(&fpath, format!("unknown field {key} for {}", plan.name));
        };
        let field = &plan.fields[idx];
        let values = if field.repeated {
            let Json::Array(items) = value else {
                return fail(&fpath, format!("expected a list, found {}", kind_of(value)));
            };
            if field.opts.ipadd && matches!(items.first(), Some(Json::String(_))) {
                let Json::String(s) = &items[0] else {
                    unreachable!()
                };
                match text::ip_words(s) {
                    Some(words) => words.into_iter().map(|w| Value::U64(w.into())).collect(),
                    None => {
                        return fail(
                            &JPath::Index(&fpath, 0),
                            format!("invalid IP address {}", quoted(s)),
                        );
                    }
                }
            } else {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(value_from_json(
                        schema,
                        field,
                        item,
                        &JPath::Index(&fpath, i),
                    )?);
                }
                out
            }
        } else {
            vec![value_from_json(schema, field, value, &fpath)?]
        };
        if field.repeated && values.is_empty() {
            continue;
        }
        msg.set(idx, values);
    }
    for (idx, field) in plan.fields.iter().enumerate().filter(|(_, f)| f.required) {
        if !msg.fields.iter().any(|f| f.field == idx) {
            return fail(
                path,
                format!(
                    "required field {:?} of {} is missing",
                    field.name, plan.name
                ),
            );
        }
    }
    Ok(msg)
}

/// Splits raw wire bytes into fields (for the unknown-fields key).
fn split_unknown(raw: &[u8]) -> Option<Vec<UnknownField>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let start = pos;
        let key = read_varint(raw, &mut pos)?;
        let end = match key & 7 {
            0 => {
                read_varint(raw, &mut pos)?;
                pos
            }
            1 => pos + 8,
            5 => pos + 4,
            2 => {
                let len = read_varint(raw, &mut pos)?;
                pos.checked_add(usize::try_from(len).ok()?)?
            }
            _ => return None,
        };
        if end > raw.len() || key >> 3 == 0 {
            return None;
        }
        pos = end;
        out.push(UnknownField {
            number: (key >> 3) as u32,
            raw: raw[start..end].to_vec(),
        });
    }
    out.sort_by_key(|u| u.number);
    Some(out)
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

fn value_from_json(
    schema: &Schema,
    field: &FieldPlan,
    v: &Json,
    path: &JPath,
) -> Result<Value, JsonError> {
    match field.kind {
        Kind::Message(sub) => Ok(Value::Msg(Box::new(message_at(sub, v, path, &[])?))),
        Kind::Bytes => {
            let Json::String(s) = v else {
                return fail(path, format!("expected a string, found {}", kind_of(v)));
            };
            if field.opts.unix_name {
                Ok(Value::Bytes(text::qp_decode(s)))
            } else {
                text::base64_decode(s)
                    .map(Value::Bytes)
                    .or_else(|e| fail(path, e))
            }
        }
        Kind::String => match v {
            Json::String(s) => Ok(Value::Str(super::strict::string_bytes(s))),
            _ => fail(path, format!("expected a string, found {}", kind_of(v))),
        },
        Kind::Bool => match v {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            Json::Number(n) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
                Ok(Value::Bool(n.as_u64() == Some(1)))
            }
            _ => fail(
                path,
                format!("expected true or false, found {}", kind_of(v)),
            ),
        },
        Kind::Enum(e) => {
            let plan = &schema.enums[e];
            match v {
                Json::String(s) => match plan.number_of(s) {
                    Some(n) => Ok(Value::Enum(n)),
                    None => fail(
                        path,
                        format!("{} is not a value of enum {}", quoted(s), plan.name),
                    ),
                },
                Json::Number(n) => match n.as_i64().and_then(|x| i32::try_from(x).ok()) {
                    Some(x) => Ok(Value::Enum(x)),
                    None => fail(path, format!("enum number {n} out of range")),
                },
                _ => fail(path, format!("expected an enum name, found {}", kind_of(v))),
            }
        }
        Kind::Float | Kind::Double => match v.as_f64() {
            Some(f) => Ok(Value::F64(f)),
            None => fail(path, format!("expected a number, found {}", kind_of(v))),
        },
        kind => {
            let n = int_from_json(field, v, path)?;
            let (lo, hi) = kind.int_range();
            if n < lo || n > hi {
                return fail(
                    path,
                    format!("{n} is out of range for {} ({lo}..={hi})", kind_name(kind)),
                );
            }
            Ok(if kind.is_signed() {
                Value::I64(n as i64)
            } else {
                Value::U64(n as u64)
            })
        }
    }
}

fn int_from_json(field: &FieldPlan, v: &Json, path: &JPath) -> Result<i128, JsonError> {
    match v {
        Json::Number(n) => {
            if let Some(x) = n.as_u64() {
                Ok(i128::from(x))
            } else if let Some(x) = n.as_i64() {
                Ok(i128::from(x))
            } else {
                fail(path, format!("expected an integer, found {n}"))
            }
        }
        Json::String(s) => int_from_str(field, s).or_else(|e| fail(path, e)),
        _ => fail(path, format!("expected an integer, found {}", kind_of(v))),
    }
}

/// An integer field's value written as a string: a device, flags, a
/// dictionary name or a Python integer literal (the `--pretty` forms).
pub(super) fn int_from_str(field: &FieldPlan, s: &str) -> Result<i128, String> {
    if field.opts.dev {
        return text::dev_value(s, field.opts.odev)
            .map(i128::from)
            .ok_or_else(|| format!("invalid device {}, expected MAJOR:MINOR", quoted(s)));
    }
    if let Some(map) = field.opts.flags {
        return text::flags_value(s, map);
    }
    if let Some(map) = field.opts.dict
        && let Some(x) = text::dict_value(map, field.name, s)
    {
        return Ok(i128::from(x));
    }
    text::python_int(s).ok_or_else(|| format!("invalid integer {}", quoted(s)))
}
