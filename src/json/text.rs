//! The textual forms CRIT gives to values: base64 with line breaks,
//! quoted-printable unix socket names, IP addresses, device numbers, symbolic
//! flags, and Python's `int(text, 0)` for numbers written as strings.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::writer::{push_prefix, push_u64};
use crate::schema::{DictMap, FlagMap};

/// Python's `base64.encodebytes`: a newline after every 76 characters and at the end.
pub fn base64_lines(data: &[u8]) -> String {
    let flat = STANDARD.encode(data);
    let mut out = String::with_capacity(flat.len() + flat.len() / 76 + 1);
    for chunk in flat.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// Appends [`base64_lines`] of `data` as the inside of a JSON string literal
/// (each line break escaped as `\\n`), without building the text first.
pub fn push_base64_lines_json(out: &mut Vec<u8>, data: &[u8]) {
    // A block of whole lines is encoded at once (SIMD, where the CPU has
    // it), then copied out line by line with the escaped breaks between.
    // The block is written into uninitialised memory: zeroing it first was
    // a sixth of a large payload's decode.
    const LINES: usize = 256;
    let mut block = Vec::with_capacity(data.len().div_ceil(57).min(LINES) * 76);
    out.reserve(data.len().div_ceil(57) * 78);
    for src in data.chunks(LINES * 57) {
        let dst = base64_simd::Out::from_uninit_slice(block.spare_capacity_mut());
        let text: &[u8] = base64_simd::STANDARD.encode(src, dst);
        let mut lines = text.chunks_exact(76);
        for line in lines.by_ref() {
            let line: &[u8; 76] = line.try_into().expect("76 characters");
            out.extend_from_slice(line);
            out.extend_from_slice(b"\\n");
        }
        let rest = lines.remainder();
        if !rest.is_empty() {
            out.extend_from_slice(rest);
            out.extend_from_slice(b"\\n");
        }
    }
}

/// Decodes base64 text, ignoring line breaks and other ASCII white space.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    if let Some(out) = base64_decode_lines(text) {
        return Ok(out);
    }
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    STANDARD
        .decode(&clean)
        .map_err(|e| format!("invalid base64 ({e})"))
}

/// The common case without copying the text: CRIT's lines of 76 characters
/// are whole 4-character groups, padded only at the very end, so each line
/// decodes on its own. None when the text is not of that shape.
fn base64_decode_lines(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut padded = false;
    for piece in text.split(|c: char| c.is_ascii_whitespace()) {
        if piece.is_empty() {
            continue;
        }
        if padded || piece.len() % 4 != 0 {
            return None;
        }
        padded = piece.ends_with('=');
        STANDARD.decode_vec(piece, &mut out).ok()?;
    }
    Some(out)
}

const QP_LINE: usize = 76;

/// Python's `quopri.encodestring` (binascii.b2a_qp with istext=True).
pub fn qp_encode(data: &[u8]) -> String {
    let crlf = data
        .iter()
        .position(|&b| b == b'\n')
        .is_some_and(|p| p > 0 && data[p - 1] == b'\r');
    let mut out: Vec<u8> = Vec::with_capacity(data.len() * 3);
    let mut linelen = 0usize;
    let mut i = 0;
    let n = data.len();
    let soft_break = |out: &mut Vec<u8>| {
        out.push(b'=');
        if crlf {
            out.push(b'\r');
        }
        out.push(b'\n');
    };
    while i < n {
        let c = data[i];
        let next = data.get(i + 1).copied();
        let needs_quote = c > 126
            || c == b'='
            || (c == b'.'
                && linelen == 0
                && matches!(next, None | Some(b'\n') | Some(b'\r') | Some(0)))
            || ((c == b'\t' || c == b' ') && i + 1 == n)
            || (c < 33 && c != b'\r' && c != b'\n' && c != b'\t' && c != b' ');
        if needs_quote {
            if linelen + 3 >= QP_LINE {
                soft_break(&mut out);
                linelen = 0;
            }
            out.push(b'=');
            out.extend_from_slice(format!("{c:02X}").as_bytes());
            i += 1;
            linelen += 3;
        } else if c == b'\n' || (c == b'\r' && next == Some(b'\n')) {
            linelen = 0;
            if let Some(&last) = out.last()
                && (last == b' ' || last == b'\t')
            {
                out.pop();
                out.push(b'=');
                out.extend_from_slice(format!("{last:02X}").as_bytes());
            }
            if crlf {
                out.push(b'\r');
            }
            out.push(b'\n');
            i += if c == b'\r' { 2 } else { 1 };
        } else {
            if i + 1 != n && next != Some(b'\n') && linelen + 1 >= QP_LINE {
                soft_break(&mut out);
                linelen = 0;
            }
            linelen += 1;
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).expect("quoted-printable output is ASCII")
}

/// The quoted-printable form of a unix socket name: CRIT's `quopri.encodestring`
/// whenever that decodes back to the same bytes. Python's encoder drops the
/// `\r` of a `\r\n` when the data's first line break is a bare `\n`; for those
/// rare names (CRIT loses a byte there) every byte outside printable ASCII
/// is written as `=XX` instead, which both decoders read back exactly.
pub fn qp_encode_lossless(data: &[u8]) -> String {
    let text = qp_encode(data);
    if qp_decode(&text) == data {
        return text;
    }
    let mut out = String::with_capacity(data.len() * 3);
    for &b in data {
        if (33..=126).contains(&b) && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

/// Python's `quopri.decodestring` (binascii.a2b_qp).
pub fn qp_decode(text: &str) -> Vec<u8> {
    let d = text.as_bytes();
    let mut out = Vec::with_capacity(d.len());
    let mut i = 0;
    while i < d.len() {
        if d[i] != b'=' {
            out.push(d[i]);
            i += 1;
            continue;
        }
        i += 1;
        if i >= d.len() {
            break;
        }
        if d[i] == b'\n' || d[i] == b'\r' {
            while i < d.len() && d[i] != b'\n' {
                i += 1;
            }
            if i < d.len() {
                i += 1;
            }
        } else if d[i] == b'=' {
            out.push(b'=');
            i += 1;
        } else if i + 1 < d.len() && d[i].is_ascii_hexdigit() && d[i + 1].is_ascii_hexdigit() {
            let hex = |b: u8| (b as char).to_digit(16).unwrap() as u8;
            out.push((hex(d[i]) << 4) | hex(d[i + 1]));
            i += 2;
        } else {
            out.push(b'=');
        }
    }
    out
}

/// IPv4 (one word) or IPv6 (four words) in network byte order, as CRIT shows it.
pub fn ip_text(words: &[u32]) -> Option<String> {
    match words {
        [a] => Some(Ipv4Addr::from(u32::from_be(*a)).to_string()),
        [a, b, c, d] => {
            let v = (u128::from(u32::from_be(*a)) << 96)
                | (u128::from(u32::from_be(*b)) << 64)
                | (u128::from(u32::from_be(*c)) << 32)
                | u128::from(u32::from_be(*d));
            Some(ipv6_compressed(v))
        }
        _ => None,
    }
}

/// Python's `IPv6Address.compressed`: the longest run (of two or more) of zero
/// groups becomes `::`.
///
/// IPv4-mapped addresses are printed as plain hex groups (`::ffff:7f00:1`), as
/// the Python before 3.13 that the reference CRIT runs on does (Debian 12,
/// Ubuntu 24.04; 3.13 would print `::ffff:127.0.0.1`). `encode` reads both forms.
fn ipv6_compressed(v: u128) -> String {
    let groups: Vec<u16> = (0..8).map(|i| (v >> (112 - 16 * i)) as u16).collect();
    let (mut best_start, mut best_len) = (usize::MAX, 0);
    let mut i = 0;
    while i < 8 {
        if groups[i] == 0 {
            let start = i;
            while i < 8 && groups[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_start = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let hex = |g: &[u16]| {
        g.iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len > 1 {
        format!(
            "{}::{}",
            hex(&groups[..best_start]),
            hex(&groups[best_start + best_len..])
        )
    } else {
        hex(&groups)
    }
}

/// Parses an IP address into network-byte-order words (one for v4, four for v6).
pub fn ip_words(text: &str) -> Option<Vec<u32>> {
    if let Ok(v4) = text.parse::<Ipv4Addr>() {
        return Some(vec![u32::from(v4).to_be()]);
    }
    let v6: Ipv6Addr = text.parse().ok()?;
    let v = u128::from(v6);
    Some(
        (0..4)
            .map(|i| ((v >> (96 - 32 * i)) as u32).to_be())
            .collect(),
    )
}

const MINORBITS: u32 = 20;

/// `major:minor` of a device number, in the kernel's (`dev`) or glibc's (`odev`) encoding.
pub fn dev_text(value: u64, old: bool) -> String {
    let mut out = Vec::new();
    push_dev(&mut out, value, old);
    String::from_utf8(out).expect("digits and a colon")
}

/// Appends [`dev_text`] without building a `String`.
pub fn push_dev(out: &mut Vec<u8>, value: u64, old: bool) {
    let (major, minor) = if old {
        let major = ((value >> 8) & 0xfff) | ((value >> 32) & !0xfff);
        let minor = (value & 0xff) | ((value >> 12) & !0xff);
        (u64::from(major as u32), u64::from(minor as u32))
    } else {
        (value >> MINORBITS, value & ((1 << MINORBITS) - 1))
    };
    push_u64(out, major);
    out.push(b':');
    push_u64(out, minor);
}

/// Parses `major:minor` back into a device number.
pub fn dev_value(text: &str, old: bool) -> Option<u64> {
    let (ma, mi) = text.split_once(':')?;
    let major = python_int(ma)?;
    let minor = python_int(mi)?;
    if major < 0 || minor < 0 {
        return None;
    }
    let (major, minor) = (major as u64, minor as u64);
    if old {
        Some(
            ((major & 0xffff_f000) << 32)
                | ((major & 0xfff) << 8)
                | ((minor & 0xffff_ff00) << 12)
                | (minor & 0xff),
        )
    } else {
        Some((major << MINORBITS) | minor)
    }
}

fn flag_table(map: FlagMap) -> &'static [(&'static str, u64)] {
    match map {
        FlagMap::MmapProt => &[("PROT_READ", 0x1), ("PROT_WRITE", 0x2), ("PROT_EXEC", 0x4)],
        FlagMap::MmapFlags => &[
            ("MAP_SHARED", 0x1),
            ("MAP_PRIVATE", 0x2),
            ("MAP_DROPPABLE", 0x08),
            ("MAP_ANON", 0x20),
            ("MAP_GROWSDOWN", 0x0100),
        ],
        FlagMap::MmapStatus => &[
            ("VMA_AREA_NONE", 0),
            ("VMA_AREA_REGULAR", 1 << 0),
            ("VMA_AREA_STACK", 1 << 1),
            ("VMA_AREA_VSYSCALL", 1 << 2),
            ("VMA_AREA_VDSO", 1 << 3),
            ("VMA_AREA_HEAP", 1 << 5),
            ("VMA_FILE_PRIVATE", 1 << 6),
            ("VMA_FILE_SHARED", 1 << 7),
            ("VMA_ANON_SHARED", 1 << 8),
            ("VMA_ANON_PRIVATE", 1 << 9),
            ("VMA_AREA_SYSVIPC", 1 << 10),
            ("VMA_AREA_SOCKET", 1 << 11),
            ("VMA_AREA_VVAR", 1 << 12),
            ("VMA_AREA_AIORING", 1 << 13),
            ("VMA_AREA_MEMFD", 1 << 14),
            ("VMA_AREA_SHSTK", 1 << 15),
            ("VMA_AREA_UPROBES", 1 << 17),
            ("VMA_UNSUPP", 1 << 31),
        ],
        FlagMap::RfileFlags => &[
            ("O_WRONLY", 0o1),
            ("O_RDWR", 0o2),
            ("O_CREAT", 0o100),
            ("O_EXCL", 0o200),
            ("O_NOCTTY", 0o400),
            ("O_TRUNC", 0o1000),
            ("O_APPEND", 0o2000),
            ("O_NONBLOCK", 0o4000),
            ("O_DSYNC", 0o10000),
            ("FASYNC", 0o20000),
            ("O_DIRECT", 0o40000),
            ("O_LARGEFILE", 0o100000),
            ("O_DIRECTORY", 0o200000),
            ("O_NOFOLLOW", 0o400000),
            ("O_NOATIME", 0o1000000),
            ("O_CLOEXEC", 0o2000000),
        ],
        FlagMap::PmapFlags => &[
            ("PE_PARENT", 1 << 0),
            ("PE_LAZY", 1 << 1),
            ("PE_PRESENT", 1 << 2),
        ],
        FlagMap::SealsFlags => &[
            ("F_SEAL_SEAL", 0x0001),
            ("F_SEAL_SHRINK", 0x0002),
            ("F_SEAL_GROW", 0x0004),
            ("F_SEAL_WRITE", 0x0008),
            ("F_SEAL_FUTURE_WRITE", 0x0010),
        ],
        FlagMap::Unknown => &[],
    }
}

/// `"PROT_READ | PROT_WRITE"`, with bits no name covers appended as `0x…`.
pub fn flags_text(value: u64, map: FlagMap) -> String {
    let mut out = Vec::new();
    push_flags(&mut out, value, map);
    String::from_utf8(out).expect("flag names and hex digits")
}

/// Appends [`flags_text`] without building a `String` (pretty mm images
/// have three flags fields per VMA).
pub fn push_flags(out: &mut Vec<u8>, value: u64, map: FlagMap) {
    if map == FlagMap::Unknown {
        return push_hex(out, value);
    }
    let table = flag_table(map);
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.extend_from_slice(b" | ");
        }
    };
    for (name, bit) in table {
        if value & bit != 0 {
            sep(out);
            out.extend_from_slice(name.as_bytes());
        }
    }
    let rest = value & !table.iter().fold(0, |acc, (_, b)| acc | b);
    if rest != 0 {
        sep(out);
        push_hex(out, rest);
    }
}

/// Python's `"0x%x" % v`.
#[inline]
pub fn push_hex(out: &mut Vec<u8>, mut v: u64) {
    let n = 2 + (64 - (v | 1).leading_zeros() as usize).div_ceil(4);
    let mut text = [b'0'; 18];
    text[1] = b'x';
    for c in text[2..n].iter_mut().rev() {
        *c = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
    }
    push_prefix(out, &text, n);
}

/// Parses a flags string (`"PROT_READ | 0x10"`); the parts are summed, as CRIT does.
pub fn flags_value(text: &str, map: FlagMap) -> Result<i128, String> {
    if text.is_empty() {
        return Ok(0);
    }
    let table = flag_table(map);
    let mut sum: i128 = 0;
    for part in text.split('|').map(str::trim) {
        let v = match table.iter().find(|(n, _)| *n == part) {
            Some((_, b)) => *b as i128,
            None => python_int(part).ok_or_else(|| format!("unknown flag {part:?}"))?,
        };
        sum += v;
    }
    Ok(sum)
}

fn dict_table(map: DictMap, field: &str) -> &'static [(i64, &'static str)] {
    match (map, field) {
        // CRIU's task states; stock CRIT 4.2 swapped 3 and 6.
        (DictMap::Gen, "task_state") => &[(1, "Alive"), (3, "Stopped"), (6, "Zombie")],
        (DictMap::Sk, "family") => &[
            (1, "UNIX"),
            (2, "INET"),
            (10, "INET6"),
            (16, "NETLINK"),
            (17, "PACKET"),
        ],
        (DictMap::Sk, "type") => &[
            (1, "STREAM"),
            (2, "DGRAM"),
            (3, "RAW"),
            (5, "SEQPACKET"),
            (10, "PACKET"),
        ],
        (DictMap::Sk, "state") => &[
            (1, "ESTABLISHED"),
            (2, "SYN_SENT"),
            (3, "SYN_RECV"),
            (4, "FIN_WAIT1"),
            (5, "FIN_WAIT2"),
            (6, "TIME_WAIT"),
            (7, "CLOSE"),
            (8, "CLOSE_WAIT"),
            (9, "LAST_ACK"),
            (10, "LISTEN"),
        ],
        (DictMap::Sk, "proto") => &[(0, "IP"), (6, "TCP"), (17, "UDP"), (136, "UDPLITE")],
        _ => &[],
    }
}

/// The dictionary name of a value, if the field's table has one.
pub fn dict_name(map: DictMap, field: &str, value: i64) -> Option<&'static str> {
    dict_table(map, field)
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, n)| *n)
}

/// The value of a dictionary name, if the field's table has it.
pub fn dict_value(map: DictMap, field: &str, name: &str) -> Option<i64> {
    dict_table(map, field)
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(v, _)| *v)
}

/// Python's `int(text, 0)`: optional sign, `0x`/`0o`/`0b` prefixes, `_` between digits.
pub fn python_int(text: &str) -> Option<i128> {
    // The forms `--pretty` writes, without the copies below: `0x` and hex
    // digits, or a decimal without leading zeros.
    let b = text.as_bytes();
    if let Some(hex) = b.strip_prefix(b"0x")
        && !hex.is_empty()
        && hex.iter().all(u8::is_ascii_hexdigit)
    {
        return i128::from_str_radix(&text[2..], 16).ok();
    }
    if !b.is_empty() && b.iter().all(u8::is_ascii_digit) && (b.len() == 1 || b[0] != b'0') {
        return text.parse::<i128>().ok();
    }
    let t = text.trim();
    let (neg, t) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else {
        // Base 0 forbids leading zeros in a non-zero decimal.
        if lower.len() > 1
            && lower.starts_with('0')
            && lower.bytes().any(|b| b != b'0' && b != b'_')
        {
            return None;
        }
        (10, lower.as_str())
    };
    let digits = digits
        .strip_prefix('_')
        .filter(|_| radix != 10)
        .unwrap_or(digits);
    // from_str_radix takes a sign of its own; Python takes one sign, before any prefix.
    if digits.is_empty()
        || digits.starts_with(['_', '+', '-'])
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let v = i128::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_breaks_lines_like_python() {
        assert_eq!(base64_lines(b""), "");
        for (text, want) in [
            ("YWJj\nZGVm\n", Some(&b"abcdef"[..])),
            ("YW Jj ZA==", Some(b"abcd")),
            ("YWI=\nYWI=", None),
            ("YQ", None),
            ("", Some(b"")),
        ] {
            assert_eq!(base64_decode(text).ok().as_deref(), want, "{text:?}");
        }
        // Around the 256-line blocks push_base64_lines_json encodes at once.
        let block = 57 * 256;
        for n in [0, 1, 2, 56, 57, 58, 113, 114, 115, 1000, 4096]
            .into_iter()
            .chain([block - 1, block, block + 1, 2 * block + 58, 4 * block + 3])
        {
            // Every byte value, in every position of a 3-byte group.
            let data: Vec<u8> = (0..n).map(|i| ((i * 7) ^ (i >> 8)) as u8).collect();
            let mut json = Vec::new();
            crate::json::writer::write_str(&mut json, &base64_lines(&data));
            let mut direct = b"\"".to_vec();
            push_base64_lines_json(&mut direct, &data);
            direct.push(b'"');
            assert_eq!(direct, json, "{n} bytes");
        }
        assert_eq!(base64_lines(b"ab"), "YWI=\n");
        let long = base64_lines(&[0u8; 60]);
        assert_eq!(long.lines().next().unwrap().len(), 76);
        assert_eq!(base64_decode(&long).unwrap(), vec![0u8; 60]);
    }

    #[test]
    fn quoted_printable_round_trips() {
        assert_eq!(qp_encode(b"\0/tmp/sock"), "=00/tmp/sock");
        assert_eq!(qp_encode(b"a b "), "a b=20");
        for data in [&b"\0abc=\xff\n x"[..], b"", b".", b"line \nnext\t\n"] {
            assert_eq!(qp_decode(&qp_encode(data)), data);
        }
        // Python's encoder loses the \r here; the lossless form does not.
        assert_eq!(qp_encode(b"a\n\r\nb"), "a\n\nb");
        assert_eq!(qp_encode_lossless(b"a\n\r\nb"), "a=0A=0D=0Ab");
        assert_eq!(qp_decode(&qp_encode_lossless(b"a\n\r\nb")), b"a\n\r\nb");
        assert_eq!(qp_encode_lossless(b"\0/tmp/sock"), "=00/tmp/sock");
    }

    #[test]
    fn ip_addresses_like_python() {
        assert_eq!(
            ip_text(&[u32::from_ne_bytes([127, 0, 0, 1])]).unwrap(),
            "127.0.0.1"
        );
        let words = ip_words("fe80::1:2").unwrap();
        assert_eq!(ip_text(&words).unwrap(), "fe80::1:2");
        assert_eq!(ip_text(&ip_words("::").unwrap()).unwrap(), "::");
        // IPv4-mapped: Python 3.12's form; both forms read back the same.
        let mapped = ip_words("::ffff:1.2.3.4").unwrap();
        assert_eq!(ip_text(&mapped).unwrap(), "::ffff:102:304");
        assert_eq!(ip_words("::ffff:102:304").unwrap(), mapped);
        // IPv4-compatible (deprecated) addresses are not mapped ones.
        assert_eq!(
            ip_text(&ip_words("::1.2.3.4").unwrap()).unwrap(),
            "::102:304"
        );
        // Ties between zero runs go to the first, as in Python.
        assert_eq!(
            ip_text(&ip_words("1:0:0:2:0:0:3:4").unwrap()).unwrap(),
            "1::2:0:0:3:4"
        );
        assert_eq!(
            ip_text(&ip_words("1:0:2:0:3:0:4:0").unwrap()).unwrap(),
            "1:0:2:0:3:0:4:0"
        );
    }

    #[test]
    fn devices_and_flags() {
        assert_eq!(dev_text((8 << 20) | 1, false), "8:1");
        assert_eq!(dev_value("8:1", false), Some((8 << 20) | 1));
        assert_eq!(
            dev_value(&dev_text(0x1234_5678, true), true),
            Some(0x1234_5678)
        );
        assert_eq!(
            flags_text(0x13, FlagMap::MmapProt),
            "PROT_READ | PROT_WRITE | 0x10"
        );
        assert_eq!(
            flags_value("PROT_READ | PROT_WRITE | 0x10", FlagMap::MmapProt),
            Ok(0x13)
        );
        assert_eq!(flags_text(0, FlagMap::MmapProt), "");
    }

    #[test]
    fn python_int_rules() {
        assert_eq!(python_int("0x1F"), Some(31));
        assert_eq!(python_int(" -12 "), Some(-12));
        assert_eq!(python_int("0o17"), Some(15));
        assert_eq!(python_int("1_000"), Some(1000));
        assert_eq!(python_int("010"), None);
        assert_eq!(python_int("00"), Some(0));
        assert_eq!(python_int("abc"), None);
    }
}

#[cfg(test)]
mod python_vectors {
    /// Vectors made with CPython's `quopri.encodestring` (tests/data/quopri-vectors.json).
    #[test]
    fn quoted_printable_matches_cpython() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/quopri-vectors.json"
        ))
        .unwrap();
        let vecs: Vec<(String, String)> = serde_json::from_str(&text).unwrap();
        assert!(vecs.len() > 100);
        for (hex, want) in vecs {
            let data: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            assert_eq!(super::qp_encode(&data), want, "input {hex}");
        }
    }
}
