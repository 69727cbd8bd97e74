//! `x rss`: each task's dumped pages (pagemap entries) beside the mappings
//! they fall in.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use super::JsonList;
use super::dump::{Dump, nr_pages};
use super::files::Files;
use super::mems::{VMA_FILE_PRIVATE, VMA_FILE_SHARED};
use super::view::Ints;
use crate::error::Result;

/// Tasks and their pages as CRIT prints them, one task at a time.
pub fn render(dump: &Dump, json: bool, out: &mut dyn Write) -> Result<()> {
    let mut files = Files::new(dump)?;
    let shift = dump.page_size().trailing_zeros();
    let mut list = JsonList::default();
    for task in dump.live_tasks("x rss")? {
        let pid = task.pid;
        let why = format!("x rss for pid {pid}");
        let mut vmas = Vec::new();
        dump.head_view(&format!("mm-{pid}.img"), &why)?.each(
            "vmas",
            ["start", "end", "status", "shmid"],
            |v| {
                let [start, end, status, shmid] = v.map(|x| x.unwrap_or(0));
                vmas.push(Vma {
                    start,
                    end,
                    status,
                    shmid,
                });
                Ok(())
            },
        )?;
        let pagemap = dump.entries(&format!("pagemap-{pid}.img"), &why)?;
        if !json {
            writeln!(out, "{pid}")?;
        }
        let mut ranges = Vec::new();
        let mut walk = Walk::new(&vmas);
        for pm in pagemap.iter().skip(1) {
            let vaddr = pm.u64("vaddr").unwrap_or(0);
            let pages = nr_pages(&pm);
            let head = format!("\t{vaddr:x} / {pages:<8}");
            let end =
                (u128::from(vaddr) + (u128::from(pages) << shift)).min(u128::from(u64::MAX)) as u64;
            let mut tail = String::new();
            let mut hit = Vec::new();
            for step in walk.step(vaddr, end) {
                match step {
                    Step::Again => tail.push_str(" ~"),
                    Step::Vma(vma) => {
                        let start = vma.start;
                        let vpages = vma.end.wrapping_sub(start) >> shift;
                        let _ = write!(tail, " {start:08x} / {vpages:<8}");
                        let mut file = None;
                        if vma.status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) != 0 {
                            let name = files.describe("REG", vma.shmid, &why)?;
                            let _ = write!(tail, " {name}");
                            file = Some(name);
                        }
                        if json {
                            hit.push(json!({"start": start, "nr_pages": vpages, "file": file}));
                        }
                    }
                }
                let _ = write!(tail, "\n\t{:23}", "");
            }
            if json {
                ranges.push(json!({"vaddr": vaddr, "nr_pages": pages, "vmas": hit}));
            } else {
                writeln!(out, "{head:<24}{tail}")?;
            }
        }
        if json {
            list.push(
                out,
                &json!({"pid": pid, "page_size": 1u64 << shift, "pages": ranges}),
            )?;
        }
    }
    if json {
        list.finish(out)?;
    }
    Ok(())
}

/// The fields of a vma_entry that `x rss` reads (absent ones read as 0).
struct Vma {
    start: u64,
    end: u64,
    status: u64,
    shmid: u64,
}

enum Step<'a> {
    /// The mapping shown on the previous line again.
    Again,
    Vma(&'a Vma),
}

/// CRIT's walk over the mappings: a cursor that moves forward to the first
/// mapping ending after each range and steps back one after it, so that a
/// mapping spanning several ranges is shown once and then as `~`. The cursor
/// is signed and a negative one indexes from the end, as CRIT's does; this
/// only matters for ranges outside every mapping (damaged dumps).
struct Walk<'a> {
    vmas: &'a [Vma],
    at: isize,
    shown: isize,
}

impl<'a> Walk<'a> {
    fn new(vmas: &'a [Vma]) -> Self {
        Walk {
            vmas,
            at: 0,
            shown: -1,
        }
    }

    fn get(&self, i: isize) -> Option<&'a Vma> {
        let n = self.vmas.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if (0..n).contains(&j) {
            Some(&self.vmas[j as usize])
        } else {
            None
        }
    }

    fn step(&mut self, vaddr: u64, end: u64) -> Vec<Step<'a>> {
        let n = self.vmas.len() as isize;
        while self.at < n {
            match self.get(self.at) {
                Some(v) if v.end <= vaddr => self.at += 1,
                _ => break,
            }
        }
        let mut steps = Vec::new();
        while self.at < n {
            let Some(v) = self.get(self.at) else { break };
            if v.start >= end {
                break;
            }
            if self.at == self.shown {
                steps.push(Step::Again);
            } else {
                steps.push(Step::Vma(v));
                self.shown = self.at;
            }
            self.at += 1;
        }
        self.at -= 1;
        steps
    }
}
