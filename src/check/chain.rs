//! Pre-dump chains: a dump made with `--prev-images-dir` has a `parent`
//! link to the previous dump, and pagemap entries flagged in_parent whose
//! pages restore reads from there, recursively (CRIU's pagemap.c: the
//! parent's page read is opened on `parent/` with the same pagemap id, and
//! an in_parent range is looked up in it entry by entry, "Missing ADDR in
//! parent pagemap" when no entry holds it).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::Checker;
use crate::explore::dump::{Dump, PE_PRESENT, nr_pages};
use crate::explore::view::{Entries, Ints};

/// PE_PARENT: the entry's pages are in the parent dump.
pub const PE_PARENT: u64 = 1 << 0;

/// How far up a chain is followed (lookups recurse once per level).
const MAX_CHAIN: usize = 1000;

/// The name of the link to the previous dump (CRIU's CR_PARENT_LINK).
pub const PARENT_LINK: &str = "parent";

/// Where an entry's pages are, as restore reads them: the in_parent flag
/// wins over present (pagemap.c read_pagemap_page tests it first).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Held {
    Here,
    InParent,
    /// Neither (a lazy or zero range): nothing to read from.
    Nowhere,
}

/// Where the pages of pagemap entry `e` are.
pub fn held(e: &impl Ints) -> Held {
    let in_parent = e.u64("in_parent") == Some(1);
    match e.u64("flags") {
        _ if in_parent => Held::InParent,
        Some(f) if f & PE_PARENT != 0 => Held::InParent,
        Some(f) if f & PE_PRESENT != 0 => Held::Here,
        Some(_) => Held::Nowhere,
        // Old entries without flags are present unless in_parent.
        None => Held::Here,
    }
}

/// The ranges `[start, end)` of a pagemap's entries (after its head), each
/// with where its pages are, in the image's order.
fn ranges(pm: &Entries, ps: u64) -> Vec<Range> {
    pm.iter()
        .skip(1)
        .map(|e| {
            let start = e.u64("vaddr").unwrap_or(0);
            let len = nr_pages(&e).saturating_mul(ps);
            (start, start.saturating_add(len), held(&e))
        })
        .collect()
}

/// The dumps up the chain from `dir`, nearest first, as far as they can be
/// followed; then why the walk stopped, if not at a dump without parent.
fn ancestors(dir: &Path) -> (Vec<PathBuf>, Option<String>) {
    let mut chain: Vec<PathBuf> = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut at = dir.to_path_buf();
    if let Ok(c) = at.canonicalize() {
        seen.insert(c);
    }
    loop {
        let link = at.join(PARENT_LINK);
        if std::fs::symlink_metadata(&link).is_err() {
            return (chain, None);
        }
        let target = std::fs::read_link(&link)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "a directory".into());
        let shown = shown(dir, &link);
        let real = match link.canonicalize() {
            Ok(real) if real.is_dir() => real,
            Ok(_) => {
                return (
                    chain,
                    Some(format!(
                        "{shown} (-> {target}) is not a directory (restore: Can't open parent path: Not a directory)"
                    )),
                );
            }
            Err(e) => {
                let e = os_error(&e);
                return (
                    chain,
                    Some(format!(
                        "{shown} (-> {target}): {e} (restore: Can't open parent path: {e})"
                    )),
                );
            }
        };
        if !seen.insert(real.clone()) {
            return (
                chain,
                Some(format!(
                    "{shown} (-> {target}) leads back to {}: the chain is a loop",
                    real.display()
                )),
            );
        }
        chain.push(real.clone());
        if chain.len() > MAX_CHAIN {
            return (
                chain,
                Some(format!(
                    "{shown} (-> {target}): the chain goes on past {MAX_CHAIN} dumps"
                )),
            );
        }
        at = real;
    }
}

/// `path` relative to the dump when it is inside it, else as it is.
fn shown(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

fn os_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(at) => s[..at].to_string(),
        None => s,
    }
}

/// An entry's `[start, end)` and where its pages are.
type Range = (u64, u64, Held);

/// One pagemap's view of the chain: its name, the ancestors' directories,
/// and the ranges read so far from each (level 0 is the parent).
struct Levels<'a> {
    name: &'a str,
    chain: &'a [PathBuf],
    loaded: Vec<Result<Vec<Range>, String>>,
}

impl Checker<'_> {
    /// The chain: the parent link opens (restore opens it for any pagemap,
    /// so a dangling link fails even a dump that never reads from it), it
    /// is no loop, every in_parent range of every pagemap in `pagemaps` is
    /// held by some ancestor, and each ancestor's pages image holds what
    /// its pagemap marks present.
    pub(super) fn chain(&mut self, pagemaps: &[String]) {
        let (chain, broken) = ancestors(self.dump.dir());
        if let Some(why) = &broken {
            self.error(PARENT_LINK, None, why.clone());
        }
        let ps = self.dump.page_size();
        for name in pagemaps {
            let Ok(Some(pm)) = self.dump.try_entries(name) else {
                continue;
            };
            let wanted: Vec<(usize, u64, u64)> = ranges(&pm, ps)
                .into_iter()
                .enumerate()
                .filter(|(_, r)| r.2 == Held::InParent)
                .map(|(i, (s, e, _))| (i + 1, s, e))
                .collect();
            drop(pm);
            if wanted.is_empty() {
                continue;
            }
            if chain.is_empty() {
                if broken.is_none() {
                    let (i, s, e) = wanted[0];
                    self.error(
                        name,
                        Some(i),
                        format!(
                            "pages {s:#x}-{e:#x} and {} more ranges are in the parent dump, but there is no parent link (restore: No parent for snapshot pagemap)",
                            wanted.len() - 1
                        ),
                    );
                }
                continue;
            }
            // This pagemap's ranges at each level up, read when first needed.
            let mut levels = Levels {
                name,
                chain: &chain,
                loaded: Vec::new(),
            };
            // An ancestor's pagemap missing fails every range the same
            // way: said once, at the first.
            let mut said: HashSet<String> = HashSet::new();
            for (i, s, e) in wanted {
                if let Some(why) = self.resolve(&mut levels, 0, s, e)
                    && said.insert(why.clone())
                {
                    self.error(
                        name,
                        Some(i),
                        format!("pages {s:#x}-{e:#x} (in_parent): {why}"),
                    );
                }
            }
        }
    }

    /// Why `[s, e)` cannot be read from ancestor `level` (or up the chain
    /// from it), if it cannot: the first address missing, and where.
    fn resolve(&mut self, levels: &mut Levels, level: usize, s: u64, e: u64) -> Option<String> {
        let name = levels.name;
        let Some(here) = levels.chain.get(level) else {
            let last = &levels.chain[level - 1];
            return Some(format!(
                "{s:#x} is in_parent in {}/{name}, which has no parent link (restore: No parent for snapshot pagemap)",
                last.display()
            ));
        };
        let here = here.display().to_string();
        while levels.loaded.len() <= level {
            let at = levels.loaded.len();
            let loaded = self.load_level(&levels.chain[at], name);
            levels.loaded.push(loaded);
        }
        let ranges = match &levels.loaded[level] {
            Ok(r) => r,
            Err(why) => return Some(why.clone()),
        };
        let mut at = s;
        let mut deeper: Vec<(u64, u64)> = Vec::new();
        // The first entry ending after `s` (entries are in address order).
        let first = ranges.partition_point(|r| r.1 <= s);
        for &(start, end, held) in &ranges[first..] {
            if start > at || start >= e {
                break; // a gap: `at` is missing here
            }
            let to = end.min(e);
            match held {
                Held::Here => {}
                Held::InParent => deeper.push((at, to)),
                Held::Nowhere => {
                    return Some(format!(
                        "{at:#x} has no pages in {here}/{name} (its entry at {start:#x} is neither present nor in_parent)"
                    ));
                }
            }
            at = to;
            if at >= e {
                break;
            }
        }
        if at < e {
            return Some(format!(
                "{at:#x} is not in {here}/{name} (restore: Missing {at:x} in parent pagemap)"
            ));
        }
        for (ds, de) in deeper {
            if let Some(why) = self.resolve(levels, level + 1, ds, de) {
                return Some(why);
            }
        }
        None
    }

    /// The ranges of pagemap `name` in ancestor `dir`, sorted, its pages
    /// image checked; or why it cannot be read.
    fn load_level(&mut self, dir: &Path, name: &str) -> Result<Vec<Range>, String> {
        let here = dir.display().to_string();
        let dump = Dump::new(dir);
        let pm = match dump.try_entries(name) {
            Ok(Some(pm)) => pm,
            Ok(None) => {
                return Err(format!(
                    "{here}/{name} is missing (restore: No parent for snapshot pagemap)"
                ));
            }
            Err(mut err) => {
                err.file = None;
                return Err(format!("{here}/{name} cannot be decoded: {err}"));
            }
        };
        self.ancestor_pages(&dump, &here, name, &pm);
        let mut r = ranges(&pm, self.dump.page_size());
        r.sort_unstable_by_key(|r| (r.0, r.1));
        Ok(r)
    }

    /// An ancestor's pages image holds exactly the pages its pagemap marks
    /// present (restore reads them by offset).
    fn ancestor_pages(&mut self, dump: &Dump, here: &str, name: &str, pm: &Entries) {
        let Some(id) = pm.first().and_then(|h| h.u64("pages_id")) else {
            return;
        };
        let ps = self.dump.page_size();
        let n = crate::explore::dump::present_pages(pm);
        let pages = format!("pages-{id}.img");
        let want = u128::from(n) * u128::from(ps);
        match dump.file_len(&pages) {
            None if n > 0 => self.error(
                format!("{here}/{pages}"),
                None,
                format!("missing (needed by {here}/{name}: {n} pages)"),
            ),
            Some(len) if u128::from(len) != want => self.error(
                format!("{here}/{pages}"),
                None,
                format!("holds {len} bytes, but {n} pages ({want} bytes) are marked present in {here}/{name}"),
            ),
            _ => {}
        }
    }
}
