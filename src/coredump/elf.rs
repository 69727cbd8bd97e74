//! ELF64 little-endian pieces of a core file: the file header, program
//! headers, the one section header of extended numbering, and notes.
//! Layouts are the kernel's (include/uapi/linux/elf.h, fs/binfmt_elf.c).

pub const EHDR_SIZE: u64 = 64;
pub const PHDR_SIZE: u64 = 56;
pub const SHDR_SIZE: u64 = 64;

pub const ET_CORE: u16 = 4;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

pub const PT_LOAD: u32 = 1;
pub const PT_NOTE: u32 = 4;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// e_phnum when the count does not fit: the real count is in the section
/// header's sh_info (the kernel's extended numbering).
pub const PN_XNUM: u16 = 0xffff;

pub const NT_PRSTATUS: u32 = 1;
pub const NT_PRFPREG: u32 = 2;
pub const NT_PRPSINFO: u32 = 3;
pub const NT_AUXV: u32 = 6;
pub const NT_SIGINFO: u32 = 0x5349_4749;
pub const NT_FILE: u32 = 0x4649_4c45;
pub const NT_X86_XSTATE: u32 = 0x202;
pub const NT_ARM_TLS: u32 = 0x401;

/// A little-endian byte builder.
#[derive(Default)]
pub struct Le(pub Vec<u8>);

impl Le {
    pub fn with_capacity(n: usize) -> Le {
        Le(Vec::with_capacity(n))
    }
    pub fn u8(&mut self, v: u8) -> &mut Le {
        self.0.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Le {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Le {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Le {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Le {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Le {
        self.0.extend_from_slice(b);
        self
    }
    pub fn zeros(&mut self, n: usize) -> &mut Le {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    /// Pads with zeros to `len` bytes in all (no-op when already there).
    pub fn pad_to(&mut self, len: usize) -> &mut Le {
        if self.0.len() < len {
            self.0.resize(len, 0);
        }
        self
    }
    /// `b` in a field of `n` bytes: cut or zero-padded.
    pub fn fixed(&mut self, b: &[u8], n: usize) -> &mut Le {
        let take = b.len().min(n);
        self.0.extend_from_slice(&b[..take]);
        self.zeros(n - take)
    }
}

/// The ELF file header of a core.
pub fn file_header(machine: u16, phnum: u64, shoff: u64) -> Vec<u8> {
    let mut h = Le::with_capacity(EHDR_SIZE as usize);
    h.bytes(b"\x7fELF")
        .u8(2) // ELFCLASS64
        .u8(1) // ELFDATA2LSB
        .u8(1) // EV_CURRENT
        .u8(0) // ELFOSABI_NONE
        .zeros(8)
        .u16(ET_CORE)
        .u16(machine)
        .u32(1) // e_version
        .u64(0) // e_entry
        .u64(EHDR_SIZE) // e_phoff
        .u64(shoff)
        .u32(0) // e_flags
        .u16(EHDR_SIZE as u16)
        .u16(PHDR_SIZE as u16);
    if phnum >= PN_XNUM as u64 {
        h.u16(PN_XNUM).u16(SHDR_SIZE as u16).u16(1).u16(0);
    } else {
        h.u16(phnum as u16).u16(0).u16(0).u16(0);
    }
    h.0
}

/// The section header that carries the program header count under
/// extended numbering (SHT_NULL, sh_info = count).
pub fn extnum_section(phnum: u64) -> Vec<u8> {
    let mut s = Le::with_capacity(SHDR_SIZE as usize);
    s.u32(0) // sh_name
        .u32(0) // SHT_NULL
        .u64(0) // sh_flags
        .u64(0) // sh_addr
        .u64(0) // sh_offset
        .u64(0) // sh_size (e_shnum as the kernel writes it: 0)
        .u32(0) // sh_link (e_shstrndx)
        .u32(u32::try_from(phnum).unwrap_or(u32::MAX))
        .u64(0)
        .u64(0);
    s.0
}

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

impl Phdr {
    pub fn write(&self, out: &mut Le) {
        out.u32(self.p_type)
            .u32(self.flags)
            .u64(self.offset)
            .u64(self.vaddr)
            .u64(0) // p_paddr
            .u64(self.filesz)
            .u64(self.memsz)
            .u64(self.align);
    }
}

/// Appends a note: header, name with its NUL padded to 4, descriptor
/// padded to 4 (n_descsz keeps the unpadded size, as the kernel writes it).
pub fn note(out: &mut Le, name: &str, n_type: u32, desc: &[u8]) {
    let namesz = name.len() + 1;
    out.u32(namesz as u32).u32(desc.len() as u32).u32(n_type);
    out.bytes(name.as_bytes()).zeros(pad4(namesz) - name.len());
    out.bytes(desc).zeros(pad4(desc.len()) - desc.len());
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_pads_name_and_desc() {
        let mut out = Le::default();
        note(&mut out, "CORE", 7, &[1, 2, 3, 4, 5]);
        assert_eq!(&out.0[..12], &[5, 0, 0, 0, 5, 0, 0, 0, 7, 0, 0, 0]);
        assert_eq!(&out.0[12..20], b"CORE\0\0\0\0");
        assert_eq!(&out.0[20..], &[1, 2, 3, 4, 5, 0, 0, 0]);
    }

    #[test]
    fn headers_have_their_sizes() {
        assert_eq!(file_header(EM_X86_64, 3, 0).len() as u64, EHDR_SIZE);
        assert_eq!(extnum_section(70000).len() as u64, SHDR_SIZE);
        let mut p = Le::default();
        Phdr {
            p_type: PT_LOAD,
            flags: PF_R,
            offset: 1,
            vaddr: 2,
            filesz: 3,
            memsz: 4,
            align: 4096,
        }
        .write(&mut p);
        assert_eq!(p.0.len() as u64, PHDR_SIZE);
        let big = file_header(EM_AARCH64, 70000, 1234);
        assert_eq!(u16::from_le_bytes([big[56], big[57]]), PN_XNUM);
        assert_eq!(u16::from_le_bytes([big[60], big[61]]), 1);
    }
}
