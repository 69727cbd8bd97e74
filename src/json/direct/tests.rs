//! The direct encoder against the tree path.

use super::*;
use crate::image::{Layout, Magic, PayloadKind};
use crate::json::image::{EncodeError, encode_json_text, encode_json_text_tree};
use crate::message::encode_scalar;
use std::path::{Path, PathBuf};

fn describe(e: EncodeError) -> String {
    match e {
        EncodeError::Syntax(e) => format!("syntax: {e}"),
        EncodeError::Schema(e) => format!("schema: {e}"),
        EncodeError::Image(e) => format!("image: {e}"),
    }
}

fn tree(text: &[u8]) -> Result<Vec<u8>, String> {
    encode_json_text_tree(text).map_err(describe)
}

/// Asserts that the encoder with its fast path agrees with the tree path,
/// and that the streaming encoder, reading the text in pieces of a few sizes,
/// either gives up or writes the same bytes.
fn agrees(text: &[u8]) {
    agrees_as_is(text);
    // With room after it, so that the fast loops that read 64 bytes at a
    // time (run.rs) see every field of a short document too.
    let mut padded = text.to_vec();
    padded.extend_from_slice(&[b' '; 80]);
    agrees_as_is(&padded);
}

fn agrees_as_is(text: &[u8]) {
    let want = tree(text);
    let now = encode_json_text(text).map_err(describe);
    assert_eq!(now, want, "{}", String::from_utf8_lossy(text));
    for read in [1, 7, 64, 1000, 1 << 20] {
        if let Some(bytes) = streamed(text, read) {
            assert_eq!(
                Ok(bytes),
                want,
                "read by {read}: {}",
                String::from_utf8_lossy(text)
            );
        }
        let mut out = Vec::new();
        if encode_revealed_by(text, &mut out, read).unwrap() {
            assert_eq!(
                Ok(out),
                want,
                "in view by {read}: {}",
                String::from_utf8_lossy(text)
            );
        }
    }
}

/// The streaming encoder's output, reading `read` bytes at a time from a
/// reader that hands out at most 5 bytes per call; None if it gives up.
fn streamed(text: &[u8], read: usize) -> Option<Vec<u8>> {
    struct Dribble<'a>(&'a [u8]);
    impl std::io::Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(5).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut out = Vec::new();
    encode_stream_by(&mut Dribble(text), &mut out, read)
        .unwrap()
        .then_some(out)
}

/// The fast path alone, without falling back for any entry.
fn fast_only(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let done = Encoder::new(false)
        .document(&mut Window::whole(text), &mut out, None)
        .unwrap();
    done.then_some(out)
}

fn corpus_json() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    let mut out = Vec::new();
    for case in std::fs::read_dir(&root).unwrap() {
        let dir = case.unwrap().path().join("expected");
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in files {
            let p = f.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".json")
                && !name.ends_with(".nopl.json")
                && !name.ends_with(".info.json")
            {
                let text = std::fs::read(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out.sort();
    out
}

fn layout_is_fast(text: &[u8]) -> bool {
    let v: serde_json::Value = serde_json::from_slice(text).unwrap();
    let magic = Magic::by_name(v["magic"].as_str().unwrap()).unwrap();
    let kinds = [
        PayloadKind::None,
        PayloadKind::PipeData,
        PayloadKind::SkQueue,
        PayloadKind::BpfMapData,
    ];
    match magic.layout {
        Layout::Pagemap => true,
        Layout::Entries(_, kind) => kinds.contains(&kind),
        _ => false,
    }
}

/// Every plain and pretty JSON of the corpus encodes as the tree path
/// encodes it, and the fast path alone reads all of those whose image
/// kind it handles (so it is really the path taken).
#[test]
fn corpus_json_takes_the_fast_path_and_agrees() {
    let (mut fast, mut total) = (0, 0);
    for (path, text) in corpus_json() {
        let want = tree(&text);
        assert!(want.is_ok(), "{}: {want:?}", path.display());
        agrees(&text);
        total += 1;
        let only = fast_only(&text);
        if layout_is_fast(&text) {
            assert_eq!(only.as_ref(), want.as_ref().ok(), "{}", path.display());
            for read in [3, 200] {
                let s = streamed(&text, read);
                assert_eq!(
                    s.as_ref(),
                    want.as_ref().ok(),
                    "{} by {read}",
                    path.display()
                );
            }
            fast += 1;
        } else if let Some(bytes) = only {
            assert_eq!(Ok(bytes), want, "{}", path.display());
        }
    }
    assert!(total > 500 && fast * 10 > total * 8, "{fast} of {total}");
}

/// Hand-written documents at the edges of what the fast path reads.
#[test]
fn edge_cases_agree_with_the_tree_path() {
    let pstree = |entry: &str| format!(r#"{{"magic": "PSTREE", "entries": [{entry}]}}"#);
    let entries = [
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"sid": 1, "pgid": 1, "ppid": 0, "pid": 1}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": []}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [1, 2, 3]}"#,
        r#"{"threads": [4294967295], "pid": 1, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [4294967296]}"#,
        r#"{"pid": "0x10", "ppid": "0o7", "pgid": "1_0", "sid": " 12 "}"#,
        r#"{"pid": "010", "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": -1, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": -0, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": 01, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": 1.0, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": 1e2, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": 18446744073709551616, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": true, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": null, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "pid": 2}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "bogus": 2}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "p\u0069d2": 2}"#,
        r#"{"p\u0069d": 1, "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "extra": "AA=="}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1,}"#,
        r#"{"pid": 1 "ppid": 0, "pgid": 1, "sid": 1}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}, {"pid": 2, "ppid": 1, "pgid": 1, "sid": 1}"#,
        r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}, "x""#,
        "{\"pid\":1,\"ppid\":0,\"pgid\":1,\"sid\":1}",
        "{\r\n\t\"pid\" : 1 ,\n \"ppid\":0,\"pgid\":1,\"sid\":1 }",
    ];
    for e in entries {
        agrees(pstree(e).as_bytes());
    }
    let vma = |v: &str| {
        format!(
            r#"{{"magic": "MM", "entries": [{{"mm_start_code": 1, "mm_end_code": 2, "mm_start_data": 3, "mm_end_data": 4, "mm_start_stack": 5, "mm_start_brk": 6, "mm_brk": 7, "mm_arg_start": 8, "mm_arg_end": 9, "mm_env_start": 10, "mm_env_end": 11, "exe_file_id": 1, "vmas": [{v}]}}]}}"#
        )
    };
    let vmas = [
        r#"{"start": 4096, "end": 8192, "pgoff": 0, "shmid": 0, "prot": 1, "flags": 2, "status": 1, "fd": -1}"#,
        r#"{"start": "0x1000", "end": "0x2000", "pgoff": 0, "shmid": 0, "prot": "PROT_READ | PROT_EXEC", "flags": "MAP_PRIVATE | MAP_ANON", "status": "VMA_AREA_REGULAR", "fd": -9223372036854775808}"#,
        r#"{"fd": 9223372036854775807, "status": 1, "flags": 2, "prot": 1, "shmid": 0, "pgoff": 0, "end": 8192, "start": 4096, "madv": "0x10"}"#,
        r#"{"start": 4096, "end": 8192, "pgoff": 0, "shmid": 0, "prot": 1, "flags": 2, "status": 1, "fd": -9223372036854775809}"#,
        r#"{"start": 4096, "end": 8192, "pgoff": 0, "shmid": 0, "prot": "PROT_NOPE", "flags": 2, "status": 1, "fd": 0}"#,
        r#"{"start": 4096, "end": 8192, "pgoff": 0, "shmid": 0, "prot": 1, "flags": 2, "status": 1, "fd": 0, "fdflags": 4294967296}"#,
    ];
    let many: Vec<String> = (0..40).map(|i| vmas[i % 3].to_string()).collect();
    for v in vmas.iter().copied().chain([many.join(", ").as_str()]) {
        agrees(vma(v).as_bytes());
    }
    let fdinfo = |e: &str| format!(r#"{{"magic": "FDINFO", "entries": [{e}]}}"#);
    for e in [
        r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type": 1, "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type": 2147483648, "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type": "NOPE", "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type": "REG", "type": "REG", "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type":"REG", "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type": "REG" , "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type": "RE", "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type": "REGX", "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "fd": 0, "type": "TIMERFD"}"#,
        r#"{"id": 1, "flags": 0, "type": "INOTIFY", "fd": 0}"#,
        r#"{"id": 1, "flags": 0, "type": "MEMFD", "fd": 4294967296}"#,
        r#"{"id": 1, "flags": 0, "type": "MEMFD", "fd": -1}"#,
        r#"{"id": 1, "flags": 0, "type": "UNIXSK", "fd": 1}, {"id": 2, "flags": 1, "type": "EVENTFD", "fd": 2}, {"id": 3, "flags": 0, "type": "TUNF", "fd": 3}"#,
        r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac\ud83d\ude00 é €"}"#,
        r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "\udc80\udcff"}"#,
        r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "\ud83d"}"#,
        r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "\uef80\uef00"}"#,
        "{\"id\": 1, \"flags\": 0, \"type\": \"REG\", \"fd\": 0, \"xattr_security_selinux\": \"\u{ef80}\u{e000}\"}",
        "{\"id\": 1, \"flags\": 0, \"type\": \"REG\", \"fd\": 0, \"xattr_security_selinux\": \"tab\there\"}",
        r#"{"id": 1, "flags": 0, "type": "REG", "fd": 0, "xattr_security_selinux": "\x"}"#,
    ] {
        agrees(fdinfo(e).as_bytes());
    }
    let sk = |addr: &str| {
        format!(
            r#"{{"magic": "INETSK", "entries": [{{"id": 1, "ino": 2, "family": "INET", "type": "STREAM", "proto": "TCP", "state": 10, "src_port": 80, "dst_port": 0, "flags": 2, "backlog": 5, "src_addr": {addr}, "dst_addr": [0]}}]}}"#
        )
    };
    for a in [
        r#"["127.0.0.1"]"#,
        r#"["::1"]"#,
        r#"["127.0.0.1", 5]"#,
        r#"["1.2.3"]"#,
        r#"[16777343]"#,
        r#"[]"#,
    ] {
        agrees(sk(a).as_bytes());
    }
    let pipe = |e: &str| format!(r#"{{"magic": "PIPES_DATA", "entries": [{e}]}}"#);
    for e in [
        r#"{"pipe_id": 1, "bytes": 3, "extra": "YWJj\n"}"#,
        r#"{"extra": "YWJj\n", "bytes": 3, "pipe_id": 1}"#,
        r#"{"pipe_id": 1, "bytes": 2, "extra": "YWI=\n"}"#,
        r#"{"pipe_id": 1, "bytes": 2, "extra": "YWJ=\n"}"#,
        r#"{"pipe_id": 1, "bytes": 1, "extra": "YQ==\n"}"#,
        r#"{"pipe_id": 1, "bytes": 4, "extra": "YQ==\nYQ==\n"}"#,
        r#"{"pipe_id": 1, "bytes": 6, "extra": "YWJj\nYWJj"}"#,
        r#"{"pipe_id": 1, "bytes": 6, "extra": "YWJjYW\nJj"}"#,
        r#"{"pipe_id": 1, "bytes": 6, "extra": "YWJj\r\nYWJj\n"}"#,
        r#"{"pipe_id": 1, "bytes": 6, "extra": "YWJj YWJj"}"#,
        r#"{"pipe_id": 1, "bytes": 3, "extra": "YW=j\n"}"#,
        r#"{"pipe_id": 1, "bytes": 4, "extra": "YWJj\n"}"#,
        r#"{"pipe_id": 1, "bytes": 0, "extra": ""}"#,
        r#"{"pipe_id": 1, "bytes": 0}"#,
        r#"{"pipe_id": 1, "bytes": 3, "extra": "... <3B>"}"#,
        r#"{"pipe_id": 1, "bytes": 3, "extra": 5}"#,
        r#"{"pipe_id": 1, "bytes": 3, "extra": "YWJj\n", "extra": "YWJj\n"}"#,
        r#"{"pipe_id": 1, "bytes": 3, "extra": "YWJj\u000a"}"#,
        // Lines of 24: an escape sits where a 76-character line would end.
        r#"{"pipe_id": 1, "bytes": 72, "extra": "YWJjYWJjYWJjYWJjYWJjYWJj\nYWJjYWJjYWJjYWJjYWJjYWJj\nYWJjYWJjYWJjYWJjYWJjYWJj\nYWJjYWJjYWJjYWJjYWJjYWJj\n"}"#,
    ] {
        agrees(pipe(e).as_bytes());
    }
    let big =
        crate::json::text::base64_lines(&(0..200_000u32).map(|i| i as u8).collect::<Vec<_>>());
    agrees(
        pipe(&format!(
            r#"{{"pipe_id": 1, "bytes": 200000, "extra": "{}"}}"#,
            big.replace('\n', "\\n")
        ))
        .as_bytes(),
    );
    agrees(
        pipe(&format!(
            r#"{{"pipe_id": 1, "bytes": 200000, "extra": "{}"}}"#,
            big.replace('\n', "")
        ))
        .as_bytes(),
    );
    for doc in [
        r#"{"entries": [], "magic": "PSTREE"}"#,
        r#"{"magic": "PSTREE", "entries": []}"#,
        r#"{"magic": "PSTREE", "entries": [], "x": 1}"#,
        r#"{"magic": "PSTREE", "entries": [] } x"#,
        r#"{"magic": "PS\u0054REE", "entries": []}"#,
        r#"{"magic": "NOPE", "entries": []}"#,
        r#"{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"vaddr": 4096, "nr_pages": 1, "flags": "PE_PRESENT"}]}"#,
        r#"{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"pages_id": 1}]}"#,
        r#"{"magic": "GHOST_FILE", "entries": [{"id": 1, "chunks": true}, {"len": 1, "off": 0, "extra": "YQ=="}]}"#,
        "\u{feff}{\"magic\": \"PSTREE\", \"entries\": []}",
        "",
        "{",
    ] {
        agrees(doc.as_bytes());
    }
    let deep = format!(
        r#"{{"magic": "PSTREE", "entries": [{{"pid": {}1{}}}]}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    agrees(deep.as_bytes());
}

/// Small corpus documents damaged in many ways: the result, bytes or
/// error, is always the tree path's.
#[test]
fn damaged_documents_agree_with_the_tree_path() {
    let picks = [
        "pstree",
        "fdinfo",
        "mm-",
        "core-",
        "pagemap-",
        "pipes-data",
        "inetsk",
        "reg-files",
    ];
    let mut texts: Vec<Vec<u8>> = Vec::new();
    for (path, text) in corpus_json() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if text.len() < 6000 && picks.iter().any(|p| name.starts_with(p)) && texts.len() < 24 {
            texts.push(text);
        }
    }
    assert!(texts.len() >= 12, "{}", texts.len());
    let inserts: &[&[u8]] = &[
        b"\"",
        b",",
        b":",
        b"{",
        b"}",
        b"[",
        b"]",
        b"0",
        b"-",
        b".5",
        b"e",
        b"\\",
        b"x",
        b" ",
        b"\\u00e9",
        b"\\udc80",
        b"99999999999999999999",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for text in &texts {
        for _ in 0..150 {
            let mut t = text.clone();
            let at = next(t.len());
            match next(4) {
                0 => {
                    t.remove(at);
                }
                1 => {
                    let ins = inserts[next(inserts.len())];
                    t.splice(at..at, ins.iter().copied());
                }
                2 if t[at].is_ascii_digit() => t[at] = b"0123456789a-"[next(12)],
                2 => t[at] = b"\"{}[],:0x"[next(9)],
                _ => t.truncate(at),
            }
            agrees(&t);
        }
    }
}

/// `encode_int` writes what `encode_scalar` writes for the tree's value.
#[test]
fn integers_encode_as_in_the_tree() {
    use crate::message::Value;
    let kinds = [
        Kind::Int32,
        Kind::Int64,
        Kind::Uint32,
        Kind::Uint64,
        Kind::Sint32,
        Kind::Sint64,
        Kind::Fixed32,
        Kind::Fixed64,
        Kind::Sfixed32,
        Kind::Sfixed64,
    ];
    let edges: [i128; 12] = [
        0,
        1,
        -1,
        127,
        128,
        i32::MIN as i128,
        i32::MAX as i128,
        u32::MAX as i128,
        i64::MIN as i128,
        i64::MAX as i128,
        u64::MAX as i128,
        -300,
    ];
    for kind in kinds {
        let (lo, hi) = kind.int_range();
        for n in edges.into_iter().filter(|n| (lo..=hi).contains(n)) {
            let v = if kind.is_signed() {
                Value::I64(n as i64)
            } else {
                Value::U64(n as u64)
            };
            let (mut a, mut b) = (Vec::new(), Vec::new());
            encode_int(kind, n, &mut a);
            encode_scalar(kind, &v, &mut b);
            assert_eq!(a, b, "{kind:?} {n}");
        }
    }
}

/// A mapped file brought into view a few bytes at a time, its pages let go
/// of behind the view, encodes as the tree path does: a pipe payload longer
/// than the view (streamed), one that fits the view but is longer than what
/// is looked at for its end, the same with `"extra"` first (which the
/// streaming path gives up on), and a pagemap image's JSON padded past the
/// size from which files are mapped.
#[test]
fn a_mapped_text_in_view_piece_by_piece_agrees() {
    let data: Vec<u8> = (0..3u32 << 19).map(|i| (i * 13 + i / 4093) as u8).collect();
    let b64 = crate::json::text::base64_lines(&data).replace('\n', "\\n");
    let n = data.len();
    let last = format!(
        r#"{{"magic": "PIPES_DATA", "entries": [{{"pipe_id": 7, "bytes": {n}, "extra": "{b64}"}}]}}"#
    );
    let first = format!(
        r#"{{"magic": "PIPES_DATA", "entries": [{{"extra": "{b64}", "pipe_id": 7, "bytes": {n}}}]}}"#
    );
    let pagemap = corpus_json()
        .into_iter()
        .find(|(p, _)| p.to_string_lossy().contains("/pagemap-") && !p.ends_with(".pretty.json"))
        .expect("a pagemap in tests/data")
        .1;
    let path = std::env::temp_dir().join(format!("crit-fs-mapped-{}.json", std::process::id()));
    for (text, streams) in [
        (last.into_bytes(), true),
        (first.into_bytes(), false),
        (pagemap, true),
    ] {
        let want = tree(&text).unwrap();
        let mut padded = text.clone();
        padded.resize(text.len().max(4 << 20) + 10, b' ');
        std::fs::write(&path, &padded).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let m = loop {
            match crate::mapped::map(&f, "test", crate::mapped::Pages::AsRead).unwrap() {
                Some(m) => break m,
                None => std::thread::yield_now(), // other tests hold every slot
            }
        };
        for read in [7, 4096, 100_000, 3 << 20] {
            let mut out = Vec::new();
            let done = encode_with_window(Window::mapped(&m, read), &mut out).unwrap();
            assert!(done || !streams, "read by {read}");
            if done {
                assert_eq!(out, want, "read by {read}");
            }
        }
        assert_eq!(&m[..], &padded[..], "the bytes let go of read the same");
    }
    std::fs::remove_file(&path).unwrap();
}
