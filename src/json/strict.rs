//! Reading JSON text into a `serde_json::Value`, refusing duplicate object keys.
//! serde_json keeps the last of two equal keys silently; for a hand-edited
//! image that hides a mistake, so the second occurrence is an error naming the
//! key and its JSON path (serde_json adds the line and column).
//!
//! It also reads the `\udc80`..`\udcff` escapes that stand for bytes of a
//! string that are not UTF-8 (Python's `surrogateescape`, written by
//! `JsonWriter::string_bytes`). serde_json refuses lone surrogates, so
//! [`prepare`] first rewrites the text: each such escape becomes a character
//! of the private-use range U+EF80..U+EFFF, and a character of that range (or
//! U+EF00) already in the text is prefixed with U+EF00. Strings of the parsed
//! value are therefore in that form; [`string_bytes`] gives a string field's
//! bytes back. Other lone surrogates stay serde_json's error.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value as Json};

/// One step of the path to the value being read; a linked list on the stack,
/// so that no path string is built unless there is an error.
#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a Step<'a>, &'a str),
    Index(&'a Step<'a>, usize),
}

impl fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Root => Ok(()),
            Step::Key(Step::Root, k) => write!(f, "{k}"),
            Step::Key(parent, k) => write!(f, "{parent}.{k}"),
            Step::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Marks the next character as itself (see the module comment).
const MARK: char = '\u{ef00}';

/// The bytes of a string read by [`parse`]: a lone U+EF80..U+EFFF is the byte
/// 0x80..0xff, U+EF00 followed by a character is that character.
pub fn string_bytes(s: &str) -> Vec<u8> {
    // U+EF00..U+EFFF all start with 0xee in UTF-8.
    if !s.as_bytes().contains(&0xee) {
        return s.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            MARK => match chars.next() {
                Some(c) => c,
                None => break,
            },
            '\u{ef80}'..='\u{efff}' => {
                out.push((c as u32 - 0xef00) as u8);
                continue;
            }
            c => c,
        };
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    out
}

/// Whether `c` must be marked to stand for itself.
fn special(c: u32) -> bool {
    c == 0xef00 || (0xef80..=0xefff).contains(&c)
}

/// The text serde_json is given: `text` itself unless it holds a
/// `\udc80`..`\udcff` escape that is not the second half of a pair, or a
/// character that [`string_bytes`] would read otherwise than as itself.
/// Escapes are rewritten in place (same length, so serde_json's positions
/// stay right); a marked character gets six bytes (`\uef00`) before it.
fn prepare(text: &[u8]) -> Option<Vec<u8>> {
    let hex = |at: usize| -> Option<u32> {
        let h = text.get(at..at + 4)?;
        let h = std::str::from_utf8(h).ok()?;
        u32::from_str_radix(h, 16)
            .ok()
            .filter(|_| h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    // The previous escape was a high surrogate: a low one after it is a pair.
    let mut high_before = false;
    // Only backslashes and 0xee (the first byte of U+EF00..U+EFFF) matter.
    // (A backslash ends the text: `i` may then pass its end.)
    while let Some(skip) = text.get(i..).and_then(|t| memchr::memchr2(b'\\', 0xee, t)) {
        if skip > 0 {
            high_before = false;
            i += skip;
        }
        match text[i] {
            b'\\' if text.get(i + 1) == Some(&b'u') => {
                let Some(u) = hex(i + 2) else {
                    i += 2;
                    high_before = false;
                    continue;
                };
                let (lone_byte, marked) =
                    (!high_before && (0xdc80..=0xdcff).contains(&u), special(u));
                if lone_byte || marked {
                    let o = out.get_or_insert_with(|| Vec::with_capacity(text.len() + 64));
                    o.extend_from_slice(&text[copied..i]);
                    if lone_byte {
                        o.extend_from_slice(format!("\\uef{:02x}", u & 0xff).as_bytes());
                    } else {
                        o.extend_from_slice(b"\\uef00");
                        o.extend_from_slice(&text[i..i + 6]);
                    }
                    copied = i + 6;
                }
                high_before = (0xd800..=0xdbff).contains(&u);
                i += 6;
            }
            b'\\' => {
                high_before = false;
                i += 2;
            }
            // U+EF00 is ee bc 80; U+EF80..U+EFFF are ee be xx and ee bf xx.
            0xee if matches!(
                text.get(i + 1..i + 3),
                Some([0xbe | 0xbf, _]) | Some([0xbc, 0x80])
            ) =>
            {
                let o = out.get_or_insert_with(|| Vec::with_capacity(text.len() + 64));
                o.extend_from_slice(&text[copied..i]);
                o.extend_from_slice(b"\\uef00");
                copied = i;
                high_before = false;
                i += 3;
            }
            _ => {
                high_before = false;
                i += 1;
            }
        }
    }
    let mut out = out?;
    out.extend_from_slice(&text[copied..]);
    Some(out)
}

/// Parses JSON text; a duplicate key anywhere is an error.
pub fn parse(text: &[u8]) -> serde_json::Result<Json> {
    let prepared = prepare(text);
    let text = prepared.as_deref().unwrap_or(text);
    let mut de = serde_json::Deserializer::from_slice(text);
    let v = Seed(Step::Root).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// What [`parse_streaming_entries`] calls for each element of the top-level
/// `"entries"` list: the top-level keys read before `"entries"`, the
/// element's index and the element.
pub type EntryHook<'h> = dyn FnMut(&Map<String, Json>, usize, Json) + 'h;

/// [`parse`], except that each element of the top-level `"entries"` list goes
/// to `hook` as soon as it has been read, instead of into the result (where
/// that list stays empty). Syntax errors and duplicate keys are found exactly
/// as by [`parse`].
pub fn parse_streaming_entries(text: &[u8], hook: &mut EntryHook) -> serde_json::Result<Json> {
    let prepared = prepare(text);
    let text = prepared.as_deref().unwrap_or(text);
    let mut de = serde_json::Deserializer::from_slice(text);
    let v = de.deserialize_any(RootSeed(hook))?;
    de.end()?;
    Ok(v)
}

/// The scalar `visit_*` methods of a visitor that reads scalars as [`parse`]
/// does at `$step`.
macro_rules! scalars_as_parse {
    ($step:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
            Seed($step).visit_bool(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
            Seed($step).visit_i64(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
            Seed($step).visit_u64(v)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
            Seed($step).visit_f64(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
            Seed($step).visit_str(v)
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
            Seed($step).visit_string(v)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
            Seed($step).visit_unit()
        }
        fn visit_none<E: de::Error>(self) -> Result<Json, E> {
            Seed($step).visit_none()
        }
    };
}

/// The top level of [`parse_streaming_entries`]: an object hands its
/// `"entries"` list to the hook; anything else is read as by [`parse`].
struct RootSeed<'a, 'h>(&'a mut EntryHook<'h>);

impl<'de> Visitor<'de> for RootSeed<'_, '_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    scalars_as_parse!(Step::Root);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Json, A::Error> {
        Seed(Step::Root).visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(duplicate(&key, Step::Root));
            }
            let value = if key == "entries" {
                map.next_value_seed(EntriesSeed {
                    hook: &mut *self.0,
                    top: &out,
                })?
            } else {
                map.next_value_seed(Seed(Step::Key(&Step::Root, &key)))?
            };
            out.insert(key, value);
        }
        Ok(Json::Object(out))
    }
}

/// The top-level `"entries"` value: a list goes element by element to the
/// hook (and is left empty); anything else is read as by [`parse`].
struct EntriesSeed<'a, 'h> {
    hook: &'a mut EntryHook<'h>,
    top: &'a Map<String, Json>,
}

const ENTRIES: Step<'static> = Step::Key(&Step::Root, "entries");

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_, '_> {
    type Value = Json;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_, '_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    scalars_as_parse!(ENTRIES);
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Json, A::Error> {
        Seed(ENTRIES).visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut index = 0;
        while let Some(v) = seq.next_element_seed(Seed(Step::Index(&ENTRIES, index)))? {
            (self.hook)(self.top, index, v);
            index += 1;
        }
        Ok(Json::Array(Vec::new()))
    }
}

fn duplicate<E: de::Error>(key: &str, at: Step) -> E {
    let at = match at {
        Step::Root => "the top-level object".to_string(),
        step => step.to_string(),
    };
    E::custom(format_args!("duplicate key {key:?} in {at}"))
}

struct Seed<'a>(Step<'a>);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Json;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let step = Step::Index(&self.0, items.len());
            match seq.next_element_seed(Seed(step))? {
                Some(v) => items.push(v),
                None => return Ok(Json::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(duplicate(&key, self.0));
            }
            let value = map.next_value_seed(Seed(Step::Key(&self.0, &key)))?;
            out.insert(key, value);
        }
        Ok(Json::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        let e = parse(br#"{"entries": [{"a": 1}, {"b": {"c": 1, "c": 2}}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "duplicate key \"c\" in entries[1].b at line 1 column 41"
        );
        let e = parse(br#"{"magic": 1, "magic": 2}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("duplicate key \"magic\" in the top-level object")
        );
    }

    #[test]
    fn values_are_as_serde_json_reads_them() {
        let text = br#"{"a": [1, -2, 3.5, "x\u00e9", true, null, {}], "b": 18446744073709551615}"#;
        let want: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(parse(text).unwrap(), want);
    }
}

#[cfg(test)]
mod escape_tests {
    use super::{parse, prepare, string_bytes};

    fn read(text: &str) -> Vec<u8> {
        match parse(text.as_bytes()).unwrap() {
            serde_json::Value::String(s) => string_bytes(&s),
            v => panic!("{v}"),
        }
    }

    #[test]
    fn lone_low_escapes_are_bytes() {
        assert_eq!(read(r#""a\udcff\udc80b""#), b"a\xff\x80b");
        assert_eq!(read(r#""\uDCFE""#), b"\xfe");
        // A pair stays a character; an escaped backslash is not an escape.
        assert_eq!(read(r#""\ud800\udc80""#), "\u{10080}".as_bytes());
        assert_eq!(read(r#""\\udc80""#), br"\udc80");
        assert!(parse(br#""\udc7f""#).is_err());
    }

    #[test]
    fn private_use_characters_stand_for_themselves() {
        let s = "\u{ef00}\u{ef80}\u{efff}\u{ef7f}";
        assert_eq!(read(&format!("\"{s}\"")), s.as_bytes());
        assert_eq!(read(r#""\uef80\uEF00""#), "\u{ef80}\u{ef00}".as_bytes());
        // Nothing to do: no copy.
        assert!(prepare(br#"{"a": "\u00e9\n\\", "b": "\uef7f"}"#).is_none());
    }
}
