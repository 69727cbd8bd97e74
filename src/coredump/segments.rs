//! Which mappings a core carries, and how much of each: the kernel's rules
//! (fs/coredump.c `vma_dump_size`, with the default coredump_filter 0x33)
//! restated on what a dump records. docs/coredump.md gives the table.

use super::elf::{PF_R, PF_W, PF_X};

/// VMA status bits (CRIU's criu/include/image.h).
pub const VMA_AREA_VSYSCALL: u32 = 1 << 2;
pub const VMA_AREA_VDSO: u32 = 1 << 3;
pub const VMA_FILE_PRIVATE: u32 = 1 << 6;
pub const VMA_FILE_SHARED: u32 = 1 << 7;
pub const VMA_ANON_SHARED: u32 = 1 << 8;
pub const VMA_AREA_SYSVIPC: u32 = 1 << 10;
pub const VMA_AREA_VVAR: u32 = 1 << 12;
pub const VMA_AREA_MEMFD: u32 = 1 << 14;
pub const VMA_AREA_UPROBES: u32 = 1 << 17;

const PROT_READ: u32 = 1;
const PROT_WRITE: u32 = 2;
const PROT_EXEC: u32 = 4;
const MAP_SHARED: u32 = 1;
const MAP_HUGETLB: u32 = 0x40000;
/// MADV_DONTDUMP as a bit of vma_entry.madv (1 << MADV_DONTDUMP).
const MADV_DONTDUMP_BIT: u64 = 1 << 16;

/// One mapping as the core layout needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub prot: u32,
    pub flags: u32,
    pub status: u32,
    /// Offset in the mapped file, bytes.
    pub pgoff: u64,
    /// vma_entry.madv (bit n set for madvise advice n).
    pub madv: u64,
    /// What NT_FILE names it by (file mappings and shared memory).
    pub path: Option<String>,
    /// A file mapping whose file is not on this host (as the dump recorded
    /// it): its pages the dump did not save read as zeros.
    pub file_missing: bool,
}

impl Region {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// p_flags from the protection.
    pub fn elf_flags(&self) -> u32 {
        let mut f = 0;
        if self.prot & PROT_READ != 0 {
            f |= PF_R;
        }
        if self.prot & PROT_WRITE != 0 {
            f |= PF_W;
        }
        if self.prot & PROT_EXEC != 0 {
            f |= PF_X;
        }
        f
    }

    /// The kernel's special mappings ([vdso], [vvar], [vsyscall],
    /// [uprobes]): always dumped whole.
    pub fn is_special(&self) -> bool {
        self.status & (VMA_AREA_VDSO | VMA_AREA_VSYSCALL | VMA_AREA_VVAR | VMA_AREA_UPROBES) != 0
    }

    /// Special mappings whose contents no dump holds and no process can
    /// read ([vvar] is VM_IO|VM_PFNMAP; [vsyscall] is execute-only on
    /// current kernels; [uprobes]): the kernel's cores have zeros there.
    pub fn reads_as_zeros(&self) -> bool {
        self.status & (VMA_AREA_VSYSCALL | VMA_AREA_VVAR | VMA_AREA_UPROBES) != 0
    }

    pub fn is_shared(&self) -> bool {
        self.flags & MAP_SHARED != 0
            || self.status & (VMA_FILE_SHARED | VMA_ANON_SHARED | VMA_AREA_SYSVIPC) != 0
    }

    /// Shared memory with no name in a file system (MAP_SHARED|MAP_ANONYMOUS,
    /// memfd, SysV shm): the kernel sees an inode with no links.
    fn is_anon_shared(&self) -> bool {
        self.status & (VMA_ANON_SHARED | VMA_AREA_SYSVIPC | VMA_AREA_MEMFD) != 0
    }

    pub fn is_file(&self) -> bool {
        self.status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED | VMA_AREA_MEMFD) != 0
    }
}

/// What the layout asks of a mapping's memory while sizing it.
pub trait Probe {
    /// Whether the dump saved any page of `[start, end)` (the process wrote
    /// to it: the kernel's `anon_vma`).
    fn has_saved_pages(&self, start: u64, end: u64) -> bool;
    /// Whether the mapping's first bytes are the ELF magic.
    fn starts_with_elf_magic(&self, addr: u64) -> bool;
}

/// How many bytes of the mapping the core holds (p_filesz): the whole
/// mapping, its first page, or nothing.
pub fn dump_size(r: &Region, page_size: u64, probe: &impl Probe) -> u64 {
    if r.is_special() {
        return r.len();
    }
    if r.madv & MADV_DONTDUMP_BIT != 0 {
        return 0;
    }
    if r.flags & MAP_HUGETLB != 0 {
        // coredump_filter 0x33 dumps private huge pages, not shared ones.
        return if r.is_shared() { 0 } else { r.len() };
    }
    if r.is_shared() {
        return if r.is_anon_shared() { r.len() } else { 0 };
    }
    if probe.has_saved_pages(r.start, r.end) {
        return r.len();
    }
    if r.is_file()
        && r.pgoff == 0
        && r.prot & PROT_READ != 0
        && probe.starts_with_elf_magic(r.start)
    {
        return page_size.min(r.len());
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P {
        saved: bool,
        elf: bool,
    }
    impl Probe for P {
        fn has_saved_pages(&self, _: u64, _: u64) -> bool {
            self.saved
        }
        fn starts_with_elf_magic(&self, _: u64) -> bool {
            self.elf
        }
    }

    fn region(prot: u32, flags: u32, status: u32) -> Region {
        Region {
            start: 0x10000,
            end: 0x14000,
            prot,
            flags,
            status,
            pgoff: 0,
            madv: 0,
            path: None,
            file_missing: false,
        }
    }

    const PRIVATE_ANON: u32 = 0x22;
    const ANON_PRIVATE: u32 = 1 | (1 << 9);

    #[test]
    fn kernel_rules() {
        let none = P {
            saved: false,
            elf: false,
        };
        let saved = P {
            saved: true,
            elf: false,
        };
        let elf = P {
            saved: false,
            elf: true,
        };
        // Written anonymous memory: whole, whatever its protection.
        assert_eq!(
            dump_size(&region(3, PRIVATE_ANON, ANON_PRIVATE), 4096, &saved),
            0x4000
        );
        assert_eq!(
            dump_size(&region(0, PRIVATE_ANON, ANON_PRIVATE), 4096, &saved),
            0x4000
        );
        // Never written: nothing.
        assert_eq!(
            dump_size(&region(3, PRIVATE_ANON, ANON_PRIVATE), 4096, &none),
            0
        );
        // [vvar] is always there, DONTDUMP or not.
        let mut vvar = region(1, PRIVATE_ANON, 1 | VMA_AREA_VVAR);
        vvar.madv = MADV_DONTDUMP_BIT;
        assert_eq!(dump_size(&vvar, 4096, &none), 0x4000);
        // MADV_DONTDUMP elsewhere: nothing.
        let mut dd = region(3, PRIVATE_ANON, ANON_PRIVATE);
        dd.madv = MADV_DONTDUMP_BIT;
        assert_eq!(dump_size(&dd, 4096, &saved), 0);
        // Shared anonymous: whole; shared file: nothing.
        assert_eq!(
            dump_size(&region(3, 0x21, 1 | VMA_ANON_SHARED), 4096, &none),
            0x4000
        );
        assert_eq!(
            dump_size(&region(3, 1, 1 | VMA_FILE_SHARED), 4096, &saved),
            0
        );
        // Unwritten private file mapping: the ELF header page only.
        let file = region(1, 2, 1 | VMA_FILE_PRIVATE);
        assert_eq!(dump_size(&file, 4096, &elf), 4096);
        assert_eq!(dump_size(&file, 4096, &none), 0);
        let mut later = file.clone();
        later.pgoff = 4096;
        assert_eq!(dump_size(&later, 4096, &elf), 0);
        assert_eq!(dump_size(&file, 4096, &saved), 0x4000);
    }
}
