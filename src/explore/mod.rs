//! Explorers (`crit-fs x DIR WHAT`): what is in a dump, per process.
//! `ps`, `fds`, `mems` and `rss` print exactly what CRIT prints; `sk` is
//! crit-fs's own (docs/explorers.md). Every explorer also has a JSON form.

pub mod dump;
mod fds;
pub mod files;
mod mems;
mod ps;
mod rss;
mod sk;

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
pub use dump::Dump;

/// The explorers `crit-fs x` knows, in the order the mount lists them.
pub const EXPLORERS: &[&str] = &["ps", "fds", "mems", "rss", "sk"];

/// Runs explorer `what` over the dump in `dir`, writing its text (or JSON).
pub fn run(dir: &Path, what: &str, json: bool, out: &mut dyn Write) -> Result<()> {
    let text = render(dir, what, json)?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// The output of explorer `what` over the dump in `dir`.
pub fn render(dir: &Path, what: &str, json: bool) -> Result<String> {
    let dump = Dump::new(dir);
    match what {
        "ps" => ps::render(&dump, json),
        "fds" => fds::render(&dump, json),
        "mems" => mems::render(&dump, json),
        "rss" => rss::render(&dump, json),
        "sk" => sk::render(&dump, json),
        _ => Err(Error::other(format!(
            "unknown explorer {what:?} (known: {})",
            EXPLORERS.join(", ")
        ))),
    }
}

/// Pretty JSON with a final newline.
fn json_text(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
