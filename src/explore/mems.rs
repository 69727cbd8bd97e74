//! `x mems`: each task's executable and memory mappings.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use super::JsonList;
use super::dump::Dump;
use super::files::Files;
use crate::error::Result;
use crate::message::Message;

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

/// Tasks and their mappings as CRIT prints them, one task at a time.
pub fn render(dump: &Dump, json: bool, out: &mut dyn Write) -> Result<()> {
    let mut files = Files::new(dump)?;
    let mut shm = ShmIds::default();
    let mut list = JsonList::default();
    for task in dump.live_tasks("x mems")? {
        let pid = task.pid;
        let why = format!("x mems for pid {pid}");
        let mm = dump.head(&format!("mm-{pid}.img"), &why)?;
        let exe = files.describe("REG", mm.u64("exe_file_id").unwrap_or(0), &why)?;
        if json {
            let mut vmas = Vec::new();
            for vma in mm.msgs("vmas") {
                let v = describe(vma, &mut files, &mut shm, &why)?;
                vmas.push(json!({
                    "start": v.start,
                    "end": v.end,
                    "prot": v.prot,
                    "what": v.text.trim_start(),
                }));
            }
            list.push(out, &json!({"pid": pid, "exe": exe, "vmas": vmas}))?;
            continue;
        }
        writeln!(out, "{pid}")?;
        writeln!(out, "\t{:<36}    {exe}", "exe")?;
        for vma in mm.msgs("vmas") {
            let v = describe(vma, &mut files, &mut shm, &why)?;
            // CRIT pads "START-END" (each at least 8 hex digits) to 36 columns.
            let width = hex_digits(v.start).max(8) + 1 + hex_digits(v.end).max(8);
            let pad = 36usize.saturating_sub(width);
            write!(out, "\t{:08x}-{:08x}{:pad$}", v.start, v.end, "")?;
            for part in [v.prot.as_bytes(), v.text.as_bytes(), b"\n"] {
                out.write_all(part)?;
            }
        }
    }
    if json {
        list.finish(out)?;
    }
    Ok(())
}

/// How many hex digits `x` has (1 for 0).
fn hex_digits(x: u64) -> usize {
    (64 - x.leading_zeros() as usize).div_ceil(4).max(1)
}

struct Vma {
    start: u64,
    end: u64,
    prot: String,
    /// What is mapped, with a leading space (empty for anonymous memory).
    text: String,
}

fn describe(vma: &Message, files: &mut Files, shm: &mut ShmIds, why: &str) -> Result<Vma> {
    let st = vma.u64("status").unwrap_or(0);
    let shmid = vma.u64("shmid").unwrap_or(0);
    let mut text = if st & VMA_AREA_SYSVIPC != 0 {
        format!(" ips[{:x}]", shm.get(shmid))
    } else if st & VMA_ANON_SHARED != 0 {
        format!(" shmem[{:x}]", shm.get(shmid))
    } else if st & VMA_AREA_SOCKET != 0 {
        format!(" packet[{:x}]", shm.get(shmid))
    } else if st & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) != 0 {
        let mut t = format!(" {}", files.describe("REG", shmid, why)?);
        let pgoff = vma.u64("pgoff").unwrap_or(0);
        if pgoff != 0 {
            let _ = write!(t, " + {pgoff:#x}");
        }
        if st & VMA_FILE_SHARED != 0 {
            t.push_str(" (s)");
        }
        t
    } else if st & VMA_AREA_STACK != 0 {
        " [stack]".into()
    } else if st & VMA_AREA_VSYSCALL != 0 {
        " [vsyscall]".into()
    } else if st & VMA_AREA_VDSO != 0 {
        " [vdso]".into()
    } else if vma.u64("flags").unwrap_or(0) & MAP_GROWSDOWN != 0 {
        " [stack?]".into()
    } else {
        String::new()
    };
    if st & VMA_AREA_REGULAR == 0 {
        text.push_str(" *");
    }
    let prot = vma.u64("prot").unwrap_or(0);
    let bit = |b: u64, c: char| if prot & b != 0 { c } else { '-' };
    Ok(Vma {
        start: vma.u64("start").unwrap_or(0),
        end: vma.u64("end").unwrap_or(0),
        prot: [bit(1, 'r'), bit(2, 'w'), bit(4, 'x')].iter().collect(),
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::hex_digits;

    #[test]
    fn hex_digits_is_the_width_of_lower_hex() {
        for x in [0, 1, 0xf, 0x10, 0xfff_ffff, 0x1_0000_0000, u64::MAX] {
            assert_eq!(hex_digits(x), format!("{x:x}").len(), "{x:#x}");
        }
    }
}
