//! One process's address space from a dump directory: its mappings (mm
//! image), where each dumped page is (pagemaps, pages images, parent dumps,
//! shared-memory images), and reads and writes of it by virtual address.
//! Knows nothing of FUSE or the CLI. The model is described in docs/mem.md.
//!
//! A read at an address returns, by what backs the page:
//! - a page the task's pagemap holds: its bytes from the pages image (or the
//!   parent dump's, along the `parent` links);
//! - shared memory (MAP_SHARED anonymous, memfd, SysV shm): the shared
//!   object's pagemap-shmem image at the mapping's offset, zeros where it
//!   holds nothing;
//! - a file mapping's page not dumped: the file on this host at the mapping's
//!   offset when it is there with the recorded size, else zeros;
//! - an untouched anonymous page: zeros;
//! - outside every mapping, or a damaged range: EIO.

mod args;
mod layout;
mod pagemap;
mod write;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub use layout::{
    Backing, Fallback, MmFacts, PROT_WRITE, VMA_ANON_PRIVATE, VMA_ANON_SHARED, VMA_AREA_HEAP,
    VMA_AREA_MEMFD, VMA_AREA_REGULAR, VMA_AREA_STACK, VMA_AREA_SYSVIPC, VMA_AREA_VDSO,
    VMA_AREA_VSYSCALL, VMA_AREA_VVAR, VMA_FILE_PRIVATE, VMA_FILE_SHARED, Vma,
};
pub use pagemap::{PE_LAZY, PE_PARENT, PE_PRESENT};

use crate::error::{Error, Result};
use crate::explore::dump::Dump;
use crate::explore::view::Ints;
use layout::ObjectSource;
use pagemap::{Chain, Span};

/// Highest address `mem` can reach as a file offset (x86_64's `[vsyscall]`
/// lies above it).
pub const MAX_OFFSET: u64 = 1 << 63;

/// A failed read or write: an errno (EIO, EPERM, EROFS…) and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemError {
    pub errno: i32,
    pub message: String,
}

impl MemError {
    pub fn new(errno: i32, message: impl Into<String>) -> MemError {
        MemError {
            errno,
            message: message.into(),
        }
    }

    fn eio(message: impl Into<String>) -> MemError {
        MemError::new(libc::EIO, message)
    }
}

impl std::fmt::Display for MemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MemError {}

/// Where a shared-memory object's bytes are.
enum Object {
    Chain(Chain),
    Inline(Vec<u8>),
    /// Unreadable: the problem says why.
    Bad(usize),
}

/// One process's memory (its threads share it).
pub struct AddressSpace {
    dir: PathBuf,
    pid: u64,
    page_size: u64,
    vmas: Vec<Vma>,
    backing: Vec<Backing>,
    mm: MmFacts,
    /// The task's pagemap chain (this dump, then parents).
    task: Chain,
    objects: Vec<Object>,
    /// Host files for file mappings, opened when the space was.
    files: Vec<Option<File>>,
    /// Address ranges whose bytes come from an image, sorted, merged.
    data: Vec<(u64, u64)>,
    problems: Vec<String>,
    /// Whether writes may change the dump.
    writable: bool,
    /// This dump's task pages image opened for in-place writes.
    pages_writer: Option<File>,
}

impl AddressSpace {
    /// Opens process `pid` of the dump in `dump_dir` (a thread's id names its
    /// process). Fails only when the mappings cannot be read (no mm image:
    /// a zombie, a dead task, a pid not in the dump); a damaged pagemap or
    /// parent chain makes the affected ranges fail to read and is listed
    /// in [`AddressSpace::problems`].
    pub fn open(dump_dir: &Path, pid: u64) -> Result<AddressSpace> {
        let dump = Dump::new(dump_dir);
        let pid = process_of(&dump, pid);
        if dump.is_stateless(pid) {
            return Err(
                Error::other(format!("task {pid} is a zombie or dead: it has no memory"))
                    .in_file(format!("core-{pid}.img")),
            );
        }
        let mut problems = Vec::new();
        let layout = layout::read(&dump, pid, &mut problems)?;
        let page_size = page_size_of(&dump, pid);
        let pm_name = format!("pagemap-{pid}.img");
        let task = Chain::open(dump_dir, &pm_name, page_size, &mut problems).unwrap_or_else(|| {
            problems.push(format!(
                "{pm_name}: missing; the private memory of {pid} cannot be read"
            ));
            Chain::broken(problems.len() - 1)
        });
        let objects = layout
            .objects
            .iter()
            .map(|o| match o {
                ObjectSource::Pagemap(id) => {
                    let name = format!("pagemap-shmem-{id}.img");
                    match Chain::open(dump_dir, &name, page_size, &mut problems) {
                        Some(c) => Object::Chain(c),
                        None => {
                            problems.push(format!(
                                "{name}: missing; shared memory {id} cannot be read"
                            ));
                            Object::Bad(problems.len() - 1)
                        }
                    }
                }
                ObjectSource::Inline(bytes) => Object::Inline(bytes.clone()),
                ObjectSource::Unknown(p) => Object::Bad(*p),
            })
            .collect();
        let files = layout.files.iter().map(|p| File::open(p).ok()).collect();
        let mut space = AddressSpace {
            dir: dump_dir.to_path_buf(),
            pid,
            page_size,
            vmas: layout.vmas,
            backing: layout.backing,
            mm: layout.mm,
            task,
            objects,
            files,
            data: Vec::new(),
            problems,
            writable: true,
            pages_writer: None,
        };
        space.data = space.data_extents();
        Ok(space)
    }

    /// The dump directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process's pid (for a thread's id: its process's).
    pub fn pid(&self) -> u64 {
        self.pid
    }

    /// The dump's page size.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// The mappings, sorted by address.
    pub fn vmas(&self) -> &[Vma] {
        &self.vmas
    }

    /// What backs each mapping (same order as [`AddressSpace::vmas`]).
    pub fn backing(&self) -> &[Backing] {
        &self.backing
    }

    /// Facts of the mm image (arguments, environment, auxv, exe…).
    pub fn mm(&self) -> &MmFacts {
        &self.mm
    }

    /// The end of the highest mapping below 2^63: the size `mem` shows.
    pub fn size(&self) -> u64 {
        self.vmas
            .iter()
            .filter(|v| v.end <= MAX_OFFSET)
            .map(|v| v.end)
            .max()
            .unwrap_or(0)
    }

    /// Damaged ranges and missing images, each naming the image and entry.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Address ranges whose bytes come from the dump's images (dumped
    /// private pages, here or in a parent, and the saved pages of shared
    /// memory), sorted and merged.
    pub fn data_ranges(&self) -> &[(u64, u64)] {
        &self.data
    }

    /// Refuses every later write (EROFS), for read-only users.
    pub fn set_read_only(&mut self) {
        self.writable = false;
    }

    /// The mapping holding `addr`, by index.
    pub fn vma_index(&self, addr: u64) -> Option<usize> {
        let i = self.vmas.partition_point(|v| v.start <= addr);
        (i > 0 && addr < self.vmas[i - 1].end).then(|| i - 1)
    }

    /// The mapping holding `addr`.
    pub fn vma_at(&self, addr: u64) -> Option<&Vma> {
        self.vma_index(addr).map(|i| &self.vmas[i])
    }

    /// Reads memory at `addr` into `buf`, as `pread` on `/proc/PID/mem`: the
    /// bytes up to the first that cannot be read; an error only when none
    /// can (EIO outside every mapping or in a damaged range).
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> std::result::Result<usize, MemError> {
        let mut done = 0usize;
        while done < buf.len() {
            let Some(at) = addr.checked_add(done as u64) else {
                break;
            };
            match self.read_some(at, &mut buf[done..]) {
                Ok(n) => done += n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    }

    /// The first address at or after `from` whose bytes come from an image.
    pub fn seek_data(&self, from: u64) -> Option<u64> {
        let i = self.data.partition_point(|&(_, end)| end <= from);
        self.data.get(i).map(|&(start, _)| start.max(from))
    }

    /// The first address at or after `from` whose bytes do not come from an
    /// image (an untouched page, a file's page, a gap between mappings).
    pub fn seek_hole(&self, from: u64) -> u64 {
        let i = self.data.partition_point(|&(_, end)| end <= from);
        match self.data.get(i) {
            Some(&(start, end)) if start <= from => end,
            _ => from,
        }
    }

    /// Reads some bytes at `at` (within one mapping and one source).
    fn read_some(&self, at: u64, buf: &mut [u8]) -> std::result::Result<usize, MemError> {
        let Some(vi) = self.vma_index(at) else {
            return Err(MemError::eio(format!(
                "address {at:#x} is outside every mapping of {}",
                self.pid
            )));
        };
        let vma = &self.vmas[vi];
        let n = (buf.len() as u64).min(vma.end - at) as usize;
        let buf = &mut buf[..n];
        match self.backing[vi] {
            Backing::Private(fallback) => {
                let (span, len) = self.task.lookup(at);
                let n = (n as u64).min(len) as usize;
                match span {
                    Span::Data { layer, offset } => {
                        self.task
                            .read_pages(layer, offset, &mut buf[..n])
                            .map_err(MemError::eio)?;
                        Ok(n)
                    }
                    Span::Bad { problem } => Err(self.bad(problem)),
                    Span::Hole => {
                        let off = vma.pgoff.saturating_add(at - vma.start);
                        match fallback {
                            Fallback::Zeros => {
                                buf[..n].fill(0);
                                Ok(n)
                            }
                            Fallback::File(f) => self.read_file(f, off, &mut buf[..n]),
                            Fallback::Object(o) => self.read_object(o, off, &mut buf[..n]),
                        }
                    }
                }
            }
            Backing::Shared(o) => {
                self.read_object(o, vma.pgoff.saturating_add(at - vma.start), buf)
            }
            Backing::SharedFile(Some(f)) => {
                self.read_file(f, vma.pgoff.saturating_add(at - vma.start), buf)
            }
            Backing::SharedFile(None) => {
                buf.fill(0);
                Ok(n)
            }
        }
    }

    fn bad(&self, problem: usize) -> MemError {
        MemError::eio(
            self.problems
                .get(problem)
                .cloned()
                .unwrap_or_else(|| "damaged range".to_string()),
        )
    }

    /// Bytes of host file `f` at `off`; zeros past its end.
    fn read_file(
        &self,
        f: usize,
        off: u64,
        buf: &mut [u8],
    ) -> std::result::Result<usize, MemError> {
        let Some(file) = self.files.get(f).and_then(Option::as_ref) else {
            buf.fill(0);
            return Ok(buf.len());
        };
        let mut got = 0;
        while got < buf.len() {
            match file.read_at(&mut buf[got..], off + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(MemError::eio(format!("reading a mapped file: {e}"))),
            }
        }
        buf[got..].fill(0);
        Ok(buf.len())
    }

    /// Bytes of shared object `o` at object offset `off`.
    fn read_object(
        &self,
        o: usize,
        off: u64,
        buf: &mut [u8],
    ) -> std::result::Result<usize, MemError> {
        match &self.objects[o] {
            Object::Bad(p) => Err(self.bad(*p)),
            Object::Inline(bytes) => {
                let start = usize::try_from(off).unwrap_or(usize::MAX).min(bytes.len());
                let k = buf.len().min(bytes.len() - start);
                buf[..k].copy_from_slice(&bytes[start..start + k]);
                buf[k..].fill(0);
                Ok(buf.len())
            }
            Object::Chain(chain) => {
                let (span, len) = chain.lookup(off);
                let n = (buf.len() as u64).min(len) as usize;
                match span {
                    Span::Data { layer, offset } => {
                        chain
                            .read_pages(layer, offset, &mut buf[..n])
                            .map_err(MemError::eio)?;
                    }
                    Span::Hole => buf[..n].fill(0),
                    Span::Bad { problem } => return Err(self.bad(problem)),
                }
                Ok(n)
            }
        }
    }

    /// The address ranges with bytes from images, sorted and merged.
    fn data_extents(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (vma, backing) in self.vmas.iter().zip(&self.backing) {
            let (chain, base) = match *backing {
                Backing::Private(_) => (&self.task, vma.start),
                Backing::Shared(o) => match &self.objects[o] {
                    Object::Chain(c) => (c, vma.pgoff),
                    Object::Inline(bytes) => {
                        // Bytes from the IPC image: data as far as they go.
                        let held = (bytes.len() as u64).saturating_sub(vma.pgoff);
                        let end = vma.start.saturating_add(held).min(vma.end);
                        if end > vma.start {
                            out.push((vma.start, end));
                        }
                        continue;
                    }
                    Object::Bad(_) => continue,
                },
                Backing::SharedFile(_) => continue,
            };
            // Runs in the chain's own addresses [lo, hi) that this mapping shows.
            let lo = base;
            let Some(hi) = base.checked_add(vma.end - vma.start) else {
                continue;
            };
            let runs = &chain.layers[0].runs;
            let first = runs.partition_point(|r| r.end <= lo);
            for r in runs[first..].iter().take_while(|r| r.start < hi) {
                if !matches!(
                    r.kind,
                    pagemap::RunKind::Here { .. } | pagemap::RunKind::Parent
                ) {
                    continue;
                }
                let s = r.start.max(lo) - base + vma.start;
                let e = r.end.min(hi) - base + vma.start;
                out.push((s, e));
            }
        }
        out.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(out.len());
        for (s, e) in out {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

/// The dump's page size from this process's own pagemap and pages image
/// (the size at which the image holds exactly the present pages), so that
/// opening one process of a large tree does not read every pagemap; the
/// dump-wide inference ([`Dump::page_size`]) when that does not decide.
fn page_size_of(dump: &Dump, pid: u64) -> u64 {
    const SIZES: [u64; 3] = [4096, 16384, 65536];
    if let Ok(Some(pm)) = dump.try_entries(&format!("pagemap-{pid}.img"))
        && let Some(id) = pm.first().and_then(|h| h.u64("pages_id"))
        && let n = crate::explore::dump::present_pages(&pm)
        && n > 0
        && let Some(len) = dump.file_len(&format!("pages-{id}.img"))
    {
        let fits: Vec<u64> = SIZES
            .into_iter()
            .filter(|ps| n.checked_mul(*ps) == Some(len))
            .collect();
        if let [ps] = fits[..] {
            return ps;
        }
    }
    dump.page_size()
}

/// The process whose thread `pid` is (itself when it is a process, or when
/// the pstree cannot tell).
fn process_of(dump: &Dump, pid: u64) -> u64 {
    if dump.path(&format!("mm-{pid}.img")).exists() {
        return pid;
    }
    dump.tasks("the process of a thread")
        .ok()
        .and_then(|tasks| tasks.into_iter().find(|t| t.threads.contains(&pid)))
        .map_or(pid, |t| t.pid)
}
