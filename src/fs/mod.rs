//! The filesystem core: the dump directory seen as files, JSON views and
//! explorer reports. Plain methods returning [`FsResult`]; it knows nothing of
//! fuser (see `crate::fuse` for the adapter) and is tested without mounting.
//! SEMANTICS.md says what every operation does; keep the two in step.

mod attrs;
mod cache;
mod content;
mod error;
mod handles;
mod help;
mod io;
mod names;
mod namespace;
mod proc;
mod save;

pub use cache::{FileKey, ViewCache};
pub use error::{FsError, FsResult, errno_name};
pub use handles::{Handle, ScratchFile, WriteState};
pub use help::{HELP_DIR, HELP_FILE};
pub use proc::{MemState, SharedCore, SharedMem};

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fs_err;

/// Inode number of the mount's root.
pub const ROOT_INO: u64 = 1;

/// How the filesystem is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The checkpoint directory.
    pub dump: PathBuf,
    /// Compact JSON (like `crit-fs decode`) instead of pretty.
    pub plain: bool,
    /// Memory budget of rendered views, in bytes.
    pub cache_budget: usize,
    /// Refuse every change with EROFS.
    pub read_only: bool,
    /// Where the CRIU images are, relative to `dump` ("" for `dump` itself;
    /// `checkpoint` for a container archive's tree): the explorer reports and
    /// `check.txt` are shown there.
    pub dump_root: PathBuf,
    /// Show `container.txt` (the container's facts) at the top.
    pub container_report: bool,
    /// Paths (relative to `dump`) under which nothing may change (EROFS),
    /// even on a read-write mount: an archive's unpacked `rootfs-diff/`.
    pub read_only_under: Vec<PathBuf>,
}

impl Config {
    pub fn new(dump: impl Into<PathBuf>) -> Config {
        Config {
            dump: dump.into(),
            plain: false,
            cache_budget: 256 << 20,
            read_only: false,
            dump_root: PathBuf::new(),
            container_report: false,
            read_only_under: Vec::new(),
        }
    }
}

/// What a name in the mount is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory of the dump (`rel` is relative to the dump; "" is the root).
    Dir { rel: PathBuf },
    /// A non-directory file of the dump, shown as it is.
    Real { rel: PathBuf },
    /// `NAME.json`, the JSON of image `image`.
    View { image: PathBuf },
    /// `NAME.json.err`, why the last save of the view of `image` was rejected.
    ViewErr { image: PathBuf },
    /// `WHAT.txt` at the root: explorer output (`check` for `check.txt`,
    /// `host-check` for `host-check.txt`).
    Report { what: &'static str },
    /// A file created through the mount, held in memory.
    Scratch,
    /// `.crit-fs` at the root, holding `HELP`.
    HelpDir,
    /// `.crit-fs/HELP`: what the files of the mount are.
    Help,
    /// `proc/` at the root: a directory per process of the dump.
    ProcRoot,
    /// `proc/PID/`.
    ProcPid { pid: u64 },
    /// An entry of `proc/PID/` (`fd/` and `fd/N` included).
    ProcEntry {
        pid: u64,
        entry: crate::procview::Entry,
    },
}

/// Kind of file, as stat shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// Attributes of a file of the mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    /// 512-byte blocks, when not the size's (`proc/PID/mem`: its dumped bytes).
    pub blocks: Option<u64>,
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u64,
    pub name: OsString,
    pub kind: Kind,
}

/// The result of open/create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    /// Bypass the page cache (writers of views: their text is private).
    pub direct_io: bool,
}

/// Who makes a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

impl Caller {
    pub const ROOT: Caller = Caller { uid: 0, gid: 0 };
}

/// The kernel caches that must forget something (sent by the adapter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidate {
    /// The data and attributes of an inode.
    Inode(u64),
}

/// New attributes asked by setattr.
#[derive(Clone, Debug, Default)]
pub struct SetAttr {
    pub size: Option<u64>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime: Option<SystemTime>,
    pub mtime: Option<SystemTime>,
}

/// The name of the facts report of a container archive, at the mount's top.
pub const CONTAINER_REPORT: &str = "container.txt";

/// The report files at the dump root and the explorer that writes each.
pub fn report_files() -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = crate::explore::EXPLORERS
        .iter()
        .map(|w| (format!("{w}.txt"), *w))
        .collect();
    v.push(("check.txt".into(), "check"));
    v.push(("host-check.txt".into(), "host-check"));
    v
}

/// The view name of an image file name: `core-1.img` → `core-1.json`, `stats-dump` → `stats-dump.json`.
pub fn view_name(image_name: &OsStr) -> OsString {
    let b = image_name.as_bytes();
    let stem = b.strip_suffix(b".img").unwrap_or(b);
    let mut v = stem.to_vec();
    v.extend_from_slice(b".json");
    OsString::from(std::ffi::OsStr::from_bytes(&v))
}

type Invalidator = Box<dyn Fn(Invalidate) + Send + Sync>;

struct SaveError {
    text: Arc<Vec<u8>>,
    time: SystemTime,
}

struct State {
    nodes: HashMap<u64, Node>,
    names: HashMap<(u64, OsString), u64>,
    next_ino: u64,
    handles: HashMap<u64, Arc<Mutex<Handle>>>,
    next_fh: u64,
    scratch: HashMap<u64, Arc<Mutex<ScratchFile>>>,
    errors: HashMap<PathBuf, SaveError>,
    views: ViewCache,
    magic: HashMap<PathBuf, (FileKey, bool)>,
    reports: HashMap<&'static str, (u64, Arc<Vec<u8>>)>,
    /// Views unlinked through the mount: hidden until created again.
    hidden: std::collections::HashSet<PathBuf>,
    /// The proc tree's texts, process list and address spaces.
    proc: proc::ProcCache,
}

/// The filesystem.
pub struct CritFs {
    cfg: Config,
    root: PathBuf,
    state: Mutex<State>,
    /// Saves are serialised: the last one to close wins, whole-file.
    commit_lock: Mutex<()>,
    invalidator: Mutex<Option<Invalidator>>,
    started: SystemTime,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn time_of(secs: i64, nsec: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

fn kind_of(meta: &Metadata) -> Kind {
    let t = meta.file_type();
    if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else if t.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    }
}

/// Largest text a view writer or scratch file may hold (they live in memory).
pub const MAX_IN_MEMORY: u64 = 1 << 30;

fn check_memory_size(size: u64) -> FsResult<()> {
    if size > MAX_IN_MEMORY {
        return Err(fs_err!(
            libc::EFBIG,
            "{size} bytes: views and scratch files are held in memory, at most {MAX_IN_MEMORY}"
        ));
    }
    Ok(())
}

fn may(caller: Caller, uid: u32, gid: u32, perm: u32, bit: u32) -> bool {
    if caller.uid == 0 {
        return true;
    }
    let shift = if caller.uid == uid {
        6
    } else if caller.gid == gid {
        3
    } else {
        0
    };
    perm >> shift & bit != 0
}

impl CritFs {
    /// A filesystem over `cfg.dump`, which must be a directory.
    pub fn new(cfg: Config) -> FsResult<CritFs> {
        let root = fs::canonicalize(&cfg.dump).map_err(|e| FsError::io(&e, cfg.dump.display()))?;
        if !root.is_dir() {
            return Err(fs_err!(
                libc::ENOTDIR,
                "{} is not a directory",
                root.display()
            ));
        }
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT_INO,
            Node::Dir {
                rel: PathBuf::new(),
            },
        );
        Ok(CritFs {
            state: Mutex::new(State {
                nodes,
                names: HashMap::new(),
                next_ino: ROOT_INO + 1,
                handles: HashMap::new(),
                next_fh: 1,
                scratch: HashMap::new(),
                errors: HashMap::new(),
                views: ViewCache::new(cfg.cache_budget),
                magic: HashMap::new(),
                reports: HashMap::new(),
                hidden: Default::default(),
                proc: Default::default(),
            }),
            cfg,
            root,
            commit_lock: Mutex::new(()),
            invalidator: Mutex::new(None),
            started: SystemTime::now(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Called after a change the kernel's caches must not hide.
    pub fn set_invalidator(&self, f: Invalidator) {
        *lock(&self.invalidator) = Some(f);
    }

    fn invalidate(&self, ino: u64) {
        if let Some(f) = lock(&self.invalidator).as_ref() {
            f(Invalidate::Inode(ino));
        }
    }

    /// Bytes of rendered views held in memory.
    pub fn cache_used(&self) -> usize {
        lock(&self.state).views.used()
    }

    fn path(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    fn node(&self, ino: u64) -> FsResult<Node> {
        lock(&self.state)
            .nodes
            .get(&ino)
            .cloned()
            .ok_or_else(|| fs_err!(libc::ENOENT, "inode {ino} is not known (stale)"))
    }

    fn dir_rel(&self, ino: u64) -> FsResult<PathBuf> {
        match self.node(ino)? {
            Node::Dir { rel } => Ok(rel),
            _ => Err(fs_err!(libc::ENOTDIR, "inode {ino} is not a directory")),
        }
    }

    /// Removes temporary files of saves that a killed daemon left in the dump
    /// (`.crit-fs-tmp.PID.*.part` whose PID is not running). Returns their names.
    pub fn remove_stale_temp_files(&self) -> Vec<OsString> {
        let mut removed = Vec::new();
        let Ok(rd) = fs::read_dir(&self.root) else {
            return removed;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(rest) = name
                .to_str()
                .and_then(|n| n.strip_prefix(crate::atomic::TEMP_PREFIX))
                .filter(|_| name.as_bytes().ends_with(b".part"))
            else {
                continue;
            };
            let pid: Option<u32> = rest.split('.').next().and_then(|p| p.parse().ok());
            let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive && fs::remove_file(e.path()).is_ok() {
                log::info!("removed {name:?}, left by an interrupted save");
                removed.push(name);
            }
        }
        removed
    }

    /// When the mount started (for files that have no time of their own).
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// The dump directory, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the CRIU images (the reports' subject).
    pub fn dump_root(&self) -> PathBuf {
        self.path(&self.cfg.dump_root)
    }

    /// The reports shown in directory `dir_rel`: the explorers' and `check.txt`
    /// at the dump root, `container.txt` at the top of an archive's tree.
    pub(super) fn reports_at(&self, dir_rel: &Path) -> Vec<(String, &'static str)> {
        let mut v = Vec::new();
        if dir_rel == self.cfg.dump_root {
            v = report_files();
        }
        if dir_rel.as_os_str().is_empty() && self.cfg.container_report {
            v.push((CONTAINER_REPORT.into(), "container"));
        }
        v
    }
}
