//! The direct encoder's innermost loop: a run of `"key": number` (or
//! `"key": "ENUM_NAME"`) fields of varint types, the bulk of message-heavy
//! images (VMAs, pagemap entries, fds). Each field is read from one 64-byte view of the text, so that a
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
/// the key as CRIT writes it and a plain number its varint field takes, or
/// one of its enum's names.
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
        let Some(f) = &plan.varints[idx] else {
            return Stop::Key;
        };
        // A key is at most 32 bytes, so the value's 24 lie in the view.
        let value: &[u8; 24] = view[key_len..key_len + 24].try_into().expect("24 bytes");
        let (v, len) = match value[0] {
            b'"' => {
                let head: &[u8; 16] = value[..16].try_into().expect("16 bytes");
                match f.names.iter().find(|name| name.matches(head)) {
                    Some(name) => (name.value, name.len),
                    None => return Stop::Key,
                }
            }
            _ => match plain_uint(value) {
                Some((v, digits)) if v <= f.max => (v, digits),
                _ => return Stop::Key,
            },
        };
        if fields.seen[(idx >> 6) & 3] & (1 << (idx & 63)) != 0 {
            // A second time: the general loop says why.
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
        t.pos += key_len + len + 1;
        match value[len.min(23)] {
            b',' => {}
            b'}' => return Stop::Closed,
            _ => {
                t.pos -= 1;
                return Stop::Value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::direct::plans::plan;
    use crate::schema::Schema;

    /// Runs `varint_run` over the fields of `object` (padded so that it
    /// can), returning how it stopped, where, and what it wrote.
    fn run(message: &str, object: &str) -> (&'static str, usize, Vec<u8>) {
        let id = Schema::get().message_id(message).unwrap();
        let text = format!("{object}{}", " ".repeat(64));
        let mut t = Text {
            b: text.as_bytes(),
            pos: 1,
        };
        let mut fields = Fields::new();
        let mut out = Vec::new();
        let stop = match varint_run(&mut t, plan(id), true, &mut fields, &mut out) {
            Stop::Key => "key",
            Stop::Value => "value",
            Stop::Closed => "closed",
        };
        (stop, t.pos, out)
    }

    #[test]
    fn numbers_and_enum_names_are_read_in_a_run() {
        // id 1, flags 0, type REG (1), fd 7: tags 0x08, 0x10, 0x18, 0x20.
        let object = r#"{"id": 1, "flags": 0, "type": "REG", "fd": 7}"#;
        let want = vec![0x08, 1, 0x10, 0, 0x18, 1, 0x20, 7];
        assert_eq!(run("fdinfo_entry", object), ("closed", object.len(), want));
        // A name the enum lacks, a name in an escape, other spacing: the
        // run stops at that key and leaves it to the general loop.
        for (object, stop_at) in [
            (r#"{"id": 1, "flags": 0, "type": "NOPE", "fd": 7}"#, 22),
            (r#"{"id": 1, "flags": 0, "type": "R\u0045G", "fd": 7}"#, 22),
            (r#"{"id": 1, "flags": 0, "type":"REG", "fd": 7}"#, 22),
            (r#"{"id": 1, "flags": 0, "type": "REG", "type": "REG"}"#, 37),
        ] {
            let (stop, pos, out) = run("fdinfo_entry", object);
            assert_eq!((stop, pos), ("key", stop_at), "{object}");
            assert_eq!(out.len(), if stop_at == 37 { 6 } else { 4 }, "{object}");
        }
        // White space before the `}`: the run stops after the value.
        let object = "{\"id\": 1, \"flags\": 0, \"type\": \"REG\", \"fd\": 7\n}";
        assert_eq!(run("fdinfo_entry", object).0, "value");
    }
}
