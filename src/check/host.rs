//! What a restore needs from this host (`check --host`): the regular files
//! the dump names, the TCP ports it listens on, and its pids. Each rule
//! follows what CRIU 4.2's restore does, and a finding quotes the error
//! restore would print.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
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

    /// Every TCP port the dump listens on can be bound and listened on
    /// here as restore does it ([`try_listen`]). Only checked when restore
    /// stays in this host's network namespace.
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
            let v6only = sk.bool("v6only") == Some(true);
            let backlog = sk.u64("backlog").unwrap_or(0).min(i32::MAX as u64) as i32;
            let (e, failed) = match try_listen(addr, v6only, backlog) {
                Ok(()) => continue,
                Err((Step::Bind, e)) => {
                    let failed = format!("Can't bind inet socket (id {id}): {e}");
                    (e, failed)
                }
                Err((Step::Listen, e)) => {
                    let failed = format!("Can't listen on a socket: {e}");
                    (e, failed)
                }
                Err((Step::Socket, _)) => continue, // no such family here: not ours to say
            };
            self.error(
                image,
                None,
                format!(
                    "TCP socket file id {id} listens on {addr}: {e} on this host (restore: {failed})"
                ),
            );
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

/// Where [`try_listen`] failed.
enum Step {
    Socket,
    Bind,
    Listen,
}

/// A TCP socket set up as restore sets up a listening one (sk-inet.c
/// open_inet_sk, inet_bind): SO_REUSEADDR and SO_REUSEPORT on,
/// IPV6_V6ONLY as dumped, IP_FREEBIND for IPv6, then bind and listen. It is
/// closed at once.
fn try_listen(addr: SocketAddr, v6only: bool, backlog: i32) -> Result<(), (Step, String)> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let last = || os_error(&std::io::Error::last_os_error());
    // SAFETY: plain socket calls on a descriptor owned here and closed by
    // OwnedFd; every pointer passed points to a live local of the size given.
    unsafe {
        let fd = libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err((Step::Socket, last()));
        }
        let fd = <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd);
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let set = |level: i32, opt: i32, v: i32| {
            libc::setsockopt(
                raw,
                level,
                opt,
                (&v as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        set(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
        set(libc::SOL_SOCKET, libc::SO_REUSEPORT, 1);
        let bound = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                libc::bind(
                    raw,
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
            SocketAddr::V6(a) => {
                if v6only {
                    set(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1);
                }
                set(libc::SOL_IP, libc::IP_FREEBIND, 1);
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: 0,
                };
                libc::bind(
                    raw,
                    (&sin6 as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        };
        if bound != 0 {
            return Err((Step::Bind, last()));
        }
        if libc::listen(raw, backlog) != 0 {
            return Err((Step::Listen, last()));
        }
    }
    Ok(())
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
