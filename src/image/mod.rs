//! CRIU image files: the magic header, size-framed protobuf entries and the
//! raw payloads some entries carry. Knows nothing of JSON, the CLI or FUSE.

pub mod magic;
mod payload;

pub use magic::{Layout, Magic, PayloadKind};
pub use payload::{Payload, PayloadRef, shown_size};

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

/// One entry as read from image bytes, its payload borrowed from them.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryRef<'a> {
    pub msg: EntryMessage<'a>,
    pub payload: PayloadRef<'a>,
}

/// An entry's message: decoded, or (when [`crate::wire::is_regular`]
/// accepts it) left as its wire bytes, for rendering without a tree.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryMessage<'a> {
    Decoded(Message),
    Wire {
        msg_type: MsgId,
        body: &'a [u8],
    },
    /// Wire bytes not checked at all, from [`Image::render_entries`] only:
    /// its callback checks them as it renders them.
    Unchecked {
        msg_type: MsgId,
        body: &'a [u8],
    },
}

/// How the entry walk hands out messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Every message decoded.
    Tree,
    /// Regular messages as [`EntryMessage::Wire`].
    Lazy,
    /// Messages that no payload size depends on as [`EntryMessage::Unchecked`].
    Unchecked,
}

/// Why an [`Image::render_entries`] callback did not take an unchecked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It is not regular and nothing of it was written: hand it again decoded.
    Irregular,
    /// Part of it does not decode, found after some of it was written out.
    Broken,
}

impl EntryMessage<'_> {
    /// An integer field (last value), as [`Message::u64`].
    pub fn u64(&self, name: &str) -> Option<u64> {
        match self {
            EntryMessage::Decoded(m) => m.u64(name),
            EntryMessage::Wire { msg_type, body } | EntryMessage::Unchecked { msg_type, body } => {
                crate::wire::top_u64(Schema::get(), *msg_type, body, name)
            }
        }
    }

    /// The decoded message.
    pub fn into_message(self) -> Message {
        match self {
            EntryMessage::Decoded(m) => m,
            EntryMessage::Wire { msg_type, body } => {
                Message::decode(msg_type, body).expect("is_regular accepted it")
            }
            EntryMessage::Unchecked { .. } => unreachable!("never from decode_entries"),
        }
    }
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

    /// Reads one size-framed message, as `walk` asks: decoded, left as its
    /// bytes when [`crate::wire::is_regular`] accepts it, or left unchecked.
    fn entry_message(
        &mut self,
        msg_type: MsgId,
        walk: Walk,
    ) -> Result<EntryMessage<'a>, ImageError> {
        if walk != Walk::Tree {
            let at = self.pos;
            let size = self.take(4, "entry size")?;
            let size = u32::from_le_bytes(size.try_into().unwrap());
            // What is not plainly well-formed goes the way with exact errors.
            if size <= i32::MAX as u32
                && let Ok(body) = self.take(u64::from(size), "entry message")
            {
                if walk == Walk::Unchecked {
                    return Ok(EntryMessage::Unchecked { msg_type, body });
                }
                if crate::wire::is_regular(Schema::get(), msg_type, body) {
                    return Ok(EntryMessage::Wire { msg_type, body });
                }
            }
            self.pos = at;
        }
        self.message(msg_type).map(EntryMessage::Decoded)
    }

    /// Hands entry `e`, read from `at`, to `f`; if `f` refuses an unchecked
    /// message, decodes it again from `at` for its exact error, or hands
    /// it over decoded.
    fn hand_out(
        &mut self,
        at: usize,
        e: EntryRef<'a>,
        f: &mut impl FnMut(EntryRef<'a>) -> Result<(), Refused>,
    ) -> Result<(), ImageError> {
        let EntryMessage::Unchecked { msg_type, .. } = e.msg else {
            return self.hand_out_decoded(e, f);
        };
        debug_assert_eq!(e.payload, PayloadRef::None, "only payload-free entries");
        let Err(refused) = f(e) else {
            return Ok(());
        };
        let end = self.pos;
        self.pos = at;
        let msg = self.message(msg_type)?;
        debug_assert_eq!(self.pos, end);
        if refused == Refused::Broken {
            // Not expected: a part that does not decode alone does not
            // decode in its message either. Fail rather than repeat output.
            return Err(self.err("message could not be rendered"));
        }
        let e = EntryRef {
            msg: EntryMessage::Decoded(msg),
            payload: PayloadRef::None,
        };
        self.hand_out_decoded(e, f)
    }

    /// Hands a checked entry to `f`, which has no reason to refuse it.
    fn hand_out_decoded(
        &mut self,
        e: EntryRef<'a>,
        f: &mut impl FnMut(EntryRef<'a>) -> Result<(), Refused>,
    ) -> Result<(), ImageError> {
        f(e).map_err(|_| self.err("message could not be rendered"))
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
        Image::walk(buf, magic, start, Walk::Tree, |e| {
            f(Entry {
                msg: e.msg.into_message(),
                payload: e.payload.into_owned(),
            });
            Ok(())
        })
    }

    /// [`Image::decode_entries`] without copying payloads (each is a slice of
    /// `buf`) and, where the shape allows, without decoding messages: those
    /// come as [`EntryMessage::Wire`].
    pub fn decode_entries_ref<'a>(
        buf: &'a [u8],
        magic: Magic,
        start: usize,
        mut f: impl FnMut(EntryRef<'a>),
    ) -> Result<(), ImageError> {
        Image::walk(buf, magic, start, Walk::Lazy, |e| {
            f(e);
            Ok(())
        })
    }

    /// [`Image::decode_entries_ref`] for a renderer that checks messages as
    /// it renders them, so that they are read once: a message that no
    /// payload size depends on comes as [`EntryMessage::Unchecked`]. When
    /// `f` refuses one, the entry is decoded: its error is returned, or the
    /// decoded message handed to `f` again (only if nothing was written,
    /// [`Refused::Irregular`]).
    pub fn render_entries<'a>(
        buf: &'a [u8],
        magic: Magic,
        start: usize,
        f: impl FnMut(EntryRef<'a>) -> Result<(), Refused>,
    ) -> Result<(), ImageError> {
        Image::walk(buf, magic, start, Walk::Unchecked, f)
    }

    /// Reads the entries, handing out messages as `walk` says.
    fn walk<'a>(
        buf: &'a [u8],
        magic: Magic,
        start: usize,
        walk: Walk,
        mut f: impl FnMut(EntryRef<'a>) -> Result<(), Refused>,
    ) -> Result<(), ImageError> {
        let mut r = Reader {
            buf,
            pos: start,
            entry: 0,
        };
        match magic.layout {
            Layout::Entries(name, kind) => {
                let id = msg_id(name);
                // A payload's size is read from its message: check it first.
                let walk = match (walk, kind) {
                    (Walk::Unchecked, PayloadKind::None) => Walk::Unchecked,
                    (Walk::Unchecked, _) => Walk::Lazy,
                    (w, _) => w,
                };
                while !r.at_end() {
                    let at = r.pos;
                    let msg = r.entry_message(id, walk)?;
                    let payload = payload::read(&mut r, kind, &msg)?;
                    r.hand_out(at, EntryRef { msg, payload }, &mut f)?;
                    r.entry += 1;
                }
            }
            Layout::Pagemap => {
                let mut id = msg_id("pagemap_head");
                let entry_id = msg_id("pagemap_entry");
                while !r.at_end() {
                    let at = r.pos;
                    let msg = r.entry_message(id, walk)?;
                    let e = EntryRef {
                        msg,
                        payload: PayloadRef::None,
                    };
                    r.hand_out(at, e, &mut f)?;
                    id = entry_id;
                    r.entry += 1;
                }
            }
            Layout::Ghost => {
                if r.at_end() {
                    return Err(r.err("ghost file image has no ghost_file_entry"));
                }
                let head = r.message(msg_id("ghost_file_entry"))?;
                if head.bool("chunks") == Some(true) {
                    r.hand_out_decoded(
                        EntryRef {
                            msg: EntryMessage::Decoded(head),
                            payload: PayloadRef::None,
                        },
                        &mut f,
                    )?;
                    let chunk = msg_id("ghost_chunk_entry");
                    while !r.at_end() {
                        r.entry += 1;
                        let msg = r.message(chunk)?;
                        let len = msg.u64("len").unwrap_or(0);
                        let data = r.take(len, "ghost chunk data")?;
                        let e = EntryRef {
                            msg: EntryMessage::Decoded(msg),
                            payload: PayloadRef::Raw(data),
                        };
                        r.hand_out_decoded(e, &mut f)?;
                    }
                } else {
                    let data = r.take((buf.len() - r.pos) as u64, "ghost file data")?;
                    let e = EntryRef {
                        msg: EntryMessage::Decoded(head),
                        payload: PayloadRef::Raw(data),
                    };
                    r.hand_out_decoded(e, &mut f)?;
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
        Image::decode_entries_ref(buf, magic, start, |_| n += 1)?;
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
