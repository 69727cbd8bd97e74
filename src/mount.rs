//! `crit-fs mount` / `umount`. Placeholder until the filesystem lands.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Arguments of `crit-fs mount`.
#[derive(clap::Args, Debug)]
pub struct MountArgs {
    pub dump: PathBuf,
    pub mountpoint: PathBuf,
}

pub fn mount(_args: MountArgs) -> Result<()> {
    Err(Error::other("mount is not implemented yet"))
}

pub fn umount(_mnt: &Path) -> Result<()> {
    Err(Error::other("umount is not implemented yet"))
}
