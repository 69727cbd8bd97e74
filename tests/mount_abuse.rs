//! The mount against misbehaving clients and hostile files (issue 6): a reader
//! killed mid-read, thousands of opens never closed, a directory of 10,000
//! files, damaged images read through views and hostile JSON saved through
//! them. The daemon must keep serving, answer with the documented errno and
//! keep its memory within the cache budget plus a fixed allowance.
//! Behaviour only: nothing here asserts a duration.

mod mounting;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mounting::*;

const CORE: &str = "core-18604";
const MIB: u64 = 1 << 20;
/// What the daemon may use beyond its cache budget: code, threads' stacks,
/// allocator slack, handles and one request's buffers.
const ALLOWANCE: u64 = 64 * MIB;

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// VmRSS and VmHWM of a process, in bytes.
fn rss_hwm(pid: i32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"));
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Asserts that the daemon's resident and peak memory stay under the cache
/// budget plus the allowance.
fn assert_memory_bounded(m: &Mounted, cache_mb: u64, what: &str) {
    let pid = daemon_pid(&m.dump, &m.mnt);
    let (rss, hwm) = rss_hwm(pid);
    let bound = cache_mb * MIB + ALLOWANCE;
    eprintln!(
        "{what}: daemon VmRSS {} KiB, VmHWM {} KiB",
        rss >> 10,
        hwm >> 10
    );
    assert!(
        rss < bound && hwm < bound,
        "{what}: daemon VmRSS {} MiB, VmHWM {} MiB, bound {} MiB",
        rss / MIB,
        hwm / MIB,
        bound / MIB
    );
}

/// The mount still serves: every view of the original images and the reports
/// read as the CLI prints them.
fn assert_serving(m: &Mounted, images: &[String]) {
    assert!(m.is_mounted(), "the mount is gone");
    for img in images {
        let got = fs::read(m.p(&view_of(img)))
            .unwrap_or_else(|e| panic!("reading {} after the abuse: {e}", view_of(img)));
        assert_eq!(got, decode(&m.d(img), true), "{}", view_of(img));
    }
    for what in ["ps", "fds", "mems", "rss", "sk", "check", "host-check"] {
        let got = fs::read(m.p(&format!("{what}.txt"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&report_text(&m.dump, what)),
            "{what}.txt"
        );
    }
}

/// Writes a pagemap image of `n` entries to `to`, made by our own encoder:
/// its view is a few MiB.
fn big_pagemap(to: &Path, n: usize) {
    let mut text = String::from(r#"{"magic": "PAGEMAP", "entries": [{"pages_id": 1}"#);
    for i in 0..n {
        text.push_str(&format!(
            r#", {{"vaddr": {}, "compat_nr_pages": 0, "flags": 4, "nr_pages": 1}}"#,
            0x7f00_0000_0000u64 + 4096 * i as u64
        ));
    }
    text.push_str("]}");
    let mut child = Command::new(bin())
        .arg("encode")
        .arg("-o")
        .arg(to)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// The read position of descriptor `fd` of process `pid`.
fn fd_pos(pid: u32, fd: u32) -> Option<u64> {
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Runs a python3 `script` that opens `paths`, prints one line and waits for
/// a line on its stdin; returns the process (holding its descriptors) and
/// the line it printed.
fn run_holder(script: &str, paths: &[String]) -> (std::process::Child, String) {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(paths)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (child, line)
}

// ---------------------------------------------------------------- readers

#[test]
fn reader_killed_mid_read() {
    let m = Mounted::new("sleep");
    let images = image_names(&m.dump);
    big_pagemap(&m.d("pagemap-99.img"), 60_000);
    let big = m.p("pagemap-99.json");
    let size = fs::metadata(&big).unwrap().len();
    assert!(size > 4 * MIB, "a large view: {size} bytes");

    // Killed while reading byte by byte, in the middle of the view.
    for round in 0..3 {
        let mut child = Command::new("dd")
            .args(["bs=1", "of=/dev/null", "status=none"])
            .stdin(fs::File::open(&big).unwrap())
            .spawn()
            .unwrap();
        let mut pos = 0;
        for _ in 0..2000 {
            pos = fd_pos(child.id(), 0).unwrap_or(0);
            if pos > 1000 * (round + 1) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(pos > 0 && pos < size, "dd is mid-read at {pos} of {size}");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // Killed while its first read waits for the view to be rendered (no cache).
    let m0 = Mounted::with_args("sleep", &["--cache-mb", "0"]);
    big_pagemap(&m0.d("pagemap-99.img"), 60_000);
    for _ in 0..3 {
        let mut child = Command::new("cat")
            .arg(m0.p("pagemap-99.json"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    for m in [&m, &m0] {
        assert_eq!(
            fs::read(m.p("pagemap-99.json")).unwrap(),
            decode(&m.d("pagemap-99.img"), true)
        );
        assert_serving(m, &images);
    }
}

#[test]
fn thousands_of_opens_never_closed() {
    let cache_mb = 16;
    let m = Mounted::with_args("shell-tree", &["--cache-mb", &cache_mb.to_string()]);
    let images = image_names(&m.dump);
    let mut paths: Vec<String> = images
        .iter()
        .map(|i| m.p(&view_of(i)).to_string_lossy().into_owned())
        .collect();
    paths.push(m.p("ps.txt").to_string_lossy().into_owned());
    paths.push(m.p("pages-1.img").to_string_lossy().into_owned());
    // One process opens views (the same one half the time), reports and a raw
    // file 5,000 times, holds every descriptor, then exits without closing.
    let script = "import os,sys,resource\n\
                  resource.setrlimit(resource.RLIMIT_NOFILE,(10000,10000))\n\
                  ps=sys.argv[1:]\n\
                  fds=[]\n\
                  errs=0\n\
                  for i in range(5000):\n\
                  \x20 p=ps[0] if i%2 else ps[(i//2)%len(ps)]\n\
                  \x20 try: fds.append(os.open(p,os.O_RDONLY))\n\
                  \x20 except OSError: errs+=1\n\
                  print(len(fds),errs,flush=True)\n\
                  sys.stdin.readline()\n\
                  os._exit(0)\n";
    let (mut child, line) = run_holder(script, &paths);
    let counts: Vec<usize> = line
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(counts, [5000, 0], "opened, failed");
    // While they are held: the daemon serves others, within its budget.
    assert_eq!(
        fs::read(m.p("pstree.json")).unwrap(),
        decode(&m.d("pstree.img"), true)
    );
    assert_memory_bounded(&m, cache_mb, "5,000 descriptors held");
    drop(child.stdin.take());
    child.wait().unwrap();
    assert_serving(&m, &images);
    assert_memory_bounded(&m, cache_mb, "after the holder exited");
}

#[test]
fn thousands_of_raw_files_held_open() {
    // The daemon starts with the usual soft limit of descriptors (1024) and a
    // hard limit above 3,000; each open raw file holds one of its descriptors.
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
        0
    );
    assert!(
        hard.rlim_max > 3_500,
        "hard RLIMIT_NOFILE {} too low for this test",
        hard.rlim_max
    );
    let m = Mounted::with_nofile("shell-tree", &[], Some(1024));
    let images = image_names(&m.dump);
    let raw: Vec<String> = fs::read_dir(&m.dump)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pages-"))
        .collect();
    assert!(!raw.is_empty(), "pages-*.img in the case");
    let mut paths: Vec<String> = raw
        .iter()
        .map(|n| m.p(n).to_string_lossy().into_owned())
        .collect();
    paths.push(m.p("README.txt").to_string_lossy().into_owned());
    // One process opens raw files 3,000 times and holds every descriptor.
    let script = "import os,sys,resource\n\
                  resource.setrlimit(resource.RLIMIT_NOFILE,(4000,4000))\n\
                  ps=sys.argv[1:]\n\
                  fds=[]\n\
                  errs={}\n\
                  for i in range(3000):\n\
                  \x20 try: fds.append(os.open(ps[i%len(ps)],os.O_RDONLY))\n\
                  \x20 except OSError as e: errs[e.strerror]=errs.get(e.strerror,0)+1\n\
                  print(len(fds),sum(errs.values()),errs,flush=True)\n\
                  sys.stdin.readline()\n\
                  os._exit(0)\n";
    let (mut child, line) = run_holder(script, &paths);
    let counts: Vec<&str> = line.split_whitespace().take(2).collect();
    assert_eq!(counts, ["3000", "0"], "opened, failed: {line}");
    // While they are held: the daemon serves others, raw files included.
    assert_eq!(
        fs::read(m.p("README.txt")).unwrap(),
        fs::read(m.d("README.txt")).unwrap()
    );
    assert_eq!(
        fs::read(m.p("pstree.json")).unwrap(),
        decode(&m.d("pstree.img"), true)
    );
    drop(child.stdin.take());
    child.wait().unwrap();
    assert_serving(&m, &images);
    assert!(
        m.daemon_log().contains("open file limit raised to"),
        "the daemon logs its limit"
    );
}

#[test]
fn directory_of_10000_files() {
    let cache_mb = 16;
    let m = Mounted::with_args("sleep", &["--cache-mb", &cache_mb.to_string()]);
    let images = image_names(&m.dump);
    let fdinfo = fs::read(m.d("fdinfo-2.img")).unwrap();
    let fs_img = fs::read(m.d(&format!("fs-{}.img", &CORE[5..]))).unwrap();
    for i in 0..10_000 {
        let (name, data) = match i % 10 {
            0 => (format!("fdinfo-{}.img", 100 + i), fdinfo.clone()),
            1 => (format!("copy-{i}.img"), fs_img.clone()),
            _ => (format!("file-{i}.txt"), format!("{i}\n").into_bytes()),
        };
        fs::write(m.d(&name), data).unwrap();
    }
    let mut want: Vec<String> = fs::read_dir(&m.dump)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    want.extend(image_names(&m.dump).iter().map(|i| view_of(i)));
    want.extend(
        ["ps", "fds", "mems", "rss", "sk", "check", "host-check"].map(|w| format!("{w}.txt")),
    );
    // The dump has a process tree: the mount shows proc/.
    want.push("proc".into());
    want.sort();
    assert!(want.len() > 12_000);

    let out = Command::new("ls").arg("-l").arg(&m.mnt).output().unwrap();
    assert!(
        out.status.success(),
        "ls -l: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    let mut got: Vec<String> = listing
        .lines()
        .skip(1) // total
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "ls -l lists every file, view and report");

    for i in (0..10_000).step_by(997) {
        let (view, img) = match i % 10 {
            0 => (
                format!("fdinfo-{}.json", 100 + i),
                format!("fdinfo-{}.img", 100 + i),
            ),
            _ => (
                format!("copy-{}.json", i - i % 10 + 1),
                format!("copy-{}.img", i - i % 10 + 1),
            ),
        };
        assert_eq!(
            fs::read(m.p(&view)).unwrap(),
            decode(&m.d(&img), true),
            "{view}"
        );
        assert_eq!(
            fs::read(m.p(&format!("file-{}.txt", i - i % 10 + 2))).unwrap(),
            format!("{}\n", i - i % 10 + 2).into_bytes()
        );
    }
    assert_memory_bounded(&m, cache_mb, "10,000 files listed");
    for img in &images {
        assert_eq!(
            fs::read(m.p(&view_of(img))).unwrap(),
            decode(&m.d(img), true)
        );
    }
}

// ---------------------------------------------------------------- damaged images

/// xorshift64*: fixed seed, the same inputs every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

/// A sample of the mutations of tests/robustness.rs: truncations, flipped
/// bits, bytes set to extremes, huge entry sizes and huge length varints.
fn mutations(data: &[u8], rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let len = data.len();
    for _ in 0..6 {
        let at = rng.below(len);
        out.push((format!("truncated at {at}"), data[..at].to_vec()));
    }
    for _ in 0..6 {
        let (at, bit) = (8 + rng.below(len - 8), rng.below(8));
        let mut m = data.to_vec();
        m[at] ^= 1 << bit;
        out.push((format!("bit {bit} of byte {at} flipped"), m));
    }
    for b in [0x00, 0xff, 0x80] {
        let at = 8 + rng.below(len - 8);
        let mut m = data.to_vec();
        m[at] = b;
        out.push((format!("byte {at} set to {b:#x}"), m));
    }
    // The first entry size follows the magic (or the two magics).
    let first = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let at = if [
        crit_fs::image::magic::IMG_COMMON,
        crit_fs::image::magic::IMG_SERVICE,
    ]
    .contains(&first)
    {
        8
    } else {
        4
    };
    for v in [0x7fff_ffffu32, 0xffff_ffff, 0x8000_0000, 0x0100_0000] {
        if at + 4 <= len {
            let mut m = data.to_vec();
            m[at..at + 4].copy_from_slice(&v.to_le_bytes());
            out.push((format!("entry size set to {v:#x}"), m));
        }
    }
    let keys: Vec<usize> = (at + 4..len.saturating_sub(6))
        .filter(|&i| data[i] & 7 == 2 && data[i] >> 3 != 0)
        .collect();
    for _ in 0..keys.len().min(3) {
        let at = keys[rng.below(keys.len())] + 1;
        let mut m = data[..at].to_vec();
        m.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        m.extend_from_slice(&data[at + 1..]);
        out.push((format!("length at {at} set huge"), m));
    }
    out
}

/// `crit-fs decode --pretty` of a file: its output, or None when it fails.
fn try_decode(path: &Path) -> Option<Vec<u8>> {
    let out = Command::new(bin())
        .args(["decode", "--pretty", "-i"])
        .arg(path)
        .output()
        .unwrap();
    out.status.success().then_some(out.stdout)
}

#[test]
fn damaged_images_read_through_the_mount() {
    let cache_mb = 16;
    let m = Mounted::with_args("shell-tree", &["--cache-mb", &cache_mb.to_string()]);
    let images = image_names(&m.dump);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut eio, mut valid, mut no_view) = (0, 0, 0);
    for (k, img) in images.iter().enumerate() {
        let data = fs::read(m.d(img)).unwrap();
        if data.len() < 12 {
            continue;
        }
        for (j, (what, bytes)) in mutations(&data, &mut rng).into_iter().enumerate() {
            let name = format!("bad-{k}-{j}-{img}");
            let path = m.d(&name);
            fs::write(&path, &bytes).unwrap();
            let view = m.p(&view_of(&name));
            let has_view = crit_fs::image::read_magic(&bytes).is_ok();
            match fs::read(&view) {
                Ok(text) => {
                    assert!(has_view, "{img} {what}: a view without a magic");
                    let cli = try_decode(&path);
                    assert_eq!(
                        Some(text),
                        cli,
                        "{img} {what}: the view is what decode --pretty prints"
                    );
                    valid += 1;
                }
                Err(e) if !has_view => {
                    assert_eq!(errno_of(&e), libc::ENOENT, "{img} {what}: {e}");
                    no_view += 1;
                }
                Err(e) => {
                    assert_eq!(errno_of(&e), libc::EIO, "{img} {what}: {e}");
                    assert_eq!(try_decode(&path), None, "{img} {what}: the CLI decodes it");
                    eio += 1;
                }
            }
            fs::remove_file(&path).unwrap();
        }
    }
    eprintln!("damaged views: {eio} EIO, {valid} valid, {no_view} without a view");
    assert!(eio > 100 && valid > 10, "{eio} EIO, {valid} valid");
    assert_memory_bounded(&m, cache_mb, "damaged images read");
    assert_serving(&m, &images);
}

// ---------------------------------------------------------------- hostile JSON

#[test]
fn hostile_json_saved_through_the_mount() {
    let m = Mounted::new("sleep");
    let images = image_names(&m.dump);
    let entry = r#"{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}"#;
    let pstree = |entries: &str| format!(r#"{{"magic": "PSTREE", "entries": [{entries}]}}"#);
    let mut invalid_utf8 = pstree(entry).into_bytes();
    invalid_utf8.extend_from_slice(b"\xff\xfe\xc0\x80");
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        (
            "deep array".into(),
            ("[".repeat(100_000) + &"]".repeat(100_000)).into_bytes(),
        ),
        (
            "deep object".into(),
            (r#"{"a": "#.repeat(50_000) + "1" + &"}".repeat(50_000)).into_bytes(),
        ),
        (
            "deep array in entries".into(),
            pstree(&("[".repeat(10_000) + &"]".repeat(10_000))).into_bytes(),
        ),
        (
            "16 MiB string for a number".into(),
            pstree(&format!(
                r#"{{"pid": "{}", "ppid": 0, "pgid": 1, "sid": 1}}"#,
                "9".repeat(16 << 20)
            ))
            .into_bytes(),
        ),
        (
            "16 MiB key".into(),
            pstree(&format!(
                r#"{{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "{}": 1}}"#,
                "k".repeat(16 << 20)
            ))
            .into_bytes(),
        ),
        ("invalid UTF-8 after the JSON".into(), invalid_utf8),
        (
            "invalid UTF-8 in a string".into(),
            b"{\"magic\": \"PSTREE\xff\", \"entries\": []}".to_vec(),
        ),
        (
            "duplicate magic".into(),
            br#"{"magic": "PSTREE", "magic": "FS", "entries": []}"#.to_vec(),
        ),
        (
            "duplicate field".into(),
            pstree(r#"{"pid": 1, "pid": 2, "ppid": 0, "pgid": 1, "sid": 1}"#).into_bytes(),
        ),
    ];
    for n in [
        "1e400",
        "-1e400",
        "4294967296",
        "18446744073709551616",
        "-9223372036854775809",
        &"9".repeat(100_000),
        "1.5",
        "NaN",
    ] {
        cases.push((
            format!("number {}", &n[..n.len().min(24)]),
            pstree(&format!(
                r#"{{"pid": {n}, "ppid": 0, "pgid": 1, "sid": 1}}"#
            ))
            .into_bytes(),
        ));
    }
    let before = snapshot(&m.dump);
    let pid = daemon_pid(&m.dump, &m.mnt);
    for (what, text) in &cases {
        // VmHWM set back to VmRSS, to see the peak of this save alone.
        fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
        let (rss_before, _) = rss_hwm(pid);
        assert_eq!(
            write_and_close(&m.p("pstree.json"), text),
            libc::EINVAL,
            "{what}: close(2) of the save"
        );
        // A rejected save costs the daemon a small multiple of its text (the
        // writer's buffer, the parser's copies of a huge string or key), not a
        // tree of the whole text, nor whole reasons quoting a huge key (about
        // 7x before). A huge string value still costs the strict parser's
        // scratch and copy: up to 8x.
        let factor = if what.contains("key") { 5 } else { 8 };
        let (_, hwm) = rss_hwm(pid);
        let grown = hwm.saturating_sub(rss_before);
        eprintln!("{what}: the daemon's peak grew by {} KiB", grown >> 10);
        assert!(
            grown < factor * text.len() as u64 + 4 * MIB,
            "{what}: the daemon's peak grew by {} MiB for a text of {} MiB",
            grown / MIB,
            text.len() as u64 / MIB
        );
        assert!(
            m.p("pstree.json.err").exists(),
            "{what}: the reason is in pstree.json.err"
        );
        assert_eq!(snapshot(&m.dump), before, "{what}: the dump is untouched");
        assert!(m.is_mounted(), "{what}: the mount is gone");
        let err = fs::read_to_string(m.p("pstree.json.err")).unwrap();
        assert!(
            err.len() < 4200 && err.lines().count() == 1 && err.starts_with("pstree.json: "),
            "{what}: a short reason of one line in pstree.json.err, not {} bytes",
            err.len()
        );
    }
    // A valid save of a 16 MiB file name goes through, and reads back as decode prints it.
    let files = fs::read_to_string(m.p("files.json")).unwrap();
    let name = format!("/{}", "x".repeat(16 << 20));
    let edited = replace_once(&files, "\"/usr/bin/sleep\"", &format!("\"{name}\""));
    assert_eq!(write_and_close(&m.p("files.json"), edited.as_bytes()), 0);
    assert_eq!(
        fs::read(m.p("files.json")).unwrap(),
        decode(&m.d("files.img"), true)
    );
    assert!(
        String::from_utf8(decode(&m.d("files.img"), false))
            .unwrap()
            .contains(&name)
    );
    // Reasons are cut in the log as in the .err file (the log is at debug level).
    let log_len = fs::metadata(&m.log).unwrap().len();
    assert!(log_len < MIB, "the log holds {log_len} bytes");
    assert_memory_bounded(&m, 256, "after the hostile saves");
    assert_serving(&m, &images);
}
