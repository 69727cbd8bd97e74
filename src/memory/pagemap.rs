//! The pagemap index: where each dumped page of one memory object (a task's
//! address space, or a shared-memory object) lives — in this dump's pages
//! image, in a parent dump's (pre-dump chains), or nowhere readable. Built once
//! from the pagemap images; every lookup is a binary search.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::explore::dump::nr_pages;
use crate::explore::view::{Entries, Ints};

/// Pagemap entry flags (CRIU's criu/include/pagemap.h).
pub const PE_PARENT: u64 = 1 << 0;
pub const PE_LAZY: u64 = 1 << 1;
pub const PE_PRESENT: u64 = 1 << 2;

/// How far a chain of `parent` links is followed before giving up.
const MAX_PARENTS: usize = 64;

/// Where the pages of one run are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// In this layer's pages image, at this byte offset.
    Here { offset: u64 },
    /// In the parent dump (resolved through the next layer).
    Parent,
    /// Listed but with no data in any image (lazy pages served by a page
    /// server at restore): read as if not dumped.
    Absent,
    /// Damaged: reads fail; the problem says why.
    Bad { problem: usize },
}

/// Pages `[start, end)` of one pagemap entry (or part of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub start: u64,
    pub end: u64,
    pub kind: RunKind,
    /// Index of the entry in the pagemap image (the head is entry 0).
    pub entry: usize,
}

/// One dump's pagemap of the object.
pub struct Layer {
    pub dir: PathBuf,
    /// The pagemap image's name as shown in problems (`parent/` prefixes for
    /// layers further down the chain).
    pub label: String,
    pub pagemap: String,
    pub pages_name: String,
    pub pages: Option<File>,
    pub runs: Vec<Run>,
}

impl Layer {
    /// A layer of `runs` alone, with no images behind it.
    fn bare(runs: Vec<Run>) -> Layer {
        Layer {
            dir: PathBuf::new(),
            label: String::new(),
            pagemap: String::new(),
            pages_name: String::new(),
            pages: None,
            runs,
        }
    }
}

/// What a lookup found at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// Bytes at `offset` of layer `layer`'s pages image.
    Data { layer: usize, offset: u64 },
    /// Not dumped.
    Hole,
    /// Damaged: `problem` names it.
    Bad { problem: usize },
}

/// The layers of one object's pagemap: this dump first, then its parents.
pub struct Chain {
    pub layers: Vec<Layer>,
}

impl Chain {
    /// A chain whose every address is damaged (its pagemap is unreadable).
    pub fn broken(problem: usize) -> Chain {
        Chain {
            layers: vec![Layer::bare(vec![Run {
                start: 0,
                end: u64::MAX,
                kind: RunKind::Bad { problem },
                entry: 0,
            }])],
        }
    }

    /// Opens pagemap image `name` in `dir` and, when some of its entries are
    /// in the parent, the same image along the `parent` links. None when
    /// `dir` has no such image.
    pub fn open(
        dir: &Path,
        name: &str,
        page_size: u64,
        problems: &mut Vec<String>,
    ) -> Option<Chain> {
        let top = read_layer(dir, name.to_string(), name, page_size, problems)?;
        let mut layers = vec![top];
        let mut seen = vec![std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())];
        while layers
            .last()
            .is_some_and(|l| l.runs.iter().any(|r| r.kind == RunKind::Parent))
        {
            let last = layers.last().expect("not empty");
            let link = last.dir.join("parent");
            let label = format!(
                "{}parent/{name}",
                last.label.strip_suffix(name).unwrap_or("")
            );
            let real = match std::fs::canonicalize(&link) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(format!(
                        "{}: entries in the parent, but the parent link {} cannot be followed: {e}",
                        last.label,
                        link.display()
                    ));
                    break;
                }
            };
            if seen.contains(&real) {
                problems.push(format!(
                    "{}: the chain of parent links loops back to {}",
                    last.label,
                    real.display()
                ));
                break;
            }
            if layers.len() > MAX_PARENTS {
                problems.push(format!(
                    "{}: more than {MAX_PARENTS} parent dumps; not followed further",
                    last.label
                ));
                break;
            }
            seen.push(real.clone());
            match read_layer(&real, label.clone(), name, page_size, problems) {
                Some(l) => layers.push(l),
                None => {
                    problems.push(format!(
                        "{label}: missing, but {} has entries in the parent",
                        last.label
                    ));
                    break;
                }
            }
        }
        let mut chain = Chain { layers };
        chain.check_parents(problems);
        Some(chain)
    }

    /// Marks damaged every parent run that the next layer does not cover
    /// with data (or that has no next layer).
    fn check_parents(&mut self, problems: &mut Vec<String>) {
        for level in (0..self.layers.len()).rev() {
            let (upper, lower) = self.layers.split_at_mut(level + 1);
            let layer = &mut upper[level];
            let next = lower.first();
            for r in layer.runs.iter_mut().filter(|r| r.kind == RunKind::Parent) {
                let ok = next.is_some_and(|n| covers(&n.runs, r.start, r.end));
                if !ok {
                    problems.push(format!(
                        "{} entry {}: pages {:#x}-{:#x} are in the parent, which {}",
                        layer.label,
                        r.entry,
                        r.start,
                        r.end,
                        match next {
                            Some(n) => format!("does not hold them all ({})", n.label),
                            None => "cannot be read".to_string(),
                        }
                    ));
                    r.kind = RunKind::Bad {
                        problem: problems.len() - 1,
                    };
                }
            }
        }
    }

    /// Whether the top layer lists `x` in an entry (of any kind).
    pub fn lists(&self, x: u64) -> bool {
        let runs = &self.layers[0].runs;
        let i = runs.partition_point(|r| r.start <= x);
        i > 0 && x < runs[i - 1].end
    }

    /// What is at `x`, and for how many bytes from `x` that stays so.
    pub fn lookup(&self, x: u64) -> (Span, u64) {
        self.lookup_at(0, x)
    }

    fn lookup_at(&self, level: usize, x: u64) -> (Span, u64) {
        let Some(layer) = self.layers.get(level) else {
            // check_parents turned every parent run without a layer into Bad.
            return (Span::Hole, u64::MAX - x);
        };
        let runs = &layer.runs;
        let i = runs.partition_point(|r| r.start <= x);
        if i > 0 && x < runs[i - 1].end {
            let r = &runs[i - 1];
            let len = r.end - x;
            match r.kind {
                RunKind::Here { offset } => (
                    Span::Data {
                        layer: level,
                        offset: offset + (x - r.start),
                    },
                    len,
                ),
                RunKind::Parent => {
                    let (span, n) = self.lookup_at(level + 1, x);
                    (span, n.min(len))
                }
                RunKind::Absent => (Span::Hole, len),
                RunKind::Bad { problem } => (Span::Bad { problem }, len),
            }
        } else {
            let next = runs.get(i).map_or(u64::MAX, |r| r.start);
            (Span::Hole, next - x)
        }
    }

    /// Reads `buf.len()` bytes at `offset` of layer `layer`'s pages image.
    pub fn read_pages(&self, layer: usize, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let l = &self.layers[layer];
        let Some(f) = &l.pages else {
            return Err(format!("{} cannot be read", l.pages_name));
        };
        f.read_exact_at(buf, offset)
            .map_err(|e| format!("{} at offset {offset}: {e}", l.pages_name))
    }
}

/// Whether `runs` (sorted, not overlapping) hold data for all of `[start, end)`.
fn covers(runs: &[Run], start: u64, end: u64) -> bool {
    let mut at = start;
    let mut i = runs.partition_point(|r| r.end <= at);
    while at < end {
        let Some(r) = runs.get(i) else {
            return false;
        };
        if r.start > at || matches!(r.kind, RunKind::Absent) {
            return false;
        }
        at = r.end;
        i += 1;
    }
    true
}

/// Flags of a pagemap entry as CRIU reads them: entries written before the
/// flags existed are present unless `in_parent`.
pub fn entry_flags(e: &impl Ints) -> u64 {
    let mut flags = e.u64("flags");
    if e.u64("in_parent") == Some(1) {
        flags = Some(flags.unwrap_or(0) | PE_PARENT);
    }
    flags.unwrap_or(PE_PRESENT)
}

/// Reads one layer: pagemap `name` in `dir` (labelled `label` in problems).
/// None when the image does not exist.
fn read_layer(
    dir: &Path,
    label: String,
    name: &str,
    page_size: u64,
    problems: &mut Vec<String>,
) -> Option<Layer> {
    let bytes = match std::fs::read(dir.join(name)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            problems.push(format!("{label}: {e}"));
            return Some(broken_layer(dir, label, name, problems.len() - 1));
        }
    };
    let entries = match Entries::new(bytes) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("{label}: {e}"));
            return Some(broken_layer(dir, label, name, problems.len() - 1));
        }
    };
    let pages_id = entries.first().and_then(|h| h.u64("pages_id"));
    let pages_name = match pages_id {
        Some(id) => format!("pages-{id}.img"),
        None => String::new(),
    };
    let pages_label = match label.strip_suffix(name) {
        Some(prefix) => format!("{prefix}{pages_name}"),
        None => pages_name.clone(),
    };
    let (pages, pages_len) = if pages_id.is_some() {
        match File::open(dir.join(&pages_name)).and_then(|f| f.metadata().map(|m| (f, m.len()))) {
            Ok((f, len)) => (Some(f), len),
            Err(_) => (None, 0),
        }
    } else {
        (None, 0)
    };
    let mut runs = Vec::with_capacity(entries.len().saturating_sub(1));
    let mut offset = Some(0u64);
    for (i, e) in entries.iter().enumerate().skip(1) {
        let flags = entry_flags(&e);
        let present = flags & PE_PRESENT != 0;
        let start = e.u64("vaddr").unwrap_or(0);
        let len = nr_pages(&e).checked_mul(page_size);
        let end = len.and_then(|l| start.checked_add(l));
        let this_offset = offset;
        if present {
            offset = offset.zip(len).and_then(|(o, l)| o.checked_add(l));
        }
        let Some(end) = end.filter(|_| start % page_size == 0) else {
            problems.push(format!(
                "{label} entry {i}: vaddr {start:#x} with {} pages is not a page-aligned range",
                nr_pages(&e)
            ));
            let problem = problems.len() - 1;
            runs.push(Run {
                start: start - start % page_size,
                end: start
                    .saturating_add(len.unwrap_or(u64::MAX))
                    .max(start.saturating_add(1)),
                kind: RunKind::Bad { problem },
                entry: i,
            });
            continue;
        };
        if end == start {
            continue;
        }
        if flags & PE_PARENT != 0 {
            runs.push(Run {
                start,
                end,
                kind: RunKind::Parent,
                entry: i,
            });
        } else if !present {
            runs.push(Run {
                start,
                end,
                kind: RunKind::Absent,
                entry: i,
            });
        } else {
            let len = end - start;
            let avail = match (&pages, this_offset) {
                (Some(_), Some(o)) => pages_len.saturating_sub(o) / page_size * page_size,
                _ => 0,
            };
            let good = avail.min(len);
            if good > 0 {
                runs.push(Run {
                    start,
                    end: start + good,
                    kind: RunKind::Here {
                        offset: this_offset.unwrap_or(0),
                    },
                    entry: i,
                });
            }
            if good < len {
                let why = if pages_id.is_none() {
                    "the pagemap head names no pages image".to_string()
                } else if pages.is_none() {
                    format!("{pages_label} is missing or unreadable")
                } else {
                    match this_offset {
                        Some(o) => format!(
                            "they lie past the end of {pages_label} ({pages_len} bytes; the entry's pages start at offset {o})"
                        ),
                        None => "their offset in the pages image overflows".to_string(),
                    }
                };
                problems.push(format!(
                    "{label} entry {i}: pages {:#x}-{end:#x} cannot be read: {why}",
                    start + good
                ));
                runs.push(Run {
                    start: start + good,
                    end,
                    kind: RunKind::Bad {
                        problem: problems.len() - 1,
                    },
                    entry: i,
                });
            }
        }
    }
    runs.sort_by_key(|r| r.start);
    let runs = joined(without_overlaps(runs, &label, problems));
    Some(Layer {
        dir: dir.to_path_buf(),
        label,
        pagemap: name.to_string(),
        pages_name,
        pages,
        runs,
    })
}

/// Runs with touching addresses and touching pages-image bytes made one,
/// so that reading across many small entries takes few reads.
fn joined(runs: Vec<Run>) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::with_capacity(runs.len());
    for r in runs {
        if let Some(last) = out.last_mut()
            && let (RunKind::Here { offset: a }, RunKind::Here { offset: b }) = (last.kind, r.kind)
            && last.end == r.start
            && a.checked_add(last.end - last.start) == Some(b)
        {
            last.end = r.end;
            continue;
        }
        out.push(r);
    }
    out
}

fn broken_layer(dir: &Path, label: String, name: &str, problem: usize) -> Layer {
    let mut chain = Chain::broken(problem);
    let mut l = chain.layers.remove(0);
    l.dir = dir.to_path_buf();
    l.label = label;
    l.pagemap = name.to_string();
    l
}

/// Sorted runs with every overlap made one damaged run (each entry involved
/// named in a problem).
fn without_overlaps(runs: Vec<Run>, label: &str, problems: &mut Vec<String>) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::with_capacity(runs.len());
    for r in runs {
        match out.last_mut() {
            Some(last) if r.start < last.end => {
                problems.push(format!(
                    "{label} entry {}: pages {:#x}-{:#x} overlap entry {} ({:#x}-{:#x})",
                    r.entry, r.start, r.end, last.entry, last.start, last.end
                ));
                last.kind = RunKind::Bad {
                    problem: problems.len() - 1,
                };
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: u64, end: u64, kind: RunKind) -> Run {
        Run {
            start,
            end,
            kind,
            entry: 1,
        }
    }

    #[test]
    fn overlaps_become_one_bad_run() {
        let mut problems = Vec::new();
        let runs = vec![
            run(0, 0x2000, RunKind::Here { offset: 0 }),
            run(0x1000, 0x3000, RunKind::Here { offset: 0x2000 }),
            run(0x5000, 0x6000, RunKind::Here { offset: 0x4000 }),
        ];
        let out = without_overlaps(runs, "pagemap-1.img", &mut problems);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].start, out[0].end), (0, 0x3000));
        assert_eq!(out[0].kind, RunKind::Bad { problem: 0 });
        assert!(problems[0].contains("overlap"), "{problems:?}");
        assert_eq!(out[1].kind, RunKind::Here { offset: 0x4000 });
    }

    #[test]
    fn touching_runs_join_only_when_their_bytes_touch() {
        let runs = vec![
            run(0, 0x1000, RunKind::Here { offset: 0 }),
            run(0x1000, 0x3000, RunKind::Here { offset: 0x1000 }),
            run(0x3000, 0x4000, RunKind::Here { offset: 0x9000 }),
            run(0x4000, 0x5000, RunKind::Parent),
        ];
        let out = joined(runs);
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].start, out[0].end), (0, 0x3000));
        assert_eq!(out[1].kind, RunKind::Here { offset: 0x9000 });
    }

    #[test]
    fn covers_needs_contiguous_data() {
        let runs = vec![
            run(0, 0x1000, RunKind::Here { offset: 0 }),
            run(0x1000, 0x2000, RunKind::Parent),
            run(0x3000, 0x4000, RunKind::Here { offset: 0 }),
        ];
        assert!(covers(&runs, 0, 0x2000));
        assert!(covers(&runs, 0x1000, 0x2000));
        assert!(!covers(&runs, 0x1000, 0x3000));
        assert!(!covers(&runs, 0x4000, 0x5000));
    }

    #[test]
    fn lookup_finds_runs_and_holes() {
        let chain = Chain {
            layers: vec![Layer::bare(vec![
                run(0x1000, 0x3000, RunKind::Here { offset: 0x4000 }),
                run(0x5000, 0x6000, RunKind::Bad { problem: 3 }),
            ])],
        };
        assert_eq!(chain.lookup(0), (Span::Hole, 0x1000));
        assert_eq!(
            chain.lookup(0x1800),
            (
                Span::Data {
                    layer: 0,
                    offset: 0x4800
                },
                0x1800
            )
        );
        assert_eq!(chain.lookup(0x3000), (Span::Hole, 0x2000));
        assert_eq!(chain.lookup(0x5fff), (Span::Bad { problem: 3 }, 1));
        assert_eq!(chain.lookup(0x7000), (Span::Hole, u64::MAX - 0x7000));
    }

    #[test]
    fn old_entries_without_flags() {
        struct E(Option<u64>, Option<u64>);
        impl Ints for E {
            fn u64(&self, name: &str) -> Option<u64> {
                match name {
                    "flags" => self.0,
                    "in_parent" => self.1,
                    _ => None,
                }
            }
        }
        assert_eq!(entry_flags(&E(None, None)), PE_PRESENT);
        assert_eq!(entry_flags(&E(None, Some(1))), PE_PARENT);
        assert_eq!(entry_flags(&E(None, Some(0))), PE_PRESENT);
        assert_eq!(entry_flags(&E(Some(PE_LAZY | PE_PRESENT), None)), 6);
    }
}
