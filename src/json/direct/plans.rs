//! What the direct encoder precomputes per message type: the mask of its
//! required fields, each field's key as it usually stands in the text, and
//! what [`super::run`] needs to write a varint or enum field quickly.

use std::sync::OnceLock;

use crate::schema::{FieldPlan, Kind, MessagePlan, MsgId, Schema};

/// Per message type, what [`plans`] holds.
pub(super) struct Plan {
    /// Its required fields, a bit per field index.
    pub(super) required: [u64; 4],
    /// Its fields' keys, by field index.
    pub(super) keys: Vec<KeyPattern>,
    /// By field index, how to write a plain non-negative number or an
    /// enum name quickly, for the fields written as a varint.
    pub(super) varints: Vec<Option<VarintField>>,
}

/// A single (not repeated) field whose plain non-negative JSON numbers
/// are written as they are, as a varint: uint32/64, int32/64 and enums;
/// an enum's names are written as their numbers.
pub(super) struct VarintField {
    /// The field's tag, as written (one or two bytes: numbers below 2048).
    pub(super) tag: [u8; 2],
    pub(super) tag_len: usize,
    /// The largest number the field takes.
    pub(super) max: u64,
    /// An enum's names as they stand in the text, with their quotes.
    pub(super) names: Vec<NamePattern>,
}

impl VarintField {
    fn new(f: &FieldPlan) -> Option<VarintField> {
        let (max, names) = match f.kind {
            Kind::Uint32 => (u64::from(u32::MAX), Vec::new()),
            Kind::Uint64 => (u64::MAX, Vec::new()),
            Kind::Int32 => (i32::MAX as u64, Vec::new()),
            Kind::Int64 => (i64::MAX as u64, Vec::new()),
            Kind::Enum(e) => {
                let values = Schema::get().enums[e].values();
                let names = values.filter_map(|(name, n)| NamePattern::new(name, n));
                (i32::MAX as u64, names.collect())
            }
            _ => return None,
        };
        if f.repeated || f.number >= 2048 {
            return None;
        }
        let key = f.number << 3;
        let (tag, tag_len) = match key < 0x80 {
            true => ([key as u8, 0], 1),
            false => ([(key as u8) | 0x80, (key >> 7) as u8], 2),
        };
        Some(VarintField {
            tag,
            tag_len,
            max,
            names,
        })
    }
}

/// `"NAME"`, an enum value's name as a JSON string, compared with the
/// text 16 bytes at a time; names of more than 14 characters have none.
pub(super) struct NamePattern {
    bytes: u128,
    mask: u128,
    pub(super) len: usize,
    /// The value's number as its varint is written (negative ones
    /// sign-extended to 64 bits, as protobuf does).
    pub(super) value: u64,
}

impl NamePattern {
    fn new(name: &str, number: i32) -> Option<NamePattern> {
        let len = name.len() + 2;
        if len > 16 {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[0] = b'"';
        bytes[1..len - 1].copy_from_slice(name.as_bytes());
        bytes[len - 1] = b'"';
        let mask = u128::MAX >> (8 * (16 - len));
        Some(NamePattern {
            bytes: u128::from_le_bytes(bytes),
            mask,
            len,
            value: i64::from(number) as u64,
        })
    }

    /// Whether the text's next 16 bytes start with this name.
    #[inline(always)]
    pub(super) fn matches(&self, text: &[u8; 16]) -> bool {
        (u128::from_le_bytes(*text) ^ self.bytes) & self.mask == 0
    }
}

/// `"name": `, the key of a field as CRIT writes it (plain and pretty),
/// compared with the text 32 bytes at a time.
pub(super) struct KeyPattern {
    bytes: [u8; 32],
    mask: [u8; 32],
    /// How many bytes of the pattern count; 0 when the name is too long.
    len: usize,
    /// Whether it is `"extra"`, which at an entry's top is the payload.
    pub(super) extra: bool,
}

impl KeyPattern {
    fn new(name: &str) -> KeyPattern {
        let mut bytes = [0; 32];
        let mut mask = [0; 32];
        let len = match name.len() + 4 <= 32 {
            true => name.len() + 4,
            false => 0,
        };
        if len > 0 {
            bytes[0] = b'"';
            bytes[1..len - 3].copy_from_slice(name.as_bytes());
            bytes[len - 3..len].copy_from_slice(b"\": ");
            mask[..len].fill(0xff);
        }
        KeyPattern {
            bytes,
            mask,
            len,
            extra: name == "extra",
        }
    }

    /// How long the key is if `text` starts with it. False misses are
    /// allowed (other spacing, a name too long, the text's last bytes):
    /// the caller then reads the key the slow way.
    #[inline(always)]
    pub(super) fn matches(&self, text: &[u8]) -> Option<usize> {
        self.matches_head(text.get(..32)?.try_into().ok()?)
    }

    /// [`KeyPattern::matches`] on the text's next 32 bytes.
    #[inline(always)]
    pub(super) fn matches_head(&self, window: &[u8; 32]) -> Option<usize> {
        let word = |b: &[u8; 32], half: usize| {
            u128::from_le_bytes(b[half * 16..half * 16 + 16].try_into().expect("16 bytes"))
        };
        let differs =
            |half| (word(window, half) ^ word(&self.bytes, half)) & word(&self.mask, half);
        // Most keys fit the first half.
        let hit = match self.len {
            0 => false,
            1..=16 => differs(0) == 0,
            _ => differs(0) | differs(1) == 0,
        };
        hit.then_some(self.len)
    }
}

/// The plan of one message type, made the first time it is asked for:
/// a run reads a few types, and making all of them would cost more than
/// encoding a small image.
pub(super) fn plan(id: MsgId) -> &'static Plan {
    static PLANS: OnceLock<Vec<OnceLock<Plan>>> = OnceLock::new();
    let schema = Schema::get();
    let plans = PLANS.get_or_init(|| schema.messages.iter().map(|_| OnceLock::new()).collect());
    plans[id].get_or_init(|| Plan::new(schema.message(id)))
}

impl Plan {
    fn new(plan: &MessagePlan) -> Plan {
        let mut required = [0u64; 4];
        for (i, f) in plan.fields.iter().enumerate().take(256) {
            required[i / 64] |= u64::from(f.required) << (i % 64);
        }
        Plan {
            required,
            keys: plan
                .fields
                .iter()
                .map(|f| KeyPattern::new(f.name))
                .collect(),
            varints: plan.fields.iter().map(VarintField::new).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_fields_have_the_tag_the_tree_encoder_writes() {
        for plan in &Schema::get().messages {
            for f in plan.fields {
                let Some(v) = VarintField::new(f) else {
                    continue;
                };
                let mut tag = Vec::new();
                crate::message::write_varint(u64::from(f.number) << 3, &mut tag);
                assert_eq!(&v.tag[..v.tag_len], &tag[..], "{}", f.name);
                let Kind::Enum(e) = f.kind else {
                    let (_, hi) = f.kind.int_range();
                    assert_eq!(i128::from(v.max), hi, "{}", f.name);
                    continue;
                };
                assert_eq!(v.max, i32::MAX as u64);
                // Each name is found, as the number the tree encoder writes.
                for (name, n) in Schema::get().enums[e].values() {
                    let mut text = format!("\"{name}\",").into_bytes();
                    text.resize(text.len().max(16), b' ');
                    let head: &[u8; 16] = text[..16].try_into().unwrap();
                    let found = v.names.iter().find(|p| p.matches(head));
                    let mut want = Vec::new();
                    crate::message::encode_scalar(
                        f.kind,
                        &crate::message::Value::Enum(n),
                        &mut want,
                    );
                    match name.len() <= 14 {
                        true => {
                            let p = found.unwrap_or_else(|| panic!("{name}"));
                            let mut got = Vec::new();
                            crate::message::write_varint(p.value, &mut got);
                            assert_eq!(got, want, "{name}");
                            assert_eq!(p.len, name.len() + 2);
                        }
                        false => assert!(found.is_none(), "{name}"),
                    }
                }
            }
        }
    }

    #[test]
    fn key_patterns_match_only_their_key() {
        let p = KeyPattern::new("start");
        let pad = |s: &str| format!("{s}{}", " ".repeat(40));
        assert_eq!(p.matches(pad("\"start\": 1").as_bytes()), Some(9));
        assert_eq!(p.matches(pad("\"start\":1").as_bytes()), None);
        assert_eq!(p.matches(pad("\"starts\": 1").as_bytes()), None);
        assert_eq!(p.matches(pad("\"end\": 1").as_bytes()), None);
        // Too near the end of the text to compare at once.
        assert_eq!(p.matches(b"\"start\": 1"), None);
        let long = "a".repeat(29);
        let p = KeyPattern::new(&long);
        assert_eq!(p.matches(pad(&format!("\"{long}\": 1")).as_bytes()), None);
        let fits = "b".repeat(28);
        let p = KeyPattern::new(&fits);
        assert_eq!(
            p.matches(pad(&format!("\"{fits}\": 1")).as_bytes()),
            Some(32)
        );
    }
}
