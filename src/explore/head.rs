//! The first entry of an image (core, mm, ids… hold one), kept as its wire
//! bytes when they are regular so that an explorer reads the few integers
//! it needs without decoding the entry into a message tree.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::schema::{Kind, MsgId, Schema};
use crate::wire::{next_field, top_u64, top_u64s};

pub enum Head {
    /// The entry's message checked by [`crate::wire::is_regular`]: `body`
    /// is its range in `bytes`, the whole image file.
    Wire {
        bytes: Vec<u8>,
        body: Range<usize>,
        msg_type: MsgId,
    },
    Decoded(Message),
}

impl Head {
    /// An integer field (last value), as [`Message::u64`].
    pub fn u64(&self, name: &str) -> Option<u64> {
        match self {
            Head::Wire {
                bytes,
                body,
                msg_type,
            } => top_u64(Schema::get(), *msg_type, &bytes[body.clone()], name),
            Head::Decoded(m) => m.u64(name),
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
        let (bytes, msg_type) = match self {
            Head::Decoded(m) => {
                for sub in m.msgs(field) {
                    f(names.map(|n| sub.u64(n)))?;
                }
                return Ok(());
            }
            Head::Wire {
                bytes,
                body,
                msg_type,
            } => (&bytes[body.clone()], *msg_type),
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
        while pos < bytes.len() {
            let Some(w) = next_field(bytes, &mut pos) else {
                break;
            };
            if w.number == field.number {
                f(top_u64s(schema, sub, w.data, idx))?;
            }
        }
        Ok(())
    }
}
