//! Image bytes of any magic → decode, info, every JSON rendering; whatever
//! decodes must re-encode to bytes that decode to the same image, and its
//! JSON must encode back to those bytes.
#![no_main]

use crit_fs::codec::{self, Options};
use crit_fs::image::Image;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = codec::info_json(data);
    for (pretty, no_payload) in [(false, false), (true, false), (true, true)] {
        let _ = codec::decode_to_json(data, Options { pretty, no_payload });
    }
    let Ok(img) = Image::decode(data) else {
        return;
    };
    let bytes = img.encode().expect("a decoded image encodes");
    let again = Image::decode(&bytes).expect("an encoded image decodes");
    assert_eq!(again, img, "decode(encode(image)) differs");
    let json = codec::decode_to_json(&bytes, Options::default()).expect("decodes");
    if let Ok(back) = codec::encode_from_json(&json) {
        assert_eq!(back, bytes, "encode(decode(bytes)) differs");
    }
});
