//! The process-wide notes: NT_PRPSINFO, NT_AUXV, NT_FILE.

use super::elf::{self, Le};
use super::segments::Region;

/// What NT_PRPSINFO says of the process.
pub struct PsInfo {
    /// CRIU's task_state (1 alive, 3 stopped; others are not dumped with memory).
    pub task_state: u64,
    pub nice: i64,
    pub flags: u64,
    pub uid: u64,
    pub gid: u64,
    pub pid: u64,
    pub ppid: u64,
    pub pgrp: u64,
    pub sid: u64,
    pub comm: Vec<u8>,
    /// The command line as in memory (arguments NUL-separated).
    pub cmdline: Vec<u8>,
}

/// Bytes of pr_psargs (ELF_PRARGSZ); the last is always NUL.
pub const PSARGS: usize = 80;

pub fn write_prpsinfo(out: &mut Le, p: &PsInfo) {
    // pr_state as the kernel numbers it: R 0, S 1, D 2, T 3, Z 4. A stopped
    // task is T; a task CRIU saw alive is shown running, as the task
    // writing a kernel core is.
    let state: u8 = if p.task_state == 3 { 3 } else { 0 };
    let sname = b"RSDTZW"[state as usize];
    let mut d = Le::with_capacity(136);
    d.u8(state).u8(sname).u8(0).u8(p.nice as i8 as u8).zeros(4);
    d.u64(p.flags)
        .u32(p.uid as u32)
        .u32(p.gid as u32)
        .u32(p.pid as u32)
        .u32(p.ppid as u32)
        .u32(p.pgrp as u32)
        .u32(p.sid as u32);
    d.fixed(&p.comm, 16);
    d.bytes(&psargs(&p.cmdline));
    elf::note(out, "CORE", elf::NT_PRPSINFO, &d.0);
}

/// pr_psargs: up to 79 bytes of the command line, NULs made spaces, then NUL.
pub fn psargs(cmdline: &[u8]) -> [u8; PSARGS] {
    let mut out = [0u8; PSARGS];
    for (o, &c) in out.iter_mut().zip(cmdline.iter().take(PSARGS - 1)) {
        *o = if c == 0 { b' ' } else { c };
    }
    out
}

/// NT_AUXV: the saved auxiliary vector up to and with its AT_NULL pair.
pub fn write_auxv(out: &mut Le, auxv: &[u64]) {
    let mut d = Le::with_capacity(auxv.len() * 8);
    for pair in auxv.chunks_exact(2) {
        d.u64(pair[0]).u64(pair[1]);
        if pair[0] == 0 {
            break;
        }
    }
    elf::note(out, "CORE", elf::NT_AUXV, &d.0);
}

/// NT_FILE: count, page size, (start, end, offset in pages) per mapping
/// with a file, then their names NUL-terminated.
pub fn write_files(out: &mut Le, regions: &[Region], page_size: u64) {
    let named: Vec<(&Region, &str)> = regions
        .iter()
        .filter_map(|r| Some((r, file_name(r)?)))
        .collect();
    let mut d = Le::default();
    d.u64(named.len() as u64).u64(page_size);
    for (r, _) in &named {
        d.u64(r.start).u64(r.end).u64(r.pgoff / page_size.max(1));
    }
    for (_, name) in &named {
        d.bytes(name.as_bytes()).u8(0);
    }
    elf::note(out, "CORE", elf::NT_FILE, &d.0);
}

/// The name NT_FILE gives a mapping: the kernel lists every mapping with a
/// file behind it, shared memory too (`/dev/zero (deleted)`, ...), but not
/// [heap], [stack] or the special mappings.
fn file_name(r: &Region) -> Option<&str> {
    let p = r.path.as_deref()?;
    if p.starts_with('[') || r.is_special() {
        return None;
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psargs_as_the_kernel() {
        let p = psargs(b"/bin/prog\0--x\0");
        assert_eq!(&p[..15], b"/bin/prog --x \0");
        let long = vec![b'a'; 200];
        let p = psargs(&long);
        assert_eq!(p[78], b'a');
        assert_eq!(p[79], 0);
    }

    #[test]
    fn auxv_stops_after_at_null() {
        let mut out = Le::default();
        write_auxv(&mut out, &[6, 4096, 0, 0, 99, 99]);
        // header 12 + name 8 + 32 bytes
        assert_eq!(out.0.len(), 12 + 8 + 32);
        assert_eq!(u32::from_le_bytes(out.0[4..8].try_into().unwrap()), 32);
    }
}
