//! Rendered JSON of views, kept under a memory budget (least recently used
//! entries go first). An entry is valid only for the exact file it was rendered
//! from: its device, inode, size, mtime and ctime form the key, so an image that
//! changed in any way is never served stale.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Identity of one version of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileKey {
    pub fn of(meta: &std::fs::Metadata) -> FileKey {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        }
    }
}

/// What rendering a file gave: its text, or why it failed.
pub type Rendered = Result<Arc<Vec<u8>>, String>;

struct Entry {
    key: FileKey,
    body: Rendered,
    tick: u64,
}

/// The cache; keyed by path relative to the dump.
pub struct ViewCache {
    entries: HashMap<PathBuf, Entry>,
    /// Sizes outlive bodies: `ls -l` of a big dump must not keep every body.
    sizes: HashMap<PathBuf, (FileKey, Result<u64, String>)>,
    used: usize,
    budget: usize,
    tick: u64,
}

impl ViewCache {
    pub fn new(budget: usize) -> ViewCache {
        ViewCache {
            entries: HashMap::new(),
            sizes: HashMap::new(),
            used: 0,
            budget,
            tick: 0,
        }
    }

    /// The cached body for this version of the file, if any.
    pub fn get(&mut self, path: &Path, key: FileKey) -> Option<Rendered> {
        self.tick += 1;
        let tick = self.tick;
        let e = self.entries.get_mut(path)?;
        if e.key != key {
            return None;
        }
        e.tick = tick;
        Some(e.body.clone())
    }

    /// The size of this version's body, if known.
    pub fn size(&self, path: &Path, key: FileKey) -> Option<Result<u64, String>> {
        match self.sizes.get(path) {
            Some((k, s)) if *k == key => Some(s.clone()),
            _ => None,
        }
    }

    pub fn insert(&mut self, path: &Path, key: FileKey, body: Rendered) {
        self.remove(path);
        let len = body.as_ref().map(|b| b.len()).unwrap_or(0);
        self.sizes.insert(
            path.to_path_buf(),
            (
                key,
                body.as_ref().map(|b| b.len() as u64).map_err(Clone::clone),
            ),
        );
        if len > self.budget {
            return;
        }
        self.tick += 1;
        self.used += len;
        self.entries.insert(
            path.to_path_buf(),
            Entry {
                key,
                body,
                tick: self.tick,
            },
        );
        while self.used > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.tick)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            self.drop_body(&oldest);
        }
    }

    fn drop_body(&mut self, path: &Path) {
        if let Some(e) = self.entries.remove(path) {
            self.used -= e.body.as_ref().map(|b| b.len()).unwrap_or(0);
        }
    }

    pub fn remove(&mut self, path: &Path) {
        self.drop_body(path);
        self.sizes.remove(path);
    }

    /// Bytes of bodies held now.
    pub fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_and_keeps_sizes() {
        let dir = std::env::temp_dir();
        let key = FileKey::of(&std::fs::metadata(&dir).unwrap());
        let mut c = ViewCache::new(10);
        c.insert(Path::new("a"), key, Ok(Arc::new(vec![0; 6])));
        c.insert(Path::new("b"), key, Ok(Arc::new(vec![0; 3])));
        assert!(c.get(Path::new("a"), key).is_some());
        c.insert(Path::new("c"), key, Ok(Arc::new(vec![0; 4])));
        assert!(
            c.get(Path::new("b"), key).is_none(),
            "b was least recently used"
        );
        assert!(c.get(Path::new("a"), key).is_some());
        assert_eq!(c.size(Path::new("b"), key), Some(Ok(3)));
        assert!(c.used() <= 10);
    }
}
