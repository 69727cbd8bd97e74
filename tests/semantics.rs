//! One test per statement of SEMANTICS.md, each on a real mount of a temporary
//! copy of a corpus case. The test's name is the statement's id.

mod mounting;

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use mounting::*;

const CORE: &str = "core-18604";

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// Writes `text` to `path` through one descriptor; returns close(2)'s result.
fn write_and_close(path: &std::path::Path, text: &[u8]) -> Result<(), i32> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import os,sys\n\
             fd=os.open(sys.argv[1], os.O_WRONLY|os.O_TRUNC)\n\
             os.write(fd, sys.stdin.buffer.read())\n\
             try:\n  os.close(fd)\nexcept OSError as e:\n  sys.exit(e.errno)\n",
        )
        .arg(path)
        .stdin(unlinked_file(text))
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(c) => Err(c),
        None => Err(-1),
    }
}

// ---------------------------------------------------------------- read side

#[test]
fn s_dump_files_shown_as_they_are() {
    let m = Mounted::new("sleep");
    for name in ["core-18604.img", "pages-1.img", "README.txt", "stats-dump"] {
        let (a, b) = (
            fs::metadata(m.d(name)).unwrap(),
            fs::metadata(m.p(name)).unwrap(),
        );
        assert_eq!(
            fs::read(m.d(name)).unwrap(),
            fs::read(m.p(name)).unwrap(),
            "{name}"
        );
        assert_eq!(
            (a.size(), a.mode(), a.mtime(), a.mtime_nsec()),
            (b.size(), b.mode(), b.mtime(), b.mtime_nsec())
        );
    }
}

#[test]
fn s_view_is_decode_pretty() {
    // Every image of every corpus case.
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let m = Mounted::new(&name);
        for img in image_names(&m.dump) {
            let got = fs::read(m.p(&view_of(&img))).unwrap();
            assert_eq!(got, decode(&m.d(&img), true), "{name}/{img}");
            assert_eq!(
                fs::metadata(m.p(&view_of(&img))).unwrap().len(),
                got.len() as u64
            );
        }
    }
}

#[test]
fn s_plain_option_compact() {
    let m = Mounted::with_args("sleep", &["--plain"]);
    let v = format!("{CORE}.json");
    assert_eq!(
        fs::read(m.p(&v)).unwrap(),
        decode(&m.d(&format!("{CORE}.img")), false)
    );
}

#[test]
fn s_raw_files_have_no_view() {
    let m = Mounted::new("sleep");
    let e = fs::metadata(m.p("pages-1.json")).unwrap_err();
    assert_eq!(errno_of(&e), libc::ENOENT);
    let names: Vec<String> = fs::read_dir(&m.mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !names.contains(&"pages-1.json".to_string()) && !names.contains(&"README.json".to_string())
    );
}

#[test]
fn s_readdir_lists_views() {
    let m = Mounted::new("sleep");
    let out = sh(&format!("ls {}", m.mnt.display()));
    let ls = String::from_utf8(out.stdout).unwrap();
    for img in image_names(&m.dump) {
        assert!(
            ls.lines().any(|l| l == view_of(&img)),
            "{img} has no view in ls"
        );
        assert!(ls.lines().any(|l| l == img));
    }
    for r in [
        "ps.txt",
        "fds.txt",
        "mems.txt",
        "rss.txt",
        "sk.txt",
        "check.txt",
    ] {
        assert!(ls.lines().any(|l| l == r), "{r}");
    }
}

#[test]
fn s_lookup_missing_enoent() {
    let m = Mounted::new("sleep");
    assert_eq!(
        errno_of(&fs::metadata(m.p("nothing.json")).unwrap_err()),
        libc::ENOENT
    );
    assert_eq!(
        errno_of(&fs::metadata(m.p("core-1.json.err")).unwrap_err()),
        libc::ENOENT
    );
}

#[test]
fn s_reports_match_cli() {
    // The report files hold what `crit-fs x DUMP WHAT` prints; when the explorer
    // fails, `error: MESSAGE` as the CLI reports it.
    let m = Mounted::new("shell-tree");
    for what in ["ps", "fds", "mems", "rss", "sk", "check"] {
        let got = fs::read(m.p(&format!("{what}.txt"))).unwrap();
        let (ok, stdout, stderr) = cli_report(&m.dump, what);
        if ok || (what == "check" && !stdout.is_empty()) {
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&stdout),
                "{what}"
            );
        } else {
            let msg = stderr
                .trim_end()
                .strip_prefix("crit-fs: ")
                .unwrap_or(&stderr)
                .to_string();
            assert_eq!(
                String::from_utf8_lossy(&got),
                format!("error: {msg}\n"),
                "{what}"
            );
        }
    }
}

/// Requires the explorers to succeed on a corpus dump (written before they
/// were merged; it failed until then).
#[test]
fn s_reports_are_explorer_output() {
    let m = Mounted::new("sleep");
    for what in ["ps", "fds", "mems", "rss"] {
        let (ok, stdout, stderr) = cli_report(&m.dump, what);
        assert!(ok, "crit-fs x {what} failed: {stderr}");
        assert_eq!(
            fs::read(m.p(&format!("{what}.txt"))).unwrap(),
            stdout,
            "{what}"
        );
    }
}

#[test]
fn s_report_failure_shows_error() {
    let (_tmp, dump, mnt) = dump_and_mnt("", "empty");
    let out = Command::new(bin())
        .arg("mount")
        .arg(&dump)
        .arg(&mnt)
        .output()
        .unwrap();
    assert!(out.status.success());
    let guard = MountGuard(mnt.clone());
    let got = fs::read_to_string(mnt.join("ps.txt")).unwrap();
    let (_, _, stderr) = cli_report(&dump, "ps");
    assert!(got.starts_with("error: "), "{got}");
    assert_eq!(
        got,
        format!(
            "error: {}\n",
            stderr.trim_end().strip_prefix("crit-fs: ").unwrap()
        )
    );
    assert_eq!(
        fs::metadata(mnt.join("ps.txt")).unwrap().len(),
        got.len() as u64
    );
    drop(guard);
}

struct MountGuard(std::path::PathBuf);
impl Drop for MountGuard {
    fn drop(&mut self) {
        unmount(&self.0);
    }
}

#[test]
fn s_stat_size_exact() {
    let m = Mounted::new("tcp");
    for e in fs::read_dir(&m.mnt).unwrap().flatten() {
        let p = e.path();
        let len = fs::metadata(&p).unwrap().len();
        assert_eq!(len, fs::read(&p).unwrap().len() as u64, "{}", p.display());
    }
    let out = sh(&format!(
        "tail -c 2 {}/{CORE_TCP}.json | od -c",
        m.mnt.display(),
        CORE_TCP = first_core(&m.dump)
    ));
    assert!(String::from_utf8_lossy(&out.stdout).contains("}  \\n"));
}

fn first_core(dir: &std::path::Path) -> String {
    image_names(dir)
        .into_iter()
        .find(|n| n.starts_with("core-"))
        .unwrap()
        .trim_end_matches(".img")
        .to_string()
}

#[test]
fn s_mtime_follows_image() {
    let m = Mounted::new("sleep");
    let (a, b) = (
        fs::metadata(m.d(&format!("{CORE}.img"))).unwrap(),
        fs::metadata(m.p(&format!("{CORE}.json"))).unwrap(),
    );
    assert_eq!((a.mtime(), a.mtime_nsec()), (b.mtime(), b.mtime_nsec()));
    assert_eq!(b.mode() & 0o777, a.mode() & 0o666);
}

#[test]
fn s_changed_image_reflected() {
    let m = Mounted::new("sleep");
    let view = m.p("pstree.json");
    let before = fs::read(&view).unwrap();
    // Replace the image behind the mount's back with another image of the same kind.
    let other = corpus().join("shell-tree/pstree.img");
    fs::copy(&other, m.d("pstree.img")).unwrap();
    let after = fs::read(&view).unwrap();
    assert_ne!(before, after);
    assert_eq!(after, decode(&other, true));
    assert_eq!(fs::metadata(&view).unwrap().len(), after.len() as u64);
    // And an atomic rename of a new image over it.
    fs::copy(corpus().join("sleep/pstree.img"), m.d(".new")).unwrap();
    fs::rename(m.d(".new"), m.d("pstree.img")).unwrap();
    assert_eq!(fs::read(&view).unwrap(), before);
}

#[test]
fn s_new_image_appears() {
    let m = Mounted::new("sleep");
    fs::create_dir(m.d("sub")).unwrap();
    fs::copy(m.d("inventory.img"), m.d("sub/inventory.img")).unwrap();
    assert_eq!(
        fs::read(m.p("sub/inventory.json")).unwrap(),
        decode(&m.d("inventory.img"), true)
    );
    fs::copy(m.d("fs-18604.img"), m.d("fs-1.img")).unwrap();
    assert!(
        fs::read_dir(&m.mnt)
            .unwrap()
            .any(|e| e.unwrap().file_name() == "fs-1.json")
    );
}

#[test]
fn s_undecodable_image_eio() {
    let m = Mounted::new("sleep");
    let mut bytes = fs::read(m.d("inventory.img")).unwrap();
    bytes.truncate(12);
    bytes.extend_from_slice(&[0xff; 7]);
    fs::write(m.d("inventory.img"), &bytes).unwrap();
    let e = fs::read(m.p("inventory.json")).unwrap_err();
    assert_eq!(errno_of(&e), libc::EIO);
}

// ---------------------------------------------------------------- write side

fn edit_view(m: &Mounted, view: &str, from: &str, to: &str) -> Vec<u8> {
    let text = fs::read_to_string(m.p(view)).unwrap();
    replace_once(&text, from, to).into_bytes()
}

#[test]
fn s_save_on_close() {
    let m = Mounted::new("sleep");
    let before = snapshot(&m.dump);
    let new = edit_view(
        &m,
        &format!("{CORE}.json"),
        "\"personality\": 0,",
        "\"personality\": 8,",
    );
    write_and_close(&m.p(&format!("{CORE}.json")), &new).unwrap();
    assert!(
        String::from_utf8(decode(&m.d(&format!("{CORE}.img")), true))
            .unwrap()
            .contains("\"personality\": 8,")
    );
    only_changed(&before, &snapshot(&m.dump), &[&format!("{CORE}.img")]);
    let leftovers: Vec<_> = fs::read_dir(&m.dump)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".crit-fs-tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn s_pretty_or_compact_accepted() {
    let m = Mounted::new("sleep");
    let compact = decode(&m.d("pstree.img"), false);
    let changed =
        String::from_utf8(compact)
            .unwrap()
            .replacen("\"pid\": 18604", "\"pid\": 18605", 1);
    assert!(changed.contains("18605"));
    write_and_close(&m.p("pstree.json"), changed.as_bytes()).unwrap();
    let now = fs::read_to_string(m.p("pstree.json")).unwrap();
    assert!(now.contains("\"pid\": 18605"), "{now}");
    assert_eq!(
        now.as_bytes(),
        decode(&m.d("pstree.img"), true),
        "normalised to decode --pretty"
    );
}

#[test]
fn s_invalid_edits_rejected() {
    let m = Mounted::new("sleep");
    let core = format!("{CORE}.json");
    let text = fs::read_to_string(m.p(&core)).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("broken JSON", text.replacen("{", "{{", 1), "line 1"),
        (
            "wrong type",
            replace_once(&text, "\"personality\": 0,", "\"personality\": \"x\","),
            "personality",
        ),
        (
            "unknown key",
            replace_once(
                &text,
                "\"personality\": 0,",
                "\"personality\": 0, \"bogus\": 1,",
            ),
            "bogus",
        ),
        (
            "out of range",
            replace_once(
                &text,
                "\"personality\": 0,",
                "\"personality\": 99999999999,",
            ),
            "personality",
        ),
        (
            "changed magic",
            text.replacen("\"magic\": \"CORE\"", "\"magic\": \"MM\"", 1),
            "magic",
        ),
        ("empty file", String::new(), "line 1"),
    ];
    let before = snapshot(&m.dump);
    for (what, bad, needle) in cases {
        assert_eq!(
            write_and_close(&m.p(&core), bad.as_bytes()),
            Err(libc::EINVAL),
            "{what}"
        );
        only_changed(&before, &snapshot(&m.dump), &[]);
        let err = fs::read_to_string(m.p(&format!("{core}.err"))).unwrap();
        assert!(
            err.starts_with(&format!("{core}: ")) && err.contains(needle),
            "{what}: {err}"
        );
        assert!(
            m.daemon_log().contains(err.trim_end()),
            "{what}: reason in the log"
        );
        assert_eq!(
            fs::read_to_string(m.p(&core)).unwrap(),
            text,
            "a new open sees the image's JSON"
        );
    }
}

#[test]
fn s_err_file_cleared() {
    let m = Mounted::new("sleep");
    let good = fs::read(m.p("pstree.json")).unwrap();
    assert!(write_and_close(&m.p("pstree.json"), b"nope").is_err());
    assert!(m.p("pstree.json.err").exists());
    write_and_close(&m.p("pstree.json"), &good).unwrap();
    assert!(!m.p("pstree.json.err").exists(), "a good save clears it");
    assert!(write_and_close(&m.p("pstree.json"), b"nope").is_err());
    fs::remove_file(m.p("pstree.json.err")).unwrap();
    assert!(!m.p("pstree.json.err").exists(), "rm dismisses it");
}

#[test]
fn s_rejected_text_kept_in_handle() {
    let m = Mounted::new("sleep");
    let p = m.p("pstree.json");
    let mut f = OpenOptions::new().read(true).write(true).open(&p).unwrap();
    f.set_len(0).unwrap();
    f.write_all(b"{ not json").unwrap();
    let e = f.sync_all().unwrap_err();
    assert_eq!(errno_of(&e), libc::EINVAL, "fsync reports the rejection");
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut back = String::new();
    f.read_to_string(&mut back).unwrap();
    assert_eq!(back, "{ not json");
    assert_eq!(
        fs::read(&p).unwrap(),
        decode(&m.d("pstree.img"), true),
        "others see the image"
    );
}

#[test]
fn s_unchanged_save_leaves_image() {
    let m = Mounted::new("sleep");
    let img = m.d(&format!("{CORE}.img"));
    let before = fs::metadata(&img).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let text = fs::read(m.p(&format!("{CORE}.json"))).unwrap();
    write_and_close(&m.p(&format!("{CORE}.json")), &text).unwrap();
    // Compact text of the same content is also "unchanged".
    write_and_close(&m.p(&format!("{CORE}.json")), &decode(&img, false)).unwrap();
    let after = fs::metadata(&img).unwrap();
    assert_eq!(
        (before.ino(), before.mtime(), before.mtime_nsec()),
        (after.ino(), after.mtime(), after.mtime_nsec())
    );
}

#[test]
fn s_fsync_saves() {
    let m = Mounted::new("sleep");
    let new = edit_view(&m, "pstree.json", "\"pid\": 18604", "\"pid\": 18606");
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.p("pstree.json"))
        .unwrap();
    f.write_all(&new).unwrap();
    f.sync_all().unwrap();
    assert!(
        String::from_utf8(decode(&m.d("pstree.img"), true))
            .unwrap()
            .contains("18606"),
        "saved before close"
    );
    drop(f);
}

#[test]
fn s_raw_file_write_passes_through() {
    let m = Mounted::new("sleep");
    let mut f = OpenOptions::new()
        .write(true)
        .open(m.p("pages-1.img"))
        .unwrap();
    f.write_all(b"hello").unwrap();
    drop(f);
    assert_eq!(&fs::read(m.d("pages-1.img")).unwrap()[..5], b"hello");
    assert_eq!(
        fs::read(m.p("pages-1.img")).unwrap(),
        fs::read(m.d("pages-1.img")).unwrap()
    );
}

#[test]
fn s_image_write_invalidates_view() {
    let m = Mounted::new("sleep");
    let _ = fs::read(m.p("pstree.json")).unwrap();
    let other = fs::read(corpus().join("shell-tree/pstree.img")).unwrap();
    fs::write(m.p("pstree.img"), &other).unwrap();
    assert_eq!(
        fs::read(m.p("pstree.json")).unwrap(),
        decode(&corpus().join("shell-tree/pstree.img"), true)
    );
}

#[test]
fn s_create_is_scratch() {
    let m = Mounted::new("sleep");
    fs::write(m.p("notes.txt"), b"scratch").unwrap();
    assert_eq!(fs::read(m.p("notes.txt")).unwrap(), b"scratch");
    assert!(!m.d("notes.txt").exists(), "never in the dump");
    fs::remove_file(m.p("notes.txt")).unwrap();
    assert!(!m.p("notes.txt").exists());
}

#[test]
fn s_unlink_view_hides_until_created() {
    let m = Mounted::new("sleep");
    let before = snapshot(&m.dump);
    let text = fs::read(m.p("pstree.json")).unwrap();
    fs::remove_file(m.p("pstree.json")).unwrap();
    assert!(!m.p("pstree.json").exists());
    only_changed(&before, &snapshot(&m.dump), &[]);
    let changed = String::from_utf8(text)
        .unwrap()
        .replacen("\"pid\": 18604", "\"pid\": 18607", 1);
    fs::write(m.p("pstree.json"), &changed).unwrap();
    assert!(
        String::from_utf8(decode(&m.d("pstree.img"), true))
            .unwrap()
            .contains("18607")
    );
}

#[test]
fn s_dump_files_not_deleted_or_moved() {
    let m = Mounted::new("sleep");
    let before = snapshot(&m.dump);
    assert_eq!(
        errno_of(&fs::remove_file(m.p("pstree.img")).unwrap_err()),
        libc::EPERM
    );
    assert_eq!(
        errno_of(&fs::rename(m.p("pstree.img"), m.p("x.img")).unwrap_err()),
        libc::EPERM
    );
    assert_eq!(
        errno_of(&fs::remove_file(m.p("ps.txt")).unwrap_err()),
        libc::EPERM
    );
    assert_eq!(
        errno_of(&fs::create_dir(m.p("newdir")).unwrap_err()),
        libc::EPERM
    );
    only_changed(&before, &snapshot(&m.dump), &[]);
}

#[test]
fn s_rename_scratch_over_view_saves() {
    let m = Mounted::new("sleep");
    let new = edit_view(&m, "pstree.json", "\"pid\": 18604", "\"pid\": 18608");
    fs::write(m.p("tmp.json"), &new).unwrap();
    fs::rename(m.p("tmp.json"), m.p("pstree.json")).unwrap();
    assert!(!m.p("tmp.json").exists());
    assert!(
        String::from_utf8(decode(&m.d("pstree.img"), true))
            .unwrap()
            .contains("18608")
    );
    // Invalid text: the rename fails, the scratch file stays.
    fs::write(m.p("bad.json"), b"[").unwrap();
    assert_eq!(
        errno_of(&fs::rename(m.p("bad.json"), m.p("pstree.json")).unwrap_err()),
        libc::EINVAL
    );
    assert!(m.p("bad.json").exists());
}

#[test]
fn s_rename_view_copies() {
    let m = Mounted::new("sleep");
    let text = fs::read(m.p("pstree.json")).unwrap();
    fs::rename(m.p("pstree.json"), m.p("pstree.json~")).unwrap();
    assert_eq!(fs::read(m.p("pstree.json~")).unwrap(), text);
    assert_eq!(
        fs::read(m.p("pstree.json")).unwrap(),
        text,
        "the view stays"
    );
    assert!(!m.d("pstree.json~").exists());
}

#[test]
fn s_reports_read_only() {
    let m = Mounted::new("sleep");
    let e = OpenOptions::new()
        .write(true)
        .open(m.p("ps.txt"))
        .unwrap_err();
    assert_eq!(errno_of(&e), libc::EACCES);
}

#[test]
fn s_view_times_and_mode_ignored() {
    let m = Mounted::new("sleep");
    let before = fs::metadata(m.d("pstree.img")).unwrap();
    assert!(
        sh(&format!(
            "touch {0}; chmod 600 {0}",
            m.p("pstree.json").display()
        ))
        .status
        .success()
    );
    let after = fs::metadata(m.d("pstree.img")).unwrap();
    assert_eq!(
        (before.mtime(), before.mode()),
        (after.mtime(), after.mode())
    );
}

#[test]
fn s_truncate_view() {
    let m = Mounted::new("sleep");
    let before = snapshot(&m.dump);
    let out = sh(&format!("truncate -s 0 {}", m.p("pstree.json").display()));
    assert!(!out.status.success());
    only_changed(&before, &snapshot(&m.dump), &[]);
    // Cutting the final newline keeps the content: accepted, image untouched.
    let len = fs::metadata(m.p("pstree.json")).unwrap().len();
    assert!(
        sh(&format!(
            "truncate -s {} {}",
            len - 1,
            m.p("pstree.json").display()
        ))
        .status
        .success()
    );
    only_changed(&before, &snapshot(&m.dump), &[]);
}

/// Saves an edit of the core's view of `m` (a changed `personality`) whose
/// image cannot be written, and checks what the writer and the user see.
fn save_fails_with(m: &Mounted, image_dir: &std::path::Path, errno: i32, reason: &str) -> String {
    let core = format!("{CORE}.json");
    let text = fs::read_to_string(m.p(&core)).unwrap();
    let edited = replace_once(&text, "\"personality\": 0,", "\"personality\": 1,");
    let before = snapshot(image_dir);
    assert_eq!(write_and_close(&m.p(&core), edited.as_bytes()), Err(errno));
    only_changed(&before, &snapshot(image_dir), &[]);
    let err = fs::read_to_string(m.p(&format!("{core}.err"))).unwrap();
    assert!(
        err.starts_with(&format!("{core}: saving to {CORE}.img: ")) && err.contains(reason),
        "{err}"
    );
    assert!(m.daemon_log().contains(err.trim_end()), "reason in the log");
    edited
}

#[test]
fn s_unwritable_dump_reports_errno() {
    // A dump on a read-only mount: the temporary file cannot be created.
    let m = Mounted::with_dump("sleep", |t| {
        copy_case("sleep", &t.join("rw"));
        let ro = SysMount::bind_ro(&t.join("rw"), &t.join("dump"));
        (t.join("dump"), vec![ro])
    });
    save_fails_with(
        &m,
        &m.tmp.0.join("rw"),
        libc::EROFS,
        "Read-only file system",
    );
    drop(m);
    // A full disk: the temporary file cannot be written. Once there is
    // room, the same save goes through.
    let m = Mounted::with_dump("sleep", |t| {
        let fs = SysMount::tmpfs(&t.join("dump"), "2m");
        copy_case("sleep", &t.join("dump"));
        (t.join("dump"), vec![fs])
    });
    let filler = m.tmp.0.join("dump/filler");
    let mut f = fs::File::create(&filler).unwrap();
    while f.write_all(&[0u8; 4096]).is_ok() {}
    drop(f);
    let edited = save_fails_with(&m, &m.dump, libc::ENOSPC, "No space left on device");
    fs::remove_file(&filler).unwrap();
    assert_eq!(
        write_and_close(&m.p(&format!("{CORE}.json")), edited.as_bytes()),
        Ok(())
    );
    assert_eq!(
        fs::read_to_string(m.p(&format!("{CORE}.json"))).unwrap(),
        edited
    );
}

#[test]
fn s_ro_mount_erofs() {
    let m = Mounted::with_args("sleep", &["-o", "ro"]);
    let e = OpenOptions::new()
        .write(true)
        .open(m.p("pstree.json"))
        .unwrap_err();
    assert_eq!(errno_of(&e), libc::EROFS);
    assert_eq!(
        errno_of(&fs::write(m.p("new.txt"), b"x").unwrap_err()),
        libc::EROFS
    );
    assert!(!fs::read(m.p("pstree.json")).unwrap().is_empty());
}

fn as_nobody(cmd: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            cmd,
        ])
        .output()
        .unwrap()
}

#[test]
fn s_private_by_default() {
    let m = Mounted::new("sleep");
    let out = as_nobody(&format!("cat {}", m.p("pstree.json").display()));
    assert!(
        !out.status.success(),
        "another user cannot read a private mount"
    );
}

#[test]
fn s_allow_other_default_permissions() {
    let m = Mounted::with_args("sleep", &["-o", "allow_other"]);
    fs::set_permissions(&m.tmp.0, fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_nobody(&format!("cat {} >/dev/null", m.p("pstree.json").display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_nobody(&format!("echo {{}} > {}", m.p("pstree.json").display()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
    fs::set_permissions(m.d("pstree.img"), fs::Permissions::from_mode(0o600)).unwrap();
    let out = as_nobody(&format!("cat {}", m.p("pstree.json").display()));
    assert!(
        !out.status.success(),
        "mode 0600 image: its view is not readable by others"
    );
}

// ---------------------------------------------------------------- concurrency

#[test]
fn s_last_close_wins() {
    let m = Mounted::new("sleep");
    let a = edit_view(&m, "pstree.json", "\"pid\": 18604", "\"pid\": 1001");
    let b = edit_view(&m, "pstree.json", "\"pid\": 18604", "\"pid\": 1002");
    let mut fa = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.p("pstree.json"))
        .unwrap();
    let mut fb = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.p("pstree.json"))
        .unwrap();
    fa.write_all(&a).unwrap();
    fb.write_all(&b).unwrap();
    drop(fb);
    drop(fa);
    let now = String::from_utf8(decode(&m.d("pstree.img"), true)).unwrap();
    assert!(
        now.contains("\"pid\": 1001") && !now.contains("1002"),
        "the last close wins"
    );
}

#[test]
fn s_reader_sees_old_or_new() {
    let m = Mounted::new("sleep");
    let core = format!("{CORE}.json");
    let old = fs::read(m.p(&core)).unwrap();
    let new = edit_view(&m, &core, "\"personality\": 0,", "\"personality\": 8,");
    let mut r = fs::File::open(m.p(&core)).unwrap();
    let mut first = vec![0; 100];
    r.read_exact(&mut first).unwrap();
    write_and_close(&m.p(&core), &new).unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    first.extend(rest);
    assert_eq!(first, old, "a reader keeps the text it opened");
    assert_eq!(
        fs::read(m.p(&core)).unwrap(),
        decode(&m.d(&format!("{CORE}.img")), true)
    );
    // Many readers during many saves: each read is the old or the new text.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let path = m.p(&core);
    let texts = [old.clone(), fs::read(&path).unwrap()];
    let reader = {
        let (stop, path, texts) = (stop.clone(), path.clone(), texts.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let got = fs::read(&path).unwrap();
                assert!(texts.contains(&got), "torn read of {} bytes", got.len());
                n += 1;
            }
            n
        })
    };
    for i in 0..20 {
        write_and_close(&path, &texts[i % 2]).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn s_real_file_wins_over_view() {
    let m = Mounted::new("sleep");
    fs::write(m.d("pstree.json"), b"mine\n").unwrap();
    assert_eq!(fs::read(m.p("pstree.json")).unwrap(), b"mine\n");
}

#[test]
fn s_rename_scratch_over_raw_file() {
    let m = Mounted::new("sleep");
    fs::write(m.p("new-readme"), b"replaced\n").unwrap();
    fs::rename(m.p("new-readme"), m.p("README.txt")).unwrap();
    assert_eq!(fs::read(m.d("README.txt")).unwrap(), b"replaced\n");
    assert!(!m.p("new-readme").exists());
}

#[test]
fn s_reports_follow_dump() {
    let m = Mounted::new("sleep");
    let before = fs::read(m.p("ps.txt")).unwrap();
    fs::copy(corpus().join("shell-tree/pstree.img"), m.d("pstree.img")).unwrap();
    assert_ne!(fs::read(m.p("ps.txt")).unwrap(), before);
}

#[test]
fn s_no_xattrs() {
    let m = Mounted::new("sleep");
    let out = Command::new("python3")
        .arg("-c")
        .arg("import os,sys\ntry:\n  os.getxattr(sys.argv[1], 'user.x')\nexcept OSError as e:\n  sys.exit(e.errno)")
        .arg(m.p("pstree.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(libc::EOPNOTSUPP));
}

// ---------------------------------------------------------------- the document

#[test]
fn semantics_doc_names_real_tests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = fs::read_to_string(root.join("SEMANTICS.md")).unwrap();
    let sources = fs::read_to_string(root.join("tests/semantics.rs")).unwrap()
        + &fs::read_to_string(root.join("tests/mount.rs")).unwrap()
        + &fs::read_to_string(root.join("tests/mount_abuse.rs")).unwrap()
        + &fs::read_to_string(root.join("tests/proc_tree.rs")).unwrap();
    let named: Vec<&str> = doc
        .split("[test: ")
        .skip(1)
        .map(|s| s.split(']').next().unwrap())
        .collect();
    assert!(named.len() > 30);
    for n in &named {
        assert!(
            sources.contains(&format!("fn {n}(")),
            "SEMANTICS.md names {n}, which does not exist"
        );
    }
    for line in fs::read_to_string(root.join("tests/semantics.rs"))
        .unwrap()
        .lines()
    {
        if let Some(rest) = line.strip_prefix("fn s_") {
            let n = format!("s_{}", rest.split('(').next().unwrap());
            assert!(
                named.contains(&n.as_str()),
                "{n} is not a statement of SEMANTICS.md"
            );
        }
    }
}
