//! Explorers (`crit x DIR WHAT`). Placeholder until the explorers land.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// The explorers `crit-fs x` knows, in the order the mount lists them.
pub const EXPLORERS: &[&str] = &["ps", "fds", "mems", "rss", "sk"];

/// Runs explorer `what` over the dump in `dir`, writing its text (or JSON).
pub fn run(dir: &Path, what: &str, json: bool, out: &mut dyn Write) -> Result<()> {
    let text = render(dir, what, json)?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// The output of explorer `what` over the dump in `dir`.
pub fn render(_dir: &Path, what: &str, _json: bool) -> Result<String> {
    Err(Error::other(format!(
        "explorer {what:?} is not implemented yet"
    )))
}
