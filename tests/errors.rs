//! Bad input: truncated and corrupt images, huge size fields, invalid or
//! ill-typed JSON. Each error's exact message is asserted; nothing panics.

mod common;

use common::{corpus, read as image};
use crit_fs::codec::{self, Options};
use serde_json::{Value as Json, json};

fn expected_json(case: &str, name: &str) -> Json {
    let path = corpus(&format!("{case}/expected/{name}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn decode_err(bytes: &[u8]) -> String {
    match codec::decode_to_json(bytes, Options::default()) {
        Ok(_) => panic!("decode succeeded"),
        Err(e) => e.to_string(),
    }
}

fn encode_err(text: &[u8]) -> String {
    match codec::encode_from_json(text) {
        Ok(_) => panic!("encode of {} succeeded", String::from_utf8_lossy(text)),
        Err(e) => e.to_string(),
    }
}

fn encode_json_err(v: &Json) -> String {
    encode_err(&serde_json::to_vec(v).unwrap())
}

fn varint(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    common::varint(v, &mut out);
    out
}

/// A PIPES_DATA image with one entry of the given message bytes and payload.
fn pipes_data(msg: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut img = image("shell-tree/pipes-data.img")[..8].to_vec();
    img.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    img.extend_from_slice(msg);
    img.extend_from_slice(payload);
    img
}

#[test]
fn truncated_images_fail_cleanly_at_every_offset() {
    let images = [
        "sleep/core-18604.img",
        "sleep/mm-18604.img",
        "shell-tree/pipes-data.img",
        "tcp/tcp-stream-29df0.img",
        "ipc-ns/ipcns-msg-9.img",
        "ipc-ns/ipcns-sem-9.img",
        "zdtm-ghost_holes00/ghost-file-1.img",
        "sleep/pagemap-18604.img",
    ];
    for rel in images {
        let full = image(rel);
        for cut in 0..full.len() {
            let part = &full[..cut];
            for opts in [
                Options::default(),
                Options {
                    pretty: true,
                    no_payload: true,
                },
            ] {
                // Cutting exactly between entries gives a shorter valid image.
                if let Err(e) = codec::decode_to_json(part, opts) {
                    let msg = e.to_string();
                    assert!(!msg.contains('\n'), "{rel} cut at {cut}: {msg}");
                    assert!(
                        msg.starts_with("byte ") || msg.starts_with("entry "),
                        "{rel} cut at {cut}: {msg}"
                    );
                }
            }
            let _ = codec::info_json(part);
        }
    }
    let core = image("sleep/core-18604.img");
    assert_eq!(
        decode_err(&core[..30]),
        format!(
            "entry 0 at byte 12: entry message needs {} bytes but only 18 are left",
            u32::from_le_bytes(core[8..12].try_into().unwrap())
        )
    );
    assert_eq!(
        decode_err(&core[..10]),
        "entry 0 at byte 8: entry size needs 4 bytes but only 2 are left"
    );
    assert_eq!(
        decode_err(&core[..6]),
        "byte 4: file too short for a magic (6 bytes)"
    );
    let pipes = image("shell-tree/pipes-data.img");
    assert_eq!(
        decode_err(&pipes[..30]),
        "entry 0 at byte 22: pipe data needs 36 bytes but only 8 are left"
    );
}

#[test]
fn huge_size_fields_fail_without_allocating() {
    let mut core = image("sleep/core-18604.img");
    core[8..12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let left = core.len() - 12;
    assert_eq!(
        decode_err(&core),
        format!(
            "entry 0 at byte 12: entry message needs 2147483647 bytes but only {left} are left"
        )
    );
    core[8..12].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
    assert_eq!(
        decode_err(&core),
        "entry 0 at byte 8: entry size 4294967295 is negative as CRIU's signed 32-bit size"
    );

    // pipe_data_entry { pipe_id: 1, bytes: 2^32 }: does not fit the uint32.
    let mut msg = vec![0x08, 0x01, 0x10];
    msg.extend(varint(1 << 32));
    assert_eq!(
        decode_err(&pipes_data(&msg, b"abc")),
        "entry 0 at byte 15: pipe_data_entry message: value 4294967296 does not fit \
         the field's type uint32 in field bytes (message byte 3)"
    );
    // bytes: 2^32 - 1 fits, but the payload is not there.
    let mut msg = vec![0x08, 0x01, 0x10];
    msg.extend(varint(u32::MAX.into()));
    let img = pipes_data(&msg, b"abc");
    assert_eq!(
        decode_err(&img),
        format!(
            "entry 0 at byte {}: pipe data needs 4294967295 bytes but only 3 are left",
            img.len() - 3
        )
    );
    assert_eq!(
        codec::info_json(&img).unwrap_err().to_string(),
        decode_err(&img)
    );
}

#[test]
fn corrupt_protobuf_is_located() {
    let mut core = image("sleep/core-18604.img");
    core[12] = 0xff; // first field key: wire type 7
    assert_eq!(
        decode_err(&core),
        "entry 0 at byte 12: core_entry message: unsupported wire type 7 (message byte 0)"
    );
    // A length-delimited field whose length runs past the message.
    let msg = [0x08, 0x01, 0x12, 0x05, 0x00];
    assert_eq!(
        decode_err(&pipes_data(&msg, b"")),
        "entry 0 at byte 15: pipe_data_entry message: length 5 runs past the end of \
         the message (1 bytes left) (message byte 3)"
    );
    // pipe_data_entry.bytes (uint32, field 2) sent as a fixed64.
    let mut msg = vec![0x08, 0x01, 0x11];
    msg.extend(5u64.to_le_bytes());
    assert_eq!(
        decode_err(&pipes_data(&msg, b"")),
        "entry 0 at byte 14: pipe_data_entry message: wire type 1 does not fit the \
         field's type uint32 in field bytes (message byte 2)"
    );
    // A string field holding bytes that are not UTF-8 is no error (it was
    // until the surrogateescape form): tests/surrogateescape.rs has more.
    // FILES entry { type: REG, id: 1, reg: { id: 1, flags: 0, pos: 0,
    // fown: { all 0 }, name: "a\xffb" } }.
    let fown = [0x08, 0x00, 0x10, 0x00, 0x18, 0x00, 0x20, 0x00, 0x28, 0x00];
    let mut reg = vec![0x08, 0x01, 0x10, 0x00, 0x18, 0x00, 0x2a, fown.len() as u8];
    reg.extend(fown);
    reg.extend([0x32, 0x03, b'a', 0xff, b'b']);
    let mut file = vec![0x08, 0x01, 0x10, 0x01, 0x1a, reg.len() as u8];
    file.extend(&reg);
    let mut img = image("sleep/files.img")[..8].to_vec();
    img.extend((file.len() as u32).to_le_bytes());
    img.extend(&file);
    let json = codec::decode_to_json(&img, Options::default()).unwrap();
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.contains(r#""name": "a\udcffb""#), "{text}");
    assert_eq!(codec::encode_from_json(&json).unwrap(), img);
}

#[test]
fn raw_data_is_refused_like_crit() {
    let pages = image("sleep/pages-1.img");
    let magic = u32::from_le_bytes(pages[..4].try_into().unwrap());
    let want = format!(
        "byte 0: Unknown magic {magic:#x}; maybe you are feeding me raw data (i.e. pages.img)?"
    );
    assert_eq!(decode_err(&pages), want);
    assert_eq!(codec::info_json(&pages).unwrap_err().to_string(), want);
}

#[test]
fn invalid_json_names_line_and_column() {
    assert_eq!(
        encode_err(b"{\"magic\": \"PIPES_DATA\",\n \"entries\": [}"),
        "invalid JSON at line 2, column 14: expected value"
    );
    assert_eq!(
        encode_err(b"[1"),
        "invalid JSON at line 1, column 2: EOF while parsing a list"
    );
    assert_eq!(
        encode_err(b"{\"magic\": \"MM\", \"entries\": []} x"),
        "invalid JSON at line 1, column 32: trailing characters"
    );
    assert_eq!(
        encode_err(b"{\"magic\": \"MM\", \"entries\": [], \"magic\": \"MM\"}"),
        "invalid JSON at line 1, column 38: duplicate key \"magic\" in the top-level object"
    );
    let text = br#"{"magic": "PIPES_DATA", "entries": [{"pipe_id": 1, "bytes": 0, "pipe_id": 2, "size": 1, "extra": ""}]}"#;
    assert_eq!(
        encode_err(text),
        "invalid JSON at line 1, column 72: duplicate key \"pipe_id\" in entries[0]"
    );
}

fn mm_with(edit: impl FnOnce(&mut Json)) -> Json {
    let mut mm = expected_json("sleep", "mm-18604");
    edit(&mut mm);
    mm
}

#[test]
fn json_that_does_not_fit_the_schema() {
    let cases: Vec<(Json, &str)> = vec![
        (
            mm_with(|m| m["entries"][0]["vmas"][2]["foo"] = json!(1)),
            "entries[0].vmas[2].foo: unknown field \"foo\" for vma_entry",
        ),
        (
            mm_with(|m| m["entries"][0]["vmas"][1]["start"] = json!("x12")),
            "entries[0].vmas[1].start: invalid integer \"x12\"",
        ),
        (
            mm_with(|m| m["entries"][0]["vmas"][1]["start"] = json!(true)),
            "entries[0].vmas[1].start: expected an integer, found a boolean",
        ),
        (
            mm_with(|m| m["entries"][0]["vmas"][1]["start"] = json!(1.5)),
            "entries[0].vmas[1].start: expected an integer, found 1.5",
        ),
        (
            mm_with(|m| m["entries"][0]["vmas"] = json!({})),
            "entries[0].vmas: expected a list, found an object",
        ),
        (
            mm_with(|m| m["entries"][0]["vmas"][0] = json!([])),
            "entries[0].vmas[0]: expected an object for vma_entry, found a list",
        ),
        (
            mm_with(|m| m["entries"][0]["exe_file_id"] = json!(1u64 << 40)),
            "entries[0].exe_file_id: 1099511627776 is out of range for uint32 (0..=4294967295)",
        ),
        (
            mm_with(|m| m["entries"][0]["vmas"][0]["fd"] = json!(1u64 << 63)),
            "entries[0].vmas[0].fd: 9223372036854775808 is out of range for sint64 \
             (-9223372036854775808..=9223372036854775807)",
        ),
        (
            mm_with(|m| {
                m["entries"][0]["vmas"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("end");
            }),
            "entries[0].vmas[0]: required field \"end\" of vma_entry is missing",
        ),
        (
            mm_with(|m| m["entries"][0]["thp_disabled"] = json!("yes")),
            "entries[0].thp_disabled: expected true or false, found a string",
        ),
        (
            mm_with(|m| m["magic"] = json!("NOPE")),
            "magic: unknown image magic \"NOPE\"",
        ),
        (
            mm_with(|m| m["magic"] = json!("KDAT")),
            "magic: unknown image magic \"KDAT\"",
        ),
        (
            mm_with(|m| m["extra"] = json!(1)),
            "extra: unknown key \"extra\" (an image has only \"magic\" and \"entries\")",
        ),
        (
            json!([]),
            "(top): expected an object with \"magic\" and \"entries\"",
        ),
        (json!({"magic": "MM"}), "entries: missing"),
    ];
    for (input, want) in cases {
        assert_eq!(encode_json_err(&input), want);
    }
}

fn pipes(extra: Json, bytes: u64) -> Json {
    json!({"magic": "PIPES_DATA", "entries": [
        {"pipe_id": 1, "bytes": bytes, "size": 65536, "extra": extra}
    ]})
}

#[test]
fn payload_errors() {
    assert_eq!(
        encode_json_err(&pipes(json!("... <3B>"), 3)),
        "entries[0].extra: \"... <3B>\" is a --nopl placeholder, not the payload; \
         decode without --nopl to edit"
    );
    assert_eq!(
        encode_json_err(&pipes(json!("YQ=="), 3)),
        "entries[0].extra: payload has 1 bytes but bytes says 3"
    );
    assert_eq!(
        encode_json_err(&pipes(json!("Y*=="), 1)),
        "entries[0].extra: invalid base64 (Invalid symbol 42, offset 1.)"
    );
    assert_eq!(
        encode_json_err(&json!({"magic": "PIPES_DATA", "entries": [
            {"pipe_id": 1, "bytes": 0, "size": 1}]})),
        "entries[0].extra: missing payload"
    );
    assert_eq!(
        encode_json_err(&json!({"magic": "PIPES", "entries": [
            {"pipe_id": 1, "id": 1, "flags": 0, "fown": {"uid": 0, "euid": 0, "signum": 0,
             "pid_type": 0, "pid": 0}, "extra": "YQ=="}]})),
        "entries[0].extra: this image kind has no payload"
    );
    let mut tcp = expected_json("tcp", "tcp-stream-29df0");
    tcp["entries"][0]["extra"]["inq"] = json!("YWJj");
    let want = format!(
        "entries[0].extra.inq: payload has 3 bytes but inq_len says {}",
        tcp["entries"][0]["inq_len"]
    );
    assert_eq!(encode_json_err(&tcp), want);
    let mut sem = expected_json("ipc-ns", "ipcns-sem-9");
    sem["entries"][0]["extra"] = json!([1, 70000]);
    assert_eq!(
        encode_json_err(&sem),
        "entries[0].extra[1]: 70000 is not a semaphore value (0..=65535)"
    );
}
