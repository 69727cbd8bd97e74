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
pub mod view;

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
pub use dump::Dump;

/// The explorers `crit-fs x` knows, in the order the mount lists them.
pub const EXPLORERS: &[&str] = &["ps", "fds", "mems", "rss", "sk"];

/// Runs explorer `what` over the dump in `dir`, writing its text (or JSON)
/// as it goes: task by task, so that neither the dump nor the output is held
/// whole. On an error, what was written before it stays written (as CRIT
/// does), and the error says what failed.
pub fn run(dir: &Path, what: &str, json: bool, out: &mut dyn Write) -> Result<()> {
    run_with(dir, what, json, false, out)
}

/// [`run`], with `x ps --cmdline`: each process's command line read from its
/// memory (crit-fs's own; CRIT has no such flag).
pub fn run_with(
    dir: &Path,
    what: &str,
    json: bool,
    cmdline: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if cmdline && what != "ps" {
        return Err(Error::other(format!("--cmdline is for x ps, not x {what}")));
    }
    let dump = Dump::new(dir);
    let mut out = std::io::BufWriter::with_capacity(64 << 10, out);
    match what {
        "ps" => ps::render(&dump, json, cmdline, &mut out),
        "fds" => fds::render(&dump, json, &mut out),
        "mems" => mems::render(&dump, json, &mut out),
        "rss" => rss::render(&dump, json, &mut out),
        "sk" => sk::render(&dump, json, &mut out),
        _ => Err(Error::other(format!(
            "unknown explorer {what:?} (known: {})",
            EXPLORERS.join(", ")
        ))),
    }?;
    out.flush()?;
    Ok(())
}

/// The output of explorer `what` over the dump in `dir`.
pub fn render(dir: &Path, what: &str, json: bool) -> Result<String> {
    let mut buf = Vec::new();
    run(dir, what, json, &mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A JSON array written element by element, in the layout of
/// `serde_json::to_string_pretty` of the whole array, with a final newline.
#[derive(Default)]
struct JsonList {
    len: usize,
}

impl JsonList {
    fn push(&mut self, out: &mut dyn Write, v: &serde_json::Value) -> Result<()> {
        let text = serde_json::to_string_pretty(v).unwrap_or_default();
        out.write_all(if self.len == 0 { b"[\n" } else { b",\n" })?;
        // Pretty JSON escapes newlines inside strings: every line break is
        // layout, and each line moves in by one level.
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(b"  ")?;
            out.write_all(line.as_bytes())?;
        }
        self.len += 1;
        Ok(())
    }

    fn finish(self, out: &mut dyn Write) -> Result<()> {
        out.write_all(if self.len == 0 { b"[]\n" } else { b"\n]\n" })?;
        Ok(())
    }
}
