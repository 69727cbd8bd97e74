//! Targets of `fd/N`, `cwd`, `root` and `exe`, in the forms /proc gives them:
//! `/path` (with ` (deleted)` for a file CRIU kept as a ghost or linked
//! remap), `pipe:[INO]`, `socket:[INO]`, `anon_inode:[eventfd]`…,
//! `/memfd:NAME (deleted)`. A file whose /proc form needs a fact the dump
//! does not record (a namespace's inode, a packet socket's inode) is shown
//! as `x fds` names it: `TYPE.ID`.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::explore::dump::Dump;
use crate::explore::files::Files;

/// The links of one process, resolved together (the file tables are read once).
pub struct Links<'d> {
    dump: &'d Dump,
    files: Files<'d>,
    /// Ids of regular files that were unlinked at dump time.
    deleted: HashSet<u64>,
    pid: u64,
}

impl<'d> Links<'d> {
    pub fn new(dump: &'d Dump, pid: u64) -> Result<Links<'d>> {
        let mut deleted = HashSet::new();
        if let Some(remaps) = dump.try_shared("remap-fpath.img")? {
            for e in &remaps.entries {
                // PROCFS remaps are files of /proc, not unlinked ones.
                if e.msg.enum_name("remap_type") != Some("PROCFS")
                    && let Some(id) = e.msg.u64("orig_id")
                {
                    deleted.insert(id);
                }
            }
        }
        Ok(Links {
            dump,
            files: Files::new(dump)?,
            deleted,
            pid,
        })
    }

    fn why(&self) -> String {
        format!("proc/{}/fd", self.pid)
    }

    /// The open descriptors and their targets, by fd number.
    pub fn fds(&mut self) -> Result<Vec<(u32, Vec<u8>)>> {
        let why = self.why();
        let fdinfo = self.dump.fdinfo(self.pid, &why)?;
        let mut out = Vec::new();
        for e in &fdinfo.entries {
            let Some(fd) = e.msg.u64("fd").and_then(|f| u32::try_from(f).ok()) else {
                continue;
            };
            let ty = e.msg.enum_name("type").unwrap_or("UND");
            let id = e.msg.u64("id").unwrap_or(0);
            out.push((fd, self.target(ty, id)?));
        }
        out.sort_by_key(|(fd, _)| *fd);
        out.dedup_by_key(|(fd, _)| *fd);
        Ok(out)
    }

    /// `cwd` or `root` (`which` is fs_entry's `cwd_id` or `root_id`).
    pub fn fs_link(&mut self, which: &str) -> Result<Vec<u8>> {
        let name = format!("fs-{}.img", self.pid);
        let fs = self.dump.head(&name, &format!("proc/{}", self.pid))?;
        let id = fs.u64(which).ok_or_else(|| {
            Error::other(format!("entry 0 has no {which} (needed by proc/)")).in_file(&name)
        })?;
        self.target("REG", id)
    }

    /// `exe`: the mm image's exe_file_id.
    pub fn exe(&mut self) -> Result<Vec<u8>> {
        let name = format!("mm-{}.img", self.pid);
        let mm = self
            .dump
            .head_only(&name, &format!("proc/{}/exe", self.pid), &["exe_file_id"])?;
        let id = mm.u64("exe_file_id").ok_or_else(|| {
            Error::other("entry 0 has no exe_file_id (needed by proc/)").in_file(&name)
        })?;
        self.target("REG", id)
    }

    /// The /proc form of file `id` of type `ty`.
    pub fn target(&mut self, ty: &str, id: u64) -> Result<Vec<u8>> {
        let why = self.why();
        let fallback = || format!("{ty}.{id}").into_bytes();
        let entry = self.files.lookup(ty, id, &why)?.cloned();
        let Some(f) = entry else {
            return Ok(fallback());
        };
        let ino = |field: &str| f.u64(field);
        Ok(match ty {
            "REG" => {
                let mut path = f.bytes("name").unwrap_or_default().to_vec();
                if path.is_empty() {
                    path.push(b'/');
                }
                if self.deleted.contains(&id) {
                    path.extend_from_slice(b" (deleted)");
                }
                path
            }
            "PIPE" => format!("pipe:[{}]", ino("pipe_id").unwrap_or(0)).into_bytes(),
            "INETSK" | "UNIXSK" | "NETLINKSK" => match ino("ino") {
                Some(i) => format!("socket:[{i}]").into_bytes(),
                None => fallback(),
            },
            "FIFO" | "TTY" => match ino("regf_id") {
                Some(r) => self.target("REG", r)?,
                None => fallback(),
            },
            "EVENTFD" => b"anon_inode:[eventfd]".to_vec(),
            "EVENTPOLL" => b"anon_inode:[eventpoll]".to_vec(),
            "SIGNALFD" => b"anon_inode:[signalfd]".to_vec(),
            "TIMERFD" => b"anon_inode:[timerfd]".to_vec(),
            "INOTIFY" => b"anon_inode:inotify".to_vec(),
            "FANOTIFY" => b"anon_inode:[fanotify]".to_vec(),
            "PIDFD" => b"anon_inode:[pidfd]".to_vec(),
            "BPFMAP" => b"anon_inode:bpf-map".to_vec(),
            "TUNF" => b"/dev/net/tun".to_vec(),
            "MEMFD" => match ino("inode_id").and_then(|i| self.memfd_name(i).transpose()) {
                Some(name) => {
                    let mut t = b"/memfd:".to_vec();
                    t.extend_from_slice(&name?);
                    t.extend_from_slice(b" (deleted)");
                    t
                }
                None => fallback(),
            },
            _ => fallback(),
        })
    }

    /// The name of memfd inode `inode_id` (memfd.img), as CRIU keeps it:
    /// without the kernel's `memfd:` prefix.
    fn memfd_name(&self, inode_id: u64) -> Result<Option<Vec<u8>>> {
        let Some(img) = self.dump.try_shared("memfd.img")? else {
            return Ok(None);
        };
        Ok(img
            .entries
            .iter()
            .find(|e| e.msg.u64("inode_id") == Some(inode_id))
            .and_then(|e| e.msg.bytes("name").map(<[u8]>::to_vec)))
    }
}
