//! CRIU image files: the magic header, size-framed protobuf entries and the
//! raw payloads some entries carry. Knows nothing of JSON, the CLI or FUSE.

pub mod magic;
mod payload;

pub use magic::{Layout, Magic, PayloadKind};
pub use payload::{Payload, shown_size};

use crate::message::Message;
use crate::schema::{MsgId, Schema};

/// A decoded image.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub magic: Magic,
    pub entries: Vec<Entry>,
}

/// One entry: its message and what followed it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub msg: Message,
    pub payload: Payload,
}

/// Why an image could not be read or written, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageError {
    /// Index of the entry being read, if any.
    pub entry: Option<usize>,
    /// Byte offset in the image file.
    pub offset: usize,
    pub what: String,
    /// The image is not a protobuf image at all (raw data such as pages-*.img).
    pub unknown_magic: Option<u32>,
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry {
            Some(i) => write!(f, "entry {i} at byte {}: {}", self.offset, self.what),
            None => write!(f, "byte {}: {}", self.offset, self.what),
        }
    }
}

impl std::error::Error for ImageError {}

pub(crate) fn img_err(entry: Option<usize>, offset: usize, what: impl Into<String>) -> ImageError {
    ImageError {
        entry,
        offset,
        what: what.into(),
        unknown_magic: None,
    }
}

/// Reads the magic header; returns the magic and the offset of the first entry.
pub fn read_magic(buf: &[u8]) -> Result<(Magic, usize), ImageError> {
    let word = |at: usize| -> Result<u32, ImageError> {
        buf.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| {
                img_err(
                    None,
                    at,
                    format!("file too short for a magic ({} bytes)", buf.len()),
                )
            })
    };
    let mut value = word(0)?;
    let mut at = 4;
    if value == magic::IMG_COMMON || value == magic::IMG_SERVICE {
        value = word(4)?;
        at = 8;
    }
    match Magic::by_value(value) {
        Some(m) if m.layout != Layout::NotEntries => Ok((m, at)),
        Some(m) => Err(img_err(
            None,
            at - 4,
            format!("{} images hold no protobuf entries", m.name),
        )),
        None => Err(ImageError {
            entry: None,
            offset: at - 4,
            what: format!(
                "Unknown magic {value:#x}; maybe you are feeding me raw data (i.e. pages.img)?"
            ),
            unknown_magic: Some(value),
        }),
    }
}

fn msg_id(name: &str) -> MsgId {
    Schema::get()
        .message_id(name)
        .unwrap_or_else(|| panic!("schema lacks {name}; see magic.rs tests"))
}

/// A cursor over the image bytes that reports errors with entry and offset.
pub(crate) struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
    pub entry: usize,
}

impl<'a> Reader<'a> {
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn err(&self, what: impl Into<String>) -> ImageError {
        img_err(Some(self.entry), self.pos, what)
    }

    /// Takes `n` bytes, or fails naming what was expected.
    pub fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], ImageError> {
        let left = self.buf.len() - self.pos;
        if n > left as u64 {
            return Err(self.err(format!("{what} needs {n} bytes but only {left} are left")));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    /// Reads one size-framed message.
    pub fn message(&mut self, msg_type: MsgId) -> Result<Message, ImageError> {
        let size_at = self.pos;
        let size = u32::from_le_bytes(self.take(4, "entry size")?.try_into().unwrap());
        if size > i32::MAX as u32 {
            self.pos = size_at;
            return Err(self.err(format!(
                "entry size {size} is negative as CRIU's signed 32-bit size"
            )));
        }
        let body_at = self.pos;
        let body = self.take(u64::from(size), "entry message")?;
        Message::decode(msg_type, body).map_err(|e| {
            img_err(
                Some(self.entry),
                body_at + e.offset,
                format!("{} message: {}", Schema::get().message(msg_type).name, e),
            )
        })
    }
}

impl Image {
    /// Decodes a whole image file.
    pub fn decode(buf: &[u8]) -> Result<Image, ImageError> {
        let (magic, start) = read_magic(buf)?;
        let mut entries = Vec::new();
        Image::decode_entries(buf, magic, start, |e| entries.push(e))?;
        Ok(Image { magic, entries })
    }

    /// Decodes the entries of an image whose magic [`read_magic`] read, handing
    /// each to `f` as soon as it is decoded (so that a caller rendering them
    /// one by one never holds the whole decoded image).
    pub fn decode_entries(
        buf: &[u8],
        magic: Magic,
        start: usize,
        mut f: impl FnMut(Entry),
    ) -> Result<(), ImageError> {
        let mut r = Reader {
            buf,
            pos: start,
            entry: 0,
        };
        match magic.layout {
            Layout::Entries(name, kind) => {
                let id = msg_id(name);
                while !r.at_end() {
                    let msg = r.message(id)?;
                    let payload = payload::read(&mut r, kind, &msg)?;
                    f(Entry { msg, payload });
                    r.entry += 1;
                }
            }
            Layout::Pagemap => {
                let mut id = msg_id("pagemap_head");
                while !r.at_end() {
                    f(Entry {
                        msg: r.message(id)?,
                        payload: Payload::None,
                    });
                    id = msg_id("pagemap_entry");
                    r.entry += 1;
                }
            }
            Layout::Ghost => {
                if r.at_end() {
                    return Err(r.err("ghost file image has no ghost_file_entry"));
                }
                let head = r.message(msg_id("ghost_file_entry"))?;
                if head.bool("chunks") == Some(true) {
                    f(Entry {
                        msg: head,
                        payload: Payload::None,
                    });
                    let chunk = msg_id("ghost_chunk_entry");
                    while !r.at_end() {
                        r.entry += 1;
                        let msg = r.message(chunk)?;
                        let len = msg.u64("len").unwrap_or(0);
                        let data = r.take(len, "ghost chunk data")?.to_vec();
                        f(Entry {
                            msg,
                            payload: Payload::Raw(data),
                        });
                    }
                } else {
                    let data = r
                        .take((buf.len() - r.pos) as u64, "ghost file data")?
                        .to_vec();
                    f(Entry {
                        msg: head,
                        payload: Payload::Raw(data),
                    });
                }
            }
            Layout::NotEntries => unreachable!("read_magic refuses these"),
        }
        Ok(())
    }

    /// Counts entries without decoding messages (CRIT's `info`; a pagemap's
    /// head entry is not counted). Payloads are skipped by their sizes.
    pub fn count(buf: &[u8]) -> Result<(Magic, usize), ImageError> {
        // Payload sizes depend on message fields, so decode; messages are small.
        let (magic, start) = read_magic(buf)?;
        let mut n = 0usize;
        Image::decode_entries(buf, magic, start, |_| n += 1)?;
        Ok((
            magic,
            if magic.layout == Layout::Pagemap {
                n.saturating_sub(1)
            } else {
                n
            },
        ))
    }

    /// Encodes the image to its file bytes.
    pub fn encode(&self) -> Result<Vec<u8>, ImageError> {
        let mut out = Vec::with_capacity(4096);
        encode_magic(self.magic, &mut out);
        for (i, e) in self.entries.iter().enumerate() {
            encode_entry(i, e, &mut out)?;
        }
        Ok(out)
    }
}

/// Appends an image's magic header (what [`read_magic`] reads).
pub fn encode_magic(magic: Magic, out: &mut Vec<u8>) {
    if let Some(h) = magic.header() {
        out.extend_from_slice(&h.to_le_bytes());
    }
    out.extend_from_slice(&magic.value.to_le_bytes());
}

/// Appends entry number `index` of an image: its framed message and payload.
pub fn encode_entry(index: usize, e: &Entry, out: &mut Vec<u8>) -> Result<(), ImageError> {
    write_framed(&e.msg, out);
    payload::write(&e.payload, &e.msg, out).map_err(|what| img_err(Some(index), out.len(), what))
}

/// Appends a message with its 32-bit size in front.
pub(crate) fn write_framed(msg: &Message, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    msg.encode_into(out);
    let size = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&size.to_le_bytes());
}
