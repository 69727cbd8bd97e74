//! Dump validation (`crit-fs check DIR`). Placeholder until it lands.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Validates the dump in `dir`; Ok(true) when clean.
pub fn run(_dir: &Path, _json: bool, _out: &mut dyn Write) -> Result<bool> {
    Err(Error::other("check is not implemented yet"))
}
