//! CRIT's base64 payload lines, decoded from a JSON string's raw content.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Payload bytes are decoded in blocks of this many base64 characters.
const BASE64_BLOCK: usize = 64 * 1024;

/// Decodes CRIT's base64 lines from a JSON string's raw content into `out`:
/// whole 4-character groups between `\n` escapes, padded only at the very
/// end. None for any other shape (the tree path reads those, or refuses them).
pub(super) fn decode_base64_lines(
    raw: &[u8],
    out: &mut Vec<u8>,
    block: &mut Vec<u8>,
) -> Option<()> {
    block.clear();
    let mut padded = false;
    let mut rest = raw;
    loop {
        let (piece, next) = match memchr::memchr(b'\\', rest) {
            Some(i) if rest.get(i + 1) == Some(&b'n') => (&rest[..i], Some(&rest[i + 2..])),
            Some(_) => return None,
            None => (rest, None),
        };
        if !piece.is_empty() {
            if padded || piece.len() % 4 != 0 {
                return None;
            }
            padded = piece.ends_with(b"=");
            for part in piece.chunks(BASE64_BLOCK) {
                block.extend_from_slice(part);
                if block.len() >= BASE64_BLOCK {
                    decode_block(block, out)?;
                }
            }
        }
        match next {
            Some(n) => rest = n,
            None => return decode_block(block, out),
        }
    }
}

/// Decodes whole base64 groups gathered in `block` into `out`, and empties it.
fn decode_block(block: &mut Vec<u8>, out: &mut Vec<u8>) -> Option<()> {
    let at = out.len();
    out.resize(at + block.len() / 4 * 3, 0);
    let n = STANDARD.decode_slice(&block[..], &mut out[at..]).ok()?;
    out.truncate(at + n);
    block.clear();
    Some(())
}
