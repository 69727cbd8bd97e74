//! Memory: pagemap ranges lie inside the task's mappings and do not
//! overlap; every pages image holds exactly the pages its pagemap needs.

use std::collections::{BTreeMap, HashSet};

use super::Checker;
use super::scan::is_raw;
use crate::explore::dump::{Task, nr_pages, present_pages};
use crate::explore::view::{Entries, Head, Ints};

impl Checker<'_> {
    /// Ranges of pagemap-PID.img against the mappings of mm-PID.img.
    pub(super) fn pagemap(&mut self, pid: u64, mm: &Head, pm: &Entries) {
        let name = format!("pagemap-{pid}.img");
        let ps = self.dump.page_size();
        let mut vmas: Vec<(u64, u64)> = Vec::new();
        let mut shared: Vec<(u64, u64)> = Vec::new();
        let walked = mm.each(
            "vmas",
            ["start", "end", "status"],
            |[start, end, status]| {
                let (start, end) = (start.unwrap_or(0), end.unwrap_or(0));
                vmas.push((start, end));
                if !is_private(status.unwrap_or(0)) {
                    shared.push((start, end));
                }
                Ok(())
            },
        );
        if let Err(e) = walked {
            self.error(format!("mm-{pid}.img"), Some(0), e.to_string());
        }
        vmas.sort_unstable();
        shared.sort_unstable();
        let reach: Vec<u64> = shared
            .iter()
            .scan(0u64, |m, &(_, e)| {
                *m = (*m).max(e);
                Some(*m)
            })
            .collect();
        let mut prev_end: Option<u64> = None;
        for (i, e) in pm.iter().enumerate().skip(1) {
            let start = e.u64("vaddr").unwrap_or(0);
            let pages = nr_pages(&e);
            let end = u128::from(start) + u128::from(pages) * u128::from(ps);
            if start % ps != 0 {
                self.error(
                    &name,
                    Some(i),
                    format!("vaddr {start:#x} is not aligned to the page size ({ps})"),
                );
            }
            if let Some(p) = prev_end
                && start < p
            {
                self.error(
                    &name,
                    Some(i),
                    format!("pages at {start:#x} overlap or precede the previous entry (ending at {p:#x})"),
                );
            }
            prev_end = Some(end.min(u128::from(u64::MAX)) as u64);
            // Mappings starting before `end`; one of them overlaps when the
            // furthest end among them passes `start` (found only then).
            let before = shared.partition_point(|&(s, _)| u128::from(s) < end);
            let overlaps = before > 0 && reach[before - 1] > start;
            if let Some(&(s, e)) = shared[..before]
                .iter()
                .filter(|_| overlaps)
                .find(|&&(_, e)| e > start)
            {
                self.error(
                    &name,
                    Some(i),
                    format!(
                        "pages {start:#x}-{end:#x} lie in the mapping {s:#x}-{e:#x}, which is not private (restore: Trying to restore page for non-private VMA)"
                    ),
                );
            }
            if !covered(&vmas, start, end) {
                self.error(
                    &name,
                    Some(i),
                    format!(
                        "pages {start:#x}-{end:#x} ({pages} pages) are not inside the mappings of mm-{pid}.img"
                    ),
                );
            }
        }
    }

    /// Each pages image holds exactly the present pages of the pagemaps
    /// (task and shared-memory ones) that name it; none is left unnamed.
    pub(super) fn pages(&mut self, names: &[String], tasks: &[Task]) {
        let ps = self.dump.page_size();
        // pages id -> (pages needed, the pagemaps naming it)
        let mut need: BTreeMap<u64, (u64, Vec<String>)> = BTreeMap::new();
        let mut pagemaps: Vec<String> = tasks
            .iter()
            .filter(|t| !self.dump.is_stateless(t.pid))
            .map(|t| format!("pagemap-{}.img", t.pid))
            .collect();
        let of_tasks: HashSet<&String> = pagemaps.iter().collect();
        let others: Vec<String> = names
            .iter()
            .filter(|n| n.starts_with("pagemap-") && !of_tasks.contains(n))
            .cloned()
            .collect();
        pagemaps.extend(others);
        for pm_name in pagemaps {
            let Ok(Some(pm)) = self.dump.try_entries(&pm_name) else {
                continue;
            };
            let Some(id) = pm.first().and_then(|h| h.u64("pages_id")) else {
                continue;
            };
            let n = present_pages(&pm);
            let slot = need.entry(id).or_default();
            slot.0 = slot.0.saturating_add(n);
            slot.1.push(pm_name);
        }
        for (id, (n, by)) in &need {
            let pages = format!("pages-{id}.img");
            let by = by.join(", ");
            match self.dump.file_len(&pages) {
                None if *n > 0 => {
                    self.error(&pages, None, format!("missing (needed by {by}: {n} pages)"));
                }
                None => {}
                // Restore reads each page at its offset (pagemap.c
                // read_local_page): bytes past the last are never read.
                Some(len) if u128::from(*n) * u128::from(ps) < u128::from(len) => {
                    self.warn(
                        &pages,
                        None,
                        format!(
                            "holds {len} bytes, more than the {n} pages ({} bytes) marked present in {by}: the rest is never read",
                            u128::from(*n) * u128::from(ps)
                        ),
                    );
                }
                Some(len) if u128::from(*n) * u128::from(ps) != u128::from(len) => {
                    let held = if len % ps == 0 {
                        format!("{} pages", len / ps)
                    } else {
                        format!("{len} bytes, not a whole number of {ps}-byte pages")
                    };
                    self.error(
                        &pages,
                        None,
                        format!(
                            "holds {held}, but {n} pages ({} bytes) are marked present in {by}",
                            u128::from(*n) * u128::from(ps)
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        for name in names
            .iter()
            .filter(|n| n.starts_with("pages-") && is_raw(n))
        {
            let named = name
                .strip_prefix("pages-")
                .and_then(|s| s.strip_suffix(".img"))
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|id| need.contains_key(&id));
            if !named {
                self.warn(name, None, "not named by any pagemap");
            }
        }
    }
}

/// Whether [start, end) lies inside the union of the (sorted) mappings.
fn covered(vmas: &[(u64, u64)], start: u64, end: u128) -> bool {
    let mut at = u128::from(start);
    for &(s, e) in vmas {
        if u128::from(e) <= at {
            continue;
        }
        if u128::from(s) > at {
            return false;
        }
        at = u128::from(e);
        if at >= end {
            return true;
        }
    }
    at >= end
}

/// Whether restore fills a mapping of this vma_entry status from the task's
/// pagemap (vma.h vma_entry_is_private): regular private anonymous or file
/// mappings, shadow stacks and AIO rings. Shared memory has pagemaps of its
/// own.
fn is_private(status: u64) -> bool {
    const REGULAR: u64 = 1;
    const FILE_PRIVATE: u64 = 1 << 6;
    const ANON_PRIVATE: u64 = 1 << 9;
    const AIORING: u64 = 1 << 13;
    const SHSTK: u64 = 1 << 15;
    (status & REGULAR != 0 && status & (FILE_PRIVATE | ANON_PRIVATE) != 0)
        || status & (AIORING | SHSTK) != 0
}
