//! The text of a `/proc/PID` directory for the processes of a dump: what
//! each entry holds (`status`, `limits`, `maps`, `cmdline`, `environ`,
//! `auxv`, the `fd/N`, `cwd`, `root` and `exe` links), in the kernel's
//! formats, from the images. No FUSE here: `crate::fs` shows these as the
//! mount's `proc/` tree, and reads `mem` through `crate::memory`.

pub mod limits;
pub mod links;
pub mod maps;
pub mod status;
pub mod text;

use std::path::Path;

use crate::error::Result;
use crate::explore::dump::Dump;
use crate::memory::AddressSpace;

/// An entry of `proc/PID/`. The one list of them is [`ENTRIES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    Status,
    Limits,
    Maps,
    Cmdline,
    Environ,
    Auxv,
    Mem,
    /// `core`: an ELF core file of the process (`crate::coredump`).
    Core,
    Cwd,
    Root,
    Exe,
    /// The `fd/` directory.
    FdDir,
    /// `fd/N`.
    Fd(u32),
    /// The `task/` directory: a directory per thread.
    TaskDir,
    /// `task/TID/`.
    Task(u64),
    /// `task/TID/status`.
    TaskStatus(u64),
}

/// What kind of file an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Bytes rendered whole when opened (small).
    Text,
    /// The address space: read and written in place, never rendered whole.
    Memory,
    /// A core file: laid out when looked at, produced as read.
    Core,
    /// A symbolic link.
    Link,
    Dir,
}

/// One name in `proc/PID/`.
pub struct Spec {
    pub name: &'static str,
    pub entry: Entry,
    pub shape: Shape,
    /// Shown only for a task with state (not a zombie, which has only a
    /// core image with its name and state).
    pub needs_mm: bool,
}

/// The names of `proc/PID/`, in listing order. To add an entry (such as
/// `core`), add a line here, a variant to [`Entry`], and what it holds where
/// `crate::fs::proc` matches on the entry.
pub const ENTRIES: &[Spec] = &[
    spec("auxv", Entry::Auxv, Shape::Text, true),
    spec("cmdline", Entry::Cmdline, Shape::Text, true),
    spec("core", Entry::Core, Shape::Core, true),
    spec("cwd", Entry::Cwd, Shape::Link, true),
    spec("environ", Entry::Environ, Shape::Text, true),
    spec("exe", Entry::Exe, Shape::Link, true),
    spec("fd", Entry::FdDir, Shape::Dir, true),
    spec("limits", Entry::Limits, Shape::Text, true),
    spec("maps", Entry::Maps, Shape::Text, true),
    spec("mem", Entry::Mem, Shape::Memory, true),
    spec("root", Entry::Root, Shape::Link, true),
    spec("status", Entry::Status, Shape::Text, false),
    spec("task", Entry::TaskDir, Shape::Dir, true),
];

const fn spec(name: &'static str, entry: Entry, shape: Shape, needs_mm: bool) -> Spec {
    Spec {
        name,
        entry,
        shape,
        needs_mm,
    }
}

/// The shape of any entry, `fd/N` included.
pub fn shape(entry: Entry) -> Shape {
    match entry {
        Entry::Fd(_) => Shape::Link,
        Entry::Task(_) => Shape::Dir,
        Entry::TaskStatus(_) => Shape::Text,
        e => ENTRIES
            .iter()
            .find(|s| s.entry == e)
            .map_or(Shape::Text, |s| s.shape),
    }
}

/// A process of the dump, as `proc/` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: u64,
    pub ppid: u64,
    pub threads: Vec<u64>,
    /// False for a zombie or dead task (only a core image): no memory, files.
    pub alive: bool,
}

impl Proc {
    /// The entries this process shows.
    pub fn entries(&self) -> impl Iterator<Item = &'static Spec> + '_ {
        ENTRIES.iter().filter(|s| self.alive || !s.needs_mm)
    }

    pub fn has(&self, entry: Entry) -> bool {
        match entry {
            Entry::Fd(_) => self.alive,
            Entry::Task(tid) | Entry::TaskStatus(tid) => self.alive && self.threads.contains(&tid),
            e => self.entries().any(|s| s.entry == e),
        }
    }
}

/// The processes of the dump in `dir`, in pstree.img order. A pid that
/// appears twice is shown once (the first entry).
pub fn processes(dir: &Path) -> Result<Vec<Proc>> {
    let dump = Dump::new(dir);
    let mut seen = std::collections::HashSet::new();
    Ok(dump
        .tasks("proc/")?
        .into_iter()
        .filter(|t| seen.insert(t.pid))
        .map(|t| Proc {
            alive: !dump.is_stateless(t.pid),
            pid: t.pid,
            ppid: t.ppid,
            threads: t.threads,
        })
        .collect())
}

/// The bytes of a text entry of process `proc` of the dump in `dir`
/// (`Shape::Text` entries; memory-backed ones take `mem`).
pub fn render(
    dir: &Path,
    proc: &Proc,
    entry: Entry,
    mem: Option<&AddressSpace>,
) -> Result<Vec<u8>> {
    let dump = Dump::new(dir);
    let need_mem = || {
        mem.ok_or_else(|| {
            crate::Error::other(format!("pid {}: no address space to read", proc.pid))
        })
    };
    let mem_err = |e: crate::memory::MemError| crate::Error::other(e.message);
    Ok(match entry {
        Entry::Status => status::render(&dump, proc)?.into_bytes(),
        Entry::TaskStatus(tid) => status::render_task(&dump, proc, tid)?.into_bytes(),
        Entry::Limits => limits::render(&dump, proc.pid)?.into_bytes(),
        Entry::Auxv => text::auxv(&dump, proc.pid)?,
        Entry::Cmdline => need_mem()?.cmdline().map_err(mem_err)?,
        Entry::Environ => need_mem()?.environ().map_err(mem_err)?,
        other => {
            return Err(crate::Error::other(format!(
                "pid {}: {other:?} is not a text entry",
                proc.pid
            )));
        }
    })
}

/// The integers of a repeated field.
pub(crate) fn u64s(m: &crate::message::Message, name: &str) -> Vec<u64> {
    m.get(name)
        .iter()
        .filter_map(crate::message::value_u64)
        .collect()
}
