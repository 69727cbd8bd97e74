//! One test per statement of SEMANTICS.md, each on a real mount of a temporary
//! copy of a corpus case. The test's name is the statement's id.

mod common;
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
    for what in ["ps", "fds", "mems", "rss", "sk", "check", "host-check"] {
        let got = fs::read(m.p(&format!("{what}.txt"))).unwrap();
        let (ok, stdout, stderr) = cli_report(&m.dump, what);
        if ok || (what.ends_with("check") && !stdout.is_empty()) {
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
    let guard = UnmountOnDrop(mnt.clone());
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

#[test]
fn s_stat_size_exact() {
    let m = Mounted::new("tcp");
    for e in fs::read_dir(&m.mnt).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            continue; // .crit-fs, proc/
        }
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
fn s_help_file_at_top() {
    let m = Mounted::new("sleep");
    let help = fs::read_to_string(m.p(".crit-fs/HELP")).unwrap();
    let core = crit_fs::fs::CritFs::new(crit_fs::fs::Config::new(&m.dump)).unwrap();
    assert_eq!(help, core.help_text(), "the core's text, whole");
    assert!(help.contains("NAME.json.err") && help.contains("crit-fs umount MOUNTPOINT"));
    // A dot directory: `ls` does not show it, `ls -a` does.
    let ls = String::from_utf8(sh(&format!("ls {}", m.mnt.display())).stdout).unwrap();
    assert!(!ls.lines().any(|l| l == ".crit-fs"));
    let ls = String::from_utf8(sh(&format!("ls -a {}", m.mnt.display())).stdout).unwrap();
    assert!(ls.lines().any(|l| l == ".crit-fs"));
    let meta = fs::metadata(m.p(".crit-fs/HELP")).unwrap();
    assert_eq!(meta.len(), help.len() as u64);
    assert_eq!(meta.permissions().mode() & 0o777, 0o444);
    let e = fs::write(m.p(".crit-fs/HELP"), b"x").unwrap_err();
    assert_eq!(errno_of(&e), libc::EACCES);
    let e = fs::write(m.p(".crit-fs/new"), b"x").unwrap_err();
    assert_eq!(errno_of(&e), libc::EACCES);
    assert!(!m.d(".crit-fs").exists(), "nothing of it in the dump");
}

#[test]
fn s_real_crit_fs_dir_wins() {
    let m = Mounted::with_dump("sleep", |t| {
        let dump = t.join("dump");
        copy_case("sleep", &dump);
        fs::create_dir(dump.join(".crit-fs")).unwrap();
        fs::write(dump.join(".crit-fs/HELP"), "the dump's own\n").unwrap();
        (dump, Vec::new())
    });
    assert_eq!(
        fs::read_to_string(m.p(".crit-fs/HELP")).unwrap(),
        "the dump's own\n"
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
    // Every test file: statements are checked on a mount, in the core
    // (tests/fs_core.rs) or through mount(8) (tests/install.rs).
    let sources: String = fs::read_dir(root.join("tests"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .collect();
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

/// Held by the tests that read tcp's host-check.txt while the other may
/// hold its port.
static TCP_PORT: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn s_host_check_report() {
    // host-check.txt is `check --host`; check.txt stays images-only.
    let _port = TCP_PORT.lock().unwrap_or_else(|e| e.into_inner());
    let m = Mounted::new("tcp");
    let host = fs::read_to_string(m.p("host-check.txt")).unwrap();
    let (_, stdout, _) = cli_report(&m.dump, "host-check");
    assert_eq!(host, String::from_utf8_lossy(&stdout));
    assert!(
        host.contains("ERROR files.img: file id 1 /srv/crit-corpus/bin/tcp: "),
        "{host}"
    );
    let check = fs::read_to_string(m.p("check.txt")).unwrap();
    assert_eq!(check.lines().count(), 1, "{check}");
    assert!(check.ends_with(" images: clean\n"), "{check}");
}

#[test]
fn s_host_check_follows_host() {
    // The dump listens on 127.0.0.1:18001: holding that port on the host
    // shows in host-check.txt at the next open, the dump unchanged.
    let _port = TCP_PORT.lock().unwrap_or_else(|e| e.into_inner());
    let m = Mounted::new("tcp");
    let before = fs::read_to_string(m.p("host-check.txt")).unwrap();
    let Ok(held) = std::net::TcpListener::bind("127.0.0.1:18001") else {
        println!("skipped: port 18001 is busy on this host already");
        return;
    };
    assert!(!before.contains("listens on 127.0.0.1:18001"), "{before}");
    let during = fs::read_to_string(m.p("host-check.txt")).unwrap();
    assert!(
        during.contains("ERROR files.img: TCP socket file id 6 listens on 127.0.0.1:18001: Address already in use on this host"),
        "{during}"
    );
    let (_, stdout, _) = cli_report(&m.dump, "host-check");
    assert_eq!(during, String::from_utf8_lossy(&stdout));
    drop(held);
    assert_eq!(fs::read_to_string(m.p("host-check.txt")).unwrap(), before);
}

#[test]
fn s_parent_link_leads_to_the_previous_dump() {
    // A pre-dump chain's relative `parent -> ../d1` read through the mount
    // leads to the dump beside DUMP: check through MNT follows the chain.
    let c = common::predump::predump_chain(&corpus().join("memory"), 1, |_, i| i % 2 == 1);
    let last = c.last().to_path_buf();
    let m = Mounted::with_dump("memory", move |_| (last, Vec::new()));
    let target = fs::read_link(m.p("parent")).unwrap();
    assert_eq!(target, m.dump.canonicalize().unwrap().join("../d1"));
    assert_eq!(
        target.canonicalize().unwrap(),
        c.dirs[1].canonicalize().unwrap()
    );
    crit_fs_ok("check", &m.mnt);
    // And an absolute target is left as it is.
    std::fs::remove_file(m.d("parent")).unwrap();
    std::os::unix::fs::symlink(&c.dirs[1], m.d("parent")).unwrap();
    assert_eq!(fs::read_link(m.p("parent")).unwrap(), c.dirs[1]);
}

// ---------------------------------------------------------------- archives

const ARCHIVES: [&str; 4] = [
    "c2.tar.gz",
    "c2-leave-running.tar",
    "c3.tar.zst",
    "c4-tcp.tar.gz",
];

fn containers() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/containers")
}

/// `crit-fs mount DUMP MNT ARGS`, which must succeed.
fn mount_ok(dump: &std::path::Path, mnt: &std::path::Path, args: &[&str]) {
    let out = Command::new(bin())
        .arg("mount")
        .arg(dump)
        .arg(mnt)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A mount of a copy of archive `name`, with `args`.
fn mount_archive(name: &str, args: &[&str]) -> Mounted {
    let copy = |dir: &std::path::Path| {
        let p = dir.join(name);
        fs::copy(containers().join(name), &p).unwrap();
        (p, Vec::new())
    };
    if args.is_empty() {
        return Mounted::with_dump("arch", copy);
    }
    let t = TempDir::new("arch");
    let (p, _) = copy(&t.0);
    let mnt = t.0.join("mnt");
    fs::create_dir(&mnt).unwrap();
    mount_ok(&p, &mnt, args);
    // Same shape as Mounted, built by hand for extra arguments.
    Mounted::adopt(t, p, mnt)
}

/// `crit-fs umount`, which returns once the archive is rewritten.
fn crit_umount(m: &Mounted) {
    crit_fs_ok("umount", &m.mnt);
}

/// The unpacked archive (by tar -xf) in a new directory.
fn untar(archive: &std::path::Path, t: &std::path::Path) -> std::path::PathBuf {
    let d = t.join(format!(
        "x-{}",
        archive.file_name().unwrap().to_string_lossy()
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir(&d).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(&d)
        .status()
        .unwrap();
    assert!(st.success());
    d
}

#[test]
fn s_archive_tree_shown() {
    for a in ARCHIVES {
        let m = mount_archive(a, &[]);
        let x = untar(&m.dump, &m.tmp.0);
        // Every member as it is, every image's view, the reports in checkpoint/.
        for (rel, _) in snapshot(&x) {
            assert_eq!(
                fs::read(m.p(&rel)).unwrap(),
                fs::read(x.join(&rel)).unwrap(),
                "{a}: {rel}"
            );
        }
        for img in image_names(&x.join("checkpoint")) {
            let view = m.p(&format!("checkpoint/{}", view_of(&img)));
            assert_eq!(
                fs::read(&view).unwrap(),
                decode(&x.join("checkpoint").join(&img), true),
                "{a}: {img}"
            );
        }
        assert_eq!(
            fs::read(m.p("stats-dump.json")).unwrap(),
            decode(&x.join("stats-dump"), true)
        );
        for what in ["ps", "fds", "sk", "mems"] {
            let cli = Command::new(bin())
                .arg("x")
                .arg(&m.dump)
                .arg(what)
                .output()
                .unwrap();
            assert_eq!(
                fs::read(m.p(&format!("checkpoint/{what}.txt"))).unwrap(),
                cli.stdout,
                "{a} {what}"
            );
        }
        let check = Command::new(bin())
            .arg("check")
            .arg(&m.dump)
            .output()
            .unwrap();
        assert_eq!(fs::read(m.p("checkpoint/check.txt")).unwrap(), check.stdout);
        assert!(
            !m.p("ps.txt").exists(),
            "reports are in checkpoint/, not at the top"
        );
        // container.txt: the facts inspect shows.
        let facts = fs::read_to_string(m.p("container.txt")).unwrap();
        let js = Command::new(bin())
            .arg("inspect")
            .arg("--json")
            .arg(&m.dump)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&js.stdout).unwrap();
        for k in [
            "name",
            "id",
            "image",
            "engine",
            "runtime",
            "created",
            "checkpointed",
        ] {
            let val = v["container"][k].as_str().unwrap();
            assert!(facts.contains(val), "{a}: {k} {val} in {facts}");
        }
        assert!(facts.contains("Checkpoint size") && facts.contains("Root fs diff"));
        // rootfs-diff/: the files of rootfs-diff.tar.
        let rd = untar(&x.join("rootfs-diff.tar"), &m.tmp.0);
        let want = snapshot(&rd);
        assert_eq!(snapshot(&m.p("rootfs-diff")), want, "{a}");
        if a == "c2.tar.gz" {
            assert_eq!(fs::read(m.p("rootfs-diff/data.txt")).unwrap(), b"hello\n");
            assert!(facts.contains("/etc/group"));
        }
        drop(m);
    }
}

#[test]
fn s_archive_read_only_by_default() {
    let m = mount_archive("c3.tar.zst", &[]);
    let before = fs::read(&m.dump).unwrap();
    let view = m.p("checkpoint/pstree.json");
    let e = OpenOptions::new().write(true).open(&view).unwrap_err();
    assert_eq!(errno_of(&e), libc::EROFS);
    let e = OpenOptions::new()
        .write(true)
        .open(m.p("config.dump"))
        .unwrap_err();
    assert_eq!(errno_of(&e), libc::EROFS);
    crit_umount(&m);
    assert_eq!(fs::read(&m.dump).unwrap(), before);
}

/// The members of a tar stream: (name, header blocks + data) in order.
fn tar_members(archive: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let (_, r) = crit_fs::archive::decompressed(fs::File::open(archive).unwrap()).unwrap();
    let mut t = crit_fs::archive::tar::TarReader::new(r);
    let mut out = Vec::new();
    while let Some(mb) = t.next_member().unwrap() {
        let mut d = mb.raw_header.clone();
        t.copy_data(&mut d).unwrap();
        out.push((mb.name(), d));
    }
    out
}

#[test]
fn s_archive_rw_edit_rewritten() {
    for a in ARCHIVES {
        let m = mount_archive(a, &["-o", "rw"]);
        let orig_head = fs::read(&m.dump).unwrap()[..4].to_vec();
        let before = tar_members(&m.dump);
        let core = m.p("checkpoint/core-1.json");
        let text = fs::read_to_string(&core).unwrap();
        let comm = text
            .split("\"comm\": \"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        // The first comm is the task's (tc.comm); the first rlimit of 20000 is RLIMIT_NOFILE's.
        let edited = text.replacen(&format!("\"comm\": \"{comm}\""), "\"comm\": \"edited\"", 1);
        assert!(edited.contains("\"cur\": 20000,"), "{a}");
        let edited = edited.replacen("\"cur\": 20000,", "\"cur\": 12345,", 1);
        write_and_close(&core, edited.as_bytes()).unwrap();
        assert!(
            fs::read_to_string(m.p("checkpoint/ps.txt"))
                .unwrap()
                .contains("edited")
        );
        crit_umount(&m);
        // Same compression; only checkpoint/core-1.img changed, every other member byte-identical.
        let head = fs::read(&m.dump).unwrap();
        assert_eq!(
            crit_fs::archive::Compression::detect(&head),
            crit_fs::archive::Compression::detect(&orig_head),
            "{a}"
        );
        let after = tar_members(&m.dump);
        assert_eq!(before.len(), after.len());
        for ((n1, b1), (n2, b2)) in before.iter().zip(&after) {
            assert_eq!(n1, n2);
            if n1.ends_with("checkpoint/core-1.img") {
                assert_ne!(b1, b2, "{a}");
            } else {
                assert_eq!(b1, b2, "{a}: {n1}");
            }
        }
        // Mounted again: the edit is there.
        let again = Command::new(bin())
            .arg("mount")
            .arg(&m.dump)
            .arg(&m.mnt)
            .output()
            .unwrap();
        assert!(again.status.success());
        let t = fs::read_to_string(&core).unwrap();
        assert!(
            t.contains("\"comm\": \"edited\"") && t.contains("\"cur\": 12345,"),
            "{a}"
        );
        crit_umount(&m);
        let check = Command::new(bin())
            .arg("check")
            .arg(&m.dump)
            .output()
            .unwrap();
        assert!(check.status.success(), "{a}");
    }
}

#[test]
fn s_archive_unchanged_not_rewritten() {
    let m = mount_archive("c2.tar.gz", &["-o", "rw"]);
    let meta = fs::metadata(&m.dump).unwrap();
    let core = m.p("checkpoint/core-1.json");
    let text = fs::read(&core).unwrap();
    write_and_close(&core, &text).unwrap();
    crit_umount(&m);
    let now = fs::metadata(&m.dump).unwrap();
    assert_eq!(
        (meta.ino(), meta.mtime(), meta.mtime_nsec()),
        (now.ino(), now.mtime(), now.mtime_nsec())
    );
}

#[test]
fn s_archive_rootfs_diff_read_only() {
    let m = mount_archive("c2.tar.gz", &["-o", "rw"]);
    let e = OpenOptions::new()
        .write(true)
        .open(m.p("rootfs-diff/data.txt"))
        .unwrap_err();
    assert_eq!(errno_of(&e), libc::EROFS);
    let e = fs::File::create(m.p("rootfs-diff/new")).unwrap_err();
    assert_eq!(errno_of(&e), libc::EROFS);
    let e = OpenOptions::new()
        .write(true)
        .open(m.p("container.txt"))
        .unwrap_err();
    assert!(matches!(errno_of(&e), libc::EACCES | libc::EROFS));
    // The rest of the tree is writable: a raw member is written back too.
    fs::write(m.p("network.status"), b"null\n").unwrap();
    crit_umount(&m);
    let x = untar(&m.dump, &m.tmp.0);
    assert_eq!(fs::read(x.join("network.status")).unwrap(), b"null\n");
}

#[test]
fn s_archive_bad_archive_refused() {
    let t = TempDir::new("arch-bad");
    let mnt = t.0.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let whole = fs::read(containers().join("c2-leave-running.tar")).unwrap();
    let cut = t.0.join("cut.tar");
    fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let plain = t.0.join("plain.tar");
    let st = Command::new("tar")
        .arg("-cf")
        .arg(&plain)
        .arg("-C")
        .arg(containers())
        .arg("README.md")
        .status()
        .unwrap();
    assert!(st.success());
    for (p, needle) in [(&cut, "cut short"), (&plain, "not a container checkpoint")] {
        let out = Command::new(bin())
            .arg("mount")
            .arg(p)
            .arg(&mnt)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(!is_mounted(&mnt));
    }
    let err = String::from_utf8_lossy(
        &Command::new(bin())
            .arg("mount")
            .arg(&cut)
            .arg(&mnt)
            .output()
            .unwrap()
            .stderr,
    )
    .into_owned();
    assert!(err.contains("member \""), "names the member: {err}");
}

#[test]
fn s_archive_oci_tree() {
    let m = mount_archive("c5-oci.tar", &[]);
    let ps = Command::new(bin())
        .arg("x")
        .arg(&m.dump)
        .arg("ps")
        .output()
        .unwrap();
    assert!(ps.status.success());
    assert_eq!(fs::read(m.p("checkpoint/ps.txt")).unwrap(), ps.stdout);
    assert!(
        fs::read_to_string(m.p("container.txt"))
            .unwrap()
            .contains("ocit")
    );
    assert!(m.p("rootfs-diff.tar").is_file() && !m.p("oci-layout").exists());
    crit_umount(&m);
}

#[test]
fn s_archive_oci_rw_edit_rewritten() {
    // Saved with its old bytes: the archive is untouched.
    let m = mount_archive("c5-oci.tar", &["-o", "rw"]);
    let bytes = fs::read(&m.dump).unwrap();
    let meta = fs::metadata(&m.dump).unwrap();
    let core = m.p("checkpoint/core-1.json");
    let text = fs::read_to_string(&core).unwrap();
    write_and_close(&core, text.as_bytes()).unwrap();
    crit_umount(&m);
    let now = fs::metadata(&m.dump).unwrap();
    assert_eq!((meta.ino(), meta.mtime()), (now.ino(), now.mtime()));
    assert_eq!(fs::read(&m.dump).unwrap(), bytes);
    // An edit: new layer, config, manifest and index.json, all digests right.
    let old_blobs = mounting::verify_oci_digests(&m.dump);
    let before = mounting::archive_members(&m.dump);
    let again = |args: &[&str]| {
        mount_ok(&m.dump, &m.mnt, args);
    };
    again(&["-o", "rw"]);
    let edited = text.replacen("\"comm\": \"sleep\"", "\"comm\": \"edited\"", 1);
    assert_ne!(edited, text);
    write_and_close(&core, edited.as_bytes()).unwrap();
    crit_umount(&m);
    let new_blobs = mounting::verify_oci_digests(&m.dump);
    assert!(new_blobs.iter().all(|b| !old_blobs.contains(b)));
    let after = mounting::archive_members(&m.dump);
    assert_eq!(before.len(), after.len());
    for (n, h, d) in &before {
        if n != "index.json" && !old_blobs.contains(n) {
            assert!(after.iter().any(|a| (&a.0, &a.1, &a.2) == (n, h, d)), "{n}");
        }
    }
    again(&[]);
    let t = fs::read_to_string(&core).unwrap();
    assert!(t.contains("\"comm\": \"edited\""));
    crit_umount(&m);
}
