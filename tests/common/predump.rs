//! Pre-dump chains made from a corpus dump: some present ranges of a task's
//! pagemap moved into a parent dump (as `criu pre-dump` then `criu dump
//! --prev-images-dir` leave them), linked by a `parent` symlink. Included by
//! the tests that need it with `#[path = "common/predump.rs"] mod predump;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use crate::common::{copy_case, load, save, set_int};
use crit_fs::image::{Entry, Image, Payload};

/// A chain: `root` holds `parent/` (the pre-dump) and `child/` (the dump,
/// whose `parent` link points at `../parent`).
pub struct Chain {
    pub root: tempfile::TempDir,
}

impl Chain {
    pub fn child(&self) -> PathBuf {
        self.root.path().join("child")
    }
    pub fn parent(&self) -> PathBuf {
        self.root.path().join("parent")
    }
}

/// Copies corpus case `case` into a chain, moving the present pagemap
/// entries of `pid` whose index (1-based, after the head) `moved` selects
/// into the parent: the child keeps them flagged PE_PARENT without pages,
/// the parent holds them present with their pages.
pub fn make_chain(case: &str, pid: u64, page_size: u64, moved: impl Fn(usize) -> bool) -> Chain {
    let root = tempfile::tempdir().unwrap();
    let src = copy_case(case);
    let child = root.path().join("child");
    let parent = root.path().join("parent");
    std::fs::create_dir(&child).unwrap();
    std::fs::create_dir(&parent).unwrap();
    for e in std::fs::read_dir(src.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), child.join(e.file_name())).unwrap();
        std::fs::copy(e.path(), parent.join(e.file_name())).unwrap();
    }
    let pm_name = format!("pagemap-{pid}.img");
    let pm = load(&child, &pm_name);
    let pages_id = pm.entries[0].msg.u64("pages_id").unwrap();
    let pages_name = format!("pages-{pages_id}.img");
    let pages = std::fs::read(child.join(&pages_name)).unwrap();

    let mut child_pm = Image {
        magic: pm.magic,
        entries: vec![pm.entries[0].clone()],
    };
    let mut parent_pm = child_pm.clone();
    let (mut child_pages, mut parent_pages) = (Vec::new(), Vec::new());
    let mut offset = 0usize;
    for (i, e) in pm.entries.iter().enumerate().skip(1) {
        let n = e.msg.u64("nr_pages").unwrap() as usize * page_size as usize;
        let flags = e.msg.u64("flags").unwrap();
        assert!(flags & 4 != 0, "the corpus entry is present");
        let bytes = &pages[offset..offset + n];
        offset += n;
        if moved(i) {
            parent_pm.entries.push(e.clone());
            parent_pages.extend_from_slice(bytes);
            let mut m = e.msg.clone();
            set_int(&mut m, "flags", 1); // PE_PARENT
            child_pm.entries.push(Entry {
                msg: m,
                payload: Payload::None,
            });
        } else {
            child_pm.entries.push(e.clone());
            child_pages.extend_from_slice(bytes);
        }
    }
    save(&child, &pm_name, &child_pm);
    save(&parent, &pm_name, &parent_pm);
    std::fs::write(child.join(&pages_name), child_pages).unwrap();
    std::fs::write(parent.join(&pages_name), parent_pages).unwrap();
    std::os::unix::fs::symlink("../parent", child.join("parent")).unwrap();
    Chain { root }
}

/// Points `dir/parent` at `target` (replacing the link).
pub fn relink(dir: &Path, target: &str) {
    let link = dir.join("parent");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(target, link).unwrap();
}
