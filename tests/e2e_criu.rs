//! End to end with a real CRIU 4.x (see tests/criu/mod.rs for how it is
//! found; without one every test prints `skipped: ...` and returns): small
//! programs compiled here are dumped, their dumps edited through the mount,
//! restored with `criu restore`, and the live processes checked in /proc.
//! Every dump made here is also proved to round-trip: each image decodes and
//! encodes back to its own bytes, and is replaced through the mount by the
//! mount's own encoding of its view before the dump is restored.

mod criu;
mod mounting;

use std::fs;
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use criu::*;
use mounting::*;
use serde_json::Value;

/// Opens each file named after the first argument on fds 3, 4, ... in
/// order, then announces itself by renaming `READY.tmp` to READY (its first
/// argument) and waits for signals forever.
const HOLDER_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    for (int fd = 3; fd < 1024; fd++) close(fd); /* nothing inherited */
    for (int i = 2; i < argc; i++)
        if (open(argv[i], O_RDONLY) != i + 1) return 2;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    int r = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (r < 0 || dprintf(r, "%d\n", getpid()) < 0 || close(r)) return 3;
    if (rename(tmp, argv[1])) return 4;
    for (;;) pause();
}
"#;

/// The name the holder runs under (its comm).
const HOLDER: &str = "e2e-holder";

/// One test's directory: `bin/` (programs), `files/` (what they open),
/// `dump/` and the CRIU logs.
struct Case {
    tmp: TempDir,
}

impl Case {
    fn new(tag: &str) -> Case {
        let tmp = TempDir::new(tag);
        for d in ["bin", "files", "dump"] {
            fs::create_dir(tmp.0.join(d)).unwrap();
        }
        Case { tmp }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.tmp.0.join(rel)
    }

    fn dump(&self) -> PathBuf {
        self.p("dump")
    }

    /// A file under `files/` holding `text`.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.p("files").join(name);
        fs::write(&p, text).unwrap();
        p
    }

    /// Starts the holder with `files` open on fds 3, 4, ...
    fn start_holder(&self, files: &[&Path]) -> Running {
        let src = self.p("bin/holder.c");
        fs::write(&src, HOLDER_C).unwrap();
        let exe = compile(&src, &self.p("bin"), HOLDER);
        let ready = self.p("files/ready");
        let mut cmd = Command::new(exe);
        cmd.arg(&ready).args(files);
        Running::start(cmd, &ready)
    }

    /// Dumps `running` into `dump/`, then proves every image round-trips
    /// through the CLI and that `check` finds nothing wrong.
    fn dump_it(&self, criu: &Criu, running: Running) {
        running.dump(criu, &self.dump(), &self.p("dump.log"));
        check_finds_no_error(&self.dump());
        cli_roundtrip(&self.dump(), &self.p("reencoded"));
    }

    fn mount(&self) -> Mounted {
        let dump = self.dump();
        Mounted::with_dump("e2e", |_| (dump, Vec::new()))
    }

    /// `crit-fs check` first: a dump CRIU restores must not be reported as
    /// one that will not.
    fn restore(&self, criu: &Criu) -> Restored {
        check_finds_no_error(&self.dump());
        Restored::new(criu, &self.dump(), &self.p("restore.log"), &self.p("files"))
    }
}

/// `crit-fs check --json DIR` reports no error.
fn check_finds_no_error(dump: &Path) {
    let o = Command::new(bin())
        .args(["check", "--json"])
        .arg(dump)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("check --json: {e}: {}", String::from_utf8_lossy(&o.stderr));
    });
    assert_eq!(
        report["errors"],
        0,
        "check of {}: {report:#}",
        dump.display()
    );
}

/// The one core image of a one-process dump.
fn core_name(dump: &Path) -> String {
    let cores: Vec<String> = image_names(dump)
        .into_iter()
        .filter(|n| n.starts_with("core-"))
        .collect();
    assert_eq!(cores.len(), 1, "{cores:?}");
    cores.into_iter().next().unwrap()
}

/// Every image of `dump`: `crit-fs decode` then `crit-fs encode` gives its
/// bytes back. The encoded files are left in `out/` under the image's name.
fn cli_roundtrip(dump: &Path, out: &Path) {
    fs::create_dir_all(out).unwrap();
    let images = image_names(dump);
    assert!(images.len() >= 8, "too few images in the dump: {images:?}");
    for name in &images {
        let json = out.join(view_of(name));
        let img = out.join(name);
        for (cmd, from, to) in [
            ("decode", dump.join(name), &json),
            ("encode", json.clone(), &img),
        ] {
            let o = Command::new(bin())
                .arg(cmd)
                .arg("-i")
                .arg(&from)
                .arg("-o")
                .arg(to)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{cmd} {}: {}",
                from.display(),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert!(
            fs::read(dump.join(name)).unwrap() == fs::read(&img).unwrap(),
            "{name}: decode then encode changed its bytes"
        );
    }
}

/// `text` without the whitespace between JSON tokens.
fn minify(text: &[u8]) -> Vec<u8> {
    let (mut out, mut in_string, mut escaped) = (Vec::new(), false, false);
    for &b in text {
        if in_string {
            in_string = escaped || b != b'"';
            escaped = !escaped && b == b'\\';
        } else if b.is_ascii_whitespace() {
            continue;
        } else {
            in_string = b == b'"';
        }
        out.push(b);
    }
    out
}

/// JSON of the same kind of image that encodes to other bytes: the last
/// entry doubled, or dropped. None for an image without entries.
fn variants(text: &[u8]) -> Vec<Vec<u8>> {
    let v: Value = serde_json::from_slice(text).unwrap();
    let entries = v["entries"].as_array().cloned().unwrap_or_default();
    let Some(last) = entries.last() else {
        return Vec::new();
    };
    let mut doubled = v.clone();
    doubled["entries"]
        .as_array_mut()
        .unwrap()
        .push(last.clone());
    let mut dropped = v.clone();
    dropped["entries"].as_array_mut().unwrap().pop();
    [doubled, dropped]
        .iter()
        .map(|v| serde_json::to_vec(v).unwrap())
        .collect()
}

/// Replaces every image of the mounted dump by the mount's own encoding of
/// its view: first a different valid JSON is saved (so the image really
/// changes), then the view's original text without whitespace; the image
/// must come back byte for byte, as a new file (renamed into place).
/// Returns the images that have no entries (nothing else could be saved
/// for them; their view saved compact must leave them as they are).
fn reencode_through_mount(m: &Mounted) -> Vec<String> {
    let mut empty = Vec::new();
    for name in image_names(&m.dump) {
        let view = m.p(&view_of(&name));
        let image = m.d(&name);
        let original = fs::read(&image).unwrap();
        let text = fs::read(&view).unwrap();
        let mut changed = false;
        for variant in variants(&text) {
            if write_and_close(&view, &variant) == 0 {
                changed = fs::read(&image).unwrap() != original;
                if changed {
                    break;
                }
            }
        }
        if !changed {
            empty.push(name.clone());
        }
        let ino = fs::metadata(&image).unwrap().ino();
        let compact = minify(&text);
        assert_ne!(compact, text, "{name}: the view is not pretty-printed");
        assert_eq!(
            write_and_close(&view, &compact),
            0,
            "{name}: its own view, compact, was refused: {}",
            fs::read_to_string(m.p(&format!("{}.err", view_of(&name)))).unwrap_or_default()
        );
        assert!(
            fs::read(&image).unwrap() == original,
            "{name}: the mount's encoding of its own view differs from the image"
        );
        if changed {
            assert_ne!(
                fs::metadata(&image).unwrap().ino(),
                ino,
                "{name}: not written back"
            );
        }
    }
    empty
}

/// `criu`'s images of `dump` (not its logs or stats-restore), by name.
fn images_of(dump: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut snap = snapshot(dump);
    snap.retain(|n, _| n.ends_with(".img") || n == "stats-dump");
    snap
}

/// Edits `core-PID.json` through the mount: `edit` changes its first entry.
fn edit_core(m: &Mounted, core: &str, edit: impl FnOnce(&mut Value)) {
    let view = m.p(&view_of(core));
    let mut v: Value = serde_json::from_slice(&fs::read(&view).unwrap()).unwrap();
    edit(&mut v["entries"][0]);
    let text = serde_json::to_vec_pretty(&v).unwrap();
    assert_eq!(
        write_and_close(&view, &text),
        0,
        "{core}: {}",
        fs::read_to_string(m.p(&format!("{}.err", view_of(core)))).unwrap_or_default()
    );
}

// ---------------------------------------------------------------- tests

#[test]
fn comm_and_rlimit_edited_in_core_json_are_restored() {
    let Some(criu) = criu_or_skip() else { return };
    let _serial = one_at_a_time();
    let case = Case::new("e2e-comm");
    let running = case.start_holder(&[]);
    let pid = running.pid;
    case.dump_it(criu, running);
    let core = core_name(&case.dump());

    // RLIMIT_NOFILE is rlimits[7]; its soft limit becomes one it was not.
    let (mut soft, mut hard) = (0u64, 0u64);
    let texts;
    {
        let m = case.mount();
        reencode_through_mount(&m);
        edit_core(&m, &core, |e| {
            e["tc"]["comm"] = "e2e-renamed".into();
            let nofile = &mut e["tc"]["rlimits"]["rlimits"][7];
            hard = nofile["max"].as_u64().unwrap();
            let old = nofile["cur"].as_u64().unwrap();
            soft = if old != 777 { 777 } else { 555 }.min(hard);
            assert_ne!(soft, old, "no other soft limit fits under {hard}");
            nofile["cur"] = soft.into();
        });
        texts = proc_texts(&m, pid, &["limits", "status"]);
        m.unmount();
    }

    let r = case.restore(criu);
    assert_eq!(r.comm(), "e2e-renamed");
    let hard_text = if hard == u64::MAX {
        "unlimited".to_string()
    } else {
        hard.to_string()
    };
    assert_eq!(r.limit("Max open files"), (soft.to_string(), hard_text));
    // The mount's proc/ showed the edit as the kernel now does.
    proc_as_live(&texts, r.pid);
}

#[test]
fn fd_pointed_at_another_file_by_files_json_is_restored() {
    let Some(criu) = criu_or_skip() else { return };
    let _serial = one_at_a_time();
    let case = Case::new("e2e-fd");
    let a = case.file("a.txt", "AAAAAAAA\n");
    let b = case.file("b.txt", "BBBBBBBB\n"); // a's size: CRIU checks it
    let c = case.file("c.txt", "CCCC\n");
    let d = case.file("d.txt", "a longer file than c\n");
    let running = case.start_holder(&[&a, &c]);
    let pid = running.pid;
    case.dump_it(criu, running);
    let links: Vec<PathBuf>;

    {
        let m = case.mount();
        reencode_through_mount(&m);
        let view = m.p("files.json");
        let mut v: Value = serde_json::from_slice(&fs::read(&view).unwrap()).unwrap();
        let mut found = 0;
        for e in v["entries"].as_array_mut().unwrap() {
            let reg = &mut e["reg"];
            if reg["name"] == a.to_str().unwrap() {
                reg["name"] = b.to_str().unwrap().into();
                found += 1;
            } else if reg["name"] == c.to_str().unwrap() {
                // Another size: the recorded size must follow.
                reg["name"] = d.to_str().unwrap().into();
                reg["size"] = fs::metadata(&d).unwrap().len().into();
                found += 1;
            }
        }
        assert_eq!(found, 2, "a.txt and c.txt in files.json");
        let text = serde_json::to_vec_pretty(&v).unwrap();
        assert_eq!(
            write_and_close(&view, &text),
            0,
            "{}",
            fs::read_to_string(m.p("files.json.err")).unwrap_or_default()
        );
        links = (0..5)
            .map(|n| fs::read_link(m.p(&format!("proc/{pid}/fd/{n}"))).unwrap())
            .collect();
        m.unmount();
    }

    let r = case.restore(criu);
    assert_eq!(r.comm(), HOLDER);
    assert_eq!(r.fd(3), b);
    assert_eq!(r.fd(4), d);
    assert_eq!(fs::read_to_string(r.proc("fd/3")).unwrap(), "BBBBBBBB\n");
    // The mount's proc/PID/fd/ showed the edit as the kernel now does.
    for (n, link) in links.iter().enumerate() {
        assert_eq!(&r.fd(n as i32), link, "fd {n}");
    }
}

#[test]
fn invalid_edit_is_refused_and_the_dump_restores_unchanged() {
    let Some(criu) = criu_or_skip() else { return };
    let _serial = one_at_a_time();
    let case = Case::new("e2e-invalid");
    let a = case.file("a.txt", "AAAAAAAA\n");
    let running = case.start_holder(&[&a]);
    case.dump_it(criu, running);
    let core = core_name(&case.dump());
    let before = images_of(&case.dump());

    {
        let m = case.mount();
        reencode_through_mount(&m);
        let view = m.p(&view_of(&core));
        let err = m.p(&format!("{}.err", view_of(&core)));
        let text = fs::read(&view).unwrap();
        // Well-formed JSON that is no core image: comm must be a string.
        let mut v: Value = serde_json::from_slice(&text).unwrap();
        v["entries"][0]["tc"]["comm"] = 42.into();
        let wrong = serde_json::to_vec_pretty(&v).unwrap();
        assert_eq!(write_and_close(&view, &wrong), libc::EINVAL);
        let why = fs::read_to_string(&err).unwrap();
        assert!(why.contains("entries[0].tc.comm"), "{why}");
        // And JSON cut short.
        assert_eq!(
            write_and_close(&view, &text[..text.len() / 2]),
            libc::EINVAL
        );
        let why = fs::read_to_string(&err).unwrap();
        assert!(why.contains("line"), "{why}");
        m.unmount();
    }
    assert!(
        images_of(&case.dump()) == before,
        "a refused edit changed the dump"
    );

    let r = case.restore(criu);
    assert_eq!(r.comm(), HOLDER);
    assert_eq!(r.fd(3), a);
}

#[test]
fn every_image_reencoded_by_cli_and_through_the_mount_restores() {
    let Some(criu) = criu_or_skip() else { return };
    let _serial = one_at_a_time();
    let case = Case::new("e2e-reencode");
    let a = case.file("a.txt", "AAAAAAAA\n");
    let running = case.start_holder(&[&a]);
    case.dump_it(criu, running);
    let before = images_of(&case.dump());

    // The images replaced by the files `crit-fs encode` wrote.
    for name in image_names(&case.dump()) {
        let encoded = case.p("reencoded").join(&name);
        fs::rename(&encoded, case.dump().join(&name)).unwrap();
    }
    // Then each replaced again by the mount's encoding of its view.
    let empty = {
        let m = case.mount();
        let empty = reencode_through_mount(&m);
        m.unmount();
        empty
    };
    // Only images without entries can be left as they were.
    for name in &empty {
        let v: Value = serde_json::from_slice(&decode(&case.dump().join(name), false)).unwrap();
        assert_eq!(
            v["entries"],
            Value::Array(Vec::new()),
            "{name} not rewritten"
        );
    }
    assert!(images_of(&case.dump()) == before);

    let r = case.restore(criu);
    assert_eq!(r.comm(), HOLDER);
    assert_eq!(r.fd(3), a);
}

// ---------------------------------------------------------------- memory

/// memtest (tests/data/corpus/memory/program): known contents at addresses
/// it writes to `addresses`; every 100 ms it writes what `marker` holds to
/// `report` in its work dir.
fn memtest_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus/memory/program/memtest.c")
}

/// Waits until memtest's `report` says `marker=WANT` (a restored copy
/// rewrites it every 100 ms).
fn wait_for_marker(work: &Path, want: &str) {
    let line = format!("marker={want}\n");
    wait_for(&format!("report with {line:?}"), || {
        fs::read_to_string(work.join("report")).is_ok_and(|r| r.starts_with(&line))
    });
}

/// The address memtest reported for `name` in `WORKDIR/addresses`.
fn reported_address(work: &Path, name: &str) -> u64 {
    let text = fs::read_to_string(work.join("addresses")).unwrap();
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(" 0x"))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    u64::from_str_radix(hex, 16).unwrap()
}

/// Replaces `old` by `new` at virtual address `addr` of process `pid`
/// through the mount's `proc/PID/mem` (checking `old` was there).
fn edit_memory(m: &Mounted, pid: i32, addr: u64, old: &[u8], new: &[u8]) {
    use std::os::unix::fs::FileExt;
    let path = m.p(&format!("proc/{pid}/mem"));
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut was = vec![0; old.len()];
    f.read_exact_at(&mut was, addr).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&was),
        String::from_utf8_lossy(old),
        "at {addr:#x}"
    );
    f.write_all_at(new, addr)
        .unwrap_or_else(|e| panic!("writing at {addr:#x}: {e}"));
    f.sync_all().unwrap();
    if unsafe { libc::close(f.into_raw_fd()) } != 0 {
        panic!(
            "close {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
}

/// `len` bytes at `addr` of a live process (its /proc/PID/mem).
fn live_memory(pid: i32, addr: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let f = fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut buf = vec![0; len];
    f.read_exact_at(&mut buf, addr).unwrap();
    buf
}

const MARKER: &[u8] = b"CRITFS-GLOBAL-MARKER:0001";
const EDITED: &[u8] = b"CRITFS-EDITED-BY-E2E:4242";

/// The mount's `proc/PID/NAME` texts, by NAME.
type ProcTexts = std::collections::BTreeMap<String, Vec<u8>>;

fn proc_texts(m: &Mounted, pid: i32, names: &[&str]) -> ProcTexts {
    names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                fs::read(m.p(&format!("proc/{pid}/{n}"))).unwrap(),
            )
        })
        .collect()
}

/// A maps text as (range, perms, offset, name) per mapping: the dump
/// records no device and inode. CRIU keeps the kernel's `[vvar]` and
/// `[vvar_vclock]` as one VVAR area, and restores shared anonymous memory
/// as a memfd (`/memfd:/dev/zero (deleted)`), so a live text is taken back
/// to those forms.
fn maps_lines(text: &str, live: bool) -> Vec<[String; 4]> {
    let mut out: Vec<[String; 4]> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.splitn(6, ' ').collect();
        let name = f.get(5).map_or("", |n| n.trim_start());
        let name = if live {
            name.strip_prefix("/memfd:").unwrap_or(name)
        } else {
            name
        };
        if live && name == "[vvar_vclock]" {
            let last = out.last_mut().expect("[vvar_vclock] first");
            let (start, _) = last[0].split_once('-').unwrap();
            let (_, end) = f[0].split_once('-').unwrap();
            assert_eq!(last[3], "[vvar]", "{text}");
            last[0] = format!("{start}-{end}");
            continue;
        }
        out.push([f[0], f[1], f[2], name].map(str::to_string));
    }
    out
}

/// What the mount showed in `proc/PID/` is what the restored process's
/// /proc/PID/ shows: exactly for most texts; for `status`, each of its
/// lines but PPid (CRIU records 0 for the root's parent, outside the
/// dump); for `maps`, as [`maps_lines`] reads it.
fn proc_as_live(texts: &ProcTexts, pid: i32) {
    for (name, text) in texts {
        let live = fs::read(format!("/proc/{pid}/{name}")).unwrap();
        let (mine, theirs) = (
            String::from_utf8_lossy(text),
            String::from_utf8_lossy(&live),
        );
        let same = match name.rsplit('/').next().unwrap() {
            "status" => mine
                .lines()
                .filter(|l| !l.starts_with("PPid:"))
                .all(|l| theirs.lines().any(|t| t == l)),
            "maps" => maps_lines(&mine, false) == maps_lines(&theirs, true),
            _ => text == &live,
        };
        assert!(
            same,
            "proc/{pid}/{name}: the mount showed\n{mine}\nthe restored process has\n{theirs}"
        );
    }
}

#[test]
fn memory_edited_through_proc_mem_is_restored() {
    let Some(criu) = criu_or_skip() else { return };
    let _serial = one_at_a_time();
    let case = Case::new("e2e-mem");
    let work = case.p("files");
    let exe = compile(&memtest_source(), &case.p("bin"), "memtest");
    let mut cmd = Command::new(exe);
    cmd.arg(&work).env("READY_FILE", work.join("ready"));
    // `report` is renamed into place after `ready` is closed.
    let running = Running::start(cmd, &work.join("report"));
    let pid = running.pid;
    wait_for_marker(&work, "CRITFS-GLOBAL-MARKER:0001");
    let marker = reported_address(&work, "marker");
    let anon = reported_address(&work, "anon");
    let filemap = reported_address(&work, "filemap");
    case.dump_it(criu, running);

    // Page 3 of the private file mapping, which memtest never touched: the
    // dump holds no copy, so the edit adds one, the rest of it the file's.
    let file_page = &memtest_mapped_dat()[3 * 4096..4 * 4096];
    let mut edited_file_page = file_page.to_vec();
    edited_file_page[..15].copy_from_slice(b"ADDED-FILE-PAGE");
    let texts;
    {
        let m = case.mount();
        reencode_through_mount(&m);
        let names = ["cmdline", "environ", "limits", "status", "maps"];
        texts = proc_texts(&m, pid, &names);
        // A page of .data, a touched anonymous page, an untouched one and
        // a clean file page (both of which the edit adds to the dump).
        edit_memory(&m, pid, marker, MARKER, EDITED);
        edit_memory(&m, pid, anon, b"ANON-PAGE-0\0", b"ANON-EDIT-0\0");
        edit_memory(&m, pid, anon + 4096, &[0; 12], b"ADDED-PAGE-1");
        edit_memory(
            &m,
            pid,
            filemap + 3 * 4096,
            &file_page[..15],
            b"ADDED-FILE-PAGE",
        );
        m.unmount();
    }
    let space = crit_fs::memory::AddressSpace::open(&case.dump(), pid as u64).unwrap();
    assert!(space.problems().is_empty(), "{:?}", space.problems());
    drop(space);
    fs::remove_file(work.join("report")).unwrap();

    let r = case.restore(criu);
    assert_eq!(r.comm(), "memtest");
    wait_for_marker(&work, "CRITFS-EDITED-BY-E2E:4242");
    let report = fs::read_to_string(work.join("report")).unwrap();
    assert!(report.contains("\nanon0=ANON-EDIT-0\n"), "{report}");
    assert_eq!(live_memory(r.pid, marker, EDITED.len()), EDITED);
    let mut added_page = vec![0; 4096];
    added_page[..12].copy_from_slice(b"ADDED-PAGE-1");
    assert_eq!(live_memory(r.pid, anon + 4096, 4096), added_page);
    assert_eq!(live_memory(r.pid, anon + 8192, 12), [0; 12]);
    assert_eq!(
        live_memory(r.pid, filemap + 3 * 4096, 4096),
        edited_file_page
    );
    proc_as_live(&texts, r.pid);
}

/// The file memtest maps: 4 pages, page i repeating "FILE-PAGE-i ".
fn memtest_mapped_dat() -> Vec<u8> {
    (0..4u8)
        .flat_map(|i| {
            (0..4096).map(move |j| {
                if j % 12 == 10 {
                    b'0' + i
                } else {
                    b"FILE-PAGE-0 "[j % 12]
                }
            })
        })
        .collect()
}

#[test]
fn corpus_memory_dump_restores_here_with_an_edited_marker() {
    let Some(criu) = criu_or_skip() else { return };
    let _serial = one_at_a_time();
    let pid = 13292; // the dump's, see its README.txt
    let proc = PathBuf::from(format!("/proc/{pid}"));
    if proc.exists() && !running(pid) {
        // A zombie (of an earlier run, say) that init has yet to reap.
        wait_for(&format!("zombie {pid} to be reaped"), || !proc.exists());
    }
    if proc.exists() {
        let _ = std::io::stderr()
            .write_all(format!("skipped: pid {pid} of the corpus dump is in use\n").as_bytes());
        return;
    }
    let case = Case::new("e2e-corpus-mem");
    copy_case("memory", &case.dump());
    // The marker's address, from the README.txt of the case.
    let readme = fs::read_to_string(case.dump().join("README.txt")).unwrap();
    let marker = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix("marker 0x"))
        .map(|hex| u64::from_str_radix(hex, 16).unwrap())
        .expect("the marker's address in README.txt");
    cli_roundtrip(&case.dump(), &case.p("reencoded"));
    {
        let m = case.mount();
        reencode_through_mount(&m);
        edit_memory(&m, pid, marker, MARKER, EDITED);
        m.unmount();
    }

    // What its README says restore needs, under /srv/crit-corpus, made in a
    // mount namespace of the restore's own (a tmpfs on /srv): the
    // program/ binary, the file it maps and its empty stderr.log. Other
    // tests see no /srv/crit-corpus.
    let mapped = case.p("files/mapped.dat");
    fs::write(&mapped, memtest_mapped_dat()).unwrap();
    let program = mounting::corpus().join("memory/program/memtest");
    let setup = format!(
        "mount -t tmpfs -o mode=755 tmpfs /srv
mkdir -p /srv/crit-corpus/bin /srv/crit-corpus/memory
cp {} /srv/crit-corpus/bin/memtest
chmod 755 /srv/crit-corpus/bin/memtest
cp {} /srv/crit-corpus/memory/mapped.dat
chmod 644 /srv/crit-corpus/memory/mapped.dat
: > /srv/crit-corpus/memory/stderr.log",
        quote(&program),
        quote(&mapped)
    );
    let work = Path::new("/srv/crit-corpus/memory");
    let place = Place {
        cwd: work,
        setup: Some(&setup),
    };
    check_finds_no_error(&case.dump());
    let r = Restored::at(criu, &case.dump(), &case.p("restore.log"), &place);
    assert_eq!(r.pid, pid);
    wait_for_marker(
        &r.proc("root/srv/crit-corpus/memory"),
        "CRITFS-EDITED-BY-E2E:4242",
    );
}

// ---------------------------------------------------------------- a tree

/// A process with a second thread and a child, the child holding the read
/// end of a pipe with unread data on fd 3. READY (its argument) says
/// "PID CHILD".
const TREE_C: &str = r#"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>
static void *worker(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "e2e-worker");
    for (;;) pause();
    return NULL;
}
int main(int argc, char **argv) {
    for (int fd = 3; fd < 1024; fd++) close(fd);
    int p[2];
    if (argc != 2 || pipe(p) || p[0] != 3) return 2;
    if (write(p[1], "PIPE-DATA-0001\n", 15) != 15) return 3;
    pid_t child = fork();
    if (child < 0) return 4;
    if (child == 0) {
        close(p[1]);
        prctl(PR_SET_NAME, "e2e-child");
        for (;;) pause();
    }
    close(p[0]);
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL)) return 5;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    int r = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (r < 0 || dprintf(r, "%d %d\n", getpid(), child) < 0 || close(r)) return 6;
    if (rename(tmp, argv[1])) return 7;
    for (;;) pause();
}
"#;

/// What is queued in the pipe that fd `fd` of `pid` points at (read
/// through /proc without blocking; it is consumed).
fn read_pipe(pid: i32, fd: i32) -> Vec<u8> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(format!("/proc/{pid}/fd/{fd}"))
        .unwrap();
    let mut buf = vec![0; 4096];
    let n = f.read(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn tree_with_thread_child_and_pipe_data_edited_and_restored() {
    let Some(criu) = criu_or_skip() else { return };
    let _serial = one_at_a_time();
    let case = Case::new("e2e-tree");
    let src = case.p("bin/tree.c");
    fs::write(&src, TREE_C).unwrap();
    let exe = compile_with(&src, &case.p("bin"), "e2e-tree", &["-pthread"]);
    let ready = case.p("files/ready");
    let mut cmd = Command::new(exe);
    cmd.arg(&ready);
    let running = Running::start(cmd, &ready);
    let pids: Vec<i32> = fs::read_to_string(&ready)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let (root, child) = (pids[0], pids[1]);
    assert_eq!(root, running.pid);
    let thread = {
        let mut tids: Vec<i32> = fs::read_dir(format!("/proc/{root}/task"))
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|&t| t != root)
            .collect();
        assert_eq!(tids.len(), 1, "{tids:?}");
        tids.pop().unwrap()
    };
    case.dump_it(criu, running);
    assert!(image_names(&case.dump()).contains(&format!("core-{thread}.img")));

    let texts;
    {
        let m = case.mount();
        reencode_through_mount(&m);
        edit_core(&m, &format!("core-{child}.img"), |e| {
            e["tc"]["comm"] = "e2e-child-ed".into();
        });
        // The worker's name lives in its own thread_core.
        edit_core(&m, &format!("core-{thread}.img"), |e| {
            assert_eq!(e["thread_core"]["comm"], "e2e-worker");
            e["thread_core"]["comm"] = "e2e-worker-ed".into();
        });
        let view = m.p("pipes-data.json");
        let mut v: Value = serde_json::from_slice(&fs::read(&view).unwrap()).unwrap();
        let data = &mut v["entries"][0];
        assert_eq!(data["bytes"], 15);
        // base64 of "PIPE-DATA-4242\n", as CRIT writes it.
        data["extra"] = "UElQRS1EQVRBLTQyNDIK\n".into();
        let text = serde_json::to_vec_pretty(&v).unwrap();
        assert_eq!(write_and_close(&view, &text), 0);
        let task = format!("task/{thread}/status");
        texts = [
            proc_texts(&m, root, &["status", &task, "limits"]),
            proc_texts(&m, child, &["status", "limits"]),
        ];
        m.unmount();
    }

    let r = case.restore(criu);
    assert_eq!(tree_of(root), [root, child]);
    // The mount's proc/ showed the edited names as the kernel now does.
    proc_as_live(&texts[0], root);
    proc_as_live(&texts[1], child);
    assert_eq!(r.comm(), "e2e-tree");
    let comm = |p: String| fs::read_to_string(p).unwrap().trim_end().to_string();
    assert_eq!(
        comm(format!("/proc/{root}/task/{thread}/comm")),
        "e2e-worker-ed"
    );
    assert_eq!(comm(format!("/proc/{child}/comm")), "e2e-child-ed");
    assert_eq!(read_pipe(child, 3), b"PIPE-DATA-4242\n");
}
