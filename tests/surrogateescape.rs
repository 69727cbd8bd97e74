//! String fields holding bytes that are not UTF-8 (file names can be any
//! bytes): JSON writes each such byte as `\udcXX`, Python's surrogateescape,
//! and encode turns the escape back into the byte (docs/json.md).

mod common;

use common::read as image;
use crit_fs::codec::{self, Options};
use crit_fs::image::Image;
use crit_fs::json::image::{decode_image_to_json, image_to_json};

const PRETTY: Options = Options {
    pretty: true,
    no_payload: false,
};

/// A FILES image with one entry { type: REG, id: 1, reg: { id: 1, flags: 0,
/// pos: 0, fown: { all 0 }, name } }.
fn files_img(name: &[u8]) -> Vec<u8> {
    let fown = [0x08, 0x00, 0x10, 0x00, 0x18, 0x00, 0x20, 0x00, 0x28, 0x00];
    let mut reg = vec![0x08, 0x01, 0x10, 0x00, 0x18, 0x00, 0x2a, fown.len() as u8];
    reg.extend(fown);
    reg.push(0x32);
    common::varint(name.len() as u64, &mut reg);
    reg.extend(name);
    let mut file = vec![0x08, 0x01, 0x10, 0x01, 0x1a];
    common::varint(reg.len() as u64, &mut file);
    file.extend(&reg);
    let mut img = image("sleep/files.img")[..8].to_vec();
    img.extend((file.len() as u32).to_le_bytes());
    img.extend(&file);
    img
}

/// Decodes with both paths (wire fast path and message tree), checks they
/// agree, and checks that encode gives the image back; returns the JSON.
fn round_trip(img: &[u8], opts: Options) -> String {
    let json = codec::decode_to_json(img, opts).unwrap();
    let tree = image_to_json(&Image::decode(img).unwrap(), opts);
    assert_eq!(decode_image_to_json(img, opts).unwrap(), tree);
    assert_eq!(json, tree);
    assert_eq!(codec::encode_from_json(&json).unwrap(), img);
    String::from_utf8(json).unwrap()
}

#[test]
fn invalid_utf8_name_is_escaped_and_round_trips() {
    let img = files_img(b"/tmp/\xff\xfe-x");
    let plain = round_trip(&img, Options::default());
    assert!(
        plain.contains(r#""name": "/tmp/\udcff\udcfe-x""#),
        "{plain}"
    );
    let pretty = round_trip(&img, PRETTY);
    assert!(
        pretty.contains(r#""name": "/tmp/\udcff\udcfe-x""#),
        "{pretty}"
    );
    // Valid parts keep their usual escapes: é stays \u00e9, a truncated
    // sequence (the first two bytes of 😀) is two escaped bytes.
    let img = files_img(
        "é\u{1F600}\n"
            .as_bytes()
            .iter()
            .chain(b"\xf0\x9f")
            .copied()
            .collect::<Vec<_>>()
            .as_slice(),
    );
    let plain = round_trip(&img, Options::default());
    assert!(
        plain.contains(r#""name": "\u00e9\ud83d\ude00\n\udcf0\udc9f""#),
        "{plain}"
    );
}

#[test]
fn valid_names_are_written_as_before() {
    let img = files_img("/tmp/é x".as_bytes());
    let plain = round_trip(&img, Options::default());
    assert!(plain.contains(r#""name": "/tmp/\u00e9 x""#), "{plain}");
}

#[test]
fn private_use_characters_near_the_escapes_round_trip() {
    // The reader carries the escapes through serde_json as U+EF80..U+EFFF
    // (marking real ones with U+EF00): real ones, raw or escaped, stay
    // themselves, also beside escaped bytes and surrogate pairs.
    for name in [
        "\u{ef80}\u{ef00}\u{efff}".as_bytes().to_vec(),
        [
            &b"\xff"[..],
            "\u{ef80}\u{ef00}x\u{10ff80}".as_bytes(),
            b"\x80",
        ]
        .concat(),
        "\u{10000}".as_bytes().to_vec(),
    ] {
        let img = files_img(&name);
        let json = round_trip(&img, Options::default());
        // The same text with the characters raw (as a hand edit may have them).
        let raw = json
            .replace(r"\uef80", "\u{ef80}")
            .replace(r"\uef00", "\u{ef00}")
            .replace(r"\uefff", "\u{efff}");
        assert_eq!(
            codec::encode_from_json(raw.as_bytes()).unwrap(),
            img,
            "{raw}"
        );
    }
}

#[test]
fn other_lone_surrogates_are_refused() {
    let good =
        String::from_utf8(codec::decode_to_json(&files_img(b"ab"), Options::default()).unwrap())
            .unwrap();
    for bad in [r"\udc7f", r"\udd00", r"\udfff", r"\ud800", r"\ud800\udbff"] {
        let text = good.replace(r#""name": "ab""#, &format!(r#""name": "a{bad}b""#));
        let e = codec::encode_from_json(text.as_bytes())
            .unwrap_err()
            .to_string();
        // serde_json's own errors ("lone leading surrogate in hex escape",
        // "unexpected end of hex escape"), as before.
        assert!(
            e.starts_with("invalid JSON at line 1, column "),
            "{bad}: {e}"
        );
        assert!(
            e.contains("surrogate") || e.contains("hex escape"),
            "{bad}: {e}"
        );
    }
    // An escaped backslash before "udc80" is text, not an escape.
    let text = good.replace(r#""name": "ab""#, r#""name": "\\udc80""#);
    assert_eq!(
        codec::encode_from_json(text.as_bytes()).unwrap(),
        files_img(br"\udc80")
    );
    // Upper-case hex is read too.
    let text = good.replace(r#""name": "ab""#, r#""name": "\uDCFF""#);
    assert_eq!(
        codec::encode_from_json(text.as_bytes()).unwrap(),
        files_img(b"\xff")
    );
}

/// Property: any bytes in a string field survive decode → encode, plain and
/// pretty, and both decode paths agree.
#[test]
fn random_byte_strings_round_trip() {
    let mut state = 0x5375_7272_6f67_6174u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const PIECES: &[&[u8]] = &[
        b"a",
        b"\xff",
        b"\x80",
        b"\xc3",
        b"\xa9",
        b"\xed\xb2\x80",
        b"\xf0\x9f\x98",
        b"\xf4\x90\x80\x80",
        "é".as_bytes(),
        "😀".as_bytes(),
        "\u{ef80}".as_bytes(),
        "\u{ef00}".as_bytes(),
        b"\\",
        b"\"",
        b"\n",
        b"\0",
        b"\\udc80",
    ];
    for _ in 0..2000 {
        let n = next() % 12;
        let name: Vec<u8> = (0..n)
            .flat_map(|_| {
                if next() % 3 == 0 {
                    vec![next() as u8]
                } else {
                    PIECES[(next() % PIECES.len() as u64) as usize].to_vec()
                }
            })
            .collect();
        let img = files_img(&name);
        round_trip(&img, Options::default());
        round_trip(&img, PRETTY);
    }
}
