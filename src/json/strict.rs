//! Reading JSON text into a `serde_json::Value`, refusing duplicate object keys.
//! serde_json keeps the last of two equal keys silently; for a hand-edited
//! image that hides a mistake, so the second occurrence is an error naming the
//! key and its JSON path (serde_json adds the line and column).

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

/// Parses JSON text; a duplicate key anywhere is an error.
pub fn parse(text: &[u8]) -> serde_json::Result<Json> {
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
