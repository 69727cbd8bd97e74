//! The daemon's side of mounting a container checkpoint archive: unpack it
//! into a private spool directory before the mount is ready, show that tree
//! (the images in `checkpoint/`, `container.txt` at the top, `rootfs-diff/`
//! read-only), and at unmount write a read-write mount's edits back into the
//! archive, then remove the spool.
//!
//! Two locks: the archive is flock'ed (exclusive for `-o rw`, shared
//! otherwise), so two read-write mounts cannot both rewrite it; and the mount
//! point's own directory is flock'ed by the daemon until it is done, which is
//! what `crit-fs umount` waits on so that it returns after the rewrite.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::archive::{self, CHECKPOINT_DIR, Extracted, ROOTFS_DIFF_DIR, RewriteOutcome};
use crate::error::{Error, Result};
use crate::fs::Config;
use crate::mount::Checked;

pub(crate) struct MountedArchive {
    extracted: Extracted,
    rw: bool,
    _archive_lock: File,
    _mountpoint_lock: File,
}

fn flock(f: &File, op: i32) -> bool {
    // SAFETY: a valid descriptor.
    unsafe { libc::flock(f.as_raw_fd(), op) == 0 }
}

/// Unpacks `checked.dump` (an archive) for the mount.
pub(crate) fn open(checked: &Checked) -> Result<MountedArchive> {
    let name = checked.dump.display().to_string();
    let rw = !checked.opts.read_only;
    let lock = File::open(&checked.dump).map_err(|e| Error::other(format!("{name}: {e}")))?;
    let op = if rw { libc::LOCK_EX } else { libc::LOCK_SH };
    if !flock(&lock, op | libc::LOCK_NB) {
        return Err(Error::other(format!(
            "{name}: already mounted read-write by another crit-fs (or mounted while this asks for -o rw)"
        )));
    }
    let mnt_lock = File::open(&checked.mountpoint)
        .map_err(|e| Error::other(format!("{}: {e}", checked.mountpoint.display())))?;
    flock(&mnt_lock, libc::LOCK_EX | libc::LOCK_NB);
    let extracted = archive::open(&checked.dump, archive::OpenOptions { rootfs_diff: true })
        .map_err(|e| Error::from(e).in_file(&name))?;
    if rw {
        // Refused now rather than after the edits (an OCI layer crit-fs cannot write).
        extracted
            .check_rewritable()
            .map_err(|e| Error::other(format!("{name}: cannot be mounted read-write: {e}")))?;
    }
    log::info!(
        "{name}: unpacked into {} ({:?})",
        extracted.spool_dir().display(),
        extracted.format()
    );
    Ok(MountedArchive {
        extracted,
        rw,
        _archive_lock: lock,
        _mountpoint_lock: mnt_lock,
    })
}

impl MountedArchive {
    /// Points the filesystem at the unpacked tree.
    pub(crate) fn configure(&self, cfg: &mut Config) {
        cfg.dump = self.extracted.tree();
        cfg.dump_root = PathBuf::from(CHECKPOINT_DIR);
        cfg.container_report = true;
        if self.extracted.has_rootfs_diff_dir() {
            cfg.read_only_under.push(PathBuf::from(ROOTFS_DIFF_DIR));
        }
    }

    /// After unmount: a read-write mount's edits are written back; the spool
    /// goes (it stays, named in the log, when the rewrite failed).
    pub(crate) fn finish(mut self) {
        let name = self.extracted.archive().display().to_string();
        if self.rw {
            match self.extracted.rewrite() {
                Ok(RewriteOutcome::Unchanged) => {
                    log::info!("{name}: no member changed; left as it was")
                }
                Ok(RewriteOutcome::Rewritten(m)) => log::info!(
                    "{name}: rewritten with new {}",
                    m.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Err(e) => {
                    self.extracted.keep_spool();
                    log::error!(
                        "{name}: edits not written back: {e}; the edited tree is kept in {}",
                        self.extracted.tree().display()
                    );
                }
            }
        }
    }
}

/// Waits until the daemon of the archive mount just unmounted from `mnt` is
/// done (its rewrite written): it holds a lock on the mount point's directory.
pub(crate) fn wait_for_daemon(mnt: &Path) -> Result<()> {
    let Ok(dir) = File::open(mnt) else {
        return Ok(());
    };
    let start = Instant::now();
    while !flock(&dir, libc::LOCK_EX | libc::LOCK_NB) {
        if start.elapsed() > Duration::from_secs(600) {
            return Err(Error::other(format!(
                "{}: unmounted, but its daemon is still writing the archive after 10 minutes",
                mnt.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
