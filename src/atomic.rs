//! Replacing a file so that readers and crashes see the old or the new bytes,
//! never a mix: write a temporary file beside it, fsync, rename, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Prefix of temporary files; CRIU looks only at `*.img` names it knows, and
/// these never end in `.img`.
pub const TEMP_PREFIX: &str = ".crit-fs-tmp.";

/// The temporary path used while replacing `target`.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = format!(
        "{TEMP_PREFIX}{}.{}.{name}.part",
        std::process::id(),
        next_id()
    );
    target.with_file_name(unique)
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Atomically replaces (or creates) `target` with `data`, keeping an existing
/// file's permission bits. A symlink is followed to the file it names; a
/// target that is not a regular file (`/dev/null`, a FIFO, a terminal) is
/// written in place, since renaming over it would replace the device itself.
pub fn replace_file(target: &Path, data: &[u8]) -> io::Result<()> {
    let resolved = fs::canonicalize(target).ok();
    let target = resolved.as_deref().unwrap_or(target);
    if let Ok(meta) = fs::metadata(target)
        && !meta.is_file()
    {
        let mut f = OpenOptions::new().write(true).truncate(true).open(target)?;
        return f.write_all(data);
    }
    let mode = fs::metadata(target)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let tmp = temp_path(target);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        fs::rename(&tmp, target)?;
        if let Some(dir) = target.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
