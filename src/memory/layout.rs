//! The mappings of one process from its mm image, named as `/proc/PID/maps`
//! names them, with what backs each one (the task's pagemap, a shared-memory
//! object, a file on this host).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::Result;
use crate::explore::dump::Dump;
use crate::explore::files::Files;
use crate::message::{Message, Value};

/// VMA status bits (CRIU's criu/include/image.h).
pub const VMA_AREA_REGULAR: u32 = 1 << 0;
pub const VMA_AREA_STACK: u32 = 1 << 1;
pub const VMA_AREA_VSYSCALL: u32 = 1 << 2;
pub const VMA_AREA_VDSO: u32 = 1 << 3;
pub const VMA_AREA_HEAP: u32 = 1 << 5;
pub const VMA_FILE_PRIVATE: u32 = 1 << 6;
pub const VMA_FILE_SHARED: u32 = 1 << 7;
pub const VMA_ANON_SHARED: u32 = 1 << 8;
pub const VMA_ANON_PRIVATE: u32 = 1 << 9;
pub const VMA_AREA_SYSVIPC: u32 = 1 << 10;
pub const VMA_AREA_VVAR: u32 = 1 << 12;
pub const VMA_AREA_MEMFD: u32 = 1 << 14;

/// PROT_WRITE.
pub const PROT_WRITE: u32 = 2;

/// One mapping of the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// `[start, end)`
    pub start: u64,
    pub end: u64,
    /// PROT_* and MAP_* as in the mm image.
    pub prot: u32,
    pub flags: u32,
    /// Offset in the file (or shared-memory object) in bytes.
    pub pgoff: u64,
    /// VMA_AREA_* bits from the image.
    pub status: u32,
    /// The file id (file mappings) or shared-memory id, as in the image.
    pub shmid: u64,
    /// The file's path for file mappings (from files.img), `/dev/zero (deleted)`,
    /// `/memfd:NAME (deleted)`, `/SYSV%08x (deleted)` for shared memory, or
    /// `[heap]`, `[stack]`, `[vdso]`, `[vvar]`, `[vsyscall]`.
    pub path: Option<String>,
    /// Device and inode where the dump knows them (shared memory: the inode
    /// is the shared-memory id, as the kernel shows it).
    pub dev: Option<(u32, u32)>,
    pub inode: Option<u64>,
    /// File mappings: whether the file is on this host with the size the
    /// dump recorded (its pages the dump did not save are read from it).
    pub file_on_host: Option<bool>,
}

impl Vma {
    /// Whether the mapping is MAP_SHARED (file or memory).
    pub fn is_shared(&self) -> bool {
        self.status & (VMA_FILE_SHARED | VMA_ANON_SHARED | VMA_AREA_SYSVIPC) != 0
            || (self.flags & 0x0f) == 1
    }

    /// `rwxp`/`rwxs` as in `/proc/PID/maps`.
    pub fn perms(&self) -> String {
        let mut s = String::with_capacity(4);
        s.push(if self.prot & 1 != 0 { 'r' } else { '-' });
        s.push(if self.prot & 2 != 0 { 'w' } else { '-' });
        s.push(if self.prot & 4 != 0 { 'x' } else { '-' });
        s.push(if self.is_shared() { 's' } else { 'p' });
        s
    }
}

/// Facts of the mm image others need (cmdline, environ, auxv, exe…).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MmFacts {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_stack: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    /// mm_saved_auxv: (type, value) pairs flattened, as saved.
    pub auxv: Vec<u64>,
    pub exe_file_id: Option<u64>,
    /// The executable's path from files.img.
    pub exe_path: Option<String>,
    pub dumpable: Option<u64>,
}

/// Where the bytes of a mapping come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Private memory: the task's pagemap, then `fallback` for pages the
    /// dump did not save.
    Private(Fallback),
    /// Shared memory: shared object `n` (its pagemap-shmem image) at the
    /// mapping's offset.
    Shared(usize),
    /// A shared file mapping: the file on this host (CRIU saves none of its
    /// pages), else zeros.
    SharedFile(Option<usize>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    Zeros,
    /// Host file `n`.
    File(usize),
    /// Shared object `n` (a private mapping of a memfd).
    Object(usize),
}

/// A shared-memory object named by a mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectSource {
    /// pagemap-shmem-ID.img (and its pages image).
    Pagemap(u64),
    /// Bytes kept after the entry in ipcns-shm-*.img (SysV shm not in pagemaps).
    Inline(Vec<u8>),
    /// Unknown: reads fail with this problem.
    Unknown(usize),
}

/// The mappings and what backs them.
pub struct Layout {
    pub vmas: Vec<Vma>,
    pub backing: Vec<Backing>,
    pub mm: MmFacts,
    /// Host files by path (bytes), for fallbacks.
    pub files: Vec<PathBuf>,
    pub objects: Vec<ObjectSource>,
}

fn u(m: &Message, name: &str) -> u64 {
    m.u64(name).unwrap_or(0)
}

/// Reads mm-PID.img (with files.img, memfd.img, ipcns-shm for names and
/// shared memory). Only an unreadable mm image is an error.
pub fn read(dump: &Dump, pid: u64, problems: &mut Vec<String>) -> Result<Layout> {
    let mm_name = format!("mm-{pid}.img");
    let mm = dump.head(&mm_name, "the process's memory")?;
    let mut files = match Files::new(dump) {
        Ok(f) => Some(f),
        Err(e) => {
            problems.push(format!("file names unknown: {e}"));
            None
        }
    };
    let reg = |files: &mut Option<Files>, id: u64| -> Option<(Vec<u8>, Option<u64>)> {
        let f = files.as_mut()?.lookup("REG", id, "file mappings").ok()??;
        Some((f.bytes("name")?.to_vec(), f.u64("size")))
    };
    let mut facts = MmFacts {
        start_code: u(&mm, "mm_start_code"),
        end_code: u(&mm, "mm_end_code"),
        start_data: u(&mm, "mm_start_data"),
        end_data: u(&mm, "mm_end_data"),
        start_stack: u(&mm, "mm_start_stack"),
        start_brk: u(&mm, "mm_start_brk"),
        brk: u(&mm, "mm_brk"),
        arg_start: u(&mm, "mm_arg_start"),
        arg_end: u(&mm, "mm_arg_end"),
        env_start: u(&mm, "mm_env_start"),
        env_end: u(&mm, "mm_env_end"),
        auxv: mm
            .get("mm_saved_auxv")
            .iter()
            .filter_map(|v| match v {
                Value::U64(x) => Some(*x),
                Value::I64(x) => Some(*x as u64),
                _ => None,
            })
            .collect(),
        exe_file_id: mm.u64("exe_file_id"),
        exe_path: None,
        dumpable: mm.u64("dumpable"),
    };
    if let Some(id) = facts.exe_file_id {
        facts.exe_path = reg(&mut files, id).map(|(n, _)| String::from_utf8_lossy(&n).into_owned());
    }

    let mut memfd: Option<Vec<Message>> = None;
    let mut sysv: Option<Vec<(Message, Vec<u8>)>> = None;
    let mut layout = Layout {
        vmas: Vec::new(),
        backing: Vec::new(),
        mm: MmFacts::default(),
        files: Vec::new(),
        objects: Vec::new(),
    };
    let mut file_index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut object_index: HashMap<(u8, u64), usize> = HashMap::new();

    for (i, v) in mm.msgs("vmas").enumerate() {
        let mut vma = Vma {
            start: u(v, "start"),
            end: u(v, "end"),
            prot: u(v, "prot") as u32,
            flags: u(v, "flags") as u32,
            pgoff: u(v, "pgoff"),
            status: u(v, "status") as u32,
            shmid: u(v, "shmid"),
            path: None,
            dev: None,
            inode: None,
            file_on_host: None,
        };
        if vma.end <= vma.start {
            problems.push(format!(
                "{mm_name} vma {i}: {:#x}-{:#x} is empty or inverted; left out",
                vma.start, vma.end
            ));
            continue;
        }
        let st = vma.status;
        let backing = if st & VMA_AREA_SYSVIPC != 0 {
            vma.inode = Some(vma.shmid);
            let shms = sysv.get_or_insert_with(|| sysv_shms(dump, pid));
            let found = shms
                .iter()
                .find(|(m, _)| m.msg("desc").and_then(|d| d.u64("id")) == Some(vma.shmid));
            let key = found.and_then(|(m, _)| m.msg("desc").and_then(|d| d.u64("key")));
            vma.path = Some(format!("/SYSV{:08x} (deleted)", key.unwrap_or(0)));
            let source = match found {
                Some((m, _)) if m.bool("in_pagemaps") == Some(true) => {
                    ObjectSource::Pagemap(vma.shmid)
                }
                Some((_, bytes)) => ObjectSource::Inline(bytes.clone()),
                None => {
                    problems.push(format!(
                        "{mm_name} vma {i}: SysV shared memory {} is not in any ipcns-shm image",
                        vma.shmid
                    ));
                    ObjectSource::Unknown(problems.len() - 1)
                }
            };
            Backing::Shared(object(
                &mut layout.objects,
                &mut object_index,
                (1, vma.shmid),
                source,
            ))
        } else if st & VMA_AREA_MEMFD != 0 {
            let entries = memfd.get_or_insert_with(|| memfd_inodes(dump));
            let inode_id = files
                .as_ref()
                .and_then(|f| f.file_entry("MEMFD", vma.shmid))
                .and_then(|e| e.msg("memfd"))
                .and_then(|m| m.u64("inode_id"));
            let inode =
                inode_id.and_then(|id| entries.iter().find(|m| m.u64("inode_id") == Some(id)));
            let source = match inode.and_then(|m| m.u64("shmid")) {
                Some(shmid) => {
                    vma.inode = Some(shmid);
                    ObjectSource::Pagemap(shmid)
                }
                None => {
                    problems.push(format!(
                        "{mm_name} vma {i}: memfd file {} has no memfd.img inode",
                        vma.shmid
                    ));
                    ObjectSource::Unknown(problems.len() - 1)
                }
            };
            if let Some(name) = inode.and_then(|m| m.bytes("name")) {
                let name = String::from_utf8_lossy(name);
                vma.path = Some(if name.starts_with('/') {
                    format!("{name} (deleted)")
                } else {
                    format!("/memfd:{name} (deleted)")
                });
            }
            let key = match &source {
                ObjectSource::Pagemap(id) => (0, *id),
                _ => (2, vma.shmid),
            };
            let n = object(&mut layout.objects, &mut object_index, key, source);
            if st & VMA_FILE_PRIVATE != 0 {
                Backing::Private(Fallback::Object(n))
            } else {
                Backing::Shared(n)
            }
        } else if st & VMA_ANON_SHARED != 0 {
            vma.inode = Some(vma.shmid);
            vma.path = Some("/dev/zero (deleted)".to_string());
            Backing::Shared(object(
                &mut layout.objects,
                &mut object_index,
                (0, vma.shmid),
                ObjectSource::Pagemap(vma.shmid),
            ))
        } else if st & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) != 0 {
            let host = match reg(&mut files, vma.shmid) {
                Some((name, size)) => {
                    vma.path = Some(String::from_utf8_lossy(&name).into_owned());
                    let path = PathBuf::from(OsStr::from_bytes(&name));
                    let on_host = std::fs::metadata(&path)
                        .is_ok_and(|m| m.is_file() && size.is_none_or(|s| s == m.len()));
                    vma.file_on_host = Some(on_host);
                    on_host.then(|| {
                        *file_index.entry(name).or_insert_with(|| {
                            layout.files.push(path);
                            layout.files.len() - 1
                        })
                    })
                }
                None => {
                    problems.push(format!(
                        "{mm_name} vma {i}: file {} of the mapping is not in files.img",
                        vma.shmid
                    ));
                    vma.file_on_host = Some(false);
                    None
                }
            };
            if st & VMA_FILE_SHARED != 0 {
                Backing::SharedFile(host)
            } else {
                Backing::Private(host.map_or(Fallback::Zeros, Fallback::File))
            }
        } else {
            vma.path = special_name(&vma, &facts);
            Backing::Private(Fallback::Zeros)
        };
        layout.vmas.push(vma);
        layout.backing.push(backing);
    }
    // Sorted by start for binary search (CRIU writes them sorted already).
    let mut order: Vec<usize> = (0..layout.vmas.len()).collect();
    order.sort_by_key(|&i| layout.vmas[i].start);
    let vmas: Vec<Vma> = order.iter().map(|&i| layout.vmas[i].clone()).collect();
    let backing: Vec<Backing> = order.iter().map(|&i| layout.backing[i]).collect();
    // Overlapping mappings cannot both hold an address: keep the first.
    let mut keep_vmas = Vec::with_capacity(vmas.len());
    let mut keep_backing = Vec::with_capacity(vmas.len());
    for (v, b) in vmas.into_iter().zip(backing) {
        if let Some(last) = keep_vmas.last().map(|l: &Vma| l.end)
            && v.start < last
        {
            problems.push(format!(
                "{mm_name}: mapping {:#x}-{:#x} overlaps the one before it; left out",
                v.start, v.end
            ));
            continue;
        }
        keep_vmas.push(v);
        keep_backing.push(b);
    }
    layout.vmas = keep_vmas;
    layout.backing = keep_backing;
    layout.mm = facts;
    Ok(layout)
}

fn object(
    objects: &mut Vec<ObjectSource>,
    index: &mut HashMap<(u8, u64), usize>,
    key: (u8, u64),
    source: ObjectSource,
) -> usize {
    *index.entry(key).or_insert_with(|| {
        objects.push(source);
        objects.len() - 1
    })
}

/// `[heap]`, `[stack]`, `[vdso]`, `[vvar]`, `[vsyscall]` for anonymous
/// private mappings, as the kernel names them.
fn special_name(v: &Vma, mm: &MmFacts) -> Option<String> {
    let name = if v.status & VMA_AREA_VSYSCALL != 0 {
        "[vsyscall]"
    } else if v.status & VMA_AREA_VVAR != 0 {
        "[vvar]"
    } else if v.status & VMA_AREA_VDSO != 0 {
        "[vdso]"
    } else if v.status & VMA_AREA_HEAP != 0
        || (mm.start_brk != 0 && v.start <= mm.brk && v.end >= mm.start_brk)
    {
        "[heap]"
    } else if v.status & VMA_AREA_STACK != 0
        || (v.start <= mm.start_stack && v.end >= mm.start_stack && mm.start_stack != 0)
    {
        "[stack]"
    } else {
        return None;
    };
    Some(name.to_string())
}

/// memfd.img's inode entries (none when the dump has no memfd.img).
fn memfd_inodes(dump: &Dump) -> Vec<Message> {
    match dump.try_image("memfd.img") {
        Ok(Some(img)) => img.entries.into_iter().map(|e| e.msg).collect(),
        _ => Vec::new(),
    }
}

/// The SysV shared-memory segments of the task's IPC namespace, with their
/// inline bytes (empty when they are in pagemaps).
fn sysv_shms(dump: &Dump, pid: u64) -> Vec<(Message, Vec<u8>)> {
    let ns = dump
        .try_image(&format!("ids-{pid}.img"))
        .ok()
        .flatten()
        .and_then(|img| img.entries.first().and_then(|e| e.msg.u64("ipc_ns_id")));
    let Some(ns) = ns else {
        return Vec::new();
    };
    match dump.try_image(&format!("ipcns-shm-{ns}.img")) {
        Ok(Some(img)) => img
            .entries
            .into_iter()
            .map(|e| {
                let bytes = match e.payload {
                    crate::image::Payload::Raw(b) => b,
                    _ => Vec::new(),
                };
                (e.msg, bytes)
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vma(start: u64, end: u64, status: u32, prot: u32, flags: u32) -> Vma {
        Vma {
            start,
            end,
            prot,
            flags,
            pgoff: 0,
            status,
            shmid: 0,
            path: None,
            dev: None,
            inode: None,
            file_on_host: None,
        }
    }

    #[test]
    fn special_names_from_bits_and_mm() {
        let mm = MmFacts {
            start_brk: 0x5000,
            brk: 0x6000,
            start_stack: 0x7ff0,
            ..MmFacts::default()
        };
        let anon = VMA_AREA_REGULAR | VMA_ANON_PRIVATE;
        let name = |v: Vma| special_name(&v, &mm);
        assert_eq!(
            name(vma(0x5000, 0x7000, anon, 3, 0x22)).as_deref(),
            Some("[heap]")
        );
        assert_eq!(
            name(vma(0x1000, 0x2000, anon | VMA_AREA_HEAP, 3, 0x22)).as_deref(),
            Some("[heap]")
        );
        assert_eq!(
            name(vma(0x7000, 0x8000, anon, 3, 0x122)).as_deref(),
            Some("[stack]")
        );
        assert_eq!(
            name(vma(0x9000, 0xa000, anon | VMA_AREA_VDSO, 5, 0x22)).as_deref(),
            Some("[vdso]")
        );
        assert_eq!(
            name(vma(0x9000, 0xa000, anon | VMA_AREA_VVAR, 1, 0x22)).as_deref(),
            Some("[vvar]")
        );
        assert_eq!(
            name(vma(
                0x9000,
                0xa000,
                VMA_AREA_VSYSCALL | VMA_ANON_PRIVATE,
                4,
                0x22
            ))
            .as_deref(),
            Some("[vsyscall]")
        );
        assert_eq!(name(vma(0x9000, 0xa000, anon, 3, 0x22)), None);
        // No brk recorded: nothing is the heap.
        let none = MmFacts::default();
        assert_eq!(special_name(&vma(0, 0x1000, anon, 3, 0x22), &none), None);
    }

    #[test]
    fn perms_with_private_or_shared() {
        assert_eq!(vma(0, 1, VMA_ANON_PRIVATE, 3, 0x22).perms(), "rw-p");
        assert_eq!(vma(0, 1, VMA_ANON_SHARED, 3, 0x21).perms(), "rw-s");
        assert_eq!(vma(0, 1, VMA_FILE_PRIVATE, 5, 0x02).perms(), "r-xp");
        assert_eq!(
            vma(0, 1, VMA_AREA_MEMFD | VMA_FILE_SHARED, 1, 0x01).perms(),
            "r--s"
        );
        assert_eq!(vma(0, 1, VMA_ANON_PRIVATE, 0, 0x22).perms(), "---p");
    }
}
