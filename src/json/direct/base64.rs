//! CRIT's base64 payload lines, decoded from a JSON string's raw content.

/// The length of CRIT's base64 lines (Python's `base64.encodebytes`).
const LINE: usize = 76;

/// Payload bytes are decoded in blocks of this many base64 characters.
const BLOCK: usize = 64 * 1024;

/// Decodes CRIT's base64 lines from a JSON string's raw content into `out`:
/// whole 4-character groups between `\n` escapes, padded only at the very
/// end. None for any other shape (the tree path reads those, or refuses them).
pub(super) fn decode_base64_lines(raw: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut lines = Lines::default();
    lines.push(raw, out)?;
    lines.finish(out)
}

/// A decoder of base64 lines given in parts, each ending after a `\n` escape
/// (or at the end of the string).
#[derive(Default)]
pub(super) struct Lines {
    /// A line ended with padding: only empty lines may follow.
    padded: bool,
    /// Whole groups not decoded yet.
    block: Vec<u8>,
}

impl Lines {
    /// Decodes the lines of `raw`, some of them maybe only at the next push
    /// or at [`Lines::finish`].
    pub(super) fn push(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let mut rest = raw;
        loop {
            // CRIT's lines have 76 characters: try that before searching.
            // (Should the line hold an escape after all, decoding fails.)
            let (piece, next) = match rest.get(LINE..LINE + 2) {
                Some(b"\\n") => (&rest[..LINE], Some(&rest[LINE + 2..])),
                _ => match memchr::memchr(b'\\', rest) {
                    Some(i) if rest.get(i + 1) == Some(&b'n') => (&rest[..i], Some(&rest[i + 2..])),
                    Some(_) => return None,
                    None => (rest, None),
                },
            };
            if !piece.is_empty() {
                if self.padded || piece.len() % 4 != 0 {
                    return None;
                }
                self.padded = piece.ends_with(b"=");
                match <&[u8; LINE]>::try_from(piece) {
                    // A copy of known size is inlined: a memcpy call per
                    // line was a tenth of a big payload's encode.
                    Ok(line) => self.block.extend_from_slice(line),
                    Err(_) => {
                        for part in piece.chunks(BLOCK) {
                            self.block.extend_from_slice(part);
                            if self.block.len() >= BLOCK {
                                self.decode_block(out)?;
                            }
                        }
                    }
                }
                if self.block.len() >= BLOCK {
                    self.decode_block(out)?;
                }
            }
            match next {
                Some(n) => rest = n,
                None => return Some(()),
            }
        }
    }

    /// Decodes what is left.
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.decode_block(out)
    }

    /// Decodes the whole groups gathered so far into `out`.
    fn decode_block(&mut self, out: &mut Vec<u8>) -> Option<()> {
        // As strict as the tree path's decoder (padding required, unused
        // bits zero), and SIMD: payloads run to many MiB.
        base64_simd::STANDARD.decode_append(&self.block, out).ok()?;
        self.block.clear();
        Some(())
    }
}

/// The length of `raw` up to and including its last `\n` escape (0 if it
/// has none): a cut that leaves whole lines before it.
pub(super) fn whole_lines(raw: &[u8]) -> usize {
    let mut end = raw.len();
    while let Some(i) = memchr::memrchr(b'\\', &raw[..end]) {
        if raw.get(i + 1) == Some(&b'n') {
            return i + 2;
        }
        end = i;
    }
    0
}
