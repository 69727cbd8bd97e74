//! The filesystem core: the dump directory seen as files, JSON views and
//! explorer reports. Plain methods returning [`FsResult`]; it knows nothing of
//! fuser (see `crate::fuse` for the adapter) and is tested without mounting.
//! SEMANTICS.md says what every operation does; keep the two in step.

mod cache;
mod error;
mod handles;

pub use cache::{FileKey, ViewCache};
pub use error::{FsError, FsResult, errno_name};
pub use handles::{Handle, ScratchFile, WriteState};

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
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
}

impl Config {
    pub fn new(dump: impl Into<PathBuf>) -> Config {
        Config {
            dump: dump.into(),
            plain: false,
            cache_budget: 256 << 20,
            read_only: false,
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
    /// `WHAT.txt` at the root: explorer output (`check` for `check.txt`).
    Report { what: &'static str },
    /// A file created through the mount, held in memory.
    Scratch,
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

/// The report files at the root and the explorer that writes each.
pub fn report_files() -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = crate::explore::EXPLORERS
        .iter()
        .map(|w| (format!("{w}.txt"), *w))
        .collect();
    v.push(("check.txt".into(), "check"));
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
}

/// The string value of the top-level `"magic"` key of a JSON text, when the
/// text is JSON with exactly one such key. Cheap: nothing else is kept (other
/// keys are compared in place, other values skipped).
fn top_level_magic(text: &[u8]) -> Option<String> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    use std::fmt;

    struct IsMagic;
    impl<'de> Visitor<'de> for IsMagic {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a key")
        }
        fn visit_str<E>(self, v: &str) -> Result<bool, E> {
            Ok(v == "magic")
        }
    }
    impl<'de> DeserializeSeed<'de> for IsMagic {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }

    struct Top;
    impl<'de> Visitor<'de> for Top {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut magic = None;
            while let Some(is_magic) = map.next_key_seed(IsMagic)? {
                if !is_magic {
                    map.next_value::<IgnoredAny>()?;
                } else if magic.is_some() {
                    return Err(serde::de::Error::custom("duplicate magic"));
                } else {
                    magic = Some(map.next_value::<String>()?);
                }
            }
            Ok(magic)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(text);
    let magic = de.deserialize_map(Top).ok()?;
    de.end().ok()?;
    magic
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

    fn intern(&self, st: &mut State, parent: u64, name: &OsStr, node: Node) -> u64 {
        let key = (parent, name.to_os_string());
        if let Some(&ino) = st.names.get(&key)
            && st.nodes.get(&ino) == Some(&node)
        {
            return ino;
        }
        let ino = st.next_ino;
        st.next_ino += 1;
        st.nodes.insert(ino, node);
        st.names.insert(key, ino);
        ino
    }

    fn scratch_at(&self, parent: u64, name: &OsStr) -> Option<u64> {
        let st = lock(&self.state);
        let ino = *st.names.get(&(parent, name.to_os_string()))?;
        st.scratch.contains_key(&ino).then_some(ino)
    }

    /// Whether the regular file `rel` is an image crit-fs can decode (by its magic).
    fn is_image(&self, rel: &Path, meta: &Metadata) -> bool {
        if !meta.is_file() {
            return false;
        }
        let key = FileKey::of(meta);
        if let Some((k, yes)) = lock(&self.state).magic.get(rel)
            && *k == key
        {
            return *yes;
        }
        let mut head = [0u8; 8];
        let yes = File::open(self.path(rel))
            .and_then(|mut f| {
                let mut n = 0;
                while n < head.len() {
                    let r = f.read(&mut head[n..])?;
                    if r == 0 {
                        break;
                    }
                    n += r;
                }
                Ok(n)
            })
            .map(|n| crate::image::read_magic(&head[..n]).is_ok())
            .unwrap_or(false);
        lock(&self.state)
            .magic
            .insert(rel.to_path_buf(), (key, yes));
        yes
    }

    /// The image a view name stands for in directory `dir_rel`, if any.
    fn image_for_view(&self, dir_rel: &Path, name: &OsStr) -> Option<PathBuf> {
        let stem = name.as_bytes().strip_suffix(b".json")?;
        if stem.is_empty() {
            return None;
        }
        let mut img = stem.to_vec();
        img.extend_from_slice(b".img");
        let mut cands = vec![OsString::from(OsStr::from_bytes(&img))];
        if !stem.ends_with(b".img") {
            cands.push(OsString::from(OsStr::from_bytes(stem)));
        }
        cands.into_iter().find_map(|c| {
            let rel = dir_rel.join(&c);
            let meta = fs::metadata(self.path(&rel)).ok()?;
            self.is_image(&rel, &meta).then_some(rel)
        })
    }

    /// What `name` in directory `parent` is.
    fn resolve(&self, parent: u64, name: &OsStr) -> FsResult<Node> {
        let dir_rel = self.dir_rel(parent)?;
        if name.as_bytes().contains(&b'/') || name == "." || name == ".." {
            return Err(fs_err!(libc::EINVAL, "bad name {name:?}"));
        }
        let rel = dir_rel.join(name);
        if let Ok(meta) = fs::symlink_metadata(self.path(&rel)) {
            return Ok(if meta.is_dir() {
                Node::Dir { rel }
            } else {
                Node::Real { rel }
            });
        }
        if self.scratch_at(parent, name).is_some() {
            return Ok(Node::Scratch);
        }
        if parent == ROOT_INO
            && let Some((_, what)) = report_files().into_iter().find(|(n, _)| name == n.as_str())
        {
            return Ok(Node::Report { what });
        }
        if let Some(view) = name.as_bytes().strip_suffix(b".err")
            && let Some(image) = self.image_for_view(&dir_rel, OsStr::from_bytes(view))
            && lock(&self.state).errors.contains_key(&image)
        {
            return Ok(Node::ViewErr { image });
        }
        if let Some(image) = self.image_for_view(&dir_rel, name)
            && !lock(&self.state).hidden.contains(&image)
        {
            return Ok(Node::View { image });
        }
        Err(fs_err!(libc::ENOENT, "no {:?} in the mount", rel))
    }

    /// LOOKUP: the attributes of `name` in directory `parent`.
    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        let node = self.resolve(parent, name)?;
        let ino = {
            let mut st = lock(&self.state);
            self.intern(&mut st, parent, name, node)
        };
        self.getattr(ino, None)
    }

    fn real_attr(&self, ino: u64, meta: &Metadata) -> Attr {
        Attr {
            ino,
            kind: kind_of(meta),
            size: meta.size(),
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            atime: time_of(meta.atime(), meta.atime_nsec()),
            mtime: time_of(meta.mtime(), meta.mtime_nsec()),
            ctime: time_of(meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn text_attr(&self, ino: u64, size: u64, mtime: SystemTime, perm: u16) -> Attr {
        let root = fs::metadata(&self.root).ok();
        Attr {
            ino,
            kind: Kind::File,
            size,
            perm,
            nlink: 1,
            uid: root.as_ref().map(|m| m.uid()).unwrap_or(0),
            gid: root.as_ref().map(|m| m.gid()).unwrap_or(0),
            atime: mtime,
            mtime,
            ctime: mtime,
        }
    }

    fn image_meta(&self, image: &Path) -> FsResult<Metadata> {
        let meta = fs::metadata(self.path(image))
            .map_err(|_| fs_err!(libc::ENOENT, "image {} is gone", image.display()))?;
        if !self.is_image(image, &meta) {
            return Err(fs_err!(
                libc::ENOENT,
                "{} is no longer an image",
                image.display()
            ));
        }
        Ok(meta)
    }

    /// GETATTR. With a handle of a writer of a view, the size of its buffer.
    pub fn getattr(&self, ino: u64, fh: Option<u64>) -> FsResult<Attr> {
        let node = self.node(ino)?;
        match node {
            Node::Dir { rel } | Node::Real { rel } => {
                let meta = fs::symlink_metadata(self.path(&rel))
                    .map_err(|e| FsError::io(&e, rel.display()))?;
                Ok(self.real_attr(ino, &meta))
            }
            Node::View { image } => {
                let meta = self.image_meta(&image)?;
                let mut attr = self.real_attr(ino, &meta);
                attr.perm &= 0o666;
                attr.nlink = 1;
                // Always the size of the saved text, even for a writer (`fh`):
                // the kernel keeps one size per inode, and readers rely on it.
                let _ = fh;
                attr.size = self.view_size(&image, &meta);
                Ok(attr)
            }
            Node::ViewErr { image } => {
                let st = lock(&self.state);
                let e = st.errors.get(&image).ok_or_else(|| {
                    fs_err!(libc::ENOENT, "no rejected save of {}", image.display())
                })?;
                Ok(self.text_attr(ino, e.text.len() as u64, e.time, 0o444))
            }
            Node::Report { what } => {
                let (body, mtime) = self.report(what);
                Ok(self.text_attr(ino, body.len() as u64, mtime, 0o444))
            }
            Node::Scratch => {
                let f = self.scratch_file(ino)?;
                let f = lock(&f);
                let mut a =
                    self.text_attr(ino, f.data.len() as u64, f.mtime, (f.mode & 0o7777) as u16);
                a.ctime = f.ctime;
                a.uid = f.uid;
                a.gid = f.gid;
                Ok(a)
            }
        }
    }

    fn scratch_file(&self, ino: u64) -> FsResult<Arc<Mutex<ScratchFile>>> {
        lock(&self.state)
            .scratch
            .get(&ino)
            .cloned()
            .ok_or_else(|| fs_err!(libc::ENOENT, "scratch file {ino} is gone"))
    }

    /// The rendered text of view `image` (`decode --pretty` output and a newline),
    /// or why it cannot be rendered.
    pub fn render_view(&self, image: &Path) -> cache::Rendered {
        let path = self.path(image);
        let mut f = File::open(&path).map_err(|e| format!("{}: {e}", image.display()))?;
        let meta = f
            .metadata()
            .map_err(|e| format!("{}: {e}", image.display()))?;
        let key = FileKey::of(&meta);
        if let Some(hit) = lock(&self.state).views.get(image, key) {
            return hit;
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        f.read_to_end(&mut bytes)
            .map_err(|e| format!("{}: {e}", image.display()))?;
        let opts = crate::codec::Options {
            pretty: !self.cfg.plain,
            no_payload: false,
        };
        let body = crate::codec::decode_to_json(&bytes, opts)
            .map(|mut j| {
                j.push(b'\n');
                Arc::new(j)
            })
            .map_err(|e| e.in_file(image.display()).to_string());
        lock(&self.state).views.insert(image, key, body.clone());
        body
    }

    fn view_size(&self, image: &Path, meta: &Metadata) -> u64 {
        if let Some(s) = lock(&self.state).views.size(image, FileKey::of(meta)) {
            return s.unwrap_or(0);
        }
        self.render_view(image).map(|b| b.len() as u64).unwrap_or(0)
    }

    /// A fingerprint of the top directory's files, for the reports' cache.
    fn dump_fingerprint(&self) -> (u64, SystemTime) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut newest = UNIX_EPOCH;
        if let Ok(rd) = fs::read_dir(&self.root) {
            let mut items: Vec<_> = rd.flatten().collect();
            items.sort_by_key(|e| e.file_name());
            for e in items {
                e.file_name().hash(&mut h);
                if let Ok(m) = e.metadata() {
                    FileKey::of(&m).hash(&mut h);
                    let t = time_of(m.mtime(), m.mtime_nsec());
                    newest = newest.max(t);
                }
            }
        }
        (h.finish(), newest)
    }

    /// The text of report `what` (an explorer, or `check`) and its mtime. If the
    /// explorer fails, the text is `error: MESSAGE` and a newline.
    pub fn report(&self, what: &'static str) -> (Arc<Vec<u8>>, SystemTime) {
        let (fp, newest) = self.dump_fingerprint();
        if let Some((k, body)) = lock(&self.state).reports.get(what)
            && *k == fp
        {
            return (body.clone(), newest);
        }
        let text = if what == "check" {
            crate::check::render(&self.root, false).map(|(t, _)| t)
        } else {
            crate::explore::render(&self.root, what, false)
        };
        let text = text.unwrap_or_else(|e| format!("error: {e}\n"));
        let body = Arc::new(text.into_bytes());
        lock(&self.state).reports.insert(what, (fp, body.clone()));
        (body, newest)
    }

    /// The entries of directory `ino`, with `.` and `..`.
    pub fn readdir(&self, ino: u64) -> FsResult<Vec<DirEntry>> {
        let rel = self.dir_rel(ino)?;
        let dir = self.path(&rel);
        let mut items: Vec<(OsString, Metadata)> = fs::read_dir(&dir)
            .map_err(|e| FsError::io(&e, dir.display()))?
            .flatten()
            .filter_map(|e| Some((e.file_name(), e.metadata().ok()?)))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let real: std::collections::HashSet<OsString> =
            items.iter().map(|(n, _)| n.clone()).collect();
        let mut out: Vec<(OsString, Node, Kind)> = Vec::new();
        for (name, meta) in &items {
            let r = rel.join(name);
            let kind = kind_of(meta);
            if meta.is_dir() {
                out.push((name.clone(), Node::Dir { rel: r }, kind));
                continue;
            }
            out.push((name.clone(), Node::Real { rel: r.clone() }, kind));
            if self.is_image(&r, meta) {
                let v = view_name(name);
                // A real file of that name wins; the view is then not shown.
                if real.contains(&v) || self.image_for_view(&rel, &v).as_deref() != Some(&r) {
                    continue;
                }
                let (has_err, hidden) = {
                    let st = lock(&self.state);
                    (st.errors.contains_key(&r), st.hidden.contains(&r))
                };
                if hidden {
                    continue;
                }
                out.push((v.clone(), Node::View { image: r.clone() }, Kind::File));
                if has_err {
                    let mut e = v.clone();
                    e.push(".err");
                    if !real.contains(&e) {
                        out.push((e, Node::ViewErr { image: r }, Kind::File));
                    }
                }
            }
        }
        if ino == ROOT_INO {
            for (name, what) in report_files() {
                if !real.contains(OsStr::new(&name)) {
                    out.push((name.into(), Node::Report { what }, Kind::File));
                }
            }
        }
        let mut st = lock(&self.state);
        let scratch: Vec<OsString> = st
            .names
            .iter()
            .filter(|((p, n), i)| *p == ino && st.scratch.contains_key(i) && !real.contains(n))
            .map(|((_, n), _)| n.clone())
            .collect();
        for n in scratch {
            out.push((n, Node::Scratch, Kind::File));
        }
        let parent = if ino == ROOT_INO {
            ROOT_INO
        } else {
            let parent_rel = rel.parent().unwrap_or(Path::new(""));
            st.names
                .iter()
                .find(|(_, i)| {
                    st.nodes.get(i)
                        == Some(&Node::Dir {
                            rel: parent_rel.into(),
                        })
                })
                .map(|(_, i)| *i)
                .unwrap_or(ROOT_INO)
        };
        let mut entries = vec![
            DirEntry {
                ino,
                name: ".".into(),
                kind: Kind::Dir,
            },
            DirEntry {
                ino: parent,
                name: "..".into(),
                kind: Kind::Dir,
            },
        ];
        for (name, node, kind) in out {
            let child = if node == Node::Scratch {
                match st.names.get(&(ino, name.clone())) {
                    Some(&i) => i,
                    None => continue,
                }
            } else {
                self.intern(&mut st, ino, &name, node)
            };
            entries.push(DirEntry {
                ino: child,
                name,
                kind,
            });
        }
        Ok(entries)
    }

    fn new_handle(&self, h: Handle) -> u64 {
        let mut st = lock(&self.state);
        let fh = st.next_fh;
        st.next_fh += 1;
        st.handles.insert(fh, Arc::new(Mutex::new(h)));
        fh
    }

    fn handle(&self, fh: u64) -> FsResult<Arc<Mutex<Handle>>> {
        lock(&self.state)
            .handles
            .get(&fh)
            .cloned()
            .ok_or_else(|| fs_err!(libc::EBADF, "no open file {fh}"))
    }

    /// OPENDIR: takes the listing once, so that readdir offsets are stable.
    pub fn opendir(&self, ino: u64) -> FsResult<u64> {
        let entries = self.readdir(ino)?;
        Ok(self.new_handle(Handle::Dir { entries }))
    }

    /// READDIR from an opendir handle: entries from `offset` on.
    pub fn readdir_from(&self, fh: u64, offset: u64) -> FsResult<Vec<DirEntry>> {
        let h = self.handle(fh)?;
        let h = lock(&h);
        match &*h {
            Handle::Dir { entries } => Ok(entries.iter().skip(offset as usize).cloned().collect()),
            _ => Err(fs_err!(libc::ENOTDIR, "handle {fh} is not a directory")),
        }
    }

    fn check_writable(&self) -> FsResult<()> {
        if self.cfg.read_only {
            return Err(fs_err!(libc::EROFS, "the mount is read-only (-o ro)"));
        }
        Ok(())
    }

    /// OPEN. `flags` are open(2)'s flags (O_TRUNC included).
    pub fn open(&self, ino: u64, flags: i32, caller: Caller) -> FsResult<Opened> {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY;
        let trunc = write && flags & libc::O_TRUNC != 0;
        if write {
            self.check_writable()?;
        }
        match self.node(ino)? {
            Node::Dir { .. } => Err(fs_err!(libc::EISDIR, "is a directory")),
            Node::Real { rel } => {
                let path = self.path(&rel);
                let mut o = OpenOptions::new();
                o.read(flags & libc::O_ACCMODE != libc::O_WRONLY)
                    .write(write)
                    .truncate(trunc)
                    .custom_flags(flags & (libc::O_APPEND | libc::O_NOFOLLOW));
                let file = o.open(&path).map_err(|e| FsError::io(&e, rel.display()))?;
                if trunc {
                    self.changed_real(&rel);
                }
                let fh = self.new_handle(Handle::Real {
                    file,
                    rel,
                    wrote: trunc,
                });
                Ok(Opened {
                    fh,
                    direct_io: false,
                })
            }
            Node::View { image } => {
                let meta = self.image_meta(&image)?;
                if write {
                    if !may(caller, meta.uid(), meta.gid(), meta.mode(), 0o2) {
                        return Err(fs_err!(
                            libc::EACCES,
                            "{} is not writable by uid {}",
                            image.display(),
                            caller.uid
                        ));
                    }
                    let (buf, state) = if trunc {
                        (Vec::new(), WriteState::Dirty)
                    } else {
                        let body = self
                            .render_view(&image)
                            .map_err(|m| fs_err!(libc::EIO, "{m}"))?;
                        (body.to_vec(), WriteState::Clean)
                    };
                    let fh = self.new_handle(Handle::ViewWrite { image, buf, state });
                    Ok(Opened {
                        fh,
                        direct_io: true,
                    })
                } else {
                    let body = self.render_view(&image).map_err(|m| {
                        log::warn!("{m}");
                        fs_err!(libc::EIO, "{m}")
                    })?;
                    let fh = self.new_handle(Handle::Snapshot { body });
                    // Direct I/O: each open reads its own snapshot, whatever
                    // other handles left in the page cache.
                    Ok(Opened {
                        fh,
                        direct_io: true,
                    })
                }
            }
            Node::ViewErr { image } => {
                if write {
                    return Err(fs_err!(
                        libc::EACCES,
                        "{}.err is read-only",
                        image.display()
                    ));
                }
                let body = lock(&self.state)
                    .errors
                    .get(&image)
                    .map(|e| e.text.clone())
                    .ok_or_else(|| fs_err!(libc::ENOENT, "no rejected save"))?;
                Ok(Opened {
                    fh: self.new_handle(Handle::Snapshot { body }),
                    direct_io: false,
                })
            }
            Node::Report { what } => {
                if write {
                    return Err(fs_err!(libc::EACCES, "{what}.txt is read-only"));
                }
                let (body, _) = self.report(what);
                Ok(Opened {
                    fh: self.new_handle(Handle::Snapshot { body }),
                    direct_io: false,
                })
            }
            Node::Scratch => {
                let file = self.scratch_file(ino)?;
                if trunc {
                    let mut f = lock(&file);
                    f.data.clear();
                    f.mtime = SystemTime::now();
                }
                Ok(Opened {
                    fh: self.new_handle(Handle::Scratch { file }),
                    direct_io: false,
                })
            }
        }
    }

    /// CREATE of a name that does not exist: a scratch file in memory (or, for
    /// the name of a view whose image exists, that view opened for writing).
    pub fn create(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        caller: Caller,
    ) -> FsResult<(Attr, Opened)> {
        self.check_writable()?;
        match self.resolve(parent, name) {
            Ok(Node::View { .. }) | Ok(Node::Scratch) if flags & libc::O_EXCL == 0 => {
                let attr = self.lookup(parent, name)?;
                let opened = self.open(attr.ino, flags | libc::O_WRONLY, caller)?;
                return Ok((self.getattr(attr.ino, Some(opened.fh))?, opened));
            }
            Ok(_) => return Err(fs_err!(libc::EEXIST, "{name:?} exists")),
            Err(e) if e.errno == libc::ENOENT => {}
            Err(e) => return Err(e),
        }
        if let Some(image) = self.hidden_view(parent, name) {
            lock(&self.state).hidden.remove(&image);
            let attr = self.lookup(parent, name)?;
            let opened = self.open(attr.ino, flags | libc::O_WRONLY | libc::O_TRUNC, caller)?;
            return Ok((self.getattr(attr.ino, Some(opened.fh))?, opened));
        }
        let now = SystemTime::now();
        let file = Arc::new(Mutex::new(ScratchFile {
            data: Vec::new(),
            mode: mode & 0o7777,
            uid: caller.uid,
            gid: caller.gid,
            mtime: now,
            ctime: now,
        }));
        let ino = {
            let mut st = lock(&self.state);
            let ino = st.next_ino;
            st.next_ino += 1;
            st.nodes.insert(ino, Node::Scratch);
            st.names.insert((parent, name.to_os_string()), ino);
            st.scratch.insert(ino, file.clone());
            ino
        };
        log::debug!("created scratch file {name:?} (in memory, not in the dump)");
        let fh = self.new_handle(Handle::Scratch { file });
        Ok((
            self.getattr(ino, None)?,
            Opened {
                fh,
                direct_io: false,
            },
        ))
    }

    /// READ through a handle.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        let h = self.handle(fh)?;
        let h = lock(&h);
        let slice = |b: &[u8]| {
            let start = (offset as usize).min(b.len());
            let end = start.saturating_add(size as usize).min(b.len());
            b[start..end].to_vec()
        };
        match &*h {
            Handle::Real { file, rel, .. } => {
                let mut buf = vec![0; size as usize];
                let mut n = 0;
                while n < buf.len() {
                    let r = file
                        .read_at(&mut buf[n..], offset + n as u64)
                        .map_err(|e| FsError::io(&e, rel.display()))?;
                    if r == 0 {
                        break;
                    }
                    n += r;
                }
                buf.truncate(n);
                Ok(buf)
            }
            Handle::Snapshot { body } => Ok(slice(body)),
            Handle::ViewWrite { buf, .. } => Ok(slice(buf)),
            Handle::Scratch { file } => Ok(slice(&lock(file).data)),
            Handle::Dir { .. } => Err(fs_err!(libc::EISDIR, "is a directory")),
        }
    }

    /// WRITE through a handle.
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        self.check_writable()?;
        let h = self.handle(fh)?;
        let in_memory = matches!(
            &*lock(&h),
            Handle::ViewWrite { .. } | Handle::Scratch { .. }
        );
        if in_memory {
            check_memory_size(offset.saturating_add(data.len() as u64))?;
        }
        let mut h = lock(&h);
        let put = |buf: &mut Vec<u8>| {
            let end = offset as usize + data.len();
            if buf.len() < end {
                buf.resize(end, 0);
            }
            buf[offset as usize..end].copy_from_slice(data);
        };
        match &mut *h {
            Handle::Real { file, rel, wrote } => {
                file.write_all_at(data, offset)
                    .map_err(|e| FsError::io(&e, rel.display()))?;
                *wrote = true;
            }
            Handle::ViewWrite { buf, state, .. } => {
                put(buf);
                *state = WriteState::Dirty;
            }
            Handle::Scratch { file } => {
                let mut f = lock(file);
                put(&mut f.data);
                f.mtime = SystemTime::now();
            }
            Handle::Snapshot { .. } => return Err(fs_err!(libc::EBADF, "not open for writing")),
            Handle::Dir { .. } => return Err(fs_err!(libc::EISDIR, "is a directory")),
        }
        Ok(data.len() as u32)
    }

    /// FLUSH (every close(2)): saves a changed view; its error is close's error.
    pub fn flush(&self, fh: u64) -> FsResult<()> {
        self.save(fh)
    }

    /// FSYNC: saves a changed view, or syncs a real file.
    pub fn fsync(&self, fh: u64) -> FsResult<()> {
        let h = self.handle(fh)?;
        if let Handle::Real { file, rel, .. } = &*lock(&h) {
            return file.sync_all().map_err(|e| FsError::io(&e, rel.display()));
        }
        self.save(fh)
    }

    /// RELEASE (last close): saves what flush did not, then forgets the handle.
    /// Its error is only logged: the kernel does not pass it on.
    pub fn release(&self, fh: u64) -> FsResult<()> {
        // A failure already reported by flush/fsync is not reported again.
        let failed = self.handle(fh).is_ok_and(|h| {
            matches!(
                &*lock(&h),
                Handle::ViewWrite {
                    state: WriteState::Failed(_),
                    ..
                }
            )
        });
        let r = if failed { Ok(()) } else { self.save(fh) };
        lock(&self.state).handles.remove(&fh);
        r
    }

    pub fn releasedir(&self, fh: u64) -> FsResult<()> {
        lock(&self.state).handles.remove(&fh);
        Ok(())
    }

    fn save(&self, fh: u64) -> FsResult<()> {
        let h = self.handle(fh)?;
        let mut h = lock(&h);
        match &mut *h {
            Handle::ViewWrite { image, buf, state } => match state {
                WriteState::Clean | WriteState::Saved => Ok(()),
                WriteState::Failed(e) => Err(e.clone()),
                WriteState::Dirty => {
                    let image = image.clone();
                    match self.commit(&image, buf) {
                        Ok(()) => {
                            *state = WriteState::Saved;
                            Ok(())
                        }
                        Err(e) => {
                            *state = WriteState::Failed(e.clone());
                            Err(e)
                        }
                    }
                }
            },
            Handle::Real { rel, wrote, .. } => {
                if *wrote {
                    *wrote = false;
                    let rel = rel.clone();
                    drop(h);
                    self.changed_real(&rel);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// After a file of the dump changed through the mount: drop what depends on it.
    fn changed_real(&self, rel: &Path) {
        let (view, reports) = {
            let mut st = lock(&self.state);
            st.views.remove(rel);
            let parent = rel.parent().unwrap_or(Path::new(""));
            let dir_ino = if parent.as_os_str().is_empty() {
                Some(ROOT_INO)
            } else {
                st.nodes
                    .iter()
                    .find(|(_, n)| **n == Node::Dir { rel: parent.into() })
                    .map(|(i, _)| *i)
            };
            let view = dir_ino.and_then(|d| {
                let name = view_name(rel.file_name()?);
                st.names.get(&(d, name)).copied()
            });
            let reports: Vec<u64> = st
                .nodes
                .iter()
                .filter(|(_, n)| matches!(n, Node::Report { .. }))
                .map(|(i, _)| *i)
                .collect();
            (view, reports)
        };
        for ino in view.into_iter().chain(reports) {
            self.invalidate(ino);
        }
    }

    /// Validates `text` as the new content of view `image` and, if it changes
    /// the image, replaces the image atomically. Invalid text never touches it.
    pub fn commit(&self, image: &Path, text: &[u8]) -> FsResult<()> {
        let view = view_name(image.file_name().unwrap_or_default());
        let view = image.with_file_name(view);
        let result = self
            .commit_inner(image, &view, text)
            .map_err(FsError::clipped);
        let mut st = lock(&self.state);
        match &result {
            Ok(()) => {
                st.errors.remove(image);
            }
            Err(e) => {
                log::warn!("save of {} rejected: {}", view.display(), e.message);
                st.errors.insert(
                    image.to_path_buf(),
                    SaveError {
                        text: Arc::new(format!("{}\n", e.message).into_bytes()),
                        time: SystemTime::now(),
                    },
                );
            }
        }
        result
    }

    fn commit_inner(&self, image: &Path, view: &Path, text: &[u8]) -> FsResult<()> {
        self.check_writable()?;
        let _serial = lock(&self.commit_lock);
        let path = self.path(image);
        let old = fs::read(&path).map_err(|e| FsError::io(&e, image.display()))?;
        let meta = fs::metadata(&path).map_err(|e| FsError::io(&e, image.display()))?;
        // The whole reason (`{:#}`), cut once as it is formatted.
        let invalid = |e: crate::Error| FsError {
            errno: libc::EINVAL,
            message: crate::error::clip_fmt(format_args!("{}: {:#}", view.display(), e)),
        };
        let (old_magic, _) = crate::image::read_magic(&old)
            .map_err(|e| fs_err!(libc::EIO, "{}: {e}", image.display()))?;
        let magic_changed = |new: &str| {
            fs_err!(
                libc::EINVAL,
                "{}: the magic changed from {} to {new}; a view keeps its image's magic",
                view.display(),
                old_magic.name
            )
        };
        // The streaming encoder of `crit-fs encode`: memory for one entry, not
        // a tree of the whole text. When it fails, a changed magic is named as
        // such rather than as the schema error it causes.
        let bytes = match crate::codec::encode_from_json(text) {
            Ok(bytes) => bytes,
            Err(e) => {
                return Err(match top_level_magic(text) {
                    Some(m) if m != old_magic.name => magic_changed(&m),
                    _ => invalid(e),
                });
            }
        };
        let (new_magic, _) = crate::image::read_magic(&bytes).map_err(|e| invalid(e.into()))?;
        if new_magic != old_magic {
            return Err(magic_changed(new_magic.name));
        }
        let unchanged = bytes == old || {
            let new = crate::image::Image::decode(&bytes).map_err(|e| invalid(e.into()))?;
            crate::image::Image::decode(&old).ok().as_ref() == Some(&new)
        };
        if unchanged {
            log::debug!("{}: unchanged, image left as it is", view.display());
            return Ok(());
        }
        crate::atomic::replace_file(&path, &bytes).map_err(|e| {
            let what = format!("{}: saving to {}", view.display(), image.display());
            FsError::io(&e, what)
        })?;
        if meta.uid() != 0 || meta.gid() != 0 {
            let _ = std::os::unix::fs::lchown(&path, Some(meta.uid()), Some(meta.gid()));
        }
        log::info!("{}: saved to {}", view.display(), image.display());
        self.changed_real(image);
        Ok(())
    }

    /// SETATTR. Size changes a writer's buffer (with a handle) or saves the
    /// truncated text at once (without); other changes of a view are ignored.
    pub fn setattr(&self, ino: u64, fh: Option<u64>, set: &SetAttr) -> FsResult<Attr> {
        let changes = set.size.is_some()
            || set.mode.is_some()
            || set.uid.is_some()
            || set.gid.is_some()
            || set.atime.is_some()
            || set.mtime.is_some();
        if changes {
            self.check_writable()?;
        }
        match self.node(ino)? {
            Node::Real { rel } | Node::Dir { rel } => {
                let path = self.path(&rel);
                let io = |e: std::io::Error| FsError::io(&e, rel.display());
                if let Some(size) = set.size {
                    let via_handle = fh.and_then(|fh| self.handle(fh).ok());
                    match via_handle.as_ref().map(|h| lock(h)) {
                        Some(g) if matches!(&*g, Handle::Real { .. }) => {
                            if let Handle::Real { file, .. } = &*g {
                                file.set_len(size).map_err(io)?;
                            }
                        }
                        _ => OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .and_then(|f| f.set_len(size))
                            .map_err(io)?,
                    }
                    self.changed_real(&rel);
                }
                if let Some(mode) = set.mode {
                    fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                        .map_err(io)?;
                }
                if set.uid.is_some() || set.gid.is_some() {
                    std::os::unix::fs::lchown(&path, set.uid, set.gid).map_err(io)?;
                }
                if set.atime.is_some() || set.mtime.is_some() {
                    let f = File::options()
                        .write(true)
                        .open(&path)
                        .or_else(|_| File::open(&path))
                        .map_err(io)?;
                    let mut t = fs::FileTimes::new();
                    if let Some(a) = set.atime {
                        t = t.set_accessed(a);
                    }
                    if let Some(m) = set.mtime {
                        t = t.set_modified(m);
                    }
                    f.set_times(t).map_err(io)?;
                }
            }
            Node::View { image } => {
                if let Some(size) = set.size {
                    check_memory_size(size)?;
                    let h = fh.and_then(|fh| self.handle(fh).ok());
                    let mut done = false;
                    if let Some(h) = h
                        && let Handle::ViewWrite { buf, state, .. } = &mut *lock(&h)
                    {
                        buf.resize(size as usize, 0);
                        *state = WriteState::Dirty;
                        done = true;
                    }
                    if !done {
                        let mut text = self
                            .render_view(&image)
                            .map_err(|m| fs_err!(libc::EIO, "{m}"))?
                            .to_vec();
                        text.resize(size as usize, 0);
                        self.commit(&image, &text)?;
                    }
                }
            }
            Node::Scratch => {
                let f = self.scratch_file(ino)?;
                let mut f = lock(&f);
                if let Some(size) = set.size {
                    check_memory_size(size)?;
                    f.data.resize(size as usize, 0);
                }
                if let Some(mode) = set.mode {
                    f.mode = mode & 0o7777;
                }
                if let Some(uid) = set.uid {
                    f.uid = uid;
                }
                if let Some(gid) = set.gid {
                    f.gid = gid;
                }
                if let Some(m) = set.mtime {
                    f.mtime = m;
                }
                f.ctime = SystemTime::now();
            }
            Node::Report { .. } | Node::ViewErr { .. } => {
                if set.size.is_some() {
                    return Err(fs_err!(libc::EACCES, "this file is read-only"));
                }
            }
        }
        self.getattr(ino, fh)
    }

    /// UNLINK: removes a scratch file or dismisses a `.err` file; views and the
    /// dump's own files cannot be removed through the mount (EPERM).
    pub fn unlink(&self, parent: u64, name: &OsStr) -> FsResult<()> {
        self.check_writable()?;
        match self.resolve(parent, name)? {
            Node::Scratch => {
                let mut st = lock(&self.state);
                if let Some(ino) = st.names.remove(&(parent, name.to_os_string())) {
                    st.scratch.remove(&ino);
                    st.nodes.remove(&ino);
                }
                Ok(())
            }
            Node::ViewErr { image } => {
                lock(&self.state).errors.remove(&image);
                Ok(())
            }
            Node::View { image } => {
                log::info!(
                    "{name:?} hidden until created again; {} is untouched",
                    image.display()
                );
                lock(&self.state).hidden.insert(image);
                Ok(())
            }
            Node::Report { .. } => Err(fs_err!(
                libc::EPERM,
                "{name:?} is a report; it cannot be deleted"
            )),
            Node::Real { rel } | Node::Dir { rel } => Err(fs_err!(
                libc::EPERM,
                "{} belongs to the dump; the mount never deletes dump files",
                rel.display()
            )),
        }
    }

    fn scratch_text_of(&self, node: &Node, parent: u64, name: &OsStr) -> FsResult<Vec<u8>> {
        match node {
            Node::Scratch => {
                let ino = self
                    .scratch_at(parent, name)
                    .ok_or_else(|| fs_err!(libc::ENOENT, "{name:?} is gone"))?;
                let f = self.scratch_file(ino)?;
                let data = lock(&f).data.clone();
                Ok(data)
            }
            Node::View { image } => Ok(self
                .render_view(image)
                .map_err(|m| fs_err!(libc::EIO, "{m}"))?
                .to_vec()),
            _ => Err(fs_err!(libc::EPERM, "not a scratch file or view")),
        }
    }

    /// RENAME. scratch → view saves the scratch text to the image (as a close of
    /// the view would); view → new name copies the view's text to a scratch file
    /// and leaves the view; scratch → scratch moves; dump files never move.
    pub fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        noreplace: bool,
    ) -> FsResult<()> {
        self.check_writable()?;
        let src = self.resolve(parent, name)?;
        let dst = match self.resolve(newparent, newname) {
            Ok(n) => Some(n),
            Err(e) if e.errno == libc::ENOENT => self
                .hidden_view(newparent, newname)
                .map(|image| Node::View { image }),
            Err(e) => return Err(e),
        };
        if noreplace && dst.is_some() {
            return Err(fs_err!(libc::EEXIST, "{newname:?} exists"));
        }
        match (&src, &dst) {
            (Node::Scratch | Node::View { .. }, Some(Node::View { image })) => {
                if matches!(src, Node::View { .. }) {
                    return Err(fs_err!(
                        libc::EPERM,
                        "a view cannot be renamed over another view"
                    ));
                }
                let text = self.scratch_text_of(&src, parent, name)?;
                self.commit(image, &text)?;
                lock(&self.state).hidden.remove(image);
                self.unlink(parent, name)
            }
            (Node::Scratch, Some(Node::Real { rel })) => {
                let text = self.scratch_text_of(&src, parent, name)?;
                crate::atomic::replace_file(&self.path(rel), &text)
                    .map_err(|e| FsError::io(&e, rel.display()))?;
                self.changed_real(rel);
                self.unlink(parent, name)
            }
            (Node::Scratch, None | Some(Node::Scratch)) => {
                let mut st = lock(&self.state);
                let ino = st
                    .names
                    .remove(&(parent, name.to_os_string()))
                    .ok_or_else(|| fs_err!(libc::ENOENT, "{name:?} is gone"))?;
                if let Some(old) = st.names.insert((newparent, newname.to_os_string()), ino) {
                    st.scratch.remove(&old);
                    st.nodes.remove(&old);
                }
                Ok(())
            }
            (Node::View { .. }, None | Some(Node::Scratch)) => {
                let text = self.scratch_text_of(&src, parent, name)?;
                if dst.is_some() {
                    self.unlink(newparent, newname)?;
                }
                let (_, opened) =
                    self.create(newparent, newname, 0o644, libc::O_WRONLY, Caller::ROOT)?;
                self.write(opened.fh, 0, &text)?;
                self.release(opened.fh)
            }
            _ => Err(fs_err!(
                libc::EPERM,
                "rename of {name:?} to {newname:?}: files of the dump, reports and views cannot be moved"
            )),
        }
    }

    /// The image of a view that was unlinked (hidden) at `name`, if any.
    fn hidden_view(&self, parent: u64, name: &OsStr) -> Option<PathBuf> {
        let dir_rel = self.dir_rel(parent).ok()?;
        let image = self.image_for_view(&dir_rel, name)?;
        lock(&self.state).hidden.contains(&image).then_some(image)
    }

    /// READLINK of a symbolic link of the dump.
    pub fn readlink(&self, ino: u64) -> FsResult<Vec<u8>> {
        match self.node(ino)? {
            Node::Real { rel } => fs::read_link(self.path(&rel))
                .map(|p| p.into_os_string().into_vec())
                .map_err(|e| FsError::io(&e, rel.display())),
            _ => Err(fs_err!(libc::EINVAL, "not a symbolic link")),
        }
    }

    /// ACCESS (only asked without default_permissions).
    pub fn access(&self, ino: u64, mask: i32, caller: Caller) -> FsResult<()> {
        let attr = self.getattr(ino, None)?;
        if mask & libc::W_OK != 0 {
            self.check_writable()?;
            let node = self.node(ino)?;
            if matches!(node, Node::Report { .. } | Node::ViewErr { .. }) {
                return Err(fs_err!(libc::EACCES, "read-only file"));
            }
        }
        for (bit, m) in [(libc::R_OK, 4), (libc::W_OK, 2), (libc::X_OK, 1)] {
            if mask & bit != 0 && !may(caller, attr.uid, attr.gid, attr.perm as u32, m) {
                return Err(fs_err!(libc::EACCES, "permission denied"));
            }
        }
        Ok(())
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
}

use std::os::unix::ffi::OsStringExt;
