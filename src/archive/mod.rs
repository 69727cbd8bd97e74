//! Container checkpoint archives (podman/CRI-O/Kubernetes exports, and OCI
//! image archives holding one): recognised by their bytes, read once front to
//! back into a private spool directory, checked member by member, and
//! rewritten in their own compression with every unedited member copied as it
//! was (an OCI image archive: its checkpoint layer, with new digests up to
//! `index.json`). Knows nothing of the CLI or the filesystem.
//!
//! Layout of an export: `checkpoint/` (the CRIU images), `config.dump`,
//! `spec.dump`, `network.status`, `stats-dump`, `rootfs-diff.tar`,
//! `deleted.files`, … — [`CHECKPOINT_DIR`] is the dump inside.

mod extract;
pub mod facts;
mod oci;
mod rewrite;
pub mod tar;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

pub use extract::{Extracted, MemberRecord};
pub use rewrite::RewriteOutcome;

/// The CRIU dump inside an export.
pub const CHECKPOINT_DIR: &str = "checkpoint";

/// Where the archive's `rootfs-diff.tar` is shown as a directory.
pub const ROOTFS_DIFF_DIR: &str = "rootfs-diff";

/// What went wrong, and with which member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveError {
    pub member: Option<String>,
    pub what: String,
}

impl ArchiveError {
    pub fn at(member: &str, what: impl fmt::Display) -> ArchiveError {
        ArchiveError {
            member: (!member.is_empty()).then(|| member.to_string()),
            what: what.to_string(),
        }
    }

    pub fn new(what: impl fmt::Display) -> ArchiveError {
        ArchiveError {
            member: None,
            what: what.to_string(),
        }
    }
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.member {
            Some(m) => write!(f, "member {m:?}: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl From<io::Error> for ArchiveError {
    fn from(e: io::Error) -> Self {
        ArchiveError::new(e)
    }
}

impl From<ArchiveError> for crate::error::Error {
    fn from(e: ArchiveError) -> Self {
        crate::error::Error::other(e.to_string())
    }
}

/// How the tar stream is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Judged by the first bytes (podman writes zstd whatever the file is named).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// What kind of archive it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// `podman container checkpoint --export` (and CRI-O's, Kubernetes'): a tar.
    Export(Compression),
    /// An OCI image archive whose layer holds an export (compression of the layer).
    Oci(Compression),
}

/// Whether `path` looks like an archive rather than a dump directory: a
/// regular file (or a symlink to one).
pub fn is_archive(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// Whether the file's first bytes are those of an archive crit-fs reads: gzip,
/// zstd, or a tar header with a right checksum.
pub fn looks_like_archive(path: &Path) -> bool {
    let mut head = [0u8; tar::BLOCK];
    let n = File::open(path)
        .and_then(|mut f| {
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            Ok(n)
        })
        .unwrap_or(0);
    match Compression::detect(&head[..n]) {
        Compression::None => n == tar::BLOCK && tar::checksum_ok(&head),
        _ => true,
    }
}

/// The error for a file that is neither a directory nor an archive.
pub const NOT_AN_ARCHIVE: &str =
    "not a directory, nor a container checkpoint archive (tar, gzip or zstd)";

/// The decompressed stream of `file` and its compression.
pub fn decompressed(file: File) -> io::Result<(Compression, Box<dyn Read>)> {
    decompress_reader(file)
}

/// The decompressed stream of any reader (an archive, or a layer inside one)
/// and its compression, judged by its first bytes.
pub fn decompress_reader<'a, R: Read + 'a>(
    inner: R,
) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut r = BufReader::with_capacity(256 << 10, inner);
    let head = {
        use std::io::BufRead;
        r.fill_buf()?.to_vec()
    };
    let c = Compression::detect(&head);
    let stream: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    };
    Ok((c, stream))
}

/// Identity of a file's version: changes when it is replaced or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Version {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Version {
    pub fn of(m: &fs::Metadata) -> Version {
        Version {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// A private directory (mode 0700) removed with everything in it when dropped.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    keep: bool,
}

impl Spool {
    /// A new directory under `$TMPDIR` (or /tmp). Spool directories left by a
    /// process that is gone (a killed daemon) are removed first, except those
    /// kept on purpose (marked [`KEPT`]).
    pub fn new() -> io::Result<Spool> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        remove_stale_spools(&base);
        loop {
            let dir = base.join(format!(
                "{SPOOL_PREFIX}{}.{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Spool { dir, keep: false }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Leave the directory in place when dropped (edits that could not be saved).
    pub fn keep(&mut self) {
        self.keep = true;
        let _ = fs::write(
            self.dir.join(KEPT),
            b"edits that could not be written back\n",
        );
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if !self.keep {
            remove_tree(&self.dir);
        }
    }
}

/// Marker of a spool directory kept on purpose.
pub const KEPT: &str = "KEPT";

const SPOOL_PREFIX: &str = "crit-fs-archive.";

fn remove_stale_spools(base: &Path) {
    let Ok(rd) = fs::read_dir(base) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SPOOL_PREFIX))
            .and_then(|r| r.split('.').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = e.path();
        let mine = fs::symlink_metadata(&dir).is_ok_and(|m| {
            // SAFETY: getuid has no preconditions.
            m.is_dir() && m.uid() == unsafe { libc::getuid() }
        });
        if mine && !Path::new(&format!("/proc/{pid}")).exists() && !dir.join(KEPT).exists() {
            log::info!("removing {}, left by a crit-fs that is gone", dir.display());
            remove_tree(&dir);
        }
    }
}

/// Removes a tree whose directories may lack the owner's write or search bit
/// (podman's `checkpoint/` is mode 0600).
fn remove_tree(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if fs::remove_dir_all(dir).is_ok() {
        return;
    }
    fn open_up(d: &Path) {
        let _ = fs::set_permissions(d, fs::Permissions::from_mode(0o700));
        if let Ok(rd) = fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&e.path());
                }
            }
        }
    }
    open_up(dir);
    let _ = fs::remove_dir_all(dir);
}

/// Options of [`open`].
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions {
    /// Also unpack `rootfs-diff.tar` into [`ROOTFS_DIFF_DIR`] (read-only view).
    pub rootfs_diff: bool,
}

/// Reads `archive` into a new spool directory: see [`Extracted`].
pub fn open(archive: &Path, opts: OpenOptions) -> Result<Extracted, ArchiveError> {
    extract::open(archive, opts)
}

/// A dump to read: a directory as it is, or an archive unpacked into a spool
/// directory that lives as long as this value.
pub struct DumpSource {
    dir: PathBuf,
    top: PathBuf,
    archive: Option<Extracted>,
}

impl DumpSource {
    /// The CRIU images' directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The unpacked archive, when the source was one.
    pub fn archive(&self) -> Option<&Extracted> {
        self.archive.as_ref()
    }

    /// An error of a command run on [`Self::dir`], naming the archive and the
    /// member instead of the spool directory (unchanged for a directory).
    pub fn name_error(&self, mut e: crate::error::Error) -> crate::error::Error {
        let (Some(x), Some(file)) = (&self.archive, e.file.as_ref()) else {
            return e;
        };
        let tree = x.tree();
        let member = match Path::new(file).strip_prefix(&tree) {
            Ok(rel) => rel.to_path_buf(),
            Err(_) if Path::new(file).is_relative() => Path::new(CHECKPOINT_DIR).join(file),
            Err(_) => return e,
        };
        e.file = Some(format!("{}: {}", x.archive().display(), member.display()));
        e
    }

    /// The top of the archive's tree (`config.dump`, …), or the directory itself.
    pub fn top(&self) -> &Path {
        &self.top
    }
}

/// The one place where commands taking a dump directory accept an archive
/// too: a directory is used as it is; a file is read as a checkpoint archive
/// and its `checkpoint/` returned. Errors name the archive (and the member).
pub fn open_dump(path: &Path) -> crate::error::Result<DumpSource> {
    if is_archive(path) && !looks_like_archive(path) {
        return Err(crate::error::Error::other(NOT_AN_ARCHIVE).in_file(path.display()));
    }
    if !is_archive(path) {
        // An unpacked export: its top, or its checkpoint/ directory.
        let inner = path.join(CHECKPOINT_DIR);
        if inner.join("inventory.img").is_file() {
            return Ok(DumpSource {
                dir: inner,
                top: path.to_path_buf(),
                archive: None,
            });
        }
        let parent = path.join("..");
        let top = if parent.join("config.dump").is_file() {
            parent
        } else {
            path.to_path_buf()
        };
        return Ok(DumpSource {
            dir: path.to_path_buf(),
            top,
            archive: None,
        });
    }
    let x = open(path, OpenOptions::default())
        .map_err(|e| crate::error::Error::from(e).in_file(path.display()))?;
    Ok(DumpSource {
        dir: x.dump_dir(),
        top: x.tree(),
        archive: Some(x),
    })
}
