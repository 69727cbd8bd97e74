//! Property test: random messages of every type an image can hold, generated
//! from the schema plans (random presence, values over each kind's whole range
//! with the edges favoured, unknown enum numbers, nested messages to a bounded
//! depth, repeated fields), survive encode → decode → encode byte for byte and
//! message → JSON (plain and pretty) → message unchanged.

use crit_fs::image::magic::{Layout, MAGICS};
use crit_fs::json::{JsonWriter, message_from_json, write_message};
use crit_fs::message::{Message, Value};
use crit_fs::schema::{FieldPlan, Kind, MsgId, Schema};
use proptest::prelude::*;

/// Every message type an image file can contain.
fn image_message_types() -> Vec<MsgId> {
    let schema = Schema::get();
    let mut names: Vec<&str> = MAGICS
        .iter()
        .filter_map(|m| match m.layout {
            Layout::Entries(name, _) => Some(name),
            _ => None,
        })
        .collect();
    names.extend([
        "pagemap_head",
        "pagemap_entry",
        "ghost_file_entry",
        "ghost_chunk_entry",
        "ipc_msg",
    ]);
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| schema.message_id(n).unwrap_or_else(|| panic!("{n}")))
        .collect()
}

/// A small deterministic generator (splitmix64) driven by proptest's seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A 64-bit pattern, often an edge value.
    fn bits(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => 1 << self.below(64),
            4 => self.below(256),
            _ => self.next(),
        }
    }

    /// A string field's bytes: mostly UTF-8, with bytes that are not
    /// (written as `\udcXX`) and the private-use characters the JSON reader
    /// uses to carry those through serde_json.
    fn string(&mut self) -> Vec<u8> {
        const PIECES: &[&str] = &[
            "a", "/tmp/x", " ", "\"", "\\", "\n", "\t", "\u{0}", "\u{7f}", "é", "\u{2028}", "😀",
            "=", "... <1B>", "0x10", "\u{ef80}", "\u{ef00}",
        ];
        const BAD: &[&[u8]] = &[b"\xff", b"\x80", b"\xc3", b"\xed\xb2\x80", b"\xf0\x9f\x98"];
        (0..self.below(6))
            .flat_map(|_| {
                if self.chance(10) {
                    BAD[self.below(BAD.len() as u64) as usize]
                } else {
                    PIECES[self.below(PIECES.len() as u64) as usize].as_bytes()
                }
            })
            .copied()
            .collect()
    }

    fn bytes(&mut self) -> Vec<u8> {
        let n = self.below(100);
        (0..n)
            .map(|_| match self.below(4) {
                0 => b'=',
                1 => b' ',
                2 => b'\n',
                _ => self.next() as u8,
            })
            .collect()
    }
}

fn scalar(g: &mut Gen, schema: &Schema, field: &FieldPlan, depth: usize) -> Value {
    let b = g.bits();
    match field.kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I64(i64::from(b as i32)),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(b as i64),
        Kind::Uint32 | Kind::Fixed32 => Value::U64(u64::from(b as u32)),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(b),
        Kind::Bool => Value::Bool(b & 1 == 1),
        Kind::String => Value::Str(g.string()),
        Kind::Bytes => Value::Bytes(g.bytes()),
        Kind::Float => Value::F64(f64::from(finite_f32(g))),
        Kind::Double => Value::F64(finite_f64(g)),
        Kind::Enum(_) if g.chance(20) => Value::Enum(b as i32),
        Kind::Enum(e) => {
            // A named value: the plan only maps names; try small numbers.
            let plan = &schema.enums[e];
            let n = (0..64)
                .map(|_| g.below(64) as i32)
                .find(|n| plan.name_of(*n).is_some())
                .unwrap_or(b as i32);
            Value::Enum(n)
        }
        Kind::Message(sub) => Value::Msg(Box::new(message(g, schema, sub, depth + 1))),
    }
}

fn finite_f32(g: &mut Gen) -> f32 {
    match g.below(4) {
        0 => 0.0,
        1 => -1.5,
        _ => {
            let f = f32::from_bits(g.next() as u32);
            if f.is_finite() { f } else { 0.25 }
        }
    }
}

fn finite_f64(g: &mut Gen) -> f64 {
    match g.below(4) {
        0 => 0.0,
        1 => 1e16,
        _ => {
            let f = f64::from_bits(g.next());
            if f.is_finite() { f } else { -0.5 }
        }
    }
}

const MAX_DEPTH: usize = 4;

fn message(g: &mut Gen, schema: &Schema, id: MsgId, depth: usize) -> Message {
    let plan = schema.message(id);
    let mut msg = Message::new(id);
    for (idx, field) in plan.fields.iter().enumerate() {
        let nested = matches!(field.kind, Kind::Message(_));
        let present = field.required || (!(nested && depth >= MAX_DEPTH) && g.chance(50));
        if !present {
            continue;
        }
        let values = if field.repeated {
            let n = if nested && depth >= MAX_DEPTH {
                0
            } else {
                // IP fields hold one or four words; other lengths too.
                1 + g.below(5)
            };
            (0..n).map(|_| scalar(g, schema, field, depth)).collect()
        } else {
            vec![scalar(g, schema, field, depth)]
        };
        if !values.is_empty() {
            msg.set(idx, values);
        }
    }
    msg
}

fn json_of(msg: &Message, pretty: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = JsonWriter::new(&mut out, pretty);
    write_message(&mut w, msg, pretty, false);
    out
}

fn check(seed: u64) -> Result<(), TestCaseError> {
    let schema = Schema::get();
    let mut g = Gen(seed);
    for id in image_message_types() {
        let msg = message(&mut g, schema, id, 0);
        let name = &schema.message(id).name;

        let wire = msg.encode();
        let back = Message::decode(id, &wire)
            .map_err(|e| TestCaseError::fail(format!("{name}: decode: {e}\n{msg:?}")))?;
        prop_assert_eq!(&back, &msg, "{}: decode(encode(m)) != m", name);
        prop_assert_eq!(back.encode(), wire, "{}: encode is not stable", name);

        for pretty in [false, true] {
            let text = json_of(&msg, pretty);
            let shown = String::from_utf8_lossy(&text);
            // The strict reader: serde_json alone refuses the `\udcXX` escapes.
            let json = crit_fs::json::strict::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{name}: invalid JSON {e}: {shown}")))?;
            let parsed = message_from_json(id, &json, "m", &[]).map_err(|e| {
                TestCaseError::fail(format!("{name} (pretty {pretty}): {e}\n{shown}"))
            })?;
            prop_assert_eq!(
                &parsed,
                &msg,
                "{} (pretty {}): JSON round trip differs\n{}",
                name,
                pretty,
                shown
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_image_message_type_round_trips(seed in any::<u64>()) {
        check(seed)?;
    }
}

#[test]
fn covers_every_image_message_type() {
    let types = image_message_types();
    assert!(types.len() >= 70, "{}", types.len());
}
