//! `x mems`: each task's executable and memory mappings.

use std::collections::HashMap;
use std::io::Write;

use serde_json::json;

use super::JsonList;
use super::dump::Dump;
use super::files::Files;
use crate::error::Result;

// vma_entry status bits (CRIU's VMA_AREA_* / VMA_FILE_*).
pub const VMA_AREA_REGULAR: u64 = 1 << 0;
pub const VMA_AREA_STACK: u64 = 1 << 1;
pub const VMA_AREA_VSYSCALL: u64 = 1 << 2;
pub const VMA_AREA_VDSO: u64 = 1 << 3;
pub const VMA_FILE_PRIVATE: u64 = 1 << 6;
pub const VMA_FILE_SHARED: u64 = 1 << 7;
pub const VMA_ANON_SHARED: u64 = 1 << 8;
pub const VMA_AREA_SYSVIPC: u64 = 1 << 10;
pub const VMA_AREA_SOCKET: u64 = 1 << 11;
const MAP_GROWSDOWN: u64 = 0x0100;

/// Numbers shared mappings (SysV, anonymous shared, packet rings) 1, 2, …
/// in order of first appearance across the whole dump.
#[derive(Default)]
struct ShmIds(HashMap<u64, u64>);

impl ShmIds {
    fn get(&mut self, shmid: u64) -> u64 {
        let next = self.0.len() as u64 + 1;
        *self.0.entry(shmid).or_insert(next)
    }
}

/// The fields of a vma_entry that `x mems` reads (absent ones read as 0).
const VMA_FIELDS: [&str; 7] = ["start", "end", "pgoff", "shmid", "prot", "flags", "status"];

struct VmaEntry {
    start: u64,
    end: u64,
    pgoff: u64,
    shmid: u64,
    prot: u64,
    flags: u64,
    status: u64,
}

impl VmaEntry {
    fn new(v: [Option<u64>; 7]) -> VmaEntry {
        let [start, end, pgoff, shmid, prot, flags, status] = v.map(|x| x.unwrap_or(0));
        VmaEntry {
            start,
            end,
            pgoff,
            shmid,
            prot,
            flags,
            status,
        }
    }
}

/// Tasks and their mappings as CRIT prints them, one task at a time.
pub fn render(dump: &Dump, json: bool, out: &mut dyn Write) -> Result<()> {
    let mut files = Files::new(dump)?;
    let mut shm = ShmIds::default();
    let mut list = JsonList::default();
    let mut line = Vec::with_capacity(256);
    for task in dump.live_tasks("x mems")? {
        let pid = task.pid;
        let why = format!("x mems for pid {pid}");
        // Read from the wire: decoding each VMA into a message was most of the time.
        let mm = dump.head_view(&format!("mm-{pid}.img"), &why)?;
        let exe = files.describe("REG", mm.u64("exe_file_id").unwrap_or(0), &why)?;
        if json {
            let mut vmas = Vec::new();
            mm.each("vmas", VMA_FIELDS, |v| {
                let v = VmaEntry::new(v);
                line.clear();
                describe(&v, &mut files, &mut shm, &why, &mut line)?;
                vmas.push(json!({
                    "start": v.start,
                    "end": v.end,
                    "prot": prot(v.prot),
                    "what": String::from_utf8_lossy(&line).trim_start(),
                }));
                Ok(())
            })?;
            list.push(out, &json!({"pid": pid, "exe": exe, "vmas": vmas}))?;
            continue;
        }
        writeln!(out, "{pid}")?;
        writeln!(out, "\t{:<36}    {exe}", "exe")?;
        mm.each("vmas", VMA_FIELDS, |v| {
            let v = VmaEntry::new(v);
            // CRIT pads "START-END" (each at least 8 hex digits) to 36 columns.
            line.clear();
            line.push(b'\t');
            push_hex(&mut line, v.start, 8);
            line.push(b'-');
            push_hex(&mut line, v.end, 8);
            let width = line.len() - 1;
            line.resize(line.len() + 36usize.saturating_sub(width), b' ');
            line.extend_from_slice(prot(v.prot).as_bytes());
            describe(&v, &mut files, &mut shm, &why, &mut line)?;
            line.push(b'\n');
            out.write_all(&line)?;
            Ok(())
        })?;
    }
    if json {
        list.finish(out)?;
    }
    Ok(())
}

/// Appends `x` in lower-case hex, zero-padded to at least `min` digits.
fn push_hex(out: &mut Vec<u8>, x: u64, min: usize) {
    let digits = (64 - x.leading_zeros() as usize)
        .div_ceil(4)
        .max(min)
        .min(16);
    for i in (0..digits).rev() {
        out.push(b"0123456789abcdef"[(x >> (4 * i)) as usize & 0xf]);
    }
}

/// `prot` as CRIT shows it: `rwx` with `-` for each bit not set.
fn prot(prot: u64) -> &'static str {
    const ALL: [&str; 8] = ["---", "r--", "-w-", "rw-", "--x", "r-x", "-wx", "rwx"];
    ALL[(prot & 7) as usize]
}

/// Appends what `vma` maps, with a leading space (nothing for anonymous memory).
fn describe(
    vma: &VmaEntry,
    files: &mut Files,
    shm: &mut ShmIds,
    why: &str,
    out: &mut Vec<u8>,
) -> Result<()> {
    let st = vma.status;
    let mut shared = |out: &mut Vec<u8>, kind: &str| {
        out.extend_from_slice(kind.as_bytes());
        out.push(b'[');
        push_hex(out, shm.get(vma.shmid), 1);
        out.push(b']');
    };
    if st & VMA_AREA_SYSVIPC != 0 {
        shared(out, " ips");
    } else if st & VMA_ANON_SHARED != 0 {
        shared(out, " shmem");
    } else if st & VMA_AREA_SOCKET != 0 {
        shared(out, " packet");
    } else if st & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) != 0 {
        out.push(b' ');
        out.extend_from_slice(files.describe("REG", vma.shmid, why)?.as_bytes());
        if vma.pgoff != 0 {
            out.extend_from_slice(b" + 0x");
            push_hex(out, vma.pgoff, 1);
        }
        if st & VMA_FILE_SHARED != 0 {
            out.extend_from_slice(b" (s)");
        }
    } else if st & VMA_AREA_STACK != 0 {
        out.extend_from_slice(b" [stack]");
    } else if st & VMA_AREA_VSYSCALL != 0 {
        out.extend_from_slice(b" [vsyscall]");
    } else if st & VMA_AREA_VDSO != 0 {
        out.extend_from_slice(b" [vdso]");
    } else if vma.flags & MAP_GROWSDOWN != 0 {
        out.extend_from_slice(b" [stack?]");
    }
    if st & VMA_AREA_REGULAR == 0 {
        out.extend_from_slice(b" *");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{prot, push_hex};

    #[test]
    fn push_hex_is_lower_hex_zero_padded() {
        for x in [0, 1, 0xf, 0x10, 0xfff_ffff, 0x1_0000_0000, u64::MAX] {
            for min in [1, 8] {
                let mut out = Vec::new();
                push_hex(&mut out, x, min);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    format!("{x:0min$x}"),
                    "{x:#x}"
                );
            }
        }
    }

    #[test]
    fn prot_is_rwx_by_bit() {
        assert_eq!(
            [prot(0), prot(1), prot(2), prot(4), prot(7)],
            ["---", "r--", "-w-", "--x", "rwx"]
        );
        assert_eq!(prot(8 | 5), "r-x", "higher bits are not shown");
    }
}
