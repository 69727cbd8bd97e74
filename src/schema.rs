//! The CRIU image schemas as per-message "plans": every fact the codec and the
//! JSON mapping need about a field (kind, label, CRIT formatting options) is
//! decided once, never per value. build.rs reads the schemas with prost-reflect
//! and writes the plans as static tables; only the name indexes are built at
//! run time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/schema_tables.rs"));

/// A message type as build.rs writes it.
struct MessageRow {
    name: &'static str,
    fields: &'static [FieldPlan],
}

/// An enum type as build.rs writes it: values in declaration order.
struct EnumRow {
    name: &'static str,
    values: &'static [(&'static str, i32)],
}

/// A field without `(criu)` options.
const PLAIN: CriuOpts = CriuOpts {
    hex: false,
    ipadd: false,
    flags: None,
    dev: false,
    odev: false,
    dict: None,
    unix_name: false,
};

/// FNV-1a: the name tables are looked up once per JSON key on encode, where
/// SipHash's DoS resistance buys nothing (keys are checked against a fixed schema).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Index of a message type in [`Schema::messages`].
pub type MsgId = usize;
/// Index of an enum type in [`Schema::enums`].
pub type EnumId = usize;

/// Wire-level kind of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Float,
    Double,
    Enum(EnumId),
    Message(MsgId),
}

impl Kind {
    /// Whether the field holds a signed integer (decoded as `i64`).
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            Kind::Int32
                | Kind::Int64
                | Kind::Sint32
                | Kind::Sint64
                | Kind::Sfixed32
                | Kind::Sfixed64
        )
    }

    /// Whether the field holds an unsigned integer (decoded as `u64`).
    pub fn is_unsigned(self) -> bool {
        matches!(
            self,
            Kind::Uint32 | Kind::Uint64 | Kind::Fixed32 | Kind::Fixed64
        )
    }

    /// Inclusive range of values a JSON number may take for this kind.
    pub fn int_range(self) -> (i128, i128) {
        match self {
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => (i32::MIN as i128, i32::MAX as i128),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => (i64::MIN as i128, i64::MAX as i128),
            Kind::Uint32 | Kind::Fixed32 => (0, u32::MAX as i128),
            Kind::Uint64 | Kind::Fixed64 => (0, u64::MAX as i128),
            _ => (0, 0),
        }
    }
}

/// The symbolic flag tables CRIT knows (`(criu).flags = "…"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagMap {
    MmapProt,
    MmapFlags,
    MmapStatus,
    RfileFlags,
    PmapFlags,
    SealsFlags,
    /// A flags name CRIT has no table for: shown as hex.
    Unknown,
}

/// `(criu).dict` tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictMap {
    Gen,
    Sk,
}

/// The `(criu)` options of one field, as CRIT interprets them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CriuOpts {
    pub hex: bool,
    pub ipadd: bool,
    pub flags: Option<FlagMap>,
    pub dev: bool,
    pub odev: bool,
    pub dict: Option<DictMap>,
    /// `(criu).conv = "unix_name"`: bytes shown as quoted-printable.
    pub unix_name: bool,
}

/// One field of a message plan.
#[derive(Clone, Debug)]
pub struct FieldPlan {
    pub name: &'static str,
    pub number: u32,
    pub kind: Kind,
    pub repeated: bool,
    pub packed: bool,
    pub required: bool,
    pub opts: CriuOpts,
}

/// One message type, fields sorted by number (the order of output and encoding).
#[derive(Debug)]
pub struct MessagePlan {
    pub name: &'static str,
    pub fields: &'static [FieldPlan],
    /// Made on first use: a run looks up names in few message types, and
    /// making the maps of all of them is a good part of start-up.
    by_name: OnceLock<Map<&'static str, usize>>,
    /// Index in `fields` by number for numbers below [`SMALL`] (`NONE` if
    /// absent): decode looks up every field occurrence, nearly all small.
    by_small_number: [u8; SMALL],
}

/// Field numbers below this are looked up in a table, others by binary search.
const SMALL: usize = 64;
const NONE: u8 = u8::MAX;

impl MessagePlan {
    fn new(name: &'static str, fields: &'static [FieldPlan]) -> MessagePlan {
        let mut by_small_number = [NONE; SMALL];
        for (i, f) in fields.iter().enumerate() {
            if (f.number as usize) < SMALL && i < NONE as usize {
                by_small_number[f.number as usize] = i as u8;
            }
        }
        MessagePlan {
            name,
            fields,
            by_name: OnceLock::new(),
            by_small_number,
        }
    }

    /// Index in `fields` of the field with this wire number.
    pub fn field_by_number(&self, number: u32) -> Option<usize> {
        match self.by_small_number.get(number as usize) {
            Some(&NONE) if self.fields.len() < NONE as usize => None,
            Some(&i) if i != NONE => Some(i as usize),
            _ => self.fields.binary_search_by_key(&number, |f| f.number).ok(),
        }
    }

    /// Index in `fields` of the field with this name.
    pub fn field_by_name(&self, name: &str) -> Option<usize> {
        // Most messages have a few fields: comparing names (lengths first)
        // is cheaper than hashing one.
        if self.fields.len() <= SCAN_FIELDS {
            return self.fields.iter().position(|f| f.name == name);
        }
        let by_name = self.by_name.get_or_init(|| {
            self.fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name, i))
                .collect()
        });
        by_name.get(name).copied()
    }
}

/// Up to this many fields, [`MessagePlan::field_by_name`] scans them.
const SCAN_FIELDS: usize = 16;

/// One enum type: values by number and by name.
#[derive(Debug)]
pub struct EnumPlan {
    pub name: &'static str,
    by_number: Map<i32, &'static str>,
    by_name: Map<&'static str, i32>,
}

impl EnumPlan {
    pub fn name_of(&self, number: i32) -> Option<&'static str> {
        self.by_number.get(&number).copied()
    }
    pub fn number_of(&self, name: &str) -> Option<i32> {
        self.by_name.get(name).copied()
    }
    /// Every value: its name and number.
    pub fn values(&self) -> impl Iterator<Item = (&'static str, i32)> + '_ {
        self.by_name.iter().map(|(&name, &n)| (name, n))
    }
}

/// All message and enum plans of the embedded schema.
#[derive(Debug)]
pub struct Schema {
    pub messages: Vec<MessagePlan>,
    pub enums: Vec<EnumPlan>,
    msg_by_name: Map<&'static str, MsgId>,
}

impl Schema {
    /// The schema compiled into this binary.
    pub fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(Schema::from_tables)
    }

    /// The id of a message type by its full name (`core_entry`).
    pub fn message_id(&self, name: &str) -> Option<MsgId> {
        self.msg_by_name.get(name).copied()
    }

    /// The plan of a message type.
    pub fn message(&self, id: MsgId) -> &MessagePlan {
        &self.messages[id]
    }

    fn from_tables() -> Schema {
        let messages = MESSAGES
            .iter()
            .map(|m| MessagePlan::new(m.name, m.fields))
            .collect();
        let enums = ENUMS
            .iter()
            .map(|e| EnumPlan {
                name: e.name,
                // The first name of a number wins, as in CRIT.
                by_number: e.values.iter().rev().map(|&(n, v)| (v, n)).collect(),
                by_name: e.values.iter().copied().collect(),
            })
            .collect();
        let msg_by_name = MESSAGES
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name, i))
            .collect();
        Schema {
            messages,
            enums,
            msg_by_name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lookup_by_number_agrees_with_the_plan() {
        for plan in &Schema::get().messages {
            for n in 0..200 {
                let want = plan.fields.iter().position(|f| f.number == n);
                assert_eq!(plan.field_by_number(n), want, "{} {n}", plan.name);
            }
            for (i, f) in plan.fields.iter().enumerate() {
                assert_eq!(plan.field_by_number(f.number), Some(i));
            }
        }
    }

    #[test]
    fn options_survive_the_build() {
        let s = Schema::get();
        let vma = s.message(s.message_id("vma_entry").unwrap());
        let prot = &vma.fields[vma.field_by_name("prot").unwrap()];
        assert_eq!(prot.opts.flags, Some(FlagMap::MmapProt));
        let start = &vma.fields[vma.field_by_name("start").unwrap()];
        assert!(start.opts.hex);
    }
}
