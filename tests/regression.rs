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
/// mountpoints image with a flipped byte in its options) decoded with U+FFFD
/// in its JSON, which could not give the bytes back. Decode then refused such
/// a string; now it writes each byte that is not UTF-8 as `\udcXX` (Python's
/// surrogateescape), and encode gives the bytes back.
#[test]
fn invalid_utf8_in_a_string_field_round_trips() {
    let data = input("fuzz-decode-invalid-utf8-string.img");
    for pretty in [false, true] {
        let json = codec::decode_to_json(
            &data,
            Options {
                pretty,
                ..Options::default()
            },
        )
        .unwrap();
        assert!(
            json.windows(4).any(|w| w == b"\\udc"),
            "{}",
            String::from_utf8_lossy(&json)
        );
        let back = codec::encode_from_json(&json).unwrap();
        assert_eq!(back, Image::decode(&data).unwrap().encode().unwrap());
    }
}

/// Found by the decode fuzzer (on a stats image whose fields all had wire
/// types the schema does not expect; the input here has unknown field numbers
/// instead, 9, 8, 9): unknown fields out of number order were re-encoded in
/// input order by the image but in number order through its JSON, so
/// decode → encode and decode → JSON → encode differed.
#[test]
fn unknown_fields_out_of_order_round_trip_through_json() {
    let data = input("fuzz-decode-unknown-fields-out-of-order.img");
    let bytes = Image::decode(&data).unwrap().encode().unwrap();
    let json = codec::decode_to_json(&bytes, Options::default()).unwrap();
    assert_eq!(codec::encode_from_json(&json).unwrap(), bytes);
    assert_eq!(
        Image::decode(&bytes).unwrap(),
        Image::decode(&data).unwrap()
    );
}

/// Found by the `encode` fuzzer: a text whose last byte is a backslash made
/// the `\udcXX` pre-pass of strict.rs step past its end and panic. It is a
/// syntax error.
#[test]
fn text_ending_in_a_backslash_is_a_syntax_error() {
    let found = input("fuzz-encode-text-ends-in-backslash.json");
    assert_eq!(found.last(), Some(&b'\\'));
    for text in [
        &found[..],
        b"\\",
        b"[\"\\",
        b"{\"magic\": \"PSTREE\", \"entries\": [] \\",
    ] {
        let e = codec::encode_from_json(text).expect_err("not JSON");
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(codec::image_from_json_text(text).is_err());
    }
}

/// Found by the `decode` fuzzer: a repeated field written as an empty packed
/// run (here `threads`, next to an unknown field) was kept as an empty list:
/// shown as `"threads": []`, where CRIT shows no field, and lost on
/// re-encoding, so decode(encode(image)) differed from the image.
#[test]
fn an_empty_packed_run_shows_no_field() {
    let img = input("fuzz-decode-empty-packed-run.img");
    let json = codec::decode_to_json(&img, Options::default()).unwrap();
    assert_eq!(
        String::from_utf8(json).unwrap(),
        r#"{"magic": "PSTREE", "entries": [{"pgid": 67, "sid": 67, "__unknown_fields__": "egA=\n"}]}"#
    );
    let decoded = Image::decode(&img).unwrap();
    let again = Image::decode(&decoded.encode().unwrap()).unwrap();
    assert_eq!(again, decoded);
}

/// Found by the `decode` fuzzer: a singular message field written twice is
/// merged, and the unknown fields of the second were appended after those of
/// the first; re-encoded and decoded again they came back in number order,
/// so decode(encode(image)) differed. Merged unknown fields are now in number
/// order too, and the JSON of the re-encoded image is the same.
#[test]
fn merged_messages_keep_unknown_fields_in_number_order() {
    let img = input("fuzz-decode-merged-unknown-fields.img");
    let decoded = Image::decode(&img).unwrap();
    let bytes = decoded.encode().unwrap();
    assert_eq!(Image::decode(&bytes).unwrap(), decoded);
    let json = codec::decode_to_json(&img, Options::default()).unwrap();
    let again = codec::decode_to_json(&bytes, Options::default()).unwrap();
    assert_eq!(json, again);
}

/// Found by the decode fuzzer, in an optimisation of the same session: a
/// pstree entry with `threads`, then `pgid` and `sid` (out of number order),
/// then `threads` again. The decoder stopped looking for a field's earlier
/// values whenever it came after the last field decoded, even once the fields
/// were out of order, so `threads` was kept twice, as two fields.
#[test]
fn a_repeated_field_after_fields_out_of_order_is_one_field() {
    let data = input("fuzz-decode-repeated-field-after-out-of-order.img");
    let decoded = Image::decode(&data).unwrap();
    let msg = &decoded.entries[0].msg;
    let mut numbers: Vec<usize> = msg.fields.iter().map(|f| f.field).collect();
    numbers.dedup();
    assert_eq!(numbers.len(), msg.fields.len(), "{msg:?}");
    assert_eq!(msg.get("threads").len(), 2, "{msg:?}");
    let again = Image::decode(&decoded.encode().unwrap()).unwrap();
    assert_eq!(again, decoded);
}
