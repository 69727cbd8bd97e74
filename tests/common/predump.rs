//! Pre-dump chains for the tests, laid out as CRIU lays them out (this
//! kernel has no soft-dirty tracking, so CRIU cannot make one here): from
//! one dump, some present pagemap ranges are moved up into ancestor dumps
//! (each with its own pagemap and pages images, and an inventory as a
//! pre-dump writes one), flagged in_parent (PE_PARENT) on the way down,
//! and each dump links to the one before it by a relative `parent`
//! symlink, as `--prev-images-dir ../dN` makes it.

use std::path::{Path, PathBuf};

use crit_fs::explore::Dump;
use crit_fs::image::{Entry, Image, Payload};

/// PE_PARENT and PE_PRESENT of a pagemap entry's flags.
pub const PE_PARENT: u64 = 1;
pub const PE_PRESENT: u64 = 4;

/// A range moved up the chain.
#[derive(Clone, Debug)]
pub struct Moved {
    /// The pagemap image (`pagemap-PID.img`), the same name at every level.
    pub pagemap: String,
    /// The entry's index in the last dump's pagemap (0 is the head).
    pub entry: usize,
    pub vaddr: u64,
    pub nr_pages: u64,
    /// Which dump holds the pages: 1 the parent, 2 its parent, ...
    pub level: usize,
}

/// A chain in a temporary directory: `dirs[0]` is the last dump (the one
/// restore is given), `dirs[k]` its k-th ancestor (`dirs[k-1]/parent` ->
/// `../dK`).
pub struct Chain {
    pub tmp: tempfile::TempDir,
    pub dirs: Vec<PathBuf>,
    pub moved: Vec<Moved>,
}

impl Chain {
    pub fn last(&self) -> &Path {
        &self.dirs[0]
    }
}

fn flags_of(msg: &crit_fs::message::Message) -> Option<u64> {
    msg.u64("flags")
}

fn is_present(msg: &crit_fs::message::Message) -> bool {
    match flags_of(msg) {
        Some(f) => f & PE_PRESENT != 0,
        None => msg.u64("in_parent") != Some(1),
    }
}

/// Builds a chain of `levels` ancestors from the dump in `src` (copied, not
/// changed). Of the task pagemaps' entries whose pages are present (and
/// not lazy), those `pick(pagemap, entry index)` selects are moved up:
/// the n-th selected one to ancestor `1 + n % levels`, so that with two
/// levels or more some ranges are found only by going up twice.
pub fn predump_chain(src: &Path, levels: usize, pick: impl Fn(&str, usize) -> bool) -> Chain {
    assert!(levels >= 1);
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..=levels)
        .map(|k| tmp.path().join(format!("d{k}")))
        .collect();
    for d in &dirs {
        std::fs::create_dir(d).unwrap();
    }
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dirs[0].join(e.file_name())).unwrap();
        }
    }
    for k in 1..=levels {
        std::fs::copy(src.join("inventory.img"), dirs[k].join("inventory.img")).unwrap();
        std::os::unix::fs::symlink(format!("../d{k}"), dirs[k - 1].join("parent")).unwrap();
    }
    let ps = Dump::new(src).page_size();
    let mut moved = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix("pagemap-")
                .and_then(|r| r.strip_suffix(".img"))
                .is_some_and(|id| id.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    names.sort();
    for name in names {
        let pm = Image::decode(&std::fs::read(src.join(&name)).unwrap()).unwrap();
        let pages_id = pm.entries[0].msg.u64("pages_id").unwrap();
        let pages_name = format!("pages-{pages_id}.img");
        let pages = std::fs::read(src.join(&pages_name)).unwrap();
        let mut child = Image {
            magic: pm.magic,
            entries: vec![pm.entries[0].clone()],
        };
        let mut child_pages = Vec::new();
        let mut up: Vec<(Image, Vec<u8>)> = (0..levels)
            .map(|_| {
                (
                    Image {
                        magic: pm.magic,
                        entries: vec![pm.entries[0].clone()],
                    },
                    Vec::new(),
                )
            })
            .collect();
        let mut off = 0usize;
        for (i, e) in pm.entries.iter().enumerate().skip(1) {
            let nr = e
                .msg
                .u64("nr_pages")
                .or_else(|| e.msg.u64("compat_nr_pages"))
                .unwrap();
            let present = is_present(&e.msg);
            let len = (nr * ps) as usize;
            let plain = present && flags_of(&e.msg).is_none_or(|f| f == PE_PRESENT);
            if plain && pick(&name, i) {
                let level = 1 + moved.len() % levels;
                let vaddr = e.msg.u64("vaddr").unwrap();
                moved.push(Moved {
                    pagemap: name.clone(),
                    entry: i,
                    vaddr,
                    nr_pages: nr,
                    level,
                });
                child.entries.push(with_flags(e, PE_PARENT));
                for (k, (img, data)) in up.iter_mut().enumerate() {
                    if k + 1 < level {
                        img.entries.push(with_flags(e, PE_PARENT));
                    } else if k + 1 == level {
                        img.entries.push(with_flags(e, PE_PRESENT));
                        data.extend_from_slice(&pages[off..off + len]);
                    }
                }
            } else {
                child.entries.push(e.clone());
                if present {
                    child_pages.extend_from_slice(&pages[off..off + len]);
                }
            }
            if present {
                off += len;
            }
        }
        std::fs::write(dirs[0].join(&name), child.encode().unwrap()).unwrap();
        std::fs::write(dirs[0].join(&pages_name), &child_pages).unwrap();
        for (k, (img, data)) in up.iter().enumerate() {
            std::fs::write(dirs[k + 1].join(&name), img.encode().unwrap()).unwrap();
            std::fs::write(dirs[k + 1].join(&pages_name), data).unwrap();
        }
    }
    Chain { tmp, dirs, moved }
}

/// Entry `e` with its flags set to `flags` (and no old in_parent bool).
fn with_flags(e: &Entry, flags: u64) -> Entry {
    let mut msg = e.msg.clone();
    let plan = crit_fs::schema::Schema::get().message(msg.msg_type);
    let idx = plan.field_by_name("flags").unwrap();
    msg.set(idx, vec![crit_fs::message::Value::U64(flags)]);
    if let Some(ip) = plan.field_by_name("in_parent") {
        msg.fields.retain(|f| f.field != ip);
    }
    Entry {
        msg,
        payload: Payload::None,
    }
}
