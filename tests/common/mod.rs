//! Helpers shared by the integration tests: corpus files and cases, copies
//! of dumps in temporary directories, and edits of their images.
#![allow(dead_code)]

pub mod predump;

use std::path::{Path, PathBuf};

use crit_fs::image::{Entry, Image, Magic, Payload};
use crit_fs::message::{Message, Value};
use crit_fs::schema::{Kind, Schema};

/// A path inside tests/data/corpus.
pub fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/corpus")
        .join(rel)
}

/// The bytes of a corpus file.
pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(corpus(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Appends a protobuf varint.
pub fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Every case directory of the corpus, sorted.
pub fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("pstree.img").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 17, "corpus has {} cases", cases.len());
    cases
}

/// A copy of corpus case `name` (its images, not expected/) in a tempdir.
pub fn copy_case(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(corpus(name)).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
        }
    }
    tmp
}

pub fn load(dir: &Path, name: &str) -> Image {
    Image::decode(&std::fs::read(dir.join(name)).unwrap()).unwrap()
}

pub fn save(dir: &Path, name: &str, img: &Image) {
    std::fs::write(dir.join(name), img.encode().unwrap()).unwrap();
}

/// Decodes image `name` of `dir`, lets `f` change it, writes it back.
pub fn edit(dir: &Path, name: &str, f: impl FnOnce(&mut Image)) {
    let mut img = load(dir, name);
    f(&mut img);
    save(dir, name, &img);
}

fn field_index(m: &Message, name: &str) -> usize {
    Schema::get()
        .message(m.msg_type)
        .field_by_name(name)
        .unwrap_or_else(|| panic!("{} has no field {name}", m.type_name()))
}

/// Sets an integer field (unsigned, signed or enum).
pub fn set_int(m: &mut Message, name: &str, v: i64) {
    let idx = field_index(m, name);
    let kind = Schema::get().message(m.msg_type).fields[idx].kind;
    let value = match kind {
        Kind::Enum(_) => Value::Enum(v as i32),
        k if k.is_signed() => Value::I64(v),
        _ => Value::U64(v as u64),
    };
    m.set(idx, vec![value]);
}

/// Removes a field.
pub fn clear(m: &mut Message, name: &str) {
    let idx = field_index(m, name);
    m.fields.retain(|f| f.field != idx);
}

/// A mutable nested message (which must be present).
pub fn sub<'a>(m: &'a mut Message, name: &str) -> &'a mut Message {
    let idx = field_index(m, name);
    let fv = m.fields.iter_mut().find(|f| f.field == idx).unwrap();
    match fv.values.last_mut() {
        Some(Value::Msg(b)) => b,
        _ => panic!("{name} is not a present message"),
    }
}

/// All elements of a repeated message field, mutable.
pub fn subs<'a>(m: &'a mut Message, name: &str) -> Vec<&'a mut Message> {
    let idx = field_index(m, name);
    match m.fields.iter_mut().find(|f| f.field == idx) {
        Some(fv) => fv
            .values
            .iter_mut()
            .filter_map(|v| match v {
                Value::Msg(b) => Some(&mut **b),
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    }
}

/// An image of `magic` holding `msgs`, no payloads.
pub fn image_of(magic: &str, msgs: Vec<Message>) -> Image {
    Image {
        magic: Magic::by_name(magic).unwrap(),
        entries: msgs
            .into_iter()
            .map(|msg| Entry {
                msg,
                payload: Payload::None,
            })
            .collect(),
    }
}
