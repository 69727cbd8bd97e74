//! Explorers (`crit x DIR WHAT`). Placeholder until the explorers land.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Runs explorer `what` over the dump in `dir`.
pub fn run(_dir: &Path, what: &str, _json: bool, _out: &mut dyn Write) -> Result<()> {
    Err(Error::other(format!(
        "explorer {what:?} is not implemented yet"
    )))
}
