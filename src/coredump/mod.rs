//! ELF core files of dumped processes, as the kernel would have written them
//! (fs/binfmt_elf.c), for the architecture of the dump (x86_64, aarch64).
//!
//! The layout — file header, program headers, notes, where each mapping's
//! bytes lie — is worked out when a [`CoreFile`] is made, so its size is
//! known without producing it; bytes are produced by [`CoreFile::read_at`]
//! as asked for, reading memory through a [`Memory`] (the memory layer), so
//! a core of gigabytes never sits whole in memory. Ranges that cannot be
//! read are zeros in the core and named by [`CoreFile::problems`].
//! docs/coredump.md describes the format and the rules.

pub mod elf;
pub mod notes;
pub mod segments;
mod space;
pub mod threads;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::explore::dump::Dump;
use crate::message::{Message, Value};

use elf::{EHDR_SIZE, Le, PHDR_SIZE, PT_LOAD, PT_NOTE, Phdr};
pub use segments::Region;
use segments::{Probe, dump_size};
pub use space::open_memory;
use threads::{Arch, ProcIds, ThreadNotes};

/// One process's memory as a core needs it (implemented by the memory
/// layer's address space; tests use a fake).
pub trait Memory {
    /// The mappings, by start address (madv is filled in from the mm image).
    fn regions(&self) -> Vec<Region>;
    /// Reads at `addr` as pread does: the number of bytes read (0 past the
    /// end of what can be read), or why nothing could be.
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::result::Result<usize, String>;
    /// Whether the dump saved any page in `[start, end)` (its own pages,
    /// parent dumps or shared memory).
    fn has_saved_pages(&self, start: u64, end: u64) -> bool;
    /// Whether the dump saved every page of `[start, end)`.
    fn all_saved(&self, start: u64, end: u64) -> bool;
    /// Damage found while opening the memory (damaged pagemap, missing pages image...).
    fn problems(&self) -> Vec<String>;
}

/// Why a process gets no core.
pub const ZOMBIE: &str = "is a zombie: it has no memory, so it gets no core";

/// A core file of one process, laid out but produced only as read.
pub struct CoreFile<M: Memory> {
    pid: u64,
    arch: Arch,
    /// File header, program headers and notes.
    head: Vec<u8>,
    loads: Vec<Load>,
    /// The section header of extended numbering, at its offset.
    tail: Option<(u64, Vec<u8>)>,
    size: u64,
    mem: M,
    page_size: u64,
    problems: Mutex<Problems>,
}

#[derive(Clone, Debug)]
struct Load {
    offset: u64,
    vaddr: u64,
    filesz: u64,
    zeros: bool,
}

/// Problems met so far: the memory layer's, then ranges that read as zeros
/// (start → end, reason), merged when adjacent.
#[derive(Default)]
struct Problems {
    opening: Vec<String>,
    unreadable: BTreeMap<u64, (u64, String)>,
}

impl Problems {
    fn add(&mut self, start: u64, end: u64, why: &str) {
        // Extend the range this one continues (ranges of other reasons may
        // start in between).
        if let Some((_, (e, _))) = self
            .unreadable
            .range_mut(..=start)
            .rev()
            .take(8)
            .find(|(_, (e, w))| *e >= start && w == why)
        {
            *e = (*e).max(end);
            return;
        }
        self.unreadable.insert(start, (end, why.to_string()));
    }
}

/// What the layout reads of memory while sizing mappings.
struct LayoutProbe<'a, M: Memory>(&'a M);

impl<M: Memory> Probe for LayoutProbe<'_, M> {
    fn has_saved_pages(&self, start: u64, end: u64) -> bool {
        self.0.has_saved_pages(start, end)
    }
    fn starts_with_elf_magic(&self, addr: u64) -> bool {
        let mut b = [0u8; 4];
        matches!(self.0.read(addr, &mut b), Ok(4)) && &b == b"\x7fELF"
    }
}

impl<M: Memory> std::fmt::Debug for CoreFile<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CoreFile(pid {}, {} bytes)", self.pid, self.size)
    }
}

impl<M: Memory> CoreFile<M> {
    /// Lays out the core of process `pid` of the dump. A zombie, a missing
    /// or damaged core/mm/pstree image, or an architecture other than
    /// x86_64 and aarch64 is an error naming the image.
    pub fn new(dump: &Dump, pid: u64, mem: M) -> Result<CoreFile<M>> {
        let needed_by = "the core file";
        let tasks = dump.tasks(needed_by)?;
        let task = tasks.iter().find(|t| t.pid == pid).ok_or_else(|| {
            Error::other(format!("no process {pid} in the dump")).in_file("pstree.img")
        })?;
        if dump.is_stateless(pid) {
            return Err(Error::other(format!("process {pid} {ZOMBIE}")));
        }
        let page_size = dump.page_size();

        // Threads, the main thread first.
        let mut tids = vec![pid];
        tids.extend(task.threads.iter().copied().filter(|&t| t != pid));
        let main_name = format!("core-{pid}.img");
        let main_core = dump.head(&main_name, needed_by)?;
        let tc = main_core.msg("tc");
        let shared_pending = threads::pending_mask(tc.and_then(|t| t.msg("signals_s")));
        let mut thread_notes = Vec::with_capacity(tids.len());
        for &tid in &tids {
            let name = format!("core-{tid}.img");
            let owned;
            let core = if tid == pid {
                &main_core
            } else {
                owned = dump.head(&name, needed_by)?;
                &owned
            };
            thread_notes.push(ThreadNotes::read(tid, core, &name, shared_pending)?);
        }
        let arch = thread_notes[0].arch;
        if let Some(t) = thread_notes.iter().find(|t| t.arch != arch) {
            return Err(Error::other(format!(
                "thread {} is {} but the process is {}",
                t.tid,
                t.arch.name(),
                arch.name()
            ))
            .in_file(format!("core-{}.img", t.tid)));
        }

        let mm_name = format!("mm-{pid}.img");
        let mm = dump.head(&mm_name, needed_by)?;
        let auxv = ints(&mm, "mm_saved_auxv");
        let madv: HashMap<u64, u64> = mm
            .msgs("vmas")
            .filter_map(|v| Some((v.u64("start")?, v.u64("madv").unwrap_or(0))))
            .collect();
        let mut regions = mem.regions();
        regions.sort_by_key(|r| r.start);
        regions.retain(|r| !r.is_empty());
        for r in &mut regions {
            r.madv = madv.get(&r.start).copied().unwrap_or(r.madv);
        }

        let mut problems = Problems {
            opening: mem.problems(),
            ..Problems::default()
        };
        // pr_psargs: the kernel's fill_psinfo copies the raw argument area,
        // not what /proc/PID/cmdline (memory::AddressSpace::cmdline) gives.
        let cmdline = match (mm.u64("mm_arg_start"), mm.u64("mm_arg_end")) {
            (Some(s), Some(e)) if e > s => {
                let mut buf = vec![0u8; ((e - s).min(notes::PSARGS as u64)) as usize];
                let n = match mem.read(s, &mut buf) {
                    Ok(n) => n,
                    Err(why) => {
                        problems.opening.push(format!(
                            "the command line (NT_PRPSINFO) cannot be read: {why}"
                        ));
                        0
                    }
                };
                buf.truncate(n);
                buf
            }
            _ => Vec::new(),
        };
        let creds = main_core.msg("thread_core").and_then(|t| t.msg("creds"));
        let ps = notes::PsInfo {
            task_state: tc.and_then(|t| t.u64("task_state")).unwrap_or(1),
            nice: main_core
                .msg("thread_core")
                .and_then(|t| t.i64("sched_nice"))
                .unwrap_or(0),
            flags: tc.and_then(|t| t.u64("flags")).unwrap_or(0),
            uid: creds.and_then(|c| c.u64("uid")).unwrap_or(0),
            gid: creds.and_then(|c| c.u64("gid")).unwrap_or(0),
            pid,
            ppid: task.ppid,
            pgrp: task.pgid,
            sid: task.sid,
            comm: tc
                .and_then(|t| t.bytes("comm").map(|b| b.to_vec()))
                .unwrap_or_default(),
            cmdline,
        };
        let ids = ProcIds {
            ppid: task.ppid,
            pgrp: task.pgid,
            sid: task.sid,
        };

        // Notes in the kernel's order: the first thread's NT_PRSTATUS, the
        // process notes, the first thread's other notes, then each other
        // thread's.
        let mut note_bytes = Le::default();
        for (i, t) in thread_notes.iter().enumerate() {
            t.write_prstatus(&mut note_bytes, &ids);
            if i == 0 {
                notes::write_prpsinfo(&mut note_bytes, &ps);
                t.write_siginfo(&mut note_bytes);
                notes::write_auxv(&mut note_bytes, &auxv);
                notes::write_files(&mut note_bytes, &regions, page_size);
            } else {
                t.write_siginfo(&mut note_bytes);
            }
            t.write_extra(&mut note_bytes);
        }
        let notes = note_bytes.0;

        let phnum = regions.len() as u64 + 1;
        let notes_at = EHDR_SIZE + phnum * PHDR_SIZE;
        let data_start = (notes_at + notes.len() as u64).next_multiple_of(page_size);
        let probe = LayoutProbe(&mem);
        let mut offset = data_start;
        let mut loads = Vec::with_capacity(regions.len());
        let mut phdrs = Le::with_capacity((phnum * PHDR_SIZE) as usize);
        Phdr {
            p_type: PT_NOTE,
            flags: 0,
            offset: notes_at,
            vaddr: 0,
            filesz: notes.len() as u64,
            memsz: 0,
            align: 4,
        }
        .write(&mut phdrs);
        for r in &regions {
            let filesz = dump_size(r, page_size, &probe);
            if filesz == r.len()
                && r.is_file()
                && !r.is_shared()
                && r.file_missing
                && !mem.all_saved(r.start, r.end)
            {
                problems.opening.push(format!(
                    "{:#x}-{:#x} {}: the file is not on this host; the pages the dump did not save are zeros in the core",
                    r.start,
                    r.end,
                    r.path.as_deref().unwrap_or("(file)")
                ));
            }
            Phdr {
                p_type: PT_LOAD,
                flags: r.elf_flags(),
                offset,
                vaddr: r.start,
                filesz,
                memsz: r.len(),
                align: page_size,
            }
            .write(&mut phdrs);
            if filesz > 0 {
                loads.push(Load {
                    offset,
                    vaddr: r.start,
                    filesz,
                    zeros: r.reads_as_zeros(),
                });
            }
            offset = offset.checked_add(filesz).ok_or_else(|| {
                Error::other("the mappings add up to a core of more than 2^64 bytes")
                    .in_file(&mm_name)
            })?;
        }
        let tail = (phnum >= elf::PN_XNUM as u64).then(|| (offset, elf::extnum_section(phnum)));
        let size = offset + tail.as_ref().map_or(0, |t| t.1.len() as u64);
        let mut head = elf::file_header(arch.machine(), phnum, tail.as_ref().map_or(0, |t| t.0));
        head.extend_from_slice(&phdrs.0);
        head.extend_from_slice(&notes);
        Ok(CoreFile {
            pid,
            arch,
            head,
            loads,
            tail,
            size,
            mem,
            page_size,
            problems: Mutex::new(problems),
        })
    }

    pub fn pid(&self) -> u64 {
        self.pid
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The size of the core file in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fills `buf` with the core's bytes at `offset`; returns how many (short
    /// only at the end of the file). Memory that cannot be read is zeros,
    /// and the range is added to [`CoreFile::problems`].
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size {
            return 0;
        }
        let n = buf.len().min((self.size - offset) as usize);
        let buf = &mut buf[..n];
        buf.fill(0);
        let end = offset + n as u64;
        // Head: headers and notes.
        copy_overlap(&self.head, 0, offset, buf);
        if let Some((at, bytes)) = &self.tail {
            copy_overlap(bytes, *at, offset, buf);
        }
        // Loads that overlap [offset, end).
        let first = self
            .loads
            .partition_point(|l| l.offset + l.filesz <= offset);
        for l in self.loads[first..].iter().take_while(|l| l.offset < end) {
            if l.zeros {
                continue;
            }
            let from = offset.max(l.offset);
            let to = end.min(l.offset + l.filesz);
            let dst = &mut buf[(from - offset) as usize..(to - offset) as usize];
            self.read_memory(l.vaddr + (from - l.offset), dst);
        }
        n
    }

    /// Reads memory into `dst`, zeros where it cannot (noted as problems).
    fn read_memory(&self, addr: u64, dst: &mut [u8]) {
        let mut done = 0usize;
        while done < dst.len() {
            let at = addr + done as u64;
            match self.mem.read(at, &mut dst[done..]) {
                Ok(k) if k > 0 => done += k,
                result => {
                    // Skip to the next page; the bytes stay zero.
                    let why = match result {
                        Err(why) => why,
                        _ => "nothing to read".to_string(),
                    };
                    let page_end = (at / self.page_size + 1) * self.page_size;
                    let skip = ((page_end - at) as usize).min(dst.len() - done);
                    dst[done..done + skip].fill(0);
                    self.problems.lock().unwrap_or_else(|e| e.into_inner()).add(
                        at,
                        at + skip as u64,
                        &why,
                    );
                    done += skip;
                }
            }
        }
    }

    /// The problems met so far: the memory layer's, and the address ranges
    /// that are zeros in the core because they could not be read (complete
    /// once the whole file has been read).
    pub fn problems(&self) -> Vec<String> {
        let p = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = p.opening.clone();
        for (start, (end, why)) in &p.unreadable {
            out.push(format!(
                "{start:#x}-{end:#x} unreadable, zeros in the core: {why}"
            ));
        }
        out
    }

    /// Writes the whole core into the empty file `f`, 1 MiB at a time, leaving
    /// holes where whole pages are zeros (as the kernel's cores: untouched
    /// memory takes no disk, and is not copied).
    pub fn write_to_file(&self, f: &std::fs::File) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        const PAGE: usize = 4096;
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0u64;
        while offset < self.size {
            let n = self.read_at(offset, &mut buf);
            let mut run: Option<usize> = None; // start of the pending non-zero run
            for at in (0..n).step_by(PAGE) {
                let end = (at + PAGE).min(n);
                let zero = is_zero(&buf[at..end]);
                match (zero, run) {
                    (false, None) => run = Some(at),
                    (true, Some(s)) => {
                        f.write_all_at(&buf[s..at], offset + s as u64)?;
                        run = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = run {
                f.write_all_at(&buf[s..n], offset + s as u64)?;
            }
            offset += n as u64;
        }
        f.set_len(self.size)
    }
}

/// Whether every byte of `b` is zero (a word at a time).
fn is_zero(b: &[u8]) -> bool {
    let words = b.chunks_exact(8);
    let tail = words.remainder();
    words.fold(0u64, |acc, w| {
        acc | u64::from_ne_bytes(w.try_into().unwrap_or([1; 8]))
    }) == 0
        && tail.iter().all(|&x| x == 0)
}

/// Copies the part of `src` (lying at file offset `at`) that overlaps the
/// window `buf` at file offset `offset`.
fn copy_overlap(src: &[u8], at: u64, offset: u64, buf: &mut [u8]) {
    let end = offset + buf.len() as u64;
    let src_end = at + src.len() as u64;
    if src_end <= offset || at >= end {
        return;
    }
    let from = offset.max(at);
    let to = end.min(src_end);
    buf[(from - offset) as usize..(to - offset) as usize]
        .copy_from_slice(&src[(from - at) as usize..(to - at) as usize]);
}

fn ints(m: &Message, name: &str) -> Vec<u64> {
    m.get(name)
        .iter()
        .filter_map(|v| match v {
            Value::U64(x) => Some(*x),
            Value::I64(x) => Some(*x as u64),
            _ => None,
        })
        .collect()
}

/// The processes of the dump: (pid, whether it is a zombie), in pstree order.
pub fn processes(dump: &Dump) -> Result<Vec<(u64, bool)>> {
    Ok(dump
        .tasks("the core files")?
        .into_iter()
        .map(|t| (t.pid, dump.is_stateless(t.pid)))
        .collect())
}
