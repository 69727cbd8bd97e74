//! The library's front door: image bytes ⇄ CRIT JSON, as `crit decode`,
//! `crit encode` and `crit info` do it. The CLI and the filesystem both use this.

use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use crate::json::image::{
    EncodeError, RenderOptions, decode_image_to_json, encode_json_text, image_from_json,
};

pub use crate::json::image::RenderOptions as Options;

/// Decodes image bytes to CRIT JSON (no final newline).
pub fn decode_to_json(bytes: &[u8], opts: RenderOptions) -> Result<Vec<u8>> {
    Ok(decode_image_to_json(bytes, opts)?)
}

/// Parses CRIT JSON (plain or pretty) into an image.
pub fn image_from_json_text(text: &[u8]) -> Result<Image> {
    let json = crate::json::strict::parse(text).map_err(|e| syntax_error(&e))?;
    Ok(image_from_json(&json)?)
}

/// Encodes CRIT JSON (plain or pretty) to image bytes.
pub fn encode_from_json(text: &[u8]) -> Result<Vec<u8>> {
    encode_json_text(text).map_err(|e| match e {
        EncodeError::Syntax(e) => syntax_error(&e),
        EncodeError::Schema(e) => e.into(),
        EncodeError::Image(e) => e.into(),
    })
}

fn syntax_error(e: &serde_json::Error) -> Error {
    Error::new(ErrorKind::JsonSyntax {
        line: e.line(),
        column: e.column(),
        what: strip_position(&e.to_string()),
    })
}

/// CRIT's `info`: `{"magic": …, "count": …}`, pretty, no final newline.
pub fn info_json(bytes: &[u8]) -> Result<Vec<u8>> {
    let (magic, count) = Image::count(bytes)?;
    let mut out = Vec::new();
    let mut w = crate::json::JsonWriter::new(&mut out, true);
    w.begin_object();
    w.key("magic");
    w.string(magic.name);
    w.key("count");
    w.u64(count as u64);
    w.end_object();
    Ok(out)
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
