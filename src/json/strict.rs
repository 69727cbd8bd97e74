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
                let at = match self.0 {
                    Step::Root => "the top-level object".to_string(),
                    step => step.to_string(),
                };
                return Err(de::Error::custom(format_args!(
                    "duplicate key {key:?} in {at}"
                )));
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
