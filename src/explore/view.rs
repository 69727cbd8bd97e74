//! An image's entries kept as their wire bytes where they are regular, so
//! that explorers and `check` read the few integers they need without
//! decoding each entry into a message tree. Entries that are not regular
//! (fields out of order, unknown fields) are decoded, and read the same.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::image::{EntryMessage, Image, ImageError, read_magic};
use crate::message::Message;
use crate::schema::{Kind, MsgId, Schema};
use crate::wire::{next_field, top_u64, top_u64s};

/// Integer fields by name (last value), as [`Message::u64`] reads them.
pub trait Ints {
    fn u64(&self, name: &str) -> Option<u64>;
}

impl Ints for Message {
    fn u64(&self, name: &str) -> Option<u64> {
        Message::u64(self, name)
    }
}

/// The entries of an image file.
pub struct Entries {
    bytes: Vec<u8>,
    entries: Vec<At>,
}

enum At {
    /// A message [`crate::wire::is_regular`] accepted, at `body` in the file.
    Wire {
        msg_type: MsgId,
        body: Range<usize>,
    },
    Decoded(Message),
}

/// One entry of [`Entries`].
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    bytes: &'a [u8],
    at: &'a At,
}

impl Entries {
    /// Walks the image file `bytes`: every entry is checked (a regular one
    /// decodes without error, the others are decoded), so an image that
    /// does not decode is [`Image::decode`]'s error.
    pub fn new(bytes: Vec<u8>) -> std::result::Result<Entries, ImageError> {
        let mut entries = Vec::new();
        let (magic, start) = read_magic(&bytes)?;
        Image::decode_entries_ref(&bytes, magic, start, |e| {
            entries.push(match e.msg {
                EntryMessage::Wire { msg_type, body } => {
                    let at = body.as_ptr() as usize - bytes.as_ptr() as usize;
                    At::Wire {
                        msg_type,
                        body: at..at + body.len(),
                    }
                }
                m => At::Decoded(m.into_message()),
            })
        })?;
        Ok(Entries { bytes, entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn first(&self) -> Option<Entry<'_>> {
        self.iter().next()
    }

    pub fn iter(&self) -> impl Iterator<Item = Entry<'_>> {
        self.entries.iter().map(|at| Entry {
            bytes: &self.bytes,
            at,
        })
    }
}

impl Ints for Entry<'_> {
    fn u64(&self, name: &str) -> Option<u64> {
        match self.at {
            At::Wire { msg_type, body } => {
                top_u64(Schema::get(), *msg_type, &self.bytes[body.clone()], name)
            }
            At::Decoded(m) => m.u64(name),
        }
    }
}

impl<'a> Entry<'a> {
    /// The message type and wire bytes of an entry kept as such.
    pub fn wire(&self) -> Option<(MsgId, &'a [u8])> {
        match self.at {
            At::Wire { msg_type, body } => Some((*msg_type, &self.bytes[body.clone()])),
            At::Decoded(_) => None,
        }
    }

    /// The entry's message, decoded now if it was kept as wire bytes.
    pub fn message(&self) -> std::borrow::Cow<'a, Message> {
        match self.at {
            At::Wire { msg_type, body } => std::borrow::Cow::Owned(
                // Checked by is_regular when the entries were walked.
                Message::decode(*msg_type, &self.bytes[body.clone()])
                    .unwrap_or_else(|_| Message::new(*msg_type)),
            ),
            At::Decoded(m) => std::borrow::Cow::Borrowed(m),
        }
    }

    /// Calls `f` with the integer fields `names` (as [`Message::u64`]) of
    /// each message in the repeated message field `field`, in order.
    pub fn each<const N: usize>(
        &self,
        field: &str,
        names: [&str; N],
        mut f: impl FnMut([Option<u64>; N]) -> Result<()>,
    ) -> Result<()> {
        let (msg_type, body) = match self.at {
            At::Decoded(m) => {
                for sub in m.msgs(field) {
                    f(names.map(|n| sub.u64(n)))?;
                }
                return Ok(());
            }
            At::Wire { msg_type, body } => (*msg_type, &self.bytes[body.clone()]),
        };
        let schema = Schema::get();
        let plan = schema.message(msg_type);
        let lacks = |name: &str| Error::other(format!("the schema of {} lacks {name}", plan.name));
        let field = &plan.fields[plan.field_by_name(field).ok_or_else(|| lacks(field))?];
        let Kind::Message(sub) = field.kind else {
            return Err(lacks(&format!("a message field {}", field.name)));
        };
        let sub_plan = schema.message(sub);
        let mut idx = [0; N];
        for (i, n) in idx.iter_mut().zip(names) {
            *i = sub_plan
                .field_by_name(n)
                .ok_or_else(|| lacks(&format!("{}.{n}", field.name)))?;
        }
        let mut pos = 0;
        while pos < body.len() {
            let Some(w) = next_field(body, &mut pos) else {
                break;
            };
            if w.number == field.number {
                f(top_u64s(schema, sub, w.data, idx))?;
            }
        }
        Ok(())
    }
}

/// The first entry of an image that has one (core, mm, ids… hold one).
pub struct Head(Entries);

impl Head {
    /// None when the image holds no entries.
    pub fn new(entries: Entries) -> Option<Head> {
        (!entries.is_empty()).then_some(Head(entries))
    }

    pub fn entry(&self) -> Entry<'_> {
        Entry {
            bytes: &self.0.bytes,
            at: &self.0.entries[0], // not empty: see Head::new
        }
    }

    /// An integer field (last value), as [`Message::u64`].
    pub fn u64(&self, name: &str) -> Option<u64> {
        self.entry().u64(name)
    }

    /// [`Entry::each`] of the entry.
    pub fn each<const N: usize>(
        &self,
        field: &str,
        names: [&str; N],
        f: impl FnMut([Option<u64>; N]) -> Result<()>,
    ) -> Result<()> {
        self.entry().each(field, names, f)
    }
}
