//! Arbitrary text → encode; whatever encodes must give what the JSON-tree path
//! gives, must decode, and its plain and pretty JSON must encode back to the
//! same bytes. The streaming encoder, reading the text in small windows or
//! bringing it into view as it does a mapped file, either gives up or gives
//! those same bytes.
#![no_main]

use crit_fs::codec::{self, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let read = 1 + data.first().map_or(0, |&b| usize::from(b) % 200);
    let mut streamed = Vec::new();
    let stream_done =
        crit_fs::json::image::encode_json_stream_by(&mut &data[..], &mut streamed, read)
            .expect("reading a slice does not fail");
    let mut revealed = Vec::new();
    let reveal_done =
        crit_fs::json::image::encode_json_revealed_by(data, &mut revealed, read)
            .expect("memory does not fail");
    let Ok(bytes) = codec::encode_from_json(data) else {
        assert!(!stream_done, "the streaming encoder took what encode refuses");
        assert!(!reveal_done, "the revealing encoder took what encode refuses");
        return;
    };
    if stream_done {
        assert_eq!(streamed, bytes, "streaming encode differs (read {read})");
    }
    if reveal_done {
        assert_eq!(revealed, bytes, "revealing encode differs (read {read})");
    }
    // The streaming encoder must agree with building the whole image first.
    let tree = codec::image_from_json_text(data).expect("the tree path accepts it too");
    assert_eq!(
        tree.encode().expect("encodes"),
        bytes,
        "streaming and tree encode differ"
    );
    for pretty in [false, true] {
        let json = codec::decode_to_json(
            &bytes,
            Options {
                pretty,
                no_payload: false,
            },
        )
        .expect("an encoded image decodes");
        let back = codec::encode_from_json(&json).expect("decoded JSON encodes");
        assert_eq!(
            back, bytes,
            "encode(decode(encode(json))) differs (pretty: {pretty})"
        );
    }
});
