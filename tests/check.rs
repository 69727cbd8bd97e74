//! `check`: every corpus dump is clean; copies broken in each way give
//! exactly the expected findings.

mod common;

use std::path::Path;

use common::*;
use crit_fs::check::{self, Level};

/// The finding lines (without the summary) of checking `dir`.
fn findings(dir: &Path) -> Vec<String> {
    check::check(dir)
        .unwrap()
        .findings
        .iter()
        .map(|f| f.to_string())
        .collect()
}

fn truncate(path: &Path, by: u64) {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len - by)
        .unwrap();
}

#[test]
fn every_corpus_dump_is_clean() {
    for case in cases() {
        let report = check::check(&case).unwrap();
        assert!(
            report.findings.is_empty(),
            "{}:\n{}",
            case.display(),
            report.text()
        );
        assert!(report.is_clean());
        let (text, clean) = check::render(&case, false).unwrap();
        assert!(clean);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("check: 0 errors, 0 warnings in "),
            "{text}"
        );
        assert!(text.ends_with(" images: clean\n"), "{text}");
    }
}

#[test]
fn deleted_image() {
    let tmp = copy_case("sleep");
    std::fs::remove_file(tmp.path().join("ids-18604.img")).unwrap();
    assert_eq!(
        findings(tmp.path()),
        ["ERROR ids-18604.img: missing (needed by pid 18604)"]
    );
    std::fs::remove_file(tmp.path().join("inventory.img")).unwrap();
    std::fs::remove_file(tmp.path().join("fdinfo-2.img")).unwrap();
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR inventory.img: missing (needed by every dump)",
            "ERROR ids-18604.img: missing (needed by pid 18604)",
        ]
    );
}

#[test]
fn deleted_fdinfo_and_pages() {
    let tmp = copy_case("sleep");
    std::fs::remove_file(tmp.path().join("fdinfo-2.img")).unwrap();
    std::fs::remove_file(tmp.path().join("pages-1.img")).unwrap();
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR fdinfo-2.img: missing (needed by ids-18604.img)",
            "ERROR pages-1.img: missing (needed by pagemap-18604.img: 30 pages)",
        ]
    );
}

#[test]
fn deleted_pstree() {
    let tmp = copy_case("sleep");
    std::fs::remove_file(tmp.path().join("pstree.img")).unwrap();
    assert_eq!(
        findings(tmp.path()),
        ["ERROR pstree.img: missing (needed by every dump)"]
    );
}

#[test]
fn changed_file_id() {
    let tmp = copy_case("sleep");
    edit(tmp.path(), "fdinfo-2.img", |img| {
        set_int(&mut img.entries[1].msg, "id", 999)
    });
    assert_eq!(
        findings(tmp.path()),
        ["ERROR fdinfo-2.img entry 1: fd 1: file id 999 is not in files.img"]
    );
}

#[test]
fn file_of_the_wrong_type() {
    let tmp = copy_case("sleep");
    edit(tmp.path(), "fdinfo-2.img", |img| {
        set_int(&mut img.entries[2].msg, "type", 2)
    });
    assert_eq!(
        findings(tmp.path()),
        ["ERROR fdinfo-2.img entry 2: fd 2: file id 18 is REG in files.img, not PIPE"]
    );
}

#[test]
fn duplicate_fd() {
    let tmp = copy_case("sleep");
    edit(tmp.path(), "fdinfo-2.img", |img| {
        set_int(&mut img.entries[2].msg, "fd", 0)
    });
    assert_eq!(
        findings(tmp.path()),
        ["ERROR fdinfo-2.img entry 2: fd 0 appears again (first at entry 0)"]
    );
}

#[test]
fn bad_cwd_exe_and_mapping_ids() {
    let tmp = copy_case("sleep");
    edit(tmp.path(), "fs-18604.img", |img| {
        set_int(&mut img.entries[0].msg, "cwd_id", 77)
    });
    edit(tmp.path(), "mm-18604.img", |img| {
        let mm = &mut img.entries[0].msg;
        set_int(mm, "exe_file_id", 78);
        set_int(subs(mm, "vmas")[0], "shmid", 79);
    });
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR fs-18604.img entry 0: cwd_id: file id 77 is not in files.img",
            "ERROR mm-18604.img entry 0: exe_file_id: file id 78 is not in files.img",
            "ERROR mm-18604.img entry 0: vmas[0] at 0x5645b74a0000 shmid: file id 79 is not in files.img",
        ]
    );
}

#[test]
fn truncated_pages() {
    let tmp = copy_case("sleep");
    truncate(&tmp.path().join("pages-1.img"), 4096);
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR pages-1.img: holds 29 pages, but 30 pages (122880 bytes) are marked present in pagemap-18604.img"
        ]
    );
    truncate(&tmp.path().join("pages-1.img"), 10);
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR pages-1.img: holds 118774 bytes, not a whole number of 4096-byte pages, but 30 pages (122880 bytes) are marked present in pagemap-18604.img"
        ]
    );
}

#[test]
fn truncated_image() {
    let tmp = copy_case("sleep");
    truncate(&tmp.path().join("core-18604.img"), 3);
    let f = findings(tmp.path());
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("ERROR core-18604.img: cannot be decoded: entry 0 at byte "),
        "{f:?}"
    );
}

#[test]
fn trailing_garbage() {
    let tmp = copy_case("sleep");
    let p = tmp.path().join("fs-18604.img");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.extend_from_slice(b"\x07\0\0\0garbage!");
    std::fs::write(&p, &bytes).unwrap();
    let f = findings(tmp.path());
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("ERROR fs-18604.img: cannot be decoded: entry 1 at byte "),
        "{f:?}"
    );
    // Zero bytes decode as an empty entry, which lacks every required field.
    bytes.truncate(bytes.len() - 12);
    bytes.extend_from_slice(&[0; 4]);
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR fs-18604.img entry 1: fs_entry lacks required field cwd_id",
            "WARN fs-18604.img: holds 2 entries, 1 expected (restore reads the first)",
        ]
    );
}

/// A required field missing in a sub-message (here a VMA's start, the
/// mm entry otherwise regular) is found and named by its dotted path.
#[test]
fn a_required_field_missing_in_a_sub_message_is_named() {
    let tmp = copy_case("sleep");
    edit(tmp.path(), "mm-18604.img", |img| {
        clear(subs(&mut img.entries[0].msg, "vmas")[3], "start")
    });
    assert_eq!(
        findings(tmp.path()),
        ["ERROR mm-18604.img entry 0: mm_entry lacks required field vmas.start"]
    );
}

#[test]
fn parent_not_in_tree() {
    let tmp = copy_case("shell-tree");
    edit(tmp.path(), "pstree.img", |img| {
        set_int(&mut img.entries[1].msg, "ppid", 4242)
    });
    assert_eq!(
        findings(tmp.path()),
        ["ERROR pstree.img entry 1: parent 4242 of pid 18693 is not in the tree"]
    );
}

#[test]
fn two_roots() {
    let tmp = copy_case("shell-tree");
    edit(tmp.path(), "pstree.img", |img| {
        set_int(&mut img.entries[1].msg, "ppid", 0)
    });
    assert_eq!(
        findings(tmp.path()),
        ["ERROR pstree.img entry 1: pid 18693 is a second root (ppid 0), besides pid 18691"]
    );
}

#[test]
fn cycle_in_tree() {
    let tmp = copy_case("shell-tree");
    // 18694 is the parent of 18696; make 18696 the parent of 18694 too.
    let (a, b) = {
        let img = load(tmp.path(), "pstree.img");
        let at = |pid| {
            img.entries
                .iter()
                .position(|e| e.msg.u64("pid") == Some(pid))
                .unwrap()
        };
        (at(18694), at(18696))
    };
    edit(tmp.path(), "pstree.img", |img| {
        set_int(&mut img.entries[a].msg, "ppid", 18696)
    });
    assert_eq!(
        findings(tmp.path()),
        [
            format!(
                "ERROR pstree.img entry {a}: pid 18694 is not connected to the root (its parents form a cycle)"
            ),
            format!(
                "ERROR pstree.img entry {b}: pid 18696 is not connected to the root (its parents form a cycle)"
            ),
        ]
    );
}

#[test]
fn duplicate_pid() {
    let tmp = copy_case("shell-tree");
    edit(tmp.path(), "pstree.img", |img| {
        set_int(&mut img.entries[2].msg, "pid", 18693)
    });
    let f = findings(tmp.path());
    assert_eq!(
        f[0],
        "ERROR pstree.img entry 2: pid 18693 appears again (first at entry 1)"
    );
    assert_eq!(
        f[1],
        "WARN pstree.img entry 2: threads of pid 18693 do not include the pid itself"
    );
}

#[test]
fn thread_without_core() {
    let tmp = copy_case("threads");
    let img = load(tmp.path(), "pstree.img");
    let pid = img.entries[0].msg.u64("pid").unwrap();
    let threads: Vec<u64> = img.entries[0]
        .msg
        .get("threads")
        .iter()
        .map(|v| match v {
            crit_fs::message::Value::U64(t) => *t,
            _ => panic!(),
        })
        .collect();
    let tid = *threads.iter().find(|&&t| t != pid).unwrap();
    std::fs::remove_file(tmp.path().join(format!("core-{tid}.img"))).unwrap();
    assert_eq!(
        findings(tmp.path()),
        [format!(
            "ERROR core-{tid}.img: missing (needed by thread {tid} of pid {pid})"
        )]
    );
}

#[test]
fn pages_outside_the_mappings_and_overlapping() {
    let tmp = copy_case("sleep");
    edit(tmp.path(), "pagemap-18604.img", |img| {
        set_int(&mut img.entries[1].msg, "vaddr", 0x1000);
    });
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR pagemap-18604.img entry 1: pages 0x1000-0x2000 (1 pages) are not inside the mappings of mm-18604.img"
        ]
    );
    let tmp = copy_case("sleep");
    edit(tmp.path(), "pagemap-18604.img", |img| {
        let v = img.entries[3].msg.u64("vaddr").unwrap();
        set_int(&mut img.entries[4].msg, "vaddr", v as i64);
    });
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR pagemap-18604.img entry 4: pages at 0x5645c757c000 overlap or precede the previous entry (ending at 0x5645c7580000)"
        ]
    );
    let tmp = copy_case("sleep");
    edit(tmp.path(), "pagemap-18604.img", |img| {
        set_int(&mut img.entries[2].msg, "vaddr", 0x5645b74a7001);
    });
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR pagemap-18604.img entry 2: vaddr 0x5645b74a7001 is not aligned to the page size (4096)"
        ]
    );
}

#[test]
fn unnamed_pages_image_is_a_warning() {
    let tmp = copy_case("sleep");
    std::fs::write(tmp.path().join("pages-9.img"), [0u8; 4096]).unwrap();
    let report = check::check(tmp.path()).unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].level, Level::Warn);
    assert_eq!(
        report.findings[0].to_string(),
        "WARN pages-9.img: not named by any pagemap"
    );
    assert!(report.is_clean());
}

#[test]
fn ghost_file_missing() {
    let tmp = copy_case("unix-files");
    std::fs::remove_file(tmp.path().join("ghost-file-1.img")).unwrap();
    assert_eq!(
        findings(tmp.path()),
        ["ERROR remap-fpath.img entry 0: ghost file of file id 16: ghost-file-1.img is missing"]
    );
    edit(tmp.path(), "remap-fpath.img", |img| {
        set_int(&mut img.entries[0].msg, "orig_id", 555)
    });
    assert_eq!(
        findings(tmp.path())[0],
        "ERROR remap-fpath.img entry 0: orig_id: file id 555 is not in files.img"
    );
}

#[test]
fn unix_peer_missing() {
    let tmp = copy_case("unix-files");
    edit(tmp.path(), "files.img", |img| {
        for e in &mut img.entries {
            if e.msg.msg("usk").and_then(|u| u.u64("ino")) == Some(171725) {
                set_int(sub(&mut e.msg, "usk"), "peer", 4242);
            }
            if e.msg.msg("usk").and_then(|u| u.u64("ino")) == Some(171727) {
                set_int(sub(&mut e.msg, "usk"), "peer", 4343);
            }
        }
    });
    assert_eq!(
        findings(tmp.path()),
        [
            // Restore wants every peer among the dump's sockets, datagram
            // ones too: CRIU writes an external peer as a socket entry.
            "ERROR files.img: unix socket file id 7 (ino 171725): peer 4242 is not in the dump (restore: FATAL: Peer 4242 unresolved for 171725)",
            "ERROR files.img: unix socket file id 9 (ino 171727): peer 4343 is not in the dump (restore: FATAL: Peer 4343 unresolved for 171727)",
        ]
    );
}

#[test]
fn socket_queue_of_no_socket() {
    let tmp = copy_case("unix-files");
    edit(tmp.path(), "sk-queues.img", |img| {
        set_int(&mut img.entries[0].msg, "id_for", 12345)
    });
    assert_eq!(
        findings(tmp.path()),
        [
            "WARN sk-queues.img entry 0: queued data for file id 12345, which is not a socket (restore drops it)"
        ]
    );
}

#[test]
fn tcp_stream_missing() {
    let tmp = copy_case("tcp");
    std::fs::remove_file(tmp.path().join("tcp-stream-29df0.img")).unwrap();
    assert_eq!(
        findings(tmp.path()),
        ["ERROR tcp-stream-29df0.img: missing (needed by connected TCP socket file id 7)"]
    );
}

#[test]
fn legacy_dump_is_checked_through_its_kind_images() {
    let tmp = copy_case("shell-tree");
    let files = load(tmp.path(), "files.img");
    for (field, magic, name) in [
        ("reg", "REG_FILES", "reg-files.img"),
        ("pipe", "PIPES", "pipes.img"),
    ] {
        let msgs = files
            .entries
            .iter()
            .filter_map(|e| e.msg.msg(field).cloned())
            .collect();
        save(tmp.path(), name, &image_of(magic, msgs));
    }
    std::fs::remove_file(tmp.path().join("files.img")).unwrap();
    assert_eq!(findings(tmp.path()), Vec::<String>::new());
    std::fs::remove_file(tmp.path().join("pipes.img")).unwrap();
    assert_eq!(
        findings(tmp.path()),
        ["ERROR pipes.img: missing (needed by fdinfo-3.img, as the dump has no files.img)"]
    );
}

#[test]
fn json_report() {
    let tmp = copy_case("sleep");
    std::fs::remove_file(tmp.path().join("fs-18604.img")).unwrap();
    let (text, clean) = check::render(tmp.path(), true).unwrap();
    assert!(!clean);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["clean"], false);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    assert_eq!(v["findings"][0]["level"], "ERROR");
    assert_eq!(v["findings"][0]["image"], "fs-18604.img");
    assert_eq!(v["findings"][0]["entry"], serde_json::Value::Null);
    assert_eq!(v["findings"][0]["what"], "missing (needed by pid 18604)");
    let (text, clean) = check::render(&corpus("sleep"), true).unwrap();
    assert!(clean);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["clean"], true);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn cli_exit_status() {
    let bin = env!("CARGO_BIN_EXE_crit-fs");
    let ok = std::process::Command::new(bin)
        .args(["check", corpus("tcp").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let tmp = copy_case("sleep");
    std::fs::remove_file(tmp.path().join("mm-18604.img")).unwrap();
    let bad = std::process::Command::new(bin)
        .args(["check", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stdout),
        "ERROR mm-18604.img: missing (needed by pid 18604)\n\
         check: 1 error, 0 warnings in 13 images: will not restore\n"
    );
}

#[test]
fn unreadable_directory_is_an_error() {
    let e = check::check(Path::new("/nonexistent/crit-fs-dump")).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent/crit-fs-dump: "),
        "{e}"
    );
}

#[test]
fn damaged_images_never_panic() {
    // Every image of two dumps, cut at several places and with bytes
    // flipped: check and every explorer answer (findings or an error).
    for case in ["sleep", "unix-files"] {
        let tmp = copy_case(case);
        let names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".img"))
            .collect();
        for name in names {
            let path = tmp.path().join(&name);
            let good = std::fs::read(&path).unwrap();
            let len = good.len();
            let mut variants: Vec<Vec<u8>> = [0, 4, 8, 9, len / 2, len.saturating_sub(1)]
                .iter()
                .map(|&cut| good[..cut.min(len)].to_vec())
                .collect();
            for at in [8, 12, 16, len / 3, len / 2] {
                if at < len {
                    let mut v = good.clone();
                    v[at] ^= 0xff;
                    variants.push(v);
                }
            }
            for v in variants {
                std::fs::write(&path, &v).unwrap();
                let report = check::check(tmp.path()).unwrap();
                if v != good {
                    let _ = report.text();
                }
                for what in crit_fs::explore::EXPLORERS {
                    let _ = crit_fs::explore::render(tmp.path(), what, false);
                    let _ = crit_fs::explore::render(tmp.path(), what, true);
                }
            }
            std::fs::write(&path, &good).unwrap();
        }
    }
}

// Regression tests for false alarms: each corpus dump below was restored
// by CRIU 4.2, yet check used to report it.

/// CRIU leaves a zombie's pstree thread list unset (zombie: [1703398368]
/// and [0]); restore reads only the zombie's own core.
#[test]
fn zombie_thread_lists_are_not_read() {
    let tmp = copy_case("zombie");
    assert_eq!(findings(tmp.path()), Vec::<String>::new());
    // Whatever the zombie's list holds, no core image is wanted for it...
    edit(tmp.path(), "pstree.img", |img| {
        let m = &mut img.entries[2].msg;
        let idx = crit_fs::schema::Schema::get()
            .message(m.msg_type)
            .field_by_name("threads")
            .unwrap();
        m.set(idx, vec![crit_fs::message::Value::U64(4242)]);
    });
    assert_eq!(findings(tmp.path()), Vec::<String>::new());
    // ...but the zombie's own core still is (without it, the task is
    // taken as alive and its other images are wanted too).
    std::fs::remove_file(tmp.path().join("core-13419.img")).unwrap();
    let f = findings(tmp.path());
    assert!(
        f.contains(&"ERROR core-13419.img: missing (needed by pid 13419)".to_string()),
        "{f:?}"
    );
}

/// A dual-stack listener's accepted socket records its AF_INET peer as
/// `::ffff:127.0.0.1`: the peer is in the dump (podman-c4-tcp).
#[test]
fn ipv4_mapped_tcp_peer_is_found() {
    let tmp = copy_case("podman-c4-tcp");
    assert_eq!(findings(tmp.path()), Vec::<String>::new());
    // A peer really missing is still a warning (restore does not mind).
    edit(tmp.path(), "files.img", |img| {
        for e in &mut img.entries {
            if e.msg.msg("isk").and_then(|s| s.u64("ino")) == Some(294505) {
                set_int(sub(&mut e.msg, "isk"), "dst_port", 1234);
            }
        }
    });
    assert_eq!(
        findings(tmp.path()),
        [
            "WARN files.img: TCP socket file id 13 (ino 294505): its loopback peer is not in the dump",
            "WARN files.img: TCP socket file id 22 (ino 294639): its loopback peer is not in the dump",
        ]
    );
}

/// A dump made with --tcp-close has no tcp-stream images; restore (given
/// --tcp-close, which the inventory demands) does not read them.
#[test]
fn tcp_close_dump_needs_no_tcp_stream() {
    let tmp = copy_case("tcp");
    for e in std::fs::read_dir(tmp.path()).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("tcp-stream-")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR tcp-stream-29df0.img: missing (needed by connected TCP socket file id 7)",
            "ERROR tcp-stream-29df1.img: missing (needed by connected TCP socket file id 8)",
        ]
    );
    edit(tmp.path(), "inventory.img", |img| {
        let m = &mut img.entries[0].msg;
        let idx = crit_fs::schema::Schema::get()
            .message(m.msg_type)
            .field_by_name("tcp_close")
            .unwrap();
        m.set(idx, vec![crit_fs::message::Value::Bool(true)]);
    });
    assert_eq!(findings(tmp.path()), Vec::<String>::new());
}

/// Restore reads pstree.img in order: a parent after its child fails.
#[test]
fn parent_after_child_in_pstree() {
    let tmp = copy_case("shell-tree");
    edit(tmp.path(), "pstree.img", |img| img.entries.swap(0, 1));
    let img = load(tmp.path(), "pstree.img");
    let (root, child) = (
        img.entries[1].msg.u64("pid").unwrap(),
        img.entries[0].msg.u64("pid").unwrap(),
    );
    assert_eq!(
        findings(tmp.path()),
        [format!(
            "ERROR pstree.img entry 0: parent {root} of pid {child} comes after it, at entry 1 (restore reads parents first: Can't find a parent for {child})"
        )]
    );
}

/// A thread listed after the first that is also a task's pid.
#[test]
fn thread_that_is_a_task() {
    let tmp = copy_case("shell-tree");
    let img = load(tmp.path(), "pstree.img");
    let (pid, other) = (
        img.entries[0].msg.u64("pid").unwrap(),
        img.entries[1].msg.u64("pid").unwrap(),
    );
    edit(tmp.path(), "pstree.img", |img| {
        let m = &mut img.entries[0].msg;
        let idx = crit_fs::schema::Schema::get()
            .message(m.msg_type)
            .field_by_name("threads")
            .unwrap();
        m.set(
            idx,
            vec![
                crit_fs::message::Value::U64(pid),
                crit_fs::message::Value::U64(other),
            ],
        );
    });
    let f = findings(tmp.path());
    assert!(
        f.contains(&format!(
            "ERROR pstree.img entry 0: thread {other} of pid {pid} is also the pid of a task (restore: Unexpected task {other})"
        )),
        "{f:?}"
    );
}

// Pre-dump chains (tests/common/predump.rs builds them).

use common::predump::{Chain, predump_chain};

/// `memory`'s task pagemap, every other present range moved up.
fn chain(levels: usize) -> Chain {
    let c = predump_chain(&corpus("memory"), levels, |_, i| i % 2 == 1);
    assert!(c.moved.len() >= 2 * levels, "{:?}", c.moved);
    c
}

#[test]
fn predump_chain_is_clean() {
    for levels in [1, 2] {
        let c = chain(levels);
        assert_eq!(findings(c.last()), Vec::<String>::new(), "{levels} levels");
        assert!(c.moved.iter().any(|m| m.level == levels));
    }
}

#[test]
fn predump_chain_parent_missing() {
    let c = chain(1);
    std::fs::remove_dir_all(&c.dirs[1]).unwrap();
    assert_eq!(
        findings(c.last()),
        [
            "ERROR parent: parent (-> ../d1): No such file or directory (restore: Can't open parent path: No such file or directory)"
        ]
    );
}

#[test]
fn predump_chain_without_parent_link() {
    let c = chain(1);
    std::fs::remove_file(c.last().join("parent")).unwrap();
    let m = &c.moved[0];
    assert_eq!(
        findings(c.last()),
        [format!(
            "ERROR {} entry {}: pages {:#x}-{:#x} and {} more ranges are in the parent dump, but there is no parent link (restore: No parent for snapshot pagemap)",
            m.pagemap,
            m.entry,
            m.vaddr,
            m.vaddr + m.nr_pages * 4096,
            c.moved.len() - 1
        )]
    );
}

#[test]
fn predump_chain_loop() {
    let c = chain(1);
    std::os::unix::fs::symlink("../d0", c.dirs[1].join("parent")).unwrap();
    let d0 = c.dirs[0].canonicalize().unwrap();
    let f = findings(c.last());
    assert_eq!(
        f[0],
        format!(
            "ERROR parent: {}/parent (-> ../d0) leads back to {}: the chain is a loop",
            c.dirs[1].canonicalize().unwrap().display(),
            d0.display()
        )
    );
    assert_eq!(f.len(), 1, "{f:?}");
}

#[test]
fn predump_chain_range_not_in_parent() {
    let c = chain(1);
    let m = c.moved[1].clone();
    // Take the range out of the parent, pages and all.
    let pm_path = c.dirs[1].join(&m.pagemap);
    let mut pm = crit_fs::image::Image::decode(&std::fs::read(&pm_path).unwrap()).unwrap();
    let pages_name = format!("pages-{}.img", pm.entries[0].msg.u64("pages_id").unwrap());
    let at = pm
        .entries
        .iter()
        .position(|e| e.msg.u64("vaddr") == Some(m.vaddr))
        .unwrap();
    let before: u64 = pm.entries[1..at]
        .iter()
        .map(|e| e.msg.u64("nr_pages").unwrap())
        .sum();
    pm.entries.remove(at);
    std::fs::write(&pm_path, pm.encode().unwrap()).unwrap();
    let mut pages = std::fs::read(c.dirs[1].join(&pages_name)).unwrap();
    let from = (before * 4096) as usize;
    pages.drain(from..from + (m.nr_pages * 4096) as usize);
    std::fs::write(c.dirs[1].join(&pages_name), pages).unwrap();
    let d1 = c.dirs[1].canonicalize().unwrap();
    assert_eq!(
        findings(c.last()),
        [format!(
            "ERROR {} entry {}: pages {:#x}-{:#x} (in_parent): {:#x} is not in {}/{} (restore: Missing {:x} in parent pagemap)",
            m.pagemap,
            m.entry,
            m.vaddr,
            m.vaddr + m.nr_pages * 4096,
            m.vaddr,
            d1.display(),
            m.pagemap,
            m.vaddr
        )]
    );
}

#[test]
fn predump_chain_grandparent_missing_a_range() {
    let c = chain(2);
    // A range held two levels up: its grandparent's pages image cut short.
    let m = c.moved.iter().find(|m| m.level == 2).unwrap().clone();
    let d2 = c.dirs[2].canonicalize().unwrap();
    let pm = crit_fs::image::Image::decode(&std::fs::read(d2.join(&m.pagemap)).unwrap()).unwrap();
    let pages_name = format!("pages-{}.img", pm.entries[0].msg.u64("pages_id").unwrap());
    truncate(&d2.join(&pages_name), 4096);
    let f = findings(c.last());
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with(&format!("ERROR {}/{pages_name}: holds ", d2.display())),
        "{f:?}"
    );
}

/// `x rss` lists every pagemap entry of the last dump, in_parent ones too,
/// as CRIT does: a chain's rss is the rss of the dump it was made from.
#[test]
fn predump_chain_rss_reads_through() {
    let c = chain(2);
    for json in [false, true] {
        let mut want = Vec::new();
        crit_fs::explore::run(&corpus("memory"), "rss", json, &mut want).unwrap();
        let mut got = Vec::new();
        crit_fs::explore::run(c.last(), "rss", json, &mut got).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }
}

/// Restore reads pages by offset: bytes after the last are never read.
#[test]
fn pages_image_longer_than_needed_is_a_warning() {
    let tmp = copy_case("sleep");
    let path = tmp.path().join("pages-1.img");
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    bytes.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        findings(tmp.path()),
        [format!(
            "WARN pages-1.img: holds {} bytes, more than the {} pages ({len} bytes) marked present in pagemap-18604.img: the rest is never read",
            len + 4096,
            len / 4096
        )]
    );
}

/// Restore fills only private mappings from the task's pagemap.
#[test]
fn pages_in_a_shared_mapping() {
    let tmp = copy_case("sleep");
    let pm = load(tmp.path(), "pagemap-18604.img");
    let vaddr = pm.entries[1].msg.u64("vaddr").unwrap();
    let nr = pm.entries[1].msg.u64("nr_pages").unwrap();
    let mut range = (0, 0);
    edit(tmp.path(), "mm-18604.img", |img| {
        for v in subs(&mut img.entries[0].msg, "vmas") {
            let (s, e) = (v.u64("start").unwrap(), v.u64("end").unwrap());
            if s <= vaddr && vaddr < e {
                // VMA_AREA_REGULAR | VMA_ANON_SHARED
                set_int(v, "status", 1 | (1 << 8));
                range = (s, e);
            }
        }
    });
    assert_eq!(
        findings(tmp.path()),
        [format!(
            "ERROR pagemap-18604.img entry 1: pages {vaddr:#x}-{:#x} lie in the mapping {:#x}-{:#x}, which is not private (restore: Trying to restore page for non-private VMA)",
            vaddr + nr * 4096,
            range.0,
            range.1
        )]
    );
}

/// Restore knows tasks alive, dead or stopped; a core saying zombie (6, as
/// the kernel would) is refused.
#[test]
fn unknown_task_state() {
    let tmp = copy_case("zombie");
    edit(tmp.path(), "core-13418.img", |img| {
        set_int(sub(&mut img.entries[0].msg, "tc"), "task_state", 6)
    });
    assert_eq!(
        findings(tmp.path()),
        [
            "ERROR core-13418.img entry 0: tc.task_state is 6, not 1 (alive), 2 (dead) or 3 (stopped) (restore: Unknown task state 6)"
        ]
    );
}

#[test]
fn predump_chain_parent_pagemap_missing() {
    let c = chain(1);
    let m = c.moved[0].clone();
    std::fs::remove_file(c.dirs[1].join(&m.pagemap)).unwrap();
    let d1 = c.dirs[1].canonicalize().unwrap();
    assert_eq!(
        findings(c.last()),
        [format!(
            "ERROR {} entry {}: pages {:#x}-{:#x} (in_parent): {}/{} is missing (restore: No parent for snapshot pagemap)",
            m.pagemap,
            m.entry,
            m.vaddr,
            m.vaddr + m.nr_pages * 4096,
            d1.display(),
            m.pagemap
        )]
    );
}

/// The moved pages are where the chain says: the parent's pages image
/// holds the original bytes of each range, in order.
#[test]
fn predump_chain_moves_the_bytes() {
    let c = chain(1);
    let src = corpus("memory");
    let pm = load(&src, &c.moved[0].pagemap);
    let id = pm.entries[0].msg.u64("pages_id").unwrap();
    let orig = std::fs::read(src.join(format!("pages-{id}.img"))).unwrap();
    let mut off = 0u64;
    let mut want = Vec::new();
    for (i, e) in pm.entries.iter().enumerate().skip(1) {
        let nr = e.msg.u64("nr_pages").unwrap();
        if e.msg.u64("flags").unwrap() & 4 == 0 {
            continue;
        }
        if c.moved.iter().any(|m| m.entry == i) {
            want.extend_from_slice(&orig[(off * 4096) as usize..((off + nr) * 4096) as usize]);
        }
        off += nr;
    }
    let got = std::fs::read(c.dirs[1].join(format!("pages-{id}.img"))).unwrap();
    assert!(!want.is_empty());
    assert!(
        got == want,
        "the parent's pages differ from the moved ranges"
    );
}

/// A mount's views of the stats images (`stats-dump.json`) are not images:
/// `check MNT` used to report them as undecodable.
#[test]
fn stats_views_are_not_images() {
    let tmp = copy_case("sleep");
    std::fs::write(
        tmp.path().join("stats-dump.json"),
        b"{\n  \"magic\": \"STATS\"\n}\n",
    )
    .unwrap();
    assert_eq!(findings(tmp.path()), Vec::<String>::new());
}
