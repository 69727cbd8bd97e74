//! Hostile input: every corpus image truncated, bit- and byte-flipped and
//! with size fields set to huge values, and hostile JSON for encode. Decode,
//! info and show --nopl must end in a clean error or a valid result: no panic,
//! no hang, and memory bounded by a small multiple of the input.
//!
//! Offsets and positions are sampled with a fixed seed, so every run checks the
//! same inputs; the whole file runs in well under a minute in release mode.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crit_fs::codec::{self, Options};
use crit_fs::image::{Image, magic};
use crit_fs::message::{Message, Value};
use crit_fs::schema::{Kind, Schema};

mod common;

// ---------------------------------------------------------------------------
// A global allocator that counts, per thread, the bytes live and their peak.

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get() + n;
        live.set(v);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(v)));
    });
}

fn shrank(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are const-initialised thread-locals that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`; returns its result and the most bytes it had allocated at once.
fn peak_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    (r, PEAK.with(Cell::get) - base)
}

// ---------------------------------------------------------------------------
// Inputs.

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus")
}

/// Every image of the corpus that is a protobuf image or small raw data.
fn corpus_images() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut cases: Vec<_> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    for case in cases {
        let mut files: Vec<_> = std::fs::read_dir(&case)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                p.is_file() && (n.ends_with(".img") || n.starts_with("stats-"))
            })
            .collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            if data.len() > 64 << 10 {
                continue; // raw page data: fails at the magic, like its small siblings
            }
            let name = format!(
                "{}/{}",
                case.file_name().unwrap().to_string_lossy(),
                f.file_name().unwrap().to_string_lossy()
            );
            out.push((name, data));
        }
    }
    assert!(out.len() > 100, "corpus not found");
    out
}

/// xorshift64*: a fixed-seed generator, so that every run checks the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Sampled offsets in 0..len: all of them for short inputs, else the first
/// and last 16 plus `n` random ones.
fn offsets(rng: &mut Rng, len: usize, n: usize) -> Vec<usize> {
    if len <= 16 + 16 + n {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..16).chain(len - 16..len).collect();
    v.extend((0..n).map(|_| rng.below(len)));
    v
}

/// Offsets of the 32-bit entry sizes, following the framing from the magic.
fn size_fields(data: &[u8]) -> Vec<usize> {
    // CRIU's "common" and "service" headers put the image's magic at 4..8.
    let first = data
        .get(0..4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let mut at = match first {
        Some(magic::IMG_COMMON | magic::IMG_SERVICE) => 8,
        _ => 4,
    };
    let mut out = Vec::new();
    while at + 4 <= data.len() && out.len() < 32 {
        out.push(at);
        let size = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + size; // payloads after messages make later offsets approximate
    }
    out
}

/// Every mutation of an image this test checks, with a description.
fn mutations(data: &[u8], rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for at in offsets(rng, data.len(), 24) {
        out.push((format!("truncated at {at}"), data[..at].to_vec()));
    }
    for at in offsets(rng, data.len(), 48) {
        let bit = rng.below(8);
        let mut m = data.to_vec();
        m[at] ^= 1 << bit;
        out.push((format!("bit {bit} of byte {at} flipped"), m));
    }
    for at in offsets(rng, data.len(), 24) {
        for b in [0x00, 0xff, 0x80, rng.next() as u8] {
            let mut m = data.to_vec();
            m[at] = b;
            out.push((format!("byte {at} set to {b:#x}"), m));
        }
    }
    for at in size_fields(data) {
        for v in [0x7fff_ffffu32, 0xffff_ffff, 0x8000_0000, 0x0100_0000, 0] {
            let mut m = data.to_vec();
            m[at..at + 4].copy_from_slice(&v.to_le_bytes());
            out.push((format!("entry size at {at} set to {v:#x}"), m));
        }
    }
    // Length varints inside messages: wherever a byte could be a
    // length-delimited key, make the next bytes a huge length.
    let keys: Vec<usize> = (0..data.len().saturating_sub(6))
        .filter(|&i| data[i] & 7 == 2 && data[i] >> 3 != 0)
        .collect();
    for _ in 0..keys.len().min(16) {
        let at = keys[rng.below(keys.len())] + 1;
        for huge in [&[0xff, 0xff, 0xff, 0xff, 0x07][..], &[0xff; 10][..]] {
            let mut m = data[..at].to_vec();
            m.extend_from_slice(huge);
            m.extend_from_slice(&data[at + 1..]);
            out.push((format!("length at {at} set to {huge:x?}"), m));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Checks.

/// Most bytes a library call may allocate at once for an input of `len` bytes.
fn budget(len: usize) -> usize {
    64 * len + (1 << 20)
}

const HANG: Duration = Duration::from_secs(10);

/// A library entry point under test: whether it succeeded.
type Call = dyn Fn(&[u8]) -> bool;

/// Runs every library entry point on `data`; panics describing the input on a
/// panic, a hang or an allocation beyond the budget. Returns the peak ratio.
fn check_image(what: &str, data: &[u8]) -> f64 {
    let mut worst = 0f64;
    let calls: [(&str, &Call); 4] = [
        ("decode", &|d| {
            codec::decode_to_json(d, Options::default()).is_ok()
        }),
        ("decode --pretty", &|d| {
            codec::decode_to_json(
                d,
                Options {
                    pretty: true,
                    no_payload: false,
                },
            )
            .is_ok()
        }),
        ("show --nopl", &|d| {
            codec::decode_to_json(
                d,
                Options {
                    pretty: true,
                    no_payload: true,
                },
            )
            .is_ok()
        }),
        ("info", &|d| codec::info_json(d).is_ok()),
    ];
    for (name, call) in calls {
        let t0 = Instant::now();
        let (r, peak) = peak_alloc(|| catch_unwind(AssertUnwindSafe(|| call(data))));
        let took = t0.elapsed();
        if r.is_err() {
            panic!("{name} panicked on {what}");
        }
        assert!(took < HANG, "{name} took {took:?} on {what}");
        assert!(
            peak <= budget(data.len()),
            "{name} allocated {peak} bytes at once for {} input bytes on {what}",
            data.len()
        );
        worst = worst.max(peak as f64 / data.len().max(1) as f64);
    }
    worst
}

fn check_encode(what: &str, text: &[u8]) -> bool {
    let t0 = Instant::now();
    let (r, peak) = peak_alloc(|| catch_unwind(AssertUnwindSafe(|| codec::encode_from_json(text))));
    let took = t0.elapsed();
    let Ok(r) = r else {
        panic!("encode panicked on {what}");
    };
    assert!(took < HANG, "encode took {took:?} on {what}");
    // serde_json's tree of small objects costs more per byte than an image.
    assert!(
        peak <= 256 * text.len() + (1 << 20),
        "encode allocated {peak} bytes at once for {} input bytes on {what}",
        text.len()
    );
    if let Ok(img) = &r {
        // What encodes must decode.
        assert!(
            codec::decode_to_json(img, Options::default()).is_ok(),
            "encode of {what} gave an image that does not decode"
        );
    }
    r.is_ok()
}

#[test]
fn mutated_images_fail_cleanly() {
    // Library panics are caught and reported with their input; keep the
    // default hook's backtrace noise out of the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(0x6c72_6974_2d66_7321);
    let (mut inputs, mut ok, mut worst) = (0usize, 0usize, 0f64);
    let mut failure = None;
    for (name, data) in corpus_images() {
        for (how, m) in mutations(&data, &mut rng) {
            let what = format!("{name} {how}");
            match catch_unwind(AssertUnwindSafe(|| check_image(&what, &m))) {
                Ok(w) => worst = worst.max(w),
                Err(e) => {
                    failure = Some((what, m, e));
                    break;
                }
            }
            inputs += 1;
            ok += usize::from(codec::decode_to_json(&m, Options::default()).is_ok());
        }
        if failure.is_some() {
            break;
        }
    }
    std::panic::set_hook(hook);
    if let Some((what, m, e)) = failure {
        let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("robustness-failure.img");
        std::fs::write(&keep, &m).unwrap();
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| what.clone());
        panic!("{msg} (input kept in {})", keep.display());
    }
    eprintln!(
        "{inputs} mutated images: {ok} still decode, the rest fail cleanly; \
         worst peak allocation {worst:.1}x the input"
    );
}

/// Decode renders regular messages straight from their wire bytes and the
/// rest through the message tree (src/wire.rs): on every mutated image both
/// must give the tree's JSON or its exact error, and `info` the same error.
#[test]
fn wire_path_matches_the_tree_on_mutated_images() {
    use crit_fs::image::{Image, ImageError};
    use crit_fs::json::image::{decode_image_to_json, image_to_json};
    let mut rng = Rng(0x7769_7265_2d70_6174);
    let mut inputs = 0usize;
    for (name, data) in corpus_images() {
        let mut all = mutations(&data, &mut rng);
        all.push(("unchanged".into(), data.clone()));
        for (how, m) in all {
            let tree = Image::decode(&m);
            for opts in [
                Options::default(),
                Options {
                    pretty: true,
                    no_payload: false,
                },
                Options {
                    pretty: true,
                    no_payload: true,
                },
            ] {
                let want = match &tree {
                    Ok(img) => Ok(image_to_json(img, opts)),
                    Err(e) => Err(e.clone()),
                };
                let got = decode_image_to_json(&m, opts);
                if got != want {
                    let text = |r: &Result<Vec<u8>, ImageError>| match r {
                        Ok(j) => String::from_utf8_lossy(j).into_owned(),
                        Err(e) => format!("error {e}"),
                    };
                    panic!(
                        "{name} {how} {opts:?}: wire path {:?}, tree {:?}",
                        text(&got),
                        text(&want)
                    );
                }
            }
            assert_eq!(
                Image::count(&m).err(),
                tree.as_ref().err().cloned(),
                "{name} {how}: info"
            );
            inputs += 1;
        }
    }
    eprintln!("{inputs} images: the wire path matches the tree");
}

#[test]
fn binary_exits_1_on_mutated_images() {
    let bin = env!("CARGO_BIN_EXE_crit-fs");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("robustness-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(7);
    let images = corpus_images();
    let picks = [
        "sleep/mm-",
        "shell-tree/pipes-data",
        "tcp/tcp-stream",
        "ipc-ns/ipcns-msg",
    ];
    for pick in picks {
        let Some((name, data)) = images.iter().find(|(n, _)| n.starts_with(pick)) else {
            continue;
        };
        let all = mutations(data, &mut rng);
        for (how, m) in all.iter().step_by(all.len() / 6 + 1) {
            let f = dir.join("m.img");
            std::fs::write(&f, m).unwrap();
            for args in [
                &["decode", "-i"][..],
                &["decode", "--pretty", "-i"],
                &["show", "--nopl"],
                &["info"],
            ] {
                let out = Command::new(bin).args(args).arg(&f).output().unwrap();
                let err = String::from_utf8_lossy(&out.stderr);
                let code = out.status.code();
                assert!(
                    code == Some(0) || code == Some(1),
                    "{args:?} on {name} {how}: exit {code:?}, stderr {err}"
                );
                assert!(!err.contains("panicked"), "{args:?} on {name} {how}: {err}");
                if code == Some(1) {
                    assert!(
                        !err.trim().is_empty(),
                        "{args:?} on {name} {how}: no message"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Hostile JSON.

fn image_json(entries: &str) -> Vec<u8> {
    format!(r#"{{"magic": "PSTREE", "entries": [{entries}]}}"#).into_bytes()
}

/// A files image with one regular file whose name is the JSON text `name`.
fn files_json(name: &[u8]) -> Vec<u8> {
    let mut out = br#"{"magic": "FILES", "entries": [{"type": "REG", "id": 1, "reg": {"id": 1, "flags": 0, "pos": 0, "fown": {"uid": 0, "euid": 0, "signum": 0, "pid_type": 0, "pid": 0}, "name": "#.to_vec();
    out.extend_from_slice(name);
    out.extend_from_slice(b"}}]}");
    out
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Error,
    Valid,
    /// Duplicate keys: an error, or the last one wins.
    Either,
}

#[test]
fn hostile_json_fails_cleanly() {
    use Expect::*;
    let deep_array = "[".repeat(100_000) + &"]".repeat(100_000);
    let deep_object = r#"{"a": "#.repeat(50_000) + "1" + &"}".repeat(50_000);
    let deep_in_entries = image_json(&("[".repeat(10_000) + &"]".repeat(10_000)));
    let huge_string = format!("\"{}\"", "x".repeat(16 << 20));
    let huge_base64 = format!(
        r#"{{"magic": "PIPES_DATA", "entries": [{{"pipe_id": 1, "bytes": 1, "extra": "{}"}}]}}"#,
        "A".repeat(8 << 20)
    );
    let many_entries =
        image_json(&vec![r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}"#; 100_000].join(", "));
    let mut invalid_utf8 = image_json(r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}"#);
    invalid_utf8.extend_from_slice(b"\xff\xfe\xc0\x80");

    let mut cases: Vec<(String, Vec<u8>, Expect)> = vec![
        ("deep array".into(), deep_array.into_bytes(), Error),
        ("deep object".into(), deep_object.into_bytes(), Error),
        ("deep array in entries".into(), deep_in_entries, Error),
        (
            "16 MiB string".into(),
            files_json(huge_string.as_bytes()),
            Valid,
        ),
        (
            "8 MiB payload of the wrong length".into(),
            huge_base64.into_bytes(),
            Error,
        ),
        ("100,000 entries".into(), many_entries, Valid),
        ("invalid UTF-8 after the JSON".into(), invalid_utf8, Error),
        (
            "invalid UTF-8 in a string".into(),
            files_json(b"\"a\xffb\""),
            Error,
        ),
        (
            "overlong UTF-8 in a string".into(),
            files_json(b"\"a\xc0\x80b\""),
            Error,
        ),
        (
            "lone surrogate escape".into(),
            files_json(br#""\ud800""#),
            Error,
        ),
        ("empty".into(), Vec::new(), Error),
        ("not JSON".into(), b"\x00\x01\x02".to_vec(), Error),
        ("top-level list".into(), b"[]".to_vec(), Error),
        (
            "duplicate magic".into(),
            br#"{"magic": "PSTREE", "magic": "FS", "entries": []}"#.to_vec(),
            Either,
        ),
        (
            "duplicate entries".into(),
            br#"{"magic": "PSTREE", "entries": [], "entries": []}"#.to_vec(),
            Either,
        ),
        (
            "duplicate field".into(),
            image_json(r#"{"pid": 1, "pid": 2, "ppid": 0, "pgid": 1, "sid": 1}"#),
            Either,
        ),
    ];
    for n in [
        "1e400",
        "-1e400",
        "1e19",
        "4294967296",
        "18446744073709551616",
        "-9223372036854775809",
        "99999999999999999999999999999999999999999",
        "1.5",
        "0.0",
        "NaN",
        "Infinity",
        r#""0xffffffffffffffffffffffff""#,
        r#""-0x8000000000000001""#,
        r#""1e3""#,
        r#""""#,
        r#""0x""#,
        r#""--1""#,
        "null",
        "true",
        "[]",
        "{}",
    ] {
        let text = image_json(&format!(
            r#"{{"pid": {n}, "ppid": 0, "pgid": 1, "sid": 1}}"#
        ));
        cases.push((format!("pid {n}"), text, Error));
    }
    for n in [
        "1e400",
        "18446744073709551616",
        r#""0x10000000000000000""#,
        "-1",
    ] {
        let text = format!(
            r#"{{"magic": "PAGEMAP", "entries": [{{"pages_id": 1}}, {{"vaddr": {n}, "nr_pages": 1}}]}}"#
        );
        cases.push((format!("uint64 vaddr {n}"), text.into_bytes(), Error));
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let results: Vec<_> = cases
        .iter()
        .map(|(what, text, _)| catch_unwind(AssertUnwindSafe(|| check_encode(what, text))))
        .collect();
    std::panic::set_hook(hook);
    for ((what, _, expect), r) in cases.iter().zip(results) {
        match r {
            Ok(ok) => match expect {
                Error => assert!(!ok, "{what}: encoded without error"),
                Valid => assert!(ok, "{what}: refused"),
                Either => {}
            },
            Err(e) => {
                let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
                panic!("{what}: {msg}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Mutated dumps: `check` and every explorer over a copy of a corpus dump in
// which one image is damaged.

/// Most bytes `check` or an explorer may allocate at once over a dump whose
/// images (pages images aside, which are only measured) hold `len` bytes.
fn dump_budget(len: usize) -> usize {
    64 * len + (1 << 20)
}

/// Bytes of the files of `dir` that `check` and the explorers decode.
fn decoded_bytes(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with("pages-"))
        .map(|e| e.metadata().unwrap().len() as usize)
        .sum()
}

/// Runs `check` and every explorer (text and JSON) over `dir`; panics
/// describing the input on a panic, a hang or an allocation beyond the
/// budget. Returns the peak allocation, how many calls succeeded, and how
/// many there were.
fn check_dump(what: &str, dir: &Path) -> (usize, usize, usize) {
    let budget = dump_budget(decoded_bytes(dir));
    let mut calls: Vec<(String, Box<dyn Fn() -> bool + '_>)> = Vec::new();
    calls.push((
        "check".into(),
        Box::new(|| {
            crit_fs::check::check(dir).is_ok_and(|r| {
                let _ = (r.text(), r.json());
                true
            })
        }),
    ));
    for x in crit_fs::explore::EXPLORERS {
        for json in [false, true] {
            calls.push((
                format!("x {x}{}", if json { " --json" } else { "" }),
                Box::new(move || crit_fs::explore::render(dir, x, json).is_ok()),
            ));
        }
    }
    let (mut worst, mut ok, n) = (0, 0, calls.len());
    for (name, call) in calls {
        let t0 = Instant::now();
        let (r, peak) = peak_alloc(|| catch_unwind(AssertUnwindSafe(&call)));
        let took = t0.elapsed();
        let Ok(r) = r else {
            panic!("{name} panicked on {what}");
        };
        assert!(took < HANG, "{name} took {took:?} on {what}");
        assert!(
            peak <= budget,
            "{name} allocated {peak} bytes at once on {what} (budget {budget})"
        );
        worst = worst.max(peak);
        ok += usize::from(r);
    }
    (worst, ok, n)
}

/// The magic number of an image (after a common/service header), if any.
fn magic_of(data: &[u8]) -> Option<u32> {
    let word = |at: usize| {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    match word(0)? {
        magic::IMG_COMMON | magic::IMG_SERVICE => word(4),
        m => Some(m),
    }
}

/// Integer fields that place, size or name things across images.
const HUGE_FIELDS: &[&str] = &[
    "vaddr",
    "nr_pages",
    "compat_nr_pages",
    "start",
    "end",
    "pgoff",
    "shmid",
    "pid",
    "ppid",
    "pgid",
    "sid",
    "threads",
    "fd",
    "id",
    "files_id",
    "exe_file_id",
    "cwd_id",
    "root_id",
    "pages_id",
    "ino",
    "peer",
    "id_for",
    "inq_len",
    "outq_len",
];

/// The largest value of an integer field's type.
fn max_of(kind: Kind) -> Option<Value> {
    match kind {
        Kind::Uint32 | Kind::Fixed32 => Some(Value::U64(u32::MAX.into())),
        Kind::Uint64 | Kind::Fixed64 => Some(Value::U64(u64::MAX)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Some(Value::I64(i32::MAX.into())),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Some(Value::I64(i64::MAX)),
        _ => None,
    }
}

/// Sets every [`HUGE_FIELDS`] field of `m` and its nested messages to its
/// type's largest value; whether there was one.
fn maximize(m: &mut Message, depth: usize) -> bool {
    let plan = Schema::get().message(m.msg_type);
    let mut changed = false;
    for fv in &mut m.fields {
        let field = &plan.fields[fv.field];
        let max = HUGE_FIELDS
            .contains(&field.name)
            .then(|| max_of(field.kind))
            .flatten();
        for v in &mut fv.values {
            if let Some(max) = &max {
                *v = max.clone();
                changed = true;
            } else if let Value::Msg(sub) = v
                && depth < 8
            {
                changed |= maximize(sub, depth + 1);
            }
        }
    }
    changed
}

/// The image with every id, address and count at its type's largest value
/// (a valid image that sizes things hugely), if it decodes and has any.
fn with_huge_values(data: &[u8]) -> Option<Vec<u8>> {
    let mut img = Image::decode(data).ok()?;
    let mut changed = false;
    for e in &mut img.entries {
        changed |= maximize(&mut e.msg, 0);
    }
    if changed { img.encode().ok() } else { None }
}

/// An image of a dump (by name) and the bytes that replace it.
type Replaced = (String, Vec<u8>);

#[test]
fn mutated_dumps_fail_cleanly() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    // The schema is built once per process: not part of any one call.
    crit_fs::schema::Schema::get();
    let mut rng = Rng(0x6475_6d70_2d66_7321);
    let (mut runs, mut calls_ok, mut calls, mut worst) = (0usize, 0usize, 0usize, 0f64);
    let mut failure = None;
    'cases: for case in common::cases() {
        let case_name = case.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = common::copy_case(&case_name);
        let dir = tmp.path();
        let mut images: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".img") && !n.starts_with("pages-"))
            .map(|n| {
                let data = std::fs::read(dir.join(&n)).unwrap();
                (n, data)
            })
            .collect();
        images.sort();
        let total = decoded_bytes(dir).max(1);
        // The undamaged dump first, then a sample of damaged ones: each image
        // of the dump with mutations picked at random from those of the image
        // test (one truncation or flipped byte, one huge size or length
        // field), with its ids, addresses and counts at their largest and,
        // for about half of them, replaced by an image of another kind.
        let mut inputs: Vec<(String, Option<Replaced>)> = vec![("intact".into(), None)];
        for (name, data) in &images {
            let all = mutations(data, &mut rng);
            // One truncation or flipped byte, one huge size or length field.
            let (cut_or_flip, sizes): (Vec<_>, Vec<_>) = all
                .iter()
                .partition(|(how, _)| !how.starts_with("entry size") && !how.starts_with("length"));
            for pick in [cut_or_flip, sizes] {
                if !pick.is_empty() {
                    let (how, m) = pick[rng.below(pick.len())];
                    inputs.push((format!("{name} {how}"), Some((name.clone(), m.clone()))));
                }
            }
            if let Some(m) = with_huge_values(data) {
                inputs.push((
                    format!("{name} with huge ids, addresses and counts"),
                    Some((name.clone(), m)),
                ));
            }
            let others: Vec<&(String, Vec<u8>)> = images
                .iter()
                .filter(|(_, d)| magic_of(d) != magic_of(data))
                .collect();
            if !others.is_empty() && rng.below(2) == 0 {
                let (other, d) = others[rng.below(others.len())];
                inputs.push((
                    format!("{name} replaced by {other}"),
                    Some((name.clone(), d.clone())),
                ));
            }
        }
        for (how, change) in inputs {
            let what = format!("{case_name}: {how}");
            if let Some((name, bytes)) = &change {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
            match catch_unwind(AssertUnwindSafe(|| check_dump(&what, dir))) {
                Ok((peak, ok, n)) => {
                    worst = worst.max(peak as f64 / total as f64);
                    calls_ok += ok;
                    calls += n;
                }
                Err(e) => {
                    failure = Some((what, change, e));
                    break 'cases;
                }
            }
            runs += 1;
            if let Some((name, _)) = &change {
                let good = &images.iter().find(|(n, _)| n == name).unwrap().1;
                std::fs::write(dir.join(name), good).unwrap();
            }
        }
    }
    std::panic::set_hook(hook);
    if let Some((what, change, e)) = failure {
        let mut msg = e
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| what.clone());
        if let Some((name, bytes)) = change {
            let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&name);
            std::fs::write(&keep, bytes).unwrap();
            msg.push_str(&format!(" (the damaged {name} kept in {})", keep.display()));
        }
        panic!("{msg}");
    }
    eprintln!(
        "{runs} dumps with a damaged image: {calls_ok} of {calls} runs of check and the \
         explorers answered, the rest failed cleanly; worst peak allocation {worst:.1}x \
         the dump's decoded images"
    );
}
