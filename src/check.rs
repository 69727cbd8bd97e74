//! Dump validation (`crit-fs check DIR`). Placeholder until it lands.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Validates the dump in `dir`, writing the report; Ok(true) when clean.
pub fn run(dir: &Path, json: bool, out: &mut dyn Write) -> Result<bool> {
    let (text, clean) = render(dir, json)?;
    out.write_all(text.as_bytes())?;
    Ok(clean)
}

/// The report of `check` over `dir`, and whether the dump is clean.
pub fn render(_dir: &Path, _json: bool) -> Result<(String, bool)> {
    Err(Error::other("check is not implemented yet"))
}
