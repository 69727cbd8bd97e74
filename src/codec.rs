//! The library's front door: image bytes ⇄ CRIT JSON, as `crit decode`,
//! `crit encode` and `crit info` do it. The CLI and the filesystem both use this.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use crate::json::image::{
    DecodeWriteError, EncodeError, RenderOptions, decode_image_to_json, decode_image_to_writer,
    encode_json_text, image_from_json,
};
use crate::mapped::Mapping;

pub use crate::json::image::RenderOptions as Options;

/// Decodes image bytes to CRIT JSON (no final newline).
pub fn decode_to_json(bytes: &[u8], opts: RenderOptions) -> Result<Vec<u8>> {
    Ok(decode_image_to_json(bytes, opts)?)
}

/// Decodes image bytes to CRIT JSON written into `sink` piece by piece (no
/// final newline). On an error, `sink` may have received part of the text.
pub fn decode_to_writer(
    bytes: &[u8],
    opts: RenderOptions,
    sink: &mut dyn std::io::Write,
) -> Result<()> {
    decode_image_to_writer(bytes, opts, sink).map_err(|e| match e {
        DecodeWriteError::Image(e) => e.into(),
        DecodeWriteError::Io(e) => e.into(),
    })
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

/// Encodes CRIT JSON from the file `input` (called `name` in errors) into
/// the file `output`, reading a long text and writing in pieces so that
/// memory stays bounded whatever their size. A text the fast path cannot take is read whole
/// and encoded again from the start, `output` emptied first.
pub fn encode_file(input: &mut File, name: &str, output: &mut File) -> Result<()> {
    let len = input.metadata().ok().map(|m| m.len());
    // The file itself is the reader: its read_buf fills the window without
    // first zeroing it, as a wrapper's default read_buf would.
    let fast = |sink: &mut dyn Write| crate::json::image::encode_json_stream(input, len, sink);
    if encode_fast(fast, name, output)? {
        return Ok(());
    }
    let mut text = Vec::new();
    input
        .seek(SeekFrom::Start(0))
        .and_then(|_| input.read_to_end(&mut text))
        .map_err(|e| Error::from(e).in_file(name))?;
    encode_again(&text, name, output)
}

/// [`encode_file`] of a mapped file.
pub fn encode_mapped_to_file(text: &Mapping, name: &str, output: &mut File) -> Result<()> {
    let fast = |sink: &mut dyn Write| crate::json::image::encode_json_mapped(text, sink);
    if encode_fast(fast, name, output)? {
        return Ok(());
    }
    encode_again(text, name, output)
}

/// Runs the streaming encoder `fast` into `output`: Ok(false) when the
/// text needs the tree path. Errors of the input name it; of the output, not.
fn encode_fast(
    fast: impl FnOnce(&mut dyn Write) -> std::io::Result<bool>,
    name: &str,
    output: &mut File,
) -> Result<bool> {
    let mut writer = Tracked {
        inner: output,
        failed: false,
    };
    match fast(&mut writer) {
        Ok(done) => Ok(done),
        Err(e) if writer.failed => Err(e.into()),
        Err(e) => Err(Error::from(e).in_file(name)),
    }
}

/// The tree path over the whole text, `output` emptied of what the fast path wrote.
fn encode_again(text: &[u8], name: &str, output: &mut File) -> Result<()> {
    let img = encode_from_json(text).map_err(|e| e.in_file(name))?;
    output.set_len(0)?;
    output.seek(SeekFrom::Start(0))?;
    output.write_all(&img)?;
    Ok(())
}

/// A writer that remembers whether it failed, so that an I/O error of the
/// output can be told apart from one of the input.
struct Tracked<'a> {
    inner: &'a mut File,
    failed: bool,
}

impl Write for Tracked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.failed |= r.is_err();
        r
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.failed |= r.is_err();
        r
    }
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
