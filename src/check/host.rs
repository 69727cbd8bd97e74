//! What a restore needs from this host (`check --host`): the regular files
//! the dump names, the TCP ports it listens on, and its pids. Each rule
//! follows what CRIU 4.2's restore does, and a finding quotes the error
//! restore would print.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Checker;
use crate::explore::dump::Task;
use crate::message::{Message, Value};

/// TCP_LISTEN in the inet socket's `state`.
const TCP_LISTEN: i64 = 10;

/// The namespaces restore creates afresh rather than entering the host's:
/// CRIU compares the root task's ids with the inventory's `root_ids`
/// (those of the dumping CRIU itself; pstree.c get_clone_mask).
#[derive(Default)]
struct NewNs {
    pid: bool,
    net: bool,
    mnt: bool,
}

impl Checker<'_> {
    /// The host checks, after the image checks.
    pub(super) fn host(&mut self, tasks: &[Task]) {
        let ns = self.new_namespaces(tasks);
        if ns.mnt {
            // Files are opened relative to the restored mount namespace's
            // root (taken from --root or the dumped mounts), not this
            // host's /: their paths cannot be checked here.
            self.warn(
                "inventory.img",
                None,
                "regular files not checked: the dump has its own mount namespace, whose root restore takes from --root or the dumped mounts",
            );
        } else {
            self.host_files();
        }
        if !ns.net {
            self.host_ports();
        }
        if !ns.pid {
            self.host_pids(tasks);
        }
        self.host_arch(tasks);
    }

    /// Every core was dumped on this host's architecture (cr-restore.c
    /// check_core: a CRIU restores only cores of the machine it was built
    /// for).
    fn host_arch(&mut self, tasks: &[Task]) {
        let here = match std::env::consts::ARCH {
            "x86_64" => "X86_64",
            "arm" => "ARM",
            "aarch64" => "AARCH64",
            "powerpc64" => "PPC64",
            "s390x" => "S390",
            "mips" | "mips64" => "MIPS",
            "loongarch64" => "LOONGARCH64",
            "riscv64" => "RISCV64",
            _ => return,
        };
        for t in tasks {
            let name = format!("core-{}.img", t.pid);
            let Some(core) = self.optional(&name) else {
                continue;
            };
            let Some(e) = core.entries.first() else {
                continue;
            };
            let Some(mtype) = e.msg.i64("mtype") else {
                continue;
            };
            let shown = e
                .msg
                .enum_name("mtype")
                .map_or(mtype.to_string(), str::to_string);
            if shown != here {
                self.error(
                    &name,
                    Some(0),
                    format!(
                        "dumped on {shown}, this host is {here} (restore: Core march mismatch {mtype})"
                    ),
                );
            }
        }
    }

    fn new_namespaces(&mut self, tasks: &[Task]) -> NewNs {
        let root_ids = self
            .optional("inventory.img")
            .and_then(|i| i.entries.into_iter().next())
            .and_then(|e| e.msg.msg("root_ids").cloned());
        let Some(root) = tasks.iter().find(|t| t.ppid == 0) else {
            return NewNs::default();
        };
        let ids = self
            .optional(&format!("ids-{}.img", root.pid))
            .and_then(|i| i.entries.into_iter().next())
            .map(|e| e.msg);
        let (Some(root_ids), Some(ids)) = (root_ids, ids) else {
            return NewNs::default(); // the image checks report what is missing
        };
        let differs = |f: &str| ids.u64(f) != root_ids.u64(f);
        NewNs {
            pid: differs("pid_ns_id"),
            net: differs("net_ns_id"),
            mnt: differs("mnt_ns_id"),
        }
    }

    /// Every regular file restore opens by path exists with the recorded
    /// size and mode (files-reg.c open_path, validate_file). Remapped files
    /// (ghost or linked: restore recreates them) and external ones
    /// (inherited with --inherit-fd) are not looked for.
    fn host_files(&mut self) {
        let Some(files) = self.files.as_ref() else {
            return;
        };
        let image = if files.has_files_img() {
            "files.img"
        } else {
            "reg-files.img"
        };
        let regs = files.all("REG").unwrap_or_default();
        let remapped: HashSet<u64> = self
            .optional("remap-fpath.img")
            .map(|img| {
                img.entries
                    .iter()
                    .filter_map(|e| e.msg.u64("orig_id"))
                    .collect()
            })
            .unwrap_or_default();
        for (id, reg) in &regs {
            if remapped.contains(id) || reg.bool("ext") == Some(true) {
                continue;
            }
            let Some(name) = reg.bytes("name") else {
                continue;
            };
            for what in file_problems(name, reg.u64("size"), reg.u64("mode")) {
                self.error(image, None, format!("file id {id} {what}"));
            }
        }
    }

    /// Every TCP port the dump listens on can be bound here as restore
    /// binds it (SO_REUSEADDR set, which std's listener sets too; sk-inet.c
    /// inet_bind). Only checked when restore stays in this host's network
    /// namespace.
    fn host_ports(&mut self) {
        let Some(files) = self.files.as_ref() else {
            return;
        };
        let image = if files.has_files_img() {
            "files.img"
        } else {
            "inetsk.img"
        };
        for (id, sk) in files.all("INETSK").unwrap_or_default() {
            if sk.i64("proto") != Some(6) || sk.i64("state") != Some(TCP_LISTEN) {
                continue;
            }
            let port = sk.u64("src_port").unwrap_or(0) as u16;
            let Some(addr) = socket_addr(&sk, port) else {
                continue;
            };
            if let Err(e) = TcpListener::bind(addr) {
                let e = os_error(&e);
                self.error(
                    image,
                    None,
                    format!(
                        "TCP socket file id {id} listens on {addr}: {e} on this host (restore: Can't bind inet socket (id {id}): {e})"
                    ),
                );
            }
        }
    }

    /// Without a pid namespace of its own, restore creates every task and
    /// thread with its dumped pid in this host's namespace (clone3 with
    /// set_tid), which fails for a pid in use.
    fn host_pids(&mut self, tasks: &[Task]) {
        self.host_helper_pids(tasks);
        for t in tasks {
            if let Some(user) = pid_user(t.pid) {
                self.error(
                    "pstree.img",
                    Some(t.index),
                    format!(
                        "pid {} is taken on this host by {user} (restore: Can't fork for {}: File exists)",
                        t.pid, t.pid
                    ),
                );
            }
            if self.dump.is_stateless(t.pid) {
                continue; // a zombie's thread list means nothing
            }
            for &tid in t.threads.iter().filter(|&&tid| tid != t.pid) {
                if let Some(user) = pid_user(tid) {
                    self.error(
                        "pstree.img",
                        Some(t.index),
                        format!(
                            "thread {tid} of pid {} is taken on this host by {user} (restore: Unable to create a thread: -17)",
                            t.pid
                        ),
                    );
                }
            }
        }
    }
}

impl Checker<'_> {
    /// Restore forks a helper task with the pid of each absent process
    /// group leader, and of each absent session leader of the root's
    /// children (pstree.c prepare_pstree_ids): those pids must be free too.
    fn host_helper_pids(&mut self, tasks: &[Task]) {
        let pids: HashSet<u64> = tasks.iter().map(|t| t.pid).collect();
        let mut helpers: Vec<(u64, usize, String)> = Vec::new();
        if let Some(root) = tasks.iter().find(|t| t.ppid == 0) {
            for t in tasks.iter().filter(|t| t.ppid == root.pid) {
                if t.sid != root.sid && t.sid != t.pid && !pids.contains(&t.sid) {
                    helpers.push((
                        t.sid,
                        t.index,
                        format!("the absent leader of the session of pid {}", t.pid),
                    ));
                }
            }
        }
        for t in tasks {
            if t.pgid != 0 && t.pgid != t.pid && !pids.contains(&t.pgid) {
                helpers.push((
                    t.pgid,
                    t.index,
                    format!(
                        "the absent leader of the process group of pid {} (unless restore runs in that group, --shell-job)",
                        t.pid
                    ),
                ));
            }
        }
        let mut seen = HashSet::new();
        for (pid, index, why) in helpers {
            if !seen.insert(pid) {
                continue;
            }
            if let Some(user) = pid_user(pid) {
                self.error(
                    "pstree.img",
                    Some(index),
                    format!(
                        "pid {pid}, which restore gives a helper standing for {why}, is taken on this host by {user} (restore: Can't fork for {pid}: File exists)"
                    ),
                );
            }
        }
    }
}

/// What restore would find wrong with the regular file `name` (as a dump
/// records it: absolute, opened from the root) on this host, given the
/// size and mode (`st_mode`, type bits included) the dump recorded: one
/// line per problem, starting with the path; none when it is ready.
pub fn file_problems(name: &[u8], size: Option<u64>, mode: Option<u64>) -> Vec<String> {
    let path = host_path(name);
    let shown = path.display();
    // CRIU opens the name without its leading '/' from the root.
    let rel = String::from_utf8_lossy(name.strip_prefix(b"/").unwrap_or(name));
    let rel = if rel.is_empty() { ".".into() } else { rel };
    let m = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => {
            let e = os_error(&e);
            return vec![format!(
                "{shown}: {e} on this host (restore: Can't open file {rel} on restore: {e})"
            )];
        }
    };
    let mut bad = Vec::new();
    if let Some(size) = size
        && m.len() != size
    {
        bad.push(format!(
            "{shown}: size {} on this host, {size} in the dump (restore: File {rel} has bad size {} (expect {size}))",
            m.len(),
            m.len()
        ));
    }
    if let Some(mode) = mode
        && u64::from(m.mode()) != mode
    {
        bad.push(format!(
            "{shown}: mode 0{:o} on this host, 0{mode:o} in the dump (restore: File {rel} has bad mode 0{:o} (expect 0{mode:o}); --skip-file-rwx-check ignores the permission bits)",
            m.mode(),
            m.mode()
        ));
    }
    bad
}

/// The host path of a dumped file name (names are absolute; a relative one
/// is taken from the root, as CRIU opens it).
fn host_path(name: &[u8]) -> PathBuf {
    Path::new("/").join(OsStr::from_bytes(name.strip_prefix(b"/").unwrap_or(name)))
}

/// An OS error as CRIU's pr_perror shows it: strerror's text alone.
fn os_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(at) => s[..at].to_string(),
        None => s,
    }
}

/// The address a listening socket is bound to: IPv4 is one word, IPv6
/// four, each in network byte order.
fn socket_addr(sk: &Message, port: u16) -> Option<SocketAddr> {
    let words: Vec<u32> = sk
        .get("src_addr")
        .iter()
        .filter_map(|v| match v {
            Value::U64(w) => Some(*w as u32),
            _ => None,
        })
        .collect();
    match words.as_slice() {
        [] => Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))),
        [a] => Some(SocketAddr::from((Ipv4Addr::from(a.to_ne_bytes()), port))),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].into_iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            Some(SocketAddr::from((Ipv6Addr::from(bytes), port)))
        }
        _ => None,
    }
}

/// Who has pid `pid` on this host (`comm (pid N)`), if anyone: /proc/PID
/// exists for every process and thread of this pid namespace.
fn pid_user(pid: u64) -> Option<String> {
    if pid == 0 || pid > i32::MAX as u64 {
        return None;
    }
    let dir = PathBuf::from(format!("/proc/{pid}"));
    std::fs::symlink_metadata(&dir).ok()?;
    let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
    let comm = comm.trim_end();
    Some(if comm.is_empty() {
        "a process".to_string()
    } else {
        format!("'{comm}'")
    })
}
