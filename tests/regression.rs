//! One test per bug found by fuzzing or by the robustness tests, with its
//! input under tests/data/regressions/ when it is a file.

use std::path::{Path, PathBuf};

use crit_fs::codec::{self, Options};
use crit_fs::image::Image;

fn input(name: &str) -> Vec<u8> {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/regressions")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn pstree_with_pid(pid: &str) -> Vec<u8> {
    format!(
        r#"{{"magic": "PSTREE", "entries": [{{"pid": {pid}, "ppid": 0, "pgid": 1, "sid": 1}}]}}"#
    )
    .into_bytes()
}

/// Found by tests/robustness.rs: `"--1"` encoded as 1 and `"0x-1"` as -1,
/// because `i128::from_str_radix` takes a sign of its own after ours.
#[test]
fn integer_strings_take_one_sign() {
    for bad in [
        r#""--1""#,
        r#""+-1""#,
        r#""-+1""#,
        r#""0x-1""#,
        r#""-0x+1""#,
        r#""++1""#,
    ] {
        assert!(
            codec::encode_from_json(&pstree_with_pid(bad)).is_err(),
            "{bad} encoded"
        );
    }
    for good in [r#""+1""#, r#""0x1""#, r#""1""#] {
        assert!(
            codec::encode_from_json(&pstree_with_pid(good)).is_ok(),
            "{good} refused"
        );
    }
}

/// Found by the decode fuzzer: a string field holding invalid UTF-8 (a
/// mountpoints image with a flipped byte in its options). It decodes, its JSON
/// shows U+FFFD, and the image itself re-encodes byte for byte.
#[test]
fn invalid_utf8_in_a_string_field_decodes() {
    let data = input("fuzz-decode-invalid-utf8-string.img");
    let json = codec::decode_to_json(&data, Options::default()).expect("decodes");
    assert!(json.windows(6).any(|w| w == b"\\ufffd"));
    let img = Image::decode(&data).unwrap();
    assert_eq!(Image::decode(&img.encode().unwrap()).unwrap(), img);
}

/// Found by the decode fuzzer: a stats image whose fields all have wire types
/// the schema does not expect, so all are kept as unknown fields, out of
/// number order. The image re-encoded them in input order but its JSON in
/// number order, so decode → encode and decode → JSON → encode differed.
#[test]
fn unknown_fields_out_of_order_round_trip_through_json() {
    let data = input("fuzz-decode-unknown-fields-out-of-order.img");
    let bytes = Image::decode(&data).unwrap().encode().unwrap();
    let json = codec::decode_to_json(&bytes, Options::default()).unwrap();
    assert_eq!(codec::encode_from_json(&json).unwrap(), bytes);
}
