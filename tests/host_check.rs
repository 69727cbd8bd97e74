//! `check --host`: a dump whose files, ports and pids are ready on this host
//! is clean; each way the host is not ready gives one finding.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use crit_fs::check;
use crit_fs::message::Value;
use crit_fs::schema::Schema;

/// The host findings (after the image checks, which must be clean).
fn host_findings(dir: &Path) -> Vec<String> {
    assert!(
        check::check(dir).unwrap().findings.is_empty(),
        "the images themselves are not clean"
    );
    check::check_host(dir)
        .unwrap()
        .findings
        .iter()
        .map(|f| f.to_string())
        .collect()
}

fn set_str(m: &mut crit_fs::message::Message, name: &str, v: &str) {
    let idx = Schema::get()
        .message(m.msg_type)
        .field_by_name(name)
        .unwrap();
    m.set(idx, vec![Value::Str(v.as_bytes().to_vec())]);
}

const TCP_LISTEN: i64 = 10;

/// A pid nobody uses on this host (counting down from pid_max).
fn free_pid(skip: &[u64]) -> u64 {
    let max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (300..max)
        .rev()
        .find(|p| !skip.contains(p) && !Path::new(&format!("/proc/{p}")).exists())
        .unwrap()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Gives the single task of `dir` pid `new` (its images renamed).
fn renumber(dir: &Path, new: u64) {
    let img = load(dir, "pstree.img");
    assert_eq!(img.entries.len(), 1);
    let old = img.entries[0].msg.u64("pid").unwrap();
    edit(dir, "pstree.img", |img| {
        let m = &mut img.entries[0].msg;
        for f in ["pid", "pgid", "sid"] {
            set_int(m, f, new as i64);
        }
        let idx = Schema::get()
            .message(m.msg_type)
            .field_by_name("threads")
            .unwrap();
        m.set(idx, vec![Value::U64(new)]);
    });
    for kind in ["core", "ids", "mm", "pagemap", "fs"] {
        std::fs::rename(
            dir.join(format!("{kind}-{old}.img")),
            dir.join(format!("{kind}-{new}.img")),
        )
        .unwrap();
    }
}

/// A copy of corpus case `name` made ready for this host: every regular
/// file it names (but /dev/null) recreated under `host/` of a temporary
/// directory with the recorded size and mode, the dump's names pointed
/// there; its task given a free pid; a listening TCP socket given a free
/// port. Returns the temporary directory (dump in `dump/`) and the files.
struct Ready {
    tmp: tempfile::TempDir,
    /// (file id, path on this host)
    files: Vec<(u64, PathBuf)>,
}

impl Ready {
    fn dump(&self) -> PathBuf {
        self.tmp.path().join("dump")
    }

    fn file(&self, id: u64) -> &Path {
        &self.files.iter().find(|(i, _)| *i == id).unwrap().1
    }
}

fn ready(case: &str) -> Ready {
    let tmp = tempfile::tempdir().unwrap();
    let src = copy_case(case);
    let dump = tmp.path().join("dump");
    std::fs::create_dir(&dump).unwrap();
    for e in std::fs::read_dir(src.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dump.join(e.file_name())).unwrap();
    }
    let host = tmp.path().join("host");
    let mut files = Vec::new();
    edit(&dump, "files.img", |img| {
        for e in &mut img.entries {
            let id = e.msg.u64("id").unwrap();
            if e.msg.msg("reg").is_some() {
                let reg = sub(&mut e.msg, "reg");
                let name = reg.str("name").unwrap().into_owned();
                if name == "/dev/null" {
                    continue;
                }
                let path = host.join(name.trim_start_matches('/'));
                let mode = reg.u64("mode").unwrap() as u32;
                if mode & 0o170000 == 0o040000 {
                    std::fs::create_dir_all(&path).unwrap();
                } else {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    let f = std::fs::File::create(&path).unwrap();
                    f.set_len(reg.u64("size").unwrap_or(0)).unwrap();
                }
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))
                    .unwrap();
                set_str(reg, "name", path.to_str().unwrap());
                files.push((id, path));
            }
            if e.msg.msg("isk").and_then(|s| s.i64("state")) == Some(TCP_LISTEN) {
                set_int(sub(&mut e.msg, "isk"), "src_port", free_port() as i64);
            }
        }
    });
    let pid = free_pid(&[]);
    renumber(&dump, pid);
    Ready { tmp, files }
}

#[test]
fn host_ready_is_clean() {
    let r = ready("tcp");
    assert_eq!(host_findings(&r.dump()), Vec::<String>::new());
    let (text, clean) = check::render_host(&r.dump(), false).unwrap();
    assert!(clean);
    assert!(
        text.starts_with("check: 0 errors, 0 warnings in "),
        "{text}"
    );
}

#[test]
fn host_file_missing() {
    let r = ready("tcp");
    let exe = r.file(1);
    std::fs::remove_file(exe).unwrap();
    let rel = exe.to_str().unwrap().trim_start_matches('/');
    assert_eq!(
        host_findings(&r.dump()),
        [format!(
            "ERROR files.img: file id 1 {}: No such file or directory on this host (restore: Can't open file {rel} on restore: No such file or directory)",
            exe.display()
        )]
    );
}

#[test]
fn host_file_size_changed() {
    let r = ready("tcp");
    let exe = r.file(1);
    let f = std::fs::OpenOptions::new().write(true).open(exe).unwrap();
    f.set_len(17020).unwrap();
    let rel = exe.to_str().unwrap().trim_start_matches('/');
    assert_eq!(
        host_findings(&r.dump()),
        [format!(
            "ERROR files.img: file id 1 {}: size 17020 on this host, 17016 in the dump (restore: File {rel} has bad size 17020 (expect 17016))",
            exe.display()
        )]
    );
}

#[test]
fn host_file_mode_changed() {
    let r = ready("tcp");
    let exe = r.file(1);
    std::fs::set_permissions(exe, std::fs::Permissions::from_mode(0o700)).unwrap();
    let rel = exe.to_str().unwrap().trim_start_matches('/');
    assert_eq!(
        host_findings(&r.dump()),
        [format!(
            "ERROR files.img: file id 1 {}: mode 0100700 on this host, 0100755 in the dump (restore: File {rel} has bad mode 0100700 (expect 0100755); --skip-file-rwx-check ignores the permission bits)",
            exe.display()
        )]
    );
}

/// A remapped (ghost or linked) file is recreated by restore, not looked for.
#[test]
fn host_remapped_files_are_not_looked_for() {
    let tmp = copy_case("unix-files");
    let f = host_findings(tmp.path());
    let remapped: Vec<u64> = load(tmp.path(), "remap-fpath.img")
        .entries
        .iter()
        .map(|e| e.msg.u64("orig_id").unwrap())
        .collect();
    assert!(!remapped.is_empty());
    for id in remapped {
        assert!(
            !f.iter().any(|l| l.contains(&format!("file id {id} "))),
            "{f:?}"
        );
    }
}

#[test]
fn host_port_busy() {
    let r = ready("tcp");
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    edit(&r.dump(), "files.img", |img| {
        for e in &mut img.entries {
            if e.msg.msg("isk").and_then(|s| s.i64("state")) == Some(TCP_LISTEN) {
                set_int(sub(&mut e.msg, "isk"), "src_port", port as i64);
            }
        }
    });
    assert_eq!(
        host_findings(&r.dump()),
        [format!(
            "ERROR files.img: TCP socket file id 6 listens on 127.0.0.1:{port}: Address already in use on this host (restore: Can't bind inet socket (id 6): Address already in use)"
        )]
    );
}

#[test]
fn host_pid_taken() {
    let r = ready("tcp");
    let me = std::process::id() as u64;
    renumber(&r.dump(), me);
    let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
    assert_eq!(
        host_findings(&r.dump()),
        [format!(
            "ERROR pstree.img entry 0: pid {me} is taken on this host by '{}' (restore: Can't fork for {me}: File exists)",
            comm.trim_end()
        )]
    );
}

/// A dump in its own pid namespace gets fresh pids: none is looked for.
/// pid-mnt-ns has its own mount namespace too: files are not looked for,
/// which one warning says.
#[test]
fn host_own_namespaces_skip_pids_and_files() {
    let tmp = copy_case("pid-mnt-ns");
    edit(tmp.path(), "pstree.img", |img| {
        // Pid 1 of the dump's namespace is surely taken on the host.
        assert_eq!(img.entries[0].msg.u64("pid"), Some(1));
    });
    assert_eq!(
        host_findings(tmp.path()),
        [
            "WARN inventory.img: regular files not checked: the dump has its own mount namespace, whose root restore takes from --root or the dumped mounts"
        ]
    );
}

#[test]
fn host_cli_and_json() {
    let r = ready("tcp");
    std::fs::remove_file(r.file(1)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crit-fs"))
        .args(["check", "--host", "--json", r.dump().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errors"], 1);
    assert_eq!(v["findings"][0]["image"], "files.img");
    assert!(
        v["findings"][0]["what"]
            .as_str()
            .unwrap()
            .starts_with("file id 1 ")
    );
    // Without --host, the same dump is clean.
    let out = Command::new(env!("CARGO_BIN_EXE_crit-fs"))
        .args(["check", r.dump().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn host_core_of_another_architecture() {
    let r = ready("tcp");
    let core = std::fs::read_dir(r.dump())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("core-"))
        .unwrap();
    edit(&r.dump(), &core, |img| {
        // AARCH64 (this test runs on x86_64; elsewhere PPC64)
        let other = if cfg!(target_arch = "aarch64") { 4 } else { 3 };
        set_int(&mut img.entries[0].msg, "mtype", other)
    });
    let want = if cfg!(target_arch = "aarch64") {
        "dumped on PPC64, this host is AARCH64 (restore: Core march mismatch 4)"
    } else {
        "dumped on AARCH64, this host is X86_64 (restore: Core march mismatch 3)"
    };
    let f = check::check_host(&r.dump()).unwrap();
    let lines: Vec<String> = f.findings.iter().map(|f| f.to_string()).collect();
    assert_eq!(lines, [format!("ERROR {core} entry 0: {want}")]);
}

#[test]
fn host_thread_taken() {
    let r = ready("tcp");
    let dump = r.dump();
    let img = load(&dump, "pstree.img");
    let pid = img.entries[0].msg.u64("pid").unwrap();
    let me = std::process::id() as u64;
    edit(&dump, "pstree.img", |img| {
        let m = &mut img.entries[0].msg;
        let idx = Schema::get()
            .message(m.msg_type)
            .field_by_name("threads")
            .unwrap();
        m.set(idx, vec![Value::U64(pid), Value::U64(me)]);
    });
    std::fs::copy(
        dump.join(format!("core-{pid}.img")),
        dump.join(format!("core-{me}.img")),
    )
    .unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
    assert_eq!(
        host_findings(&dump),
        [format!(
            "ERROR pstree.img entry 0: thread {me} of pid {pid} is taken on this host by '{}' (restore: Unable to create a thread: -17)",
            comm.trim_end()
        )]
    );
}

/// An absent process group leader is stood for by a helper with its pid.
#[test]
fn host_group_leader_pid_taken() {
    let r = ready("tcp");
    let dump = r.dump();
    let pid = load(&dump, "pstree.img").entries[0].msg.u64("pid").unwrap();
    let me = std::process::id() as u64;
    edit(&dump, "pstree.img", |img| {
        set_int(&mut img.entries[0].msg, "pgid", me as i64)
    });
    let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
    assert_eq!(
        host_findings(&dump),
        [format!(
            "ERROR pstree.img entry 0: pid {me}, which restore gives a helper standing for the absent leader of the process group of pid {pid} (unless restore runs in that group, --shell-job), is taken on this host by '{}' (restore: Can't fork for {me}: File exists)",
            comm.trim_end()
        )]
    );
}

/// Restore binds with SO_REUSEPORT: a port held by a listener that allows
/// the same is no obstacle (the kernel lets both listen).
#[test]
fn host_port_shared_with_reuseport_is_free() {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let r = ready("tcp");
    // SAFETY: a socket owned here; pointers to live locals of the given size.
    let (held, port) = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let fd = OwnedFd::from_raw_fd(fd);
        let one: i32 = 1;
        for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&one as *const i32).cast(),
                4,
            );
        }
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(
                fd.as_raw_fd(),
                (&sin as *const libc::sockaddr_in).cast(),
                len
            ),
            0
        );
        assert_eq!(libc::listen(fd.as_raw_fd(), 1), 0);
        let mut got: libc::sockaddr_in = std::mem::zeroed();
        let mut got_len = len;
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut got as *mut libc::sockaddr_in).cast(),
            &mut got_len,
        );
        (fd, u16::from_be(got.sin_port))
    };
    edit(&r.dump(), "files.img", |img| {
        for e in &mut img.entries {
            if e.msg.msg("isk").and_then(|s| s.i64("state")) == Some(TCP_LISTEN) {
                set_int(sub(&mut e.msg, "isk"), "src_port", port as i64);
            }
        }
    });
    assert_eq!(host_findings(&r.dump()), Vec::<String>::new());
    drop(held);
}
