//! The direct encoder's innermost loop: a run of `"key": number` fields of
//! varint types, the bulk of message-heavy images (VMAs, pagemap entries,
//! fds). Each field is read from one 64-byte view of the text, so that a
//! single bounds check covers its key, its number and what follows; any
//! other field ends the run and is read by the general loop.

use super::lexer::{Text, plain_uint};
use super::plans::Plan;
use crate::message::write_varint;

/// What a message's loop keeps about the fields read so far.
pub(super) struct Fields {
    /// Which field indexes were seen (fields are at most 256).
    pub(super) seen: [u64; 4],
    /// The field index whose key is tried first: keys usually come in
    /// field order.
    pub(super) guess: usize,
    /// The least index a field written next may have, while they come in
    /// number order.
    pub(super) next_in_order: usize,
    pub(super) sorted: bool,
}

impl Fields {
    pub(super) fn new() -> Fields {
        Fields {
            seen: [0; 4],
            guess: 0,
            next_in_order: 0,
            sorted: true,
        }
    }

    /// Notes field `idx` as seen; false if it already was.
    #[inline(always)]
    pub(super) fn see(&mut self, idx: usize) -> bool {
        self.guess = idx + 1;
        // idx < 256 (the caller checks): the mask only spares a bounds check.
        let (word, bit) = ((idx >> 6) & 3, 1u64 << (idx & 63));
        let first = self.seen[word] & bit == 0;
        self.seen[word] |= bit;
        first
    }

    /// Notes that field `idx` wrote output.
    #[inline(always)]
    pub(super) fn wrote(&mut self, idx: usize) {
        self.sorted &= idx >= self.next_in_order;
        self.next_in_order = idx + 1;
    }
}

/// Where a run stopped.
pub(super) enum Stop {
    /// At a key the run does not read (or near the end of the text).
    Key,
    /// After a value, at white space before the `,` or `}`.
    Value,
    /// After the `}` that closes the object.
    Closed,
}

/// Reads fields from `t` (at a key) while they are `"key": number` with
/// the key as CRIT writes it and a plain number its varint field takes.
/// `entry`: the object is an entry's top level, where `"extra"` is not a
/// field.
#[inline(never)]
pub(super) fn varint_run(
    t: &mut Text,
    plan: &Plan,
    entry: bool,
    fields: &mut Fields,
    out: &mut Vec<u8>,
) -> Stop {
    loop {
        t.ws();
        let Some(view) = t.b.get(t.pos..t.pos + 64) else {
            return Stop::Key;
        };
        let view: &[u8; 64] = view.try_into().expect("64 bytes");
        let head: &[u8; 32] = view[..32].try_into().expect("32 bytes");
        let last = plan.keys.len().min(fields.guess + 3);
        let Some((idx, key_len)) = (fields.guess..last).find_map(|i| {
            let k = &plan.keys[i];
            k.matches_head(head)
                .filter(|_| !(entry && k.extra))
                .map(|n| (i, n))
        }) else {
            return Stop::Key;
        };
        let Some(f) = plan.varints[idx] else {
            return Stop::Key;
        };
        // A key is at most 32 bytes, so the number's 24 lie in the view.
        let number: &[u8; 24] = view[key_len..key_len + 24].try_into().expect("24 bytes");
        let Some((v, digits)) = plain_uint(number) else {
            return Stop::Key;
        };
        if v > f.max || fields.seen[(idx >> 6) & 3] & (1 << (idx & 63)) != 0 {
            // Out of range or a second time: the general loop says why.
            return Stop::Key;
        }
        fields.see(idx);
        fields.wrote(idx);
        // Pushes, not a copy: a memcpy call costs more.
        out.push(f.tag[0]);
        if f.tag_len == 2 {
            out.push(f.tag[1]);
        }
        write_varint(v, out);
        t.pos += key_len + digits + 1;
        match number[digits] {
            b',' => {}
            b'}' => return Stop::Closed,
            _ => {
                t.pos -= 1;
                return Stop::Value;
            }
        }
    }
}
