//! Where crit-fs does better than the reference CRIT: fields and enum numbers
//! unknown to our schema survive decode → encode, and empty lists encode.

mod common;

use common::{read as image, varint};
use crit_fs::codec::{self, Options};
use serde_json::{Value as Json, json};

/// An image of one entry with the given message bytes, header from `like`.
fn one_entry(like: &str, msg: &[u8]) -> Vec<u8> {
    let mut img = image(like)[..8].to_vec();
    img.extend((msg.len() as u32).to_le_bytes());
    img.extend(msg);
    img
}

fn decode(img: &[u8], pretty: bool) -> Json {
    let opts = Options {
        pretty,
        no_payload: false,
    };
    serde_json::from_slice(&codec::decode_to_json(img, opts).unwrap()).unwrap()
}

/// decode (plain and pretty) → encode gives `img` back byte for byte.
fn assert_round_trip(img: &[u8]) {
    for opts in [
        Options::default(),
        Options {
            pretty: true,
            no_payload: false,
        },
    ] {
        let json = codec::decode_to_json(img, opts).unwrap();
        let back = codec::encode_from_json(&json).unwrap();
        assert_eq!(back, img, "{}", String::from_utf8_lossy(&json));
    }
}

/// A FILES entry { type: REG, id: 7, reg: { id: 7, flags: 2, pos: 0, fown: 0s,
/// name: "/x", <nested_extra> } <extra> }.
fn reg_file(nested_extra: &[u8], extra: &[u8], fd_type: u64) -> Vec<u8> {
    let fown = [0x08, 0x00, 0x10, 0x00, 0x18, 0x00, 0x20, 0x00, 0x28, 0x00];
    let mut reg = vec![0x08, 0x07, 0x10, 0x02, 0x18, 0x00, 0x2a, fown.len() as u8];
    reg.extend(fown);
    reg.extend([0x32, 0x02, b'/', b'x']);
    reg.extend(nested_extra);
    let mut file = vec![0x08];
    varint(fd_type, &mut file);
    file.extend([0x10, 0x07, 0x1a]);
    varint(reg.len() as u64, &mut file);
    file.extend(&reg);
    file.extend(extra);
    one_entry("sleep/files.img", &file)
}

#[test]
fn unknown_fields_survive_byte_for_byte() {
    // Field 1000 (varint 42) appended to a real core entry.
    let mut core = image("sleep/core-18604.img");
    let mut field = Vec::new();
    varint(1000 << 3, &mut field);
    varint(42, &mut field);
    core.extend(&field);
    let size = u32::from_le_bytes(core[8..12].try_into().unwrap()) + field.len() as u32;
    core[8..12].copy_from_slice(&size.to_le_bytes());
    let json = decode(&core, false);
    assert_eq!(json["entries"][0]["__unknown_fields__"], json!("wD4q\n"));
    assert_round_trip(&core);

    // Unknown fields of every wire type, nested and at the top, between known ones.
    let mut nested = Vec::new();
    varint((100 << 3) | 2, &mut nested);
    nested.extend([3, b'a', b'b', b'c']);
    varint((101 << 3) | 1, &mut nested);
    nested.extend(7u64.to_le_bytes());
    varint((102 << 3) | 5, &mut nested);
    nested.extend(9u32.to_le_bytes());
    let mut top = Vec::new();
    varint((1 << 20) << 3, &mut top);
    varint(u64::MAX, &mut top);
    let img = reg_file(&nested, &top, 1);
    let json = decode(&img, true);
    assert!(json["entries"][0]["reg"]["__unknown_fields__"].is_string());
    assert!(json["entries"][0]["__unknown_fields__"].is_string());
    assert_round_trip(&img);
}

#[test]
fn unknown_enum_numbers_survive() {
    let img = reg_file(&[], &[], 99);
    let json = decode(&img, false);
    assert_eq!(json["entries"][0]["type"], json!(99));
    assert_eq!(decode(&img, true)["entries"][0]["type"], json!(99));
    assert_round_trip(&img);
    // A negative number too (sign-extended on the wire).
    let img = reg_file(&[], &[], -5i64 as u64);
    assert_eq!(decode(&img, false)["entries"][0]["type"], json!(-5));
    assert_round_trip(&img);
}

#[test]
fn empty_lists_encode() {
    let mut mm: Json = serde_json::from_slice(&image("sleep/expected/mm-18604.json")).unwrap();
    mm["entries"][0]["vmas"] = json!([]);
    mm["entries"][0]["mm_saved_auxv"] = json!([]);
    let img = codec::encode_from_json(&serde_json::to_vec(&mm).unwrap()).unwrap();
    let back = decode(&img, false);
    let entry = back["entries"][0].as_object().unwrap();
    assert!(!entry.contains_key("vmas") && !entry.contains_key("mm_saved_auxv"));
    assert_eq!(entry["mm_start_code"], mm["entries"][0]["mm_start_code"]);

    let empty = json!({"magic": "MM", "entries": []});
    let img = codec::encode_from_json(&serde_json::to_vec(&empty).unwrap()).unwrap();
    assert_eq!(img, image("sleep/mm-18604.img")[..8]);
}

#[test]
fn numbers_may_be_written_in_any_base_and_form() {
    let mut mm: Json = serde_json::from_slice(&image("sleep/expected/mm-18604.json")).unwrap();
    let want = codec::encode_from_json(&serde_json::to_vec(&mm).unwrap()).unwrap();
    let start = mm["entries"][0]["vmas"][0]["start"].as_u64().unwrap();
    mm["entries"][0]["vmas"][0]["start"] = json!(format!("{start:#x}"));
    mm["entries"][0]["vmas"][0]["prot"] = json!("PROT_READ");
    mm["entries"][0]["mm_start_code"] = json!(format!(
        "0o{:o}",
        mm["entries"][0]["mm_start_code"].as_u64().unwrap()
    ));
    let got = codec::encode_from_json(&serde_json::to_vec(&mm).unwrap()).unwrap();
    assert_eq!(got, want);
}

#[test]
fn legacy_shared_memory_payload_is_padded_to_four() {
    // Older CRIU wrote the segment after its entry (no in_pagemaps); stock CRIT
    // cannot encode it.
    let mut shm: Json = serde_json::from_slice(&image("ipc-ns/expected/ipcns-shm-9.json")).unwrap();
    let entry = &mut shm["entries"][0];
    entry["size"] = json!(5);
    entry.as_object_mut().unwrap().remove("in_pagemaps");
    entry["extra"] = json!("aGVsbG8=\n");
    shm["entries"].as_array_mut().unwrap().truncate(1);
    let img = codec::encode_from_json(&serde_json::to_vec(&shm).unwrap()).unwrap();
    assert_eq!(&img[img.len() - 8..], b"hello\0\0\0");
    assert_round_trip(&img);
    let nopl = codec::decode_to_json(
        &img,
        Options {
            pretty: true,
            no_payload: true,
        },
    )
    .unwrap();
    assert!(
        String::from_utf8(nopl)
            .unwrap()
            .contains("\"extra\": \"... <5B>\"")
    );
    // A payload that does not match size is refused.
    shm["entries"][0]["extra"] = json!("aGVsbA==\n");
    assert_eq!(
        codec::encode_from_json(&serde_json::to_vec(&shm).unwrap())
            .unwrap_err()
            .to_string(),
        "entries[0].extra: payload has 4 bytes but size says 5"
    );
}
