//! Lines as `xxd` prints them: the address, 16 bytes in groups of two in
//! hex, the same bytes as text (`.` for what is not printable ASCII).

use std::io::{self, Write};

/// Writes `bytes`, which are at address `addr`, 16 to a line; the first
/// line starts at `addr` itself.
pub fn hexdump(addr: u64, bytes: &[u8], out: &mut dyn Write) -> io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut line = Vec::with_capacity(80);
    for (i, row) in bytes.chunks(16).enumerate() {
        line.clear();
        write!(line, "{:08x}:", addr.wrapping_add(16 * i as u64))?;
        for (j, b) in row.iter().enumerate() {
            if j % 2 == 0 {
                line.push(b' ');
            }
            line.push(HEX[(b >> 4) as usize]);
            line.push(HEX[(b & 15) as usize]);
        }
        // Pad a short last line so its text lines up: 40 columns of hex.
        let hex_cols = row.len() * 2 + row.len().div_ceil(2);
        line.resize(line.len() + (40 - hex_cols), b' ');
        line.extend_from_slice(b"  ");
        line.extend(
            row.iter()
                .map(|&b| if (0x20..0x7f).contains(&b) { b } else { b'.' }),
        );
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(addr: u64, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        hexdump(addr, bytes, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_like_xxd() {
        // What `printf 'Hello, world!\n\0\0 more text here' | xxd` prints.
        assert_eq!(
            dump(0, b"Hello, world!\n\0\0 more text here"),
            "00000000: 4865 6c6c 6f2c 2077 6f72 6c64 210a 0000  Hello, world!...\n\
             00000010: 206d 6f72 6520 7465 7874 2068 6572 65     more text here\n"
        );
        assert_eq!(
            dump(0x7f90b49b2000, b"A"),
            "7f90b49b2000: 41                                       A\n"
        );
        assert_eq!(dump(16, b""), "");
    }
}
