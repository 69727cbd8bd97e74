//! The filesystem core driven directly, without mounting.

mod mounting;

use std::ffi::OsStr;
use std::fs;

use crit_fs::fs::{Caller, Config, CritFs, Kind, ROOT_INO, SetAttr, WriteState};
use mounting::*;

fn core(case: &str) -> (TempDir, CritFs) {
    let t = TempDir::new(case);
    copy_case(case, &t.0);
    let fs = CritFs::new(Config::new(&t.0)).unwrap();
    (t, fs)
}

fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn truncate_handle(fs: &CritFs, ino: u64, fh: u64) {
    let zero = SetAttr {
        size: Some(0),
        ..Default::default()
    };
    fs.setattr(ino, Some(fh), &zero).unwrap();
}

fn assert_missing(fs: &CritFs, n: &str) {
    assert_eq!(
        fs.lookup(ROOT_INO, name(n)).unwrap_err().errno,
        libc::ENOENT,
        "{n}"
    );
}

fn read_all(fs: &CritFs, fh: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let chunk = fs.read(fh, out.len() as u64, 4096).unwrap();
        if chunk.is_empty() {
            return out;
        }
        out.extend(chunk);
    }
}

#[test]
fn lookup_and_read_view() {
    let (t, fs) = core("sleep");
    let a = fs.lookup(ROOT_INO, name("pstree.json")).unwrap();
    assert_eq!(a.kind, Kind::File);
    let o = fs.open(a.ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    let text = read_all(&fs, o.fh);
    assert_eq!(text, decode(&t.0.join("pstree.img"), true));
    assert_eq!(a.size, text.len() as u64);
    fs.release(o.fh).unwrap();
    assert_missing(&fs, "pages-1.json");
}

#[test]
fn readdir_has_files_views_and_reports() {
    let (_t, fs) = core("sleep");
    let names: Vec<String> = fs
        .readdir(ROOT_INO)
        .unwrap()
        .into_iter()
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect();
    for n in [
        ".",
        "..",
        "core-18604.img",
        "core-18604.json",
        "stats-dump.json",
        "pages-1.img",
        "ps.txt",
        "check.txt",
        "host-check.txt",
    ] {
        assert!(names.contains(&n.to_string()), "{n} in {names:?}");
    }
    assert!(!names.contains(&"pages-1.json".to_string()));
}

#[test]
fn write_state_machine() {
    let (t, fs) = core("sleep");
    let a = fs.lookup(ROOT_INO, name("pstree.json")).unwrap();
    let o = fs.open(a.ino, libc::O_RDWR, Caller::ROOT).unwrap();
    assert!(o.direct_io);
    // Clean: flush saves nothing.
    let before = fs::metadata(t.0.join("pstree.img"))
        .unwrap()
        .modified()
        .unwrap();
    fs.flush(o.fh).unwrap();
    assert_eq!(
        fs::metadata(t.0.join("pstree.img"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    // Dirty + invalid: Failed, remembered by the next flush, text kept.
    truncate_handle(&fs, a.ino, o.fh);
    fs.write(o.fh, 0, b"{").unwrap();
    assert_eq!(fs.flush(o.fh).unwrap_err().errno, libc::EINVAL);
    assert_eq!(fs.flush(o.fh).unwrap_err().errno, libc::EINVAL);
    assert_eq!(read_all(&fs, o.fh), b"{");
    let err = fs.lookup(ROOT_INO, name("pstree.json.err")).unwrap();
    assert!(err.size > 0);
    // Dirty + valid: saved.
    let text = String::from_utf8(decode(&t.0.join("pstree.img"), true))
        .unwrap()
        .replace("\"pgid\": 18604", "\"pgid\": 1");
    truncate_handle(&fs, a.ino, o.fh);
    fs.write(o.fh, 0, text.as_bytes()).unwrap();
    fs.fsync(o.fh).unwrap();
    assert!(
        String::from_utf8(decode(&t.0.join("pstree.img"), true))
            .unwrap()
            .contains("\"pgid\": 1,")
    );
    assert_eq!(
        fs.lookup(ROOT_INO, name("pstree.json.err"))
            .unwrap_err()
            .errno,
        libc::ENOENT
    );
    fs.release(o.fh).unwrap();
    let _ = WriteState::Clean;
}

#[test]
fn scratch_files_live_in_memory() {
    let (t, fs) = core("sleep");
    let (a, o) = fs
        .create(ROOT_INO, name(".x.swp"), 0o600, libc::O_RDWR, Caller::ROOT)
        .unwrap();
    fs.write(o.fh, 0, b"swap").unwrap();
    fs.release(o.fh).unwrap();
    assert_eq!(fs.getattr(a.ino, None).unwrap().size, 4);
    assert!(!t.0.join(".x.swp").exists());
    fs.rename(ROOT_INO, name(".x.swp"), ROOT_INO, name("y"), false)
        .unwrap();
    assert!(fs.lookup(ROOT_INO, name("y")).is_ok());
    fs.unlink(ROOT_INO, name("y")).unwrap();
    assert_missing(&fs, "y");
}

#[test]
fn dump_files_are_protected() {
    let (t, fs) = core("sleep");
    assert_eq!(
        fs.unlink(ROOT_INO, name("pstree.img")).unwrap_err().errno,
        libc::EPERM
    );
    assert_eq!(
        fs.rename(ROOT_INO, name("pstree.img"), ROOT_INO, name("z"), false)
            .unwrap_err()
            .errno,
        libc::EPERM
    );
    assert!(t.0.join("pstree.img").exists());
}

#[test]
fn read_only_core_refuses_changes() {
    let t = TempDir::new("ro");
    copy_case("sleep", &t.0);
    let mut cfg = Config::new(&t.0);
    cfg.read_only = true;
    let fs = CritFs::new(cfg).unwrap();
    let a = fs.lookup(ROOT_INO, name("pstree.json")).unwrap();
    assert_eq!(
        fs.open(a.ino, libc::O_WRONLY, Caller::ROOT)
            .unwrap_err()
            .errno,
        libc::EROFS
    );
    assert_eq!(
        fs.create(ROOT_INO, name("n"), 0o644, libc::O_WRONLY, Caller::ROOT)
            .unwrap_err()
            .errno,
        libc::EROFS
    );
}

#[test]
fn permissions_follow_the_image() {
    let (t, fs) = core("sleep");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(t.0.join("pstree.img"), fs::Permissions::from_mode(0o444)).unwrap();
    let a = fs.lookup(ROOT_INO, name("pstree.json")).unwrap();
    assert_eq!(a.perm, 0o444);
    let nobody = Caller {
        uid: 65534,
        gid: 65534,
    };
    assert_eq!(
        fs.open(a.ino, libc::O_WRONLY, nobody).unwrap_err().errno,
        libc::EACCES
    );
}

#[test]
fn cache_respects_budget() {
    let t = TempDir::new("budget");
    copy_case("sleep", &t.0);
    let mut cfg = Config::new(&t.0);
    cfg.cache_budget = 20_000;
    let fs = CritFs::new(cfg).unwrap();
    for e in fs.readdir(ROOT_INO).unwrap() {
        let _ = fs.getattr(e.ino, None);
    }
    assert!(fs.cache_used() <= 20_000, "{}", fs.cache_used());
    // The big view (over budget) is still served.
    let a = fs.lookup(ROOT_INO, name("core-18604.json")).unwrap();
    assert!(a.size > 20_000);
    let o = fs.open(a.ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    assert_eq!(read_all(&fs, o.fh).len() as u64, a.size);
}

#[test]
fn changed_image_is_never_served_stale() {
    let (t, fs) = core("sleep");
    let a = fs.lookup(ROOT_INO, name("pstree.json")).unwrap();
    let old = a.size;
    fs::copy(
        corpus().join("shell-tree/pstree.img"),
        t.0.join("pstree.img"),
    )
    .unwrap();
    let b = fs.getattr(a.ino, None).unwrap();
    assert_ne!(b.size, old);
    let o = fs.open(a.ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    assert_eq!(
        read_all(&fs, o.fh),
        decode(&corpus().join("shell-tree/pstree.img"), true)
    );
}

#[test]
fn in_memory_files_are_bounded() {
    let (_t, fs) = core("sleep");
    let a = fs.lookup(ROOT_INO, name("pstree.json")).unwrap();
    let o = fs.open(a.ino, libc::O_RDWR, Caller::ROOT).unwrap();
    assert_eq!(
        fs.write(o.fh, 1 << 40, b"x").unwrap_err().errno,
        libc::EFBIG
    );
    let big = SetAttr {
        size: Some(1 << 40),
        ..Default::default()
    };
    assert_eq!(
        fs.setattr(a.ino, Some(o.fh), &big).unwrap_err().errno,
        libc::EFBIG
    );
    fs.release(o.fh).unwrap();
}

#[test]
fn stale_temp_files_are_removed() {
    let (t, fs) = core("sleep");
    let stale = t.0.join(".crit-fs-tmp.999999999.0.core-18604.img.part");
    let live =
        t.0.join(format!(".crit-fs-tmp.{}.0.x.part", std::process::id()));
    std::fs::write(&stale, b"half").unwrap();
    std::fs::write(&live, b"busy").unwrap();
    assert_eq!(fs.remove_stale_temp_files().len(), 1);
    assert!(!stale.exists() && live.exists());
}

#[test]
fn release_saves_what_flush_did_not() {
    let (t, fs) = core("sleep");
    let a = fs.lookup(ROOT_INO, name("pstree.json")).unwrap();
    let o = fs
        .open(a.ino, libc::O_WRONLY | libc::O_TRUNC, Caller::ROOT)
        .unwrap();
    let text = String::from_utf8(decode(&t.0.join("pstree.img"), true))
        .unwrap()
        .replace("\"sid\": 18604", "\"sid\": 7");
    fs.write(o.fh, 0, text.as_bytes()).unwrap();
    fs.release(o.fh).unwrap();
    assert!(
        String::from_utf8(decode(&t.0.join("pstree.img"), true))
            .unwrap()
            .contains("\"sid\": 7,")
    );
}

/// A view whose string field holds bytes that are not UTF-8 (as `\udcXX`)
/// saves them as those bytes, and saving the view read back changes nothing.
#[test]
fn view_with_escaped_bytes_round_trips() {
    let (t, fs) = core("sleep");
    let img = t.0.join("files.img");
    let a = fs.lookup(ROOT_INO, name("files.json")).unwrap();
    let o = fs.open(a.ino, libc::O_RDWR, Caller::ROOT).unwrap();
    let text = String::from_utf8(read_all(&fs, o.fh)).unwrap();
    let edited = text.replacen(
        r#""name": "/usr/bin/sleep""#,
        r#""name": "/usr/bin/sl\udcff\udcfeep""#,
        1,
    );
    assert_ne!(edited, text);
    truncate_handle(&fs, a.ino, o.fh);
    fs.write(o.fh, 0, edited.as_bytes()).unwrap();
    fs.fsync(o.fh).unwrap();
    fs.release(o.fh).unwrap();
    let saved = fs::read(&img).unwrap();
    assert!(
        saved
            .windows(15)
            .any(|w| w == b"/usr/bin/sl\xff\xfeep".as_slice())
    );
    // Read the view again: the same escapes; saving it unchanged keeps the bytes.
    let o = fs.open(a.ino, libc::O_RDWR, Caller::ROOT).unwrap();
    let again = read_all(&fs, o.fh);
    assert_eq!(again, edited.as_bytes());
    truncate_handle(&fs, a.ino, o.fh);
    fs.write(o.fh, 0, &again).unwrap();
    fs.fsync(o.fh).unwrap();
    fs.release(o.fh).unwrap();
    assert_eq!(fs::read(&img).unwrap(), saved);
    assert_eq!(decode(&img, true), edited.as_bytes());
}

#[test]
fn help_file_explains_the_mount() {
    let (t, fs) = core("sleep");
    let top = fs.readdir(ROOT_INO).unwrap();
    let dir = top
        .iter()
        .find(|e| e.name == ".crit-fs")
        .expect(".crit-fs listed");
    assert_eq!(dir.kind, Kind::Dir);
    let d = fs.lookup(ROOT_INO, name(".crit-fs")).unwrap();
    assert_eq!((d.kind, d.perm), (Kind::Dir, 0o555));
    let names: Vec<String> = fs
        .readdir(d.ino)
        .unwrap()
        .into_iter()
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [".", "..", "HELP"]);
    let h = fs.lookup(d.ino, name("HELP")).unwrap();
    assert_eq!((h.kind, h.perm), (Kind::File, 0o444));
    let o = fs.open(h.ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    let text = String::from_utf8(read_all(&fs, o.fh)).unwrap();
    assert_eq!(text.len() as u64, h.size);
    // Each kind of file of the mount is explained, and the way out.
    let dump_line = format!(
        "Checkpoint directory (DUMP): {}",
        fs::canonicalize(&t.0).unwrap().display()
    );
    for needle in [
        dump_line.as_str(),
        "read-write",
        "NAME.json\n",
        "NAME.json.err\n",
        "ps.txt, fds.txt, mems.txt, rss.txt, sk.txt\n",
        "check.txt\n",
        "proc/PID/ (when present)",
        "SAVING",
        "Invalid argument",
        "Read-only file system",
        "crit-fs umount MOUNTPOINT",
    ] {
        assert!(text.contains(needle), "{needle:?} in HELP");
    }
    // Read-only, like the reports; nothing can be added beside it.
    let e = fs.open(h.ino, libc::O_WRONLY, Caller::ROOT).unwrap_err();
    assert_eq!(e.errno, libc::EACCES);
    let e = fs
        .create(d.ino, name("x"), 0o644, libc::O_WRONLY, Caller::ROOT)
        .unwrap_err();
    assert_eq!(e.errno, libc::EACCES);
    assert_eq!(
        fs.unlink(d.ino, name("HELP")).unwrap_err().errno,
        libc::EPERM
    );
    assert_eq!(
        fs.lookup(d.ino, name("other")).unwrap_err().errno,
        libc::ENOENT
    );
    let (_, scratch) = fs
        .create(ROOT_INO, name("s.txt"), 0o644, libc::O_WRONLY, Caller::ROOT)
        .unwrap();
    fs.release(scratch.fh).unwrap();
    let e = fs
        .rename(ROOT_INO, name("s.txt"), d.ino, name("s.txt"), false)
        .unwrap_err();
    assert_eq!(e.errno, libc::EACCES);

    // A read-only mount says so.
    let mut cfg = Config::new(&t.0);
    cfg.read_only = true;
    let ro = CritFs::new(cfg).unwrap();
    let d = ro.lookup(ROOT_INO, name(".crit-fs")).unwrap();
    let h = ro.lookup(d.ino, name("HELP")).unwrap();
    let o = ro.open(h.ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    let text = String::from_utf8(read_all(&ro, o.fh)).unwrap();
    assert!(text.contains("This mount is read-only (-o ro)"));
    let e = ro
        .create(d.ino, name("x"), 0o644, libc::O_WRONLY, Caller::ROOT)
        .unwrap_err();
    assert_eq!(e.errno, libc::EROFS);

    // A real .crit-fs of the dump wins.
    fs::create_dir(t.0.join(".crit-fs")).unwrap();
    fs::write(t.0.join(".crit-fs/notes"), "mine\n").unwrap();
    let fs2 = CritFs::new(Config::new(&t.0)).unwrap();
    let d = fs2.lookup(ROOT_INO, name(".crit-fs")).unwrap();
    let names: Vec<String> = fs2
        .readdir(d.ino)
        .unwrap()
        .into_iter()
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [".", "..", "notes"]);
    let listed = fs2
        .readdir(ROOT_INO)
        .unwrap()
        .into_iter()
        .filter(|e| e.name == ".crit-fs")
        .count();
    assert_eq!(listed, 1);
}

#[test]
fn host_check_report_is_fresh_at_each_open() {
    let (_t, fs) = core("sleep");
    let a = fs.lookup(ROOT_INO, name("host-check.txt")).unwrap();
    let o = fs.open(a.ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    // Read past the size getattr gave: the host may have changed since.
    assert!(o.direct_io);
    let c = fs.lookup(ROOT_INO, name("check.txt")).unwrap();
    assert!(
        !fs.open(c.ino, libc::O_RDONLY, Caller::ROOT)
            .unwrap()
            .direct_io
    );
}
