//! The `proc/` tree: a directory per process of the dump with the files of
//! `crate::procview` (texts rendered when opened, links) and `mem`, the
//! address space of `crate::memory`, read and written in place.
//!
//! Rendered texts are kept until the dump's top directory changes (its
//! fingerprint). One address space per process is shared by every open
//! `mem` and by the texts read from memory, so that writes through one
//! handle are seen by all; it is opened again when the dump changed.

use super::*;
use crate::coredump::CoreFile;
use crate::memory::{AddressSpace, MemError};
use crate::procview::{self, Entry, Proc, Shape};

/// An address space and the dump fingerprint it was read at.
pub struct MemState {
    space: AddressSpace,
    fp: u64,
}

impl std::fmt::Debug for MemState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemState(pid {})", self.space.pid())
    }
}

pub type SharedMem = Arc<Mutex<MemState>>;

/// A process's core file, laid out (`crate::coredump`), over its own
/// read-only address space.
pub type SharedCore = Arc<CoreFile<AddressSpace>>;

/// Rendered bytes of a text or link, or why they could not be rendered.
type Bytes = FsResult<Arc<Vec<u8>>>;
/// A process's open descriptors and their targets.
type FdTable = Arc<Vec<(u32, Vec<u8>)>>;

/// What the proc tree keeps between requests.
#[derive(Default)]
pub(super) struct ProcCache {
    fp: Option<u64>,
    procs: Option<Result<Arc<Vec<Proc>>, FsError>>,
    texts: HashMap<(u64, Entry), Bytes>,
    fds: HashMap<u64, FsResult<FdTable>>,
    spaces: HashMap<u64, SharedMem>,
    cores: HashMap<u64, FsResult<SharedCore>>,
}

fn lib_err(pid: u64, what: &str, e: impl std::fmt::Display) -> FsError {
    fs_err!(libc::EIO, "proc/{pid}/{what}: {e}")
}

fn mem_err(pid: u64, e: MemError, problems: &[String]) -> FsError {
    let mut message = format!("proc/{pid}/mem: {}", e.message);
    if e.errno == libc::EIO && !problems.is_empty() {
        message.push_str("; damaged memory of this process: ");
        message.push_str(&problems.join("; "));
    }
    FsError {
        errno: e.errno,
        message,
    }
}

/// The maps lines of an address space.
fn map_lines(space: &AddressSpace) -> Vec<procview::maps::Line> {
    space
        .vmas()
        .iter()
        .map(|v| procview::maps::Line {
            start: v.start,
            end: v.end,
            prot: v.prot,
            flags: v.flags,
            offset: v.pgoff,
            dev: v.dev,
            inode: v.inode,
            name: v.path.clone(),
            not_on_host: v.file_on_host == Some(false),
        })
        .collect()
}

impl CritFs {
    /// Whether the mount shows `proc/`: the dump has a process tree and no
    /// file of its own called `proc` (a real file wins).
    pub(super) fn proc_shown(&self) -> bool {
        let dump = self.dump_root();
        dump.join("pstree.img").is_file() && fs::symlink_metadata(dump.join("proc")).is_err()
    }

    /// The inode of the directory holding `proc/`: the dump root (the mount's
    /// top, or an archive's `checkpoint/`).
    fn dump_root_ino(&self, st: &State) -> u64 {
        if self.cfg.dump_root.as_os_str().is_empty() {
            return ROOT_INO;
        }
        let want = Node::Dir {
            rel: self.cfg.dump_root.clone(),
        };
        st.nodes
            .iter()
            .find(|(_, m)| **m == want)
            .map(|(i, _)| *i)
            .unwrap_or(ROOT_INO)
    }

    pub(super) fn is_proc_node(node: &Node) -> bool {
        matches!(
            node,
            Node::ProcRoot | Node::ProcPid { .. } | Node::ProcEntry { .. }
        )
    }

    /// The cache, emptied when the dump changed since it was filled.
    fn proc_cache(&self) -> MutexGuard<'_, State> {
        let (fp, _) = self.dump_fingerprint();
        let mut st = lock(&self.state);
        if st.proc.fp != Some(fp) {
            let spaces = std::mem::take(&mut st.proc.spaces);
            st.proc = ProcCache {
                fp: Some(fp),
                spaces,
                ..Default::default()
            };
        }
        st
    }

    fn procs(&self) -> FsResult<Arc<Vec<Proc>>> {
        if let Some(p) = self.proc_cache().proc.procs.clone() {
            return p;
        }
        let p = procview::processes(&self.dump_root())
            .map(Arc::new)
            .map_err(|e| fs_err!(libc::EIO, "proc/: {e}"));
        lock(&self.state).proc.procs = Some(p.clone());
        p
    }

    fn proc_of(&self, pid: u64) -> FsResult<Proc> {
        self.procs()?
            .iter()
            .find(|p| p.pid == pid)
            .cloned()
            .ok_or_else(|| fs_err!(libc::ENOENT, "no process {pid} in the dump"))
    }

    /// The shared address space of `pid`, opened (again) when the dump
    /// changed since it was read.
    fn mem_of(&self, pid: u64) -> FsResult<SharedMem> {
        let (fp, _) = self.dump_fingerprint();
        let cached = lock(&self.state).proc.spaces.get(&pid).cloned();
        if let Some(m) = &cached
            && lock(m).fp == fp
        {
            return Ok(m.clone());
        }
        let mut space =
            AddressSpace::open(&self.dump_root(), pid).map_err(|e| lib_err(pid, "mem", e))?;
        if self.cfg.read_only {
            space.set_read_only();
        }
        for p in space.problems() {
            log::warn!("proc/{pid}/mem: {p}");
        }
        if let Some(m) = cached {
            // Handles already open keep this one object: they see the new layout.
            *lock(&m) = MemState { space, fp };
            return Ok(m);
        }
        let m = Arc::new(Mutex::new(MemState { space, fp }));
        lock(&self.state).proc.spaces.insert(pid, m.clone());
        Ok(m)
    }

    /// The core file of `pid`, laid out once per state of the dump; the
    /// problems met on the way are logged.
    fn core_of(&self, pid: u64) -> FsResult<SharedCore> {
        if let Some(c) = self.proc_cache().proc.cores.get(&pid) {
            return c.clone();
        }
        let dump = crate::explore::dump::Dump::new(&self.dump_root());
        let core = crate::coredump::open_memory(&self.dump_root(), pid)
            .and_then(|mem| CoreFile::new(&dump, pid, mem))
            .map(Arc::new)
            .map_err(|e| lib_err(pid, "core", e));
        if let Ok(c) = &core {
            for p in c.problems() {
                log::warn!("proc/{pid}/core: {p}");
            }
        }
        lock(&self.state).proc.cores.insert(pid, core.clone());
        core
    }

    /// READ of `core`: its bytes, produced now; memory that cannot be read
    /// is zeros there, and logged.
    pub(super) fn core_read(&self, core: &SharedCore, offset: u64, size: u32) -> Vec<u8> {
        let before = core.problems().len();
        let mut buf = vec![0u8; size as usize];
        let n = core.read_at(offset, &mut buf);
        buf.truncate(n);
        let problems = core.problems();
        if problems.len() > before {
            for p in &problems[before..] {
                log::warn!("proc/{}/core: {p}", core.pid());
            }
        }
        buf
    }

    /// The bytes of a text entry or the target of a link, cached.
    fn proc_bytes(&self, pid: u64, entry: Entry) -> FsResult<Arc<Vec<u8>>> {
        if let Some(t) = self.proc_cache().proc.texts.get(&(pid, entry)) {
            return t.clone();
        }
        let text = self.render_proc(pid, entry).map(Arc::new);
        lock(&self.state)
            .proc
            .texts
            .insert((pid, entry), text.clone());
        text
    }

    fn render_proc(&self, pid: u64, entry: Entry) -> FsResult<Vec<u8>> {
        let proc = self.proc_of(pid)?;
        let dump = crate::explore::dump::Dump::new(&self.dump_root());
        let links = || procview::links::Links::new(&dump, pid).map_err(|e| lib_err(pid, "", e));
        match entry {
            Entry::Maps | Entry::Cmdline | Entry::Environ => {
                let m = self.mem_of(pid)?;
                let m = lock(&m);
                if entry == Entry::Maps {
                    return Ok(procview::maps::render(&map_lines(&m.space)).into_bytes());
                }
                procview::render(&self.dump_root(), &proc, entry, Some(&m.space))
                    .map_err(|e| lib_err(pid, "", e))
            }
            Entry::Cwd => links()?
                .fs_link("cwd_id")
                .map_err(|e| lib_err(pid, "cwd", e)),
            Entry::Root => links()?
                .fs_link("root_id")
                .map_err(|e| lib_err(pid, "root", e)),
            Entry::Exe => links()?.exe().map_err(|e| lib_err(pid, "exe", e)),
            Entry::Fd(n) => self
                .fds_of(pid)?
                .iter()
                .find(|(fd, _)| *fd == n)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| fs_err!(libc::ENOENT, "proc/{pid}/fd/{n}: no such descriptor")),
            _ => procview::render(&self.dump_root(), &proc, entry, None)
                .map_err(|e| lib_err(pid, "", e)),
        }
    }

    fn fds_of(&self, pid: u64) -> FsResult<FdTable> {
        if let Some(f) = self.proc_cache().proc.fds.get(&pid) {
            return f.clone();
        }
        let dump = crate::explore::dump::Dump::new(&self.dump_root());
        let fds = procview::links::Links::new(&dump, pid)
            .and_then(|mut l| l.fds())
            .map(Arc::new)
            .map_err(|e| lib_err(pid, "fd", e));
        lock(&self.state).proc.fds.insert(pid, fds.clone());
        fds
    }

    /// What `name` in proc directory `parent` (a proc node) is.
    pub(super) fn proc_resolve(&self, parent: &Node, name: &OsStr) -> FsResult<Node> {
        let missing = || fs_err!(libc::ENOENT, "no {name:?} in the proc tree");
        let number = || {
            name.to_str()
                .filter(|s| !s.starts_with('+') && !s.starts_with('0') || *s == "0")
        };
        match parent {
            Node::ProcRoot => {
                let pid: u64 = number().and_then(|s| s.parse().ok()).ok_or_else(missing)?;
                self.proc_of(pid)?;
                Ok(Node::ProcPid { pid })
            }
            Node::ProcPid { pid } => {
                let proc = self.proc_of(*pid)?;
                let spec = proc
                    .entries()
                    .find(|s| name == s.name)
                    .ok_or_else(missing)?;
                Ok(Node::ProcEntry {
                    pid: *pid,
                    entry: spec.entry,
                })
            }
            Node::ProcEntry {
                pid,
                entry: Entry::FdDir,
            } => {
                let n: u32 = number().and_then(|s| s.parse().ok()).ok_or_else(missing)?;
                if !self.fds_of(*pid)?.iter().any(|(fd, _)| *fd == n) {
                    return Err(missing());
                }
                Ok(Node::ProcEntry {
                    pid: *pid,
                    entry: Entry::Fd(n),
                })
            }
            Node::ProcEntry {
                pid,
                entry: Entry::TaskDir,
            } => {
                let tid: u64 = number().and_then(|s| s.parse().ok()).ok_or_else(missing)?;
                let entry = Entry::Task(tid);
                if !self.proc_of(*pid)?.has(entry) {
                    return Err(missing());
                }
                Ok(Node::ProcEntry { pid: *pid, entry })
            }
            Node::ProcEntry {
                pid,
                entry: Entry::Task(tid),
            } if name == "status" => Ok(Node::ProcEntry {
                pid: *pid,
                entry: Entry::TaskStatus(*tid),
            }),
            Node::ProcEntry {
                entry: Entry::Task(_),
                ..
            } => Err(missing()),
            _ => Err(fs_err!(libc::ENOTDIR, "not a directory")),
        }
    }

    /// The listing of a proc directory, with `.` and `..`.
    pub(super) fn proc_readdir(&self, ino: u64, node: &Node) -> FsResult<Vec<DirEntry>> {
        let mut out: Vec<(OsString, Node, Kind)> = Vec::new();
        let parent_node;
        let parent_key;
        match node {
            Node::ProcRoot => {
                for p in self.procs()?.iter() {
                    out.push((
                        p.pid.to_string().into(),
                        Node::ProcPid { pid: p.pid },
                        Kind::Dir,
                    ));
                }
                parent_node = None;
                parent_key = None;
            }
            Node::ProcPid { pid } => {
                let proc = self.proc_of(*pid)?;
                for s in proc.entries() {
                    out.push((
                        s.name.into(),
                        Node::ProcEntry {
                            pid: *pid,
                            entry: s.entry,
                        },
                        shape_kind(s.shape),
                    ));
                }
                parent_node = Some(Node::ProcRoot);
                parent_key = Some(OsString::from("proc"));
            }
            Node::ProcEntry {
                pid,
                entry: Entry::FdDir,
            } => {
                for (fd, _) in self.fds_of(*pid)?.iter() {
                    out.push((
                        fd.to_string().into(),
                        Node::ProcEntry {
                            pid: *pid,
                            entry: Entry::Fd(*fd),
                        },
                        Kind::Symlink,
                    ));
                }
                parent_node = Some(Node::ProcPid { pid: *pid });
                parent_key = None;
            }
            Node::ProcEntry {
                pid,
                entry: Entry::TaskDir,
            } => {
                for tid in &self.proc_of(*pid)?.threads {
                    let entry = Entry::Task(*tid);
                    out.push((
                        tid.to_string().into(),
                        Node::ProcEntry { pid: *pid, entry },
                        Kind::Dir,
                    ));
                }
                parent_node = Some(Node::ProcPid { pid: *pid });
                parent_key = None;
            }
            Node::ProcEntry {
                pid,
                entry: Entry::Task(tid),
            } => {
                let entry = Entry::TaskStatus(*tid);
                out.push((
                    "status".into(),
                    Node::ProcEntry { pid: *pid, entry },
                    Kind::File,
                ));
                parent_node = Some(Node::ProcEntry {
                    pid: *pid,
                    entry: Entry::TaskDir,
                });
                parent_key = None;
            }
            _ => return Err(fs_err!(libc::ENOTDIR, "inode {ino} is not a directory")),
        }
        let mut st = lock(&self.state);
        let parent = match (parent_node, parent_key) {
            (None, _) => self.dump_root_ino(&st),
            (Some(n), Some(name)) => {
                let dump_root = self.dump_root_ino(&st);
                self.intern(&mut st, dump_root, &name, n)
            }
            (Some(n), None) => st
                .nodes
                .iter()
                .find(|(_, m)| **m == n)
                .map(|(i, _)| *i)
                .unwrap_or(ROOT_INO),
        };
        Ok(self.listing(&mut st, ino, parent, out))
    }

    /// GETATTR of a proc node.
    pub(super) fn proc_getattr(&self, ino: u64, node: &Node) -> FsResult<Attr> {
        let mut a = self.text_attr(ino, 0, self.started, 0o555);
        match node {
            Node::ProcRoot => {
                a.kind = Kind::Dir;
                a.nlink = 2;
            }
            Node::ProcPid { pid } => {
                self.proc_of(*pid)?;
                a.kind = Kind::Dir;
                a.nlink = 2;
            }
            Node::ProcEntry { pid, entry } => {
                let proc = self.proc_of(*pid)?;
                if !proc.has(*entry) {
                    return Err(fs_err!(libc::ENOENT, "proc/{pid}: no {entry:?}"));
                }
                match procview::shape(*entry) {
                    Shape::Dir => {
                        a.kind = Kind::Dir;
                        a.nlink = 2;
                        a.perm = 0o500;
                    }
                    // A text or memory that cannot be read has size 0 in stat
                    // (so listings work) and fails with its reason at open.
                    Shape::Link => {
                        a.kind = Kind::Symlink;
                        a.perm = 0o777;
                        a.size = self.proc_size(*pid, *entry);
                    }
                    Shape::Text => {
                        a.perm = if *entry == Entry::Environ {
                            0o400
                        } else {
                            0o444
                        };
                        a.size = self.proc_size(*pid, *entry);
                    }
                    Shape::Memory => {
                        a.perm = 0o600;
                        let Ok(mem) = self.mem_of(*pid) else {
                            return Ok(a);
                        };
                        let m = lock(&mem);
                        a.size = m.space.size();
                        // What the images hold, so that `du` and `cp` see a sparse file.
                        let data: u64 = m.space.data_ranges().iter().map(|(s, e)| e - s).sum();
                        a.blocks = Some(data.div_ceil(512));
                    }
                    Shape::Core => {
                        a.perm = 0o444;
                        a.size = self.core_of(*pid).map_or(0, |c| c.size());
                    }
                }
            }
            _ => return Err(fs_err!(libc::EINVAL, "not a proc node")),
        }
        Ok(a)
    }

    fn proc_size(&self, pid: u64, entry: Entry) -> u64 {
        match self.proc_bytes(pid, entry) {
            Ok(b) => b.len() as u64,
            Err(e) => {
                log::debug!("{}", e.message);
                0
            }
        }
    }

    /// OPEN of a proc node (write access was checked against `-o ro`).
    pub(super) fn proc_open(&self, node: &Node, write: bool) -> FsResult<Opened> {
        let Node::ProcEntry { pid, entry } = node else {
            return Err(fs_err!(libc::EISDIR, "is a directory"));
        };
        match procview::shape(*entry) {
            Shape::Dir => Err(fs_err!(libc::EISDIR, "is a directory")),
            Shape::Link => Err(fs_err!(libc::ELOOP, "a symbolic link")),
            Shape::Text => {
                if write {
                    return Err(fs_err!(libc::EACCES, "proc/{pid}: {entry:?} is read-only"));
                }
                let body = self.proc_bytes(*pid, *entry)?;
                Ok(Opened {
                    fh: self.new_handle(Handle::Snapshot { body }),
                    direct_io: true,
                })
            }
            Shape::Core => {
                if write {
                    return Err(fs_err!(libc::EACCES, "proc/{pid}: core is read-only"));
                }
                let core = self.core_of(*pid)?;
                Ok(Opened {
                    fh: self.new_handle(Handle::Core { core }),
                    // Produced as read: nothing kept in the page cache.
                    direct_io: true,
                })
            }
            Shape::Memory => {
                let mem = self.mem_of(*pid)?;
                Ok(Opened {
                    fh: self.new_handle(Handle::Mem { pid: *pid, mem }),
                    // Every read and write goes to the address space: no
                    // page cache of a file this sparse and this changeable.
                    direct_io: true,
                })
            }
        }
    }

    /// READLINK of `fd/N`, `cwd`, `root`, `exe`.
    pub(super) fn proc_readlink(&self, node: &Node) -> FsResult<Vec<u8>> {
        match node {
            Node::ProcEntry { pid, entry } if procview::shape(*entry) == Shape::Link => {
                Ok(self.proc_bytes(*pid, *entry)?.to_vec())
            }
            _ => Err(fs_err!(libc::EINVAL, "not a symbolic link")),
        }
    }

    /// READ of `mem`: the bytes at virtual address `offset`, EIO where none
    /// can be read (outside every mapping, damaged images).
    pub(super) fn mem_read(
        &self,
        pid: u64,
        mem: &SharedMem,
        offset: u64,
        size: u32,
    ) -> FsResult<Vec<u8>> {
        let m = lock(mem);
        let mut buf = vec![0u8; size as usize];
        let n = m
            .space
            .read(offset, &mut buf)
            .map_err(|e| mem_err(pid, e, m.space.problems()))?;
        buf.truncate(n);
        Ok(buf)
    }

    /// WRITE of `mem`: into the dump's images by the memory layer's rules.
    pub(super) fn mem_write(
        &self,
        pid: u64,
        mem: &SharedMem,
        offset: u64,
        data: &[u8],
    ) -> FsResult<u32> {
        // Written only through a space that reflects the dump as it is now.
        let (fp, _) = self.dump_fingerprint();
        let stale = lock(mem).fp != fp;
        if stale {
            self.mem_of(pid)?;
        }
        let n = {
            let mut m = lock(mem);
            let r = m.space.write(offset, data);
            match r {
                Ok(n) => n,
                Err(e) => return Err(mem_err(pid, e, m.space.problems())),
            }
        };
        self.changed_memory(pid);
        let (fp, _) = self.dump_fingerprint();
        lock(mem).fp = fp;
        Ok(n as u32)
    }

    /// FLUSH/FSYNC of `mem`: in-place writes made durable.
    pub(super) fn mem_sync(&self, pid: u64, mem: &SharedMem) -> FsResult<()> {
        let m = lock(mem);
        m.space.sync().map_err(|e| mem_err(pid, e, &[]))
    }

    /// After a write of memory: what shows the pages images, pagemaps and
    /// the texts read from memory must be seen anew.
    fn changed_memory(&self, pid: u64) {
        let inos: Vec<u64> = {
            let st = lock(&self.state);
            st.nodes
                .iter()
                .filter(|(_, n)| match n {
                    Node::Real { rel } | Node::View { image: rel } => rel
                        .file_name()
                        .and_then(|f| f.to_str())
                        .is_some_and(|f| f.starts_with("pages-") || f.starts_with("pagemap-")),
                    Node::Report { .. } => true,
                    Node::ProcEntry { pid: p, .. } => *p == pid,
                    _ => false,
                })
                .map(|(i, _)| *i)
                .collect()
        };
        for ino in inos {
            self.invalidate(ino);
        }
    }

    /// LSEEK with SEEK_DATA or SEEK_HOLE (the kernel handles the others).
    pub fn lseek(&self, fh: u64, offset: i64, whence: i32) -> FsResult<i64> {
        if whence != libc::SEEK_DATA && whence != libc::SEEK_HOLE {
            return Err(fs_err!(
                libc::EINVAL,
                "lseek whence {whence} is the kernel's to do"
            ));
        }
        let from = u64::try_from(offset).map_err(|_| fs_err!(libc::ENXIO, "negative offset"))?;
        let h = self.handle(fh)?;
        let h = lock(&h);
        let in_memory = |len: usize| {
            let len = len as u64;
            if from >= len {
                Err(fs_err!(libc::ENXIO, "offset {from} is at or past the end"))
            } else if whence == libc::SEEK_DATA {
                Ok(from)
            } else {
                Ok(len)
            }
        };
        let to = match &*h {
            Handle::Mem { mem, .. } => {
                let m = lock(mem);
                let size = m.space.size();
                if whence == libc::SEEK_DATA {
                    m.space
                        .seek_data(from)
                        .filter(|&d| d < size)
                        .ok_or_else(|| {
                            fs_err!(libc::ENXIO, "no dumped page at or after {from:#x}")
                        })?
                } else if from >= size {
                    return Err(fs_err!(libc::ENXIO, "offset {from:#x} is past the end"));
                } else {
                    m.space.seek_hole(from).min(size)
                }
            }
            Handle::Real { file, rel, .. } => {
                use std::os::fd::AsRawFd;
                // SAFETY: a plain lseek on a descriptor this handle owns.
                let r = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
                if r < 0 {
                    return Err(FsError::io(&std::io::Error::last_os_error(), rel.display()));
                }
                r as u64
            }
            Handle::Core { core } => {
                // Every byte of a core is data (zeros included).
                if from >= core.size() {
                    return Err(fs_err!(libc::ENXIO, "offset {from} is at or past the end"));
                }
                if whence == libc::SEEK_DATA {
                    from
                } else {
                    core.size()
                }
            }
            Handle::Snapshot { body } => in_memory(body.len())?,
            Handle::ViewWrite { buf, .. } => in_memory(buf.len())?,
            Handle::Scratch { file } => in_memory(lock(file).data.len())?,
            Handle::Dir { .. } => return Err(fs_err!(libc::EISDIR, "is a directory")),
        };
        i64::try_from(to).map_err(|_| fs_err!(libc::EOVERFLOW, "offset {to:#x} too large"))
    }
}

fn shape_kind(s: Shape) -> Kind {
    match s {
        Shape::Dir => Kind::Dir,
        Shape::Link => Kind::Symlink,
        Shape::Text | Shape::Memory | Shape::Core => Kind::File,
    }
}
