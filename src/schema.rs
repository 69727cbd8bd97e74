//! The CRIU image schemas, compiled in at build time, turned into per-message
//! "plans": every fact the codec and the JSON mapping need about a field
//! (kind, label, CRIT formatting options) is looked up once here, never per value.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, Kind as PbKind, Value as PbValue};

static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/criu-images.bin"));

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
    pub name: String,
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
    pub name: String,
    pub fields: Vec<FieldPlan>,
    by_name: Map<String, usize>,
}

impl MessagePlan {
    /// Index in `fields` of the field with this wire number.
    pub fn field_by_number(&self, number: u32) -> Option<usize> {
        self.fields.binary_search_by_key(&number, |f| f.number).ok()
    }

    /// Index in `fields` of the field with this name.
    pub fn field_by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}

/// One enum type: values by number and by name.
#[derive(Debug)]
pub struct EnumPlan {
    pub name: String,
    by_number: Map<i32, String>,
    by_name: Map<String, i32>,
}

impl EnumPlan {
    pub fn name_of(&self, number: i32) -> Option<&str> {
        self.by_number.get(&number).map(String::as_str)
    }
    pub fn number_of(&self, name: &str) -> Option<i32> {
        self.by_name.get(name).copied()
    }
}

/// All message and enum plans of the embedded schema.
#[derive(Debug)]
pub struct Schema {
    pub messages: Vec<MessagePlan>,
    pub enums: Vec<EnumPlan>,
    msg_by_name: Map<String, MsgId>,
}

impl Schema {
    /// The schema compiled into this binary.
    pub fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            let pool =
                DescriptorPool::decode(DESCRIPTORS).expect("embedded descriptor set is valid");
            Schema::from_pool(&pool)
        })
    }

    /// The id of a message type by its full name (`core_entry`).
    pub fn message_id(&self, name: &str) -> Option<MsgId> {
        self.msg_by_name.get(name).copied()
    }

    /// The plan of a message type.
    pub fn message(&self, id: MsgId) -> &MessagePlan {
        &self.messages[id]
    }

    fn from_pool(pool: &DescriptorPool) -> Schema {
        let criu_ext = pool.get_extension_by_name("criu");
        let msgs: Vec<_> = pool.all_messages().collect();
        let enums: Vec<_> = pool.all_enums().collect();
        let msg_by_name: Map<String, MsgId> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| (m.full_name().to_string(), i))
            .collect();
        let enum_by_name: HashMap<String, EnumId> = enums
            .iter()
            .enumerate()
            .map(|(i, e)| (e.full_name().to_string(), i))
            .collect();

        let enum_plans = enums
            .iter()
            .map(|e| EnumPlan {
                name: e.full_name().to_string(),
                by_number: e
                    .values()
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .map(|v| (v.number(), v.name().to_string()))
                    .collect(),
                by_name: e
                    .values()
                    .map(|v| (v.name().to_string(), v.number()))
                    .collect(),
            })
            .collect();

        let messages = msgs
            .iter()
            .map(|m| {
                let mut fields: Vec<FieldPlan> = m
                    .fields()
                    .map(|f| {
                        let kind = match f.kind() {
                            PbKind::Double => Kind::Double,
                            PbKind::Float => Kind::Float,
                            PbKind::Int32 => Kind::Int32,
                            PbKind::Int64 => Kind::Int64,
                            PbKind::Uint32 => Kind::Uint32,
                            PbKind::Uint64 => Kind::Uint64,
                            PbKind::Sint32 => Kind::Sint32,
                            PbKind::Sint64 => Kind::Sint64,
                            PbKind::Fixed32 => Kind::Fixed32,
                            PbKind::Fixed64 => Kind::Fixed64,
                            PbKind::Sfixed32 => Kind::Sfixed32,
                            PbKind::Sfixed64 => Kind::Sfixed64,
                            PbKind::Bool => Kind::Bool,
                            PbKind::String => Kind::String,
                            PbKind::Bytes => Kind::Bytes,
                            PbKind::Message(md) => Kind::Message(msg_by_name[md.full_name()]),
                            PbKind::Enum(ed) => Kind::Enum(enum_by_name[ed.full_name()]),
                        };
                        let opts = match &criu_ext {
                            Some(ext) => criu_opts(&f.options(), ext),
                            None => CriuOpts::default(),
                        };
                        FieldPlan {
                            name: f.name().to_string(),
                            number: f.number(),
                            kind,
                            repeated: f.is_list(),
                            packed: f.is_packed(),
                            required: f.cardinality() == prost_reflect::Cardinality::Required,
                            opts,
                        }
                    })
                    .collect();
                fields.sort_by_key(|f| f.number);
                let by_name = fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.name.clone(), i))
                    .collect();
                MessagePlan {
                    name: m.full_name().to_string(),
                    fields,
                    by_name,
                }
            })
            .collect();
        Schema {
            messages,
            enums: enum_plans,
            msg_by_name,
        }
    }
}

fn criu_opts(
    options: &prost_reflect::DynamicMessage,
    ext: &prost_reflect::ExtensionDescriptor,
) -> CriuOpts {
    if !options.has_extension(ext) {
        return CriuOpts::default();
    }
    let value = options.get_extension(ext);
    let Some(msg) = value.as_message() else {
        return CriuOpts::default();
    };
    let flag = |name: &str| {
        matches!(
            msg.get_field_by_name(name).as_deref(),
            Some(PbValue::Bool(true))
        )
    };
    let text = |name: &str| -> Option<String> {
        if !msg.has_field_by_name(name) {
            return None;
        }
        msg.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_string))
    };
    CriuOpts {
        hex: flag("hex"),
        ipadd: flag("ipadd"),
        dev: flag("dev"),
        odev: flag("odev"),
        flags: text("flags").map(|s| match s.as_str() {
            "mmap.prot" => FlagMap::MmapProt,
            "mmap.flags" => FlagMap::MmapFlags,
            "mmap.status" => FlagMap::MmapStatus,
            "rfile.flags" => FlagMap::RfileFlags,
            "pmap.flags" => FlagMap::PmapFlags,
            "seals.flags" => FlagMap::SealsFlags,
            _ => FlagMap::Unknown,
        }),
        dict: text("dict").and_then(|s| match s.as_str() {
            "gen" => Some(DictMap::Gen),
            "sk" => Some(DictMap::Sk),
            _ => None,
        }),
        unix_name: text("conv").as_deref() == Some("unix_name"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
