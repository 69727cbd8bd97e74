//! Unpacking into the spool directory, safely: every member path is checked
//! (no absolute path, no `..`, no parent that is a link), links may not point
//! out of the archive, and files are created new (never through a link), so
//! nothing is written outside the spool whatever the archive holds.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions as FsOpen};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::tar::{Kind, TarReader};
use super::{
    ArchiveError, CHECKPOINT_DIR, Compression, Format, OpenOptions, ROOTFS_DIFF_DIR, Spool, Version,
};

/// One member as unpacked: where, what, and the version of its file right
/// after unpacking (a rewrite compares against it).
#[derive(Clone, Debug)]
pub struct MemberRecord {
    pub rel: PathBuf,
    pub kind: Kind,
    pub size: u64,
    pub version: Option<Version>,
}

/// An archive unpacked into its spool directory: `tree()` is the archive's own
/// tree (the private working copy), `dump_dir()` its `checkpoint/`.
#[derive(Debug)]
pub struct Extracted {
    pub(super) spool: Spool,
    pub(super) archive: PathBuf,
    pub(super) archive_version: Version,
    pub(super) format: Format,
    pub(super) members: Vec<MemberRecord>,
    /// Whether `rootfs-diff/` was made from `rootfs-diff.tar` (not a member).
    pub(super) rootfs_diff: bool,
    /// For an OCI image archive: where its checkpoint layer sits, for a rewrite.
    pub(super) oci: Option<super::oci::Plan>,
}

impl Extracted {
    pub fn tree(&self) -> PathBuf {
        self.spool.path().join("tree")
    }

    pub fn dump_dir(&self) -> PathBuf {
        self.tree().join(CHECKPOINT_DIR)
    }

    pub fn format(&self) -> &Format {
        &self.format
    }

    pub fn archive(&self) -> &Path {
        &self.archive
    }

    pub fn members(&self) -> &[MemberRecord] {
        &self.members
    }

    /// Whether the tree has a `rootfs-diff/` made from `rootfs-diff.tar`.
    pub fn has_rootfs_diff_dir(&self) -> bool {
        self.rootfs_diff
    }

    /// The spool directory (removed when this value is dropped).
    pub fn spool_dir(&self) -> &Path {
        self.spool.path()
    }

    /// Whether [`Extracted::rewrite`] could write edits back; for an OCI image
    /// archive, its checkpoint layer's media type must be one crit-fs writes
    /// and agree with its bytes, and the image config must be there.
    pub fn check_rewritable(&self) -> Result<(), ArchiveError> {
        match &self.oci {
            Some(plan) => plan.layer_compression().map(|_| ()),
            None => Ok(()),
        }
    }

    /// Keep the spool directory after this value is dropped.
    pub fn keep_spool(&mut self) {
        self.spool.keep();
    }
}

/// A member path made safe: relative, no `..`, `.` components dropped.
/// None for the archive's root itself (`./`).
pub(super) fn safe_rel(path: &[u8]) -> Result<Option<PathBuf>, String> {
    let p = Path::new(OsStr::from_bytes(path));
    if path.starts_with(b"/") {
        return Err("an absolute path: it would escape the archive".into());
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err("a path with \"..\": it would escape the archive".into());
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("an absolute path: it would escape the archive".into());
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Whether a symlink at `rel` with target `target` stays inside the archive.
fn link_stays_inside(rel: &Path, target: &[u8]) -> bool {
    if target.starts_with(b"/") || target.is_empty() {
        return false;
    }
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in Path::new(OsStr::from_bytes(target)).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// How links of a tree are judged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Links {
    /// The archive itself: symbolic links must point inside it.
    Inside,
    /// A container's changed files: any target, shown as a link and never
    /// followed by crit-fs; devices and FIFOs are left out.
    Shown,
}

struct Unpacker<'a> {
    root: &'a Path,
    links: Links,
    files: HashMap<PathBuf, Kind>,
    dirs: Vec<(PathBuf, u32, i64)>,
    records: Vec<MemberRecord>,
    skipped: usize,
}

fn set_mtime(f: &File, secs: i64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: a valid descriptor and an array of two timespecs.
    if unsafe { libc::futimens(f.as_raw_fd(), times.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_path_mtime(p: &Path, secs: i64) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: a valid C string and two timespecs; AT_SYMLINK_NOFOLLOW never follows a link.
    if unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Unpacker<'_> {
    /// Makes sure every parent of `rel` is a real directory of the tree
    /// (created if missing), so that nothing is written through a link.
    fn parents(&mut self, rel: &Path, name: &str) -> Result<(), ArchiveError> {
        let mut cur = PathBuf::new();
        let comps: Vec<_> = rel.components().collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            cur.push(c);
            let p = self.root.join(&cur);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(ArchiveError::at(
                        name,
                        format!(
                            "its parent {} is not a directory (a link or file): it would be written through it",
                            cur.display()
                        ),
                    ));
                }
                Err(_) => fs::DirBuilder::new().mode(0o755).create(&p).map_err(|e| {
                    ArchiveError::at(name, format!("creating {}: {e}", cur.display()))
                })?,
            }
        }
        Ok(())
    }

    fn member<R: Read>(&mut self, tar: &mut TarReader<R>) -> Result<bool, ArchiveError> {
        let Some(m) = tar.next_member()? else {
            return Ok(false);
        };
        let name = m.name();
        let rel = match safe_rel(&m.path) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(true), // "./": the tree itself
            Err(why) => return Err(ArchiveError::at(&name, why)),
        };
        if self.files.contains_key(&rel) && m.kind != Kind::Dir {
            return Err(ArchiveError::at(&name, "appears twice in the archive"));
        }
        self.parents(&rel, &name)?;
        let path = self.root.join(&rel);
        let fail = |e: io::Error| ArchiveError::at(&name, format!("unpacking it: {e}"));
        let mut version = None;
        match m.kind {
            Kind::File => {
                let mut f = FsOpen::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(fail)?;
                tar.copy_data(&mut f)?;
                f.set_permissions(fs::Permissions::from_mode(m.mode))
                    .map_err(fail)?;
                set_mtime(&f, m.mtime).map_err(fail)?;
                version = Some(super::Version::of(&f.metadata().map_err(fail)?));
            }
            Kind::Dir => {
                match fs::symlink_metadata(&path) {
                    Ok(md) if md.is_dir() => {}
                    Ok(_) => return Err(ArchiveError::at(&name, "appears twice in the archive")),
                    Err(_) => fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&path)
                        .map_err(fail)?,
                }
                self.dirs.push((rel.clone(), m.mode, m.mtime));
            }
            Kind::Symlink => {
                if self.links == Links::Inside && !link_stays_inside(&rel, &m.link) {
                    return Err(ArchiveError::at(
                        &name,
                        format!(
                            "a symbolic link to {:?}, out of the archive",
                            String::from_utf8_lossy(&m.link)
                        ),
                    ));
                }
                std::os::unix::fs::symlink(OsStr::from_bytes(&m.link), &path).map_err(fail)?;
                let _ = set_path_mtime(&path, m.mtime);
            }
            Kind::Hardlink => {
                let target = safe_rel(&m.link)
                    .ok()
                    .flatten()
                    .filter(|t| self.files.get(t) == Some(&Kind::File))
                    .ok_or_else(|| {
                        ArchiveError::at(
                            &name,
                            format!(
                                "a hard link to {:?}, which is no earlier file of the archive",
                                String::from_utf8_lossy(&m.link)
                            ),
                        )
                    })?;
                fs::hard_link(self.root.join(&target), &path).map_err(fail)?;
            }
            Kind::Special => {
                if self.links == Links::Inside {
                    return Err(ArchiveError::at(
                        &name,
                        "a device or FIFO: a checkpoint archive holds none",
                    ));
                }
                self.skipped += 1;
                log::info!("{name}: a device or FIFO, not shown");
                return Ok(true);
            }
        }
        self.files.insert(rel.clone(), m.kind);
        self.records.push(MemberRecord {
            rel,
            kind: m.kind,
            size: m.size,
            version,
        });
        Ok(true)
    }

    /// Directory modes and times, set last (children changed their mtime), deepest first.
    fn finish_dirs(&mut self) -> Result<(), ArchiveError> {
        self.dirs
            .sort_by_key(|(r, _, _)| std::cmp::Reverse(r.components().count()));
        for (rel, mode, mtime) in &self.dirs {
            let p = self.root.join(rel);
            let name = rel.display().to_string();
            let _ = set_path_mtime(&p, *mtime);
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode))
                .map_err(|e| ArchiveError::at(&name, format!("setting its mode: {e}")))?;
        }
        Ok(())
    }
}

fn unpack<R: Read>(
    stream: R,
    root: &Path,
    links: Links,
) -> Result<Vec<MemberRecord>, ArchiveError> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(root)
        .map_err(|e| ArchiveError::new(format!("spool directory {}: {e}", root.display())))?;
    let mut tar = TarReader::new(stream);
    let mut u = Unpacker {
        root,
        links,
        files: HashMap::new(),
        dirs: Vec::new(),
        records: Vec::new(),
        skipped: 0,
    };
    while u.member(&mut tar)? {}
    // Read to the end, so that a damaged compressed stream is found now.
    tar.copy_rest(&mut io::sink())?;
    u.finish_dirs()?;
    Ok(u.records)
}

/// Unpacks the tar stream of `file` (any compression) into `root`.
pub(super) fn unpack_file(
    file: File,
    root: &Path,
    shown_links: bool,
) -> Result<(Compression, Vec<MemberRecord>), ArchiveError> {
    let (c, stream) =
        super::decompressed(file).map_err(|e| ArchiveError::new(format!("reading it: {e}")))?;
    let links = if shown_links {
        Links::Shown
    } else {
        Links::Inside
    };
    Ok((c, unpack(stream, root, links)?))
}

fn is_checkpoint(tree: &Path) -> bool {
    fs::symlink_metadata(tree.join(CHECKPOINT_DIR).join("inventory.img")).is_ok_and(|m| m.is_file())
        && fs::symlink_metadata(tree.join(CHECKPOINT_DIR)).is_ok_and(|m| m.is_dir())
}

pub(super) fn open(archive: &Path, opts: OpenOptions) -> Result<Extracted, ArchiveError> {
    let file = File::open(archive).map_err(|e| ArchiveError::new(format!("opening it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| ArchiveError::new(format!("reading it: {e}")))?;
    if !meta.is_file() {
        return Err(ArchiveError::new("not a regular file"));
    }
    let archive_version = Version::of(&meta);
    let archive = fs::canonicalize(archive).unwrap_or_else(|_| archive.to_path_buf());
    let spool = Spool::new().map_err(|e| ArchiveError::new(format!("spool directory: {e}")))?;
    let tree = spool.path().join("tree");
    let (c, records) = unpack_file(file, &tree, false)?;
    let (format, records, oci) = if is_checkpoint(&tree) {
        (Format::Export(c), records, None)
    } else if let Some(found) = super::oci::find_checkpoint_layer(&tree, spool.path(), c, &records)?
    {
        // The layer's tree becomes the tree; the image's own files go.
        super::remove_tree(&tree);
        fs::rename(&found.tree, &tree)
            .map_err(|e| ArchiveError::new(format!("spool directory: {e}")))?;
        (
            Format::Oci(found.compression),
            found.records,
            Some(found.plan),
        )
    } else {
        let names: Vec<String> = records
            .iter()
            .take(5)
            .map(|r| r.rel.display().to_string())
            .collect();
        return Err(ArchiveError::new(format!(
            "not a container checkpoint: no {CHECKPOINT_DIR}/inventory.img in it (it holds {}{})",
            if names.is_empty() {
                "nothing".to_string()
            } else {
                names.join(", ")
            },
            if records.len() > 5 { ", …" } else { "" }
        )));
    };
    let mut x = Extracted {
        spool,
        archive,
        archive_version,
        format,
        members: records,
        rootfs_diff: false,
        oci,
    };
    if opts.rootfs_diff {
        x.rootfs_diff = unpack_rootfs_diff(&x.tree())?;
    }
    Ok(x)
}

/// `rootfs-diff.tar` shown as the directory `rootfs-diff/` (made read-only).
fn unpack_rootfs_diff(tree: &Path) -> Result<bool, ArchiveError> {
    let tar = tree.join("rootfs-diff.tar");
    let dir = tree.join(ROOTFS_DIFF_DIR);
    if !fs::symlink_metadata(&tar).is_ok_and(|m| m.is_file()) || fs::symlink_metadata(&dir).is_ok()
    {
        return Ok(false);
    }
    let file = File::open(&tar).map_err(|e| ArchiveError::at("rootfs-diff.tar", e))?;
    let unpacked = unpack_file(file, &dir, true);
    // Shown read-only (writes there are refused anyway).
    let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o555));
    unpacked.map_err(|e| ArchiveError {
        member: Some(format!(
            "rootfs-diff.tar/{}",
            e.member.as_deref().unwrap_or("")
        )),
        what: e.what,
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_are_judged() {
        assert_eq!(safe_rel(b"./a/b").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(safe_rel(b"./").unwrap(), None);
        assert!(safe_rel(b"/etc/passwd").is_err());
        assert!(safe_rel(b"a/../../x").is_err());
        assert!(link_stays_inside(Path::new("a/b"), b"../c"));
        assert!(!link_stays_inside(Path::new("a/b"), b"../../c"));
        assert!(!link_stays_inside(Path::new("a"), b"/etc"));
    }
}
