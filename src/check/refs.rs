//! Ids that point from one image into another: fds, cwd/root, exe and
//! file-backed mappings into the file tables; remaps to ghost files; socket
//! peers and queues to sockets.

use std::collections::{HashMap, HashSet};

use super::Checker;
use crate::explore::files::kind;
use crate::explore::view::Head;
use crate::image::Image;
use crate::message::{Message, Value};

/// vma_entry status bits of file-backed mappings.
const VMA_FILE: u64 = (1 << 6) | (1 << 7);
/// Old dumps flag a ghost remap in the remap id itself.
const REMAP_GHOST: u64 = 1 << 31;

impl Checker<'_> {
    /// Reports when file `id` is not a file of one of `types`. `image` and
    /// `entry` say where the reference is; `what` names the referring field.
    pub(super) fn check_file(
        &mut self,
        types: &[&str],
        id: u64,
        image: &str,
        entry: Option<usize>,
        what: &str,
    ) {
        let Some(files) = self.files.as_mut() else {
            return; // files.img does not decode: reported by the scan
        };
        if files.has_files_img() {
            if types.iter().any(|t| files.file_entry(t, id).is_some()) {
                return;
            }
            let others = files.types_of(id);
            let what = if others.is_empty() {
                format!("{what}: file id {id} is not in files.img")
            } else {
                format!(
                    "{what}: file id {id} is {} in files.img, not {}",
                    others.join(" and "),
                    types.join(" or ")
                )
            };
            self.error(image, entry, what);
            return;
        }
        let mut looked_in = Vec::new();
        for ty in types {
            let Some((_, Some(legacy))) = kind(ty) else {
                continue;
            };
            match files.lookup(ty, id, image) {
                Ok(Some(_)) => return,
                Ok(None) => looked_in.push(legacy),
                Err(_) => {
                    // The legacy image is missing (or broken): say so once.
                    self.require(legacy, &format!("{image}, as the dump has no files.img"));
                    return;
                }
            }
        }
        self.error(
            image,
            entry,
            format!("{what}: file id {id} is not in {}", looked_in.join(" or ")),
        );
    }

    /// Every fd of an fdinfo image refers to a file of its type; fds are unique.
    pub(super) fn fds(&mut self, name: &str, fdinfo: &Image) {
        let mut seen: HashMap<u64, usize> = HashMap::new();
        for (i, e) in fdinfo.entries.iter().enumerate() {
            let fd = e.msg.u64("fd").unwrap_or(0);
            if let Some(first) = seen.insert(fd, i) {
                self.error(
                    name,
                    Some(i),
                    format!("fd {fd} appears again (first at entry {first})"),
                );
            }
            let ty = e.msg.enum_name("type").unwrap_or("UND");
            self.check_file(
                &[ty],
                e.msg.u64("id").unwrap_or(0),
                name,
                Some(i),
                &format!("fd {fd}"),
            );
        }
    }

    pub(super) fn fs_refs(&mut self, pid: u64, fs: &Message) {
        let name = format!("fs-{pid}.img");
        for field in ["cwd_id", "root_id"] {
            if let Some(id) = fs.u64(field) {
                self.check_file(&["REG"], id, &name, Some(0), field);
            }
        }
    }

    /// The executable and every file-backed mapping resolve.
    pub(super) fn mm_refs(&mut self, pid: u64, mm: &Head) {
        let name = format!("mm-{pid}.img");
        if let Some(id) = mm.u64("exe_file_id") {
            self.check_file(&["REG", "MEMFD"], id, &name, Some(0), "exe_file_id");
        }
        let mut i = 0;
        let walked = mm.each(
            "vmas",
            ["status", "start", "shmid"],
            |[status, start, shmid]| {
                if status.unwrap_or(0) & VMA_FILE != 0 {
                    let start = start.unwrap_or(0);
                    self.check_file(
                        &["REG", "MEMFD"],
                        shmid.unwrap_or(0),
                        &name,
                        Some(0),
                        &format!("vmas[{i}] at {start:#x} shmid"),
                    );
                }
                i += 1;
                Ok(())
            },
        );
        if let Err(e) = walked {
            self.error(&name, Some(0), e.to_string());
        }
    }

    /// remap-fpath.img: each remapped file exists, and so does what it is
    /// remapped to (a ghost file image, or another file).
    pub(super) fn remaps(&mut self) {
        const R: &str = "remap-fpath.img";
        let Some(img) = self.optional(R) else { return };
        for (i, e) in img.entries.iter().enumerate() {
            let orig = e.msg.u64("orig_id").unwrap_or(0);
            let remap = e.msg.u64("remap_id").unwrap_or(0);
            self.check_file(&["REG"], orig, R, Some(i), "orig_id");
            let ty = e.msg.enum_name("remap_type");
            if ty == Some("GHOST") || (ty.is_none() && remap & REMAP_GHOST != 0) {
                let ghost = format!("ghost-file-{:x}.img", remap & !REMAP_GHOST);
                if self.optional(&ghost).is_none() && !self.bad.contains(&ghost) {
                    self.error(
                        R,
                        Some(i),
                        format!("ghost file of file id {orig}: {ghost} is missing"),
                    );
                }
            } else if ty == Some("LINKED") || ty.is_none() {
                self.check_file(&["REG"], remap, R, Some(i), "remap_id");
            }
        }
    }

    /// Socket peers inside the dump exist; connected TCP sockets have their
    /// queues (tcp-stream); queued packets belong to a socket.
    pub(super) fn sockets(&mut self) {
        let Some(files) = self.files.as_ref() else {
            return;
        };
        let image = if files.has_files_img() {
            "files.img"
        } else {
            "unixsk.img"
        };
        let unix = files.all("UNIXSK").unwrap_or_default();
        let inet = files.all("INETSK").unwrap_or_default();
        let mut socket_ids: HashSet<u64> = HashSet::new();
        for ty in ["UNIXSK", "INETSK", "PACKETSK", "NETLINKSK"] {
            socket_ids.extend(
                files
                    .all(ty)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(id, _)| id),
            );
        }
        let inos: HashSet<u64> = unix.iter().filter_map(|(_, sk)| sk.u64("ino")).collect();
        for (id, sk) in &unix {
            let peer = sk.u64("peer").unwrap_or(0);
            if peer == 0 || inos.contains(&peer) {
                continue;
            }
            let ino = sk.u64("ino").unwrap_or(0);
            // Restore resolves every peer among the dump's unix sockets
            // (sk-unix.c fixup_unix_peer); CRIU writes an external peer as
            // a socket of its own (USK_EXTERN), so none may be absent.
            self.error(
                image,
                None,
                format!(
                    "unix socket file id {id} (ino {ino}): peer {peer} is not in the dump (restore: FATAL: Peer {peer} unresolved for {ino})"
                ),
            );
        }
        let image = if image == "files.img" {
            "files.img"
        } else {
            "inetsk.img"
        };
        let ends: HashSet<Endpoints> = inet.iter().map(|(_, sk)| endpoints(sk)).collect();
        // A dump made with --tcp-close has no connection state: restore
        // (which must be given --tcp-close too) shuts such sockets down.
        let tcp_close = self
            .optional("inventory.img")
            .and_then(|i| i.entries.into_iter().next())
            .is_some_and(|e| e.msg.bool("tcp_close") == Some(true));
        for (id, sk) in &inet {
            // Restore treats a TCP socket with a destination port as a
            // connection (sk-inet.c tcp_connection), whatever its state,
            // and reads its queues and sequence numbers from tcp-stream.
            let connected = sk.i64("proto") == Some(6) && sk.u64("dst_port").unwrap_or(0) != 0;
            if !connected {
                continue;
            }
            let ino = sk.u64("ino").unwrap_or(0);
            if !tcp_close {
                let stream = format!("tcp-stream-{ino:x}.img");
                self.require(&stream, &format!("connected TCP socket file id {id}"));
            }
            let (src, sport, dst, dport) = endpoints(sk);
            // Restore does not look for the peer: the connection comes back
            // in repair mode whoever is at the other end. A loopback peer
            // that was not dumped is only odd (nothing on this host will
            // answer it), hence a warning.
            if is_loopback(&dst) && !ends.contains(&(dst.clone(), dport, src, sport)) {
                self.warn(
                    image,
                    None,
                    format!(
                        "TCP socket file id {id} (ino {ino}): its loopback peer is not in the dump"
                    ),
                );
            }
        }
        if let Some(q) = self.optional("sk-queues.img") {
            for (i, e) in q.entries.iter().enumerate() {
                let id = e.msg.u64("id_for").unwrap_or(0);
                // Restore hands each socket the packets queued for its id
                // (sk-queue.c restore_sk_queue) and never looks at the rest:
                // such data is dropped, the restore goes on.
                if !socket_ids.contains(&id) {
                    self.warn(
                        "sk-queues.img",
                        Some(i),
                        format!(
                            "queued data for file id {id}, which is not a socket (restore drops it)"
                        ),
                    );
                }
            }
        }
    }
}

fn words(m: &Message, field: &str) -> Vec<u64> {
    m.get(field)
        .iter()
        .filter_map(|v| match v {
            Value::U64(w) => Some(*w),
            _ => None,
        })
        .collect()
}

/// Source address and port, destination address and port.
type Endpoints = (Vec<u64>, u64, Vec<u64>, u64);

/// A socket's endpoints, an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
/// taken as the IPv4 address it maps: a dual-stack listener's accepted
/// socket talks to an AF_INET client that way.
fn endpoints(sk: &Message) -> Endpoints {
    (
        unmapped(words(sk, "src_addr")),
        sk.u64("src_port").unwrap_or(0),
        unmapped(words(sk, "dst_addr")),
        sk.u64("dst_port").unwrap_or(0),
    )
}

/// `::ffff:a.b.c.d` (words in network byte order) as `a.b.c.d`.
fn unmapped(addr: Vec<u64>) -> Vec<u64> {
    match addr.as_slice() {
        [0, 0, w, v4] if u32::from_be(*w as u32) == 0xffff => vec![*v4],
        _ => addr,
    }
}

/// 127.0.0.0/8 or ::1 (words in network byte order).
fn is_loopback(addr: &[u64]) -> bool {
    match addr {
        [a] => (*a as u32).to_ne_bytes()[0] == 127,
        [0, 0, 0, d] => u32::from_be(*d as u32) == 1,
        _ => false,
    }
}
