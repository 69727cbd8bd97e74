//! Dump validation (`crit-fs check DIR`): will this dump restore? Finds
//! missing, undecodable, truncated images and ids that do not agree across
//! images. One finding per problem; the formats are in docs/explorers.md.

pub mod chain;
pub mod host;
mod memory;
mod refs;
mod scan;
mod tree;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::error::{Error, Result};
use crate::explore::Dump;
use crate::explore::files::Files;
use crate::explore::view::{Entries, Head};
use crate::image::Image;

/// How bad a finding is: errors make a restore fail; warnings may.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
        }
    }
}

/// One problem: in which image, at which entry (if one), what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub image: String,
    pub entry: Option<usize>,
    pub what: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.level.as_str(), self.image)?;
        if let Some(e) = self.entry {
            write!(f, " entry {e}")?;
        }
        write!(f, ": {}", self.what)
    }
}

/// The result of checking a dump.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// How many image files were read.
    pub images: usize,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }

    /// No errors (warnings allowed).
    pub fn is_clean(&self) -> bool {
        self.errors() == 0
    }

    /// One line per finding, then the summary line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let _ = writeln!(out, "{f}");
        }
        let _ = writeln!(
            out,
            "check: {}, {} in {} images: {}",
            plural(self.errors(), "error"),
            plural(self.warnings(), "warning"),
            self.images,
            if self.is_clean() {
                "clean"
            } else {
                "will not restore"
            }
        );
        out
    }

    pub fn json(&self) -> String {
        let findings: Vec<_> = self
            .findings
            .iter()
            .map(|f| {
                json!({
                    "level": f.level.as_str(),
                    "image": f.image,
                    "entry": f.entry,
                    "what": f.what,
                })
            })
            .collect();
        let v = json!({
            "clean": self.is_clean(),
            "errors": self.errors(),
            "warnings": self.warnings(),
            "images": self.images,
            "findings": findings,
        });
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Validates the dump in `dir`, writing the report; Ok(true) when clean.
pub fn run(dir: &Path, json: bool, out: &mut dyn Write) -> Result<bool> {
    let (text, clean) = render(dir, json)?;
    out.write_all(text.as_bytes())?;
    Ok(clean)
}

/// [`run`] with the host checks too (`check --host`).
pub fn run_host(dir: &Path, json: bool, out: &mut dyn Write) -> Result<bool> {
    let (text, clean) = render_host(dir, json)?;
    out.write_all(text.as_bytes())?;
    Ok(clean)
}

/// The report of `check` over `dir`, and whether the dump is clean.
pub fn render(dir: &Path, json: bool) -> Result<(String, bool)> {
    Ok(rendered(check(dir)?, json))
}

/// [`render`] with the host checks too.
pub fn render_host(dir: &Path, json: bool) -> Result<(String, bool)> {
    Ok(rendered(check_host(dir)?, json))
}

fn rendered(report: Report, json: bool) -> (String, bool) {
    let text = if json { report.json() } else { report.text() };
    (text, report.is_clean())
}

/// Checks the dump in `dir`. Fails only when the directory cannot be read.
pub fn check(dir: &Path) -> Result<Report> {
    checked(dir, false)
}

/// Checks the dump in `dir`, then what its restore needs from this host:
/// the regular files it names, its listening TCP ports, its pids.
pub fn check_host(dir: &Path) -> Result<Report> {
    checked(dir, true)
}

fn checked(dir: &Path, host: bool) -> Result<Report> {
    let dump = Dump::new(dir);
    let names = scan::image_names(dir).map_err(|e| Error::from(e).in_file(dir.display()))?;
    let mut c = Checker {
        dump: &dump,
        files: None,
        report: Report::default(),
        bad: HashSet::new(),
        missing: HashSet::new(),
    };
    c.scan(&names);
    c.require("inventory.img", "every dump");
    // An undecodable files.img is reported by the scan.
    c.files = Files::new(&dump).ok();
    let tasks = c.tree();
    c.tasks(&tasks);
    c.remaps();
    c.sockets();
    c.pages(&names, &tasks);
    let pagemaps: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with("pagemap-"))
        .cloned()
        .collect();
    c.chain(&pagemaps);
    if host {
        c.host(&tasks);
    }
    Ok(c.report)
}

/// The state of one check run.
struct Checker<'d> {
    dump: &'d Dump,
    /// The file tables; None when files.img cannot be decoded.
    files: Option<Files<'d>>,
    report: Report,
    /// Images that exist but do not decode (already reported).
    bad: HashSet<String>,
    /// Images reported missing.
    missing: HashSet<String>,
}

impl Checker<'_> {
    fn error(&mut self, image: impl Into<String>, entry: Option<usize>, what: impl Into<String>) {
        self.push(Level::Error, image, entry, what);
    }

    fn warn(&mut self, image: impl Into<String>, entry: Option<usize>, what: impl Into<String>) {
        self.push(Level::Warn, image, entry, what);
    }

    fn push(
        &mut self,
        level: Level,
        image: impl Into<String>,
        entry: Option<usize>,
        what: impl Into<String>,
    ) {
        self.report.findings.push(Finding {
            level,
            image: image.into(),
            entry,
            what: what.into(),
        });
    }

    /// Image `name`, which `needed` requires: a missing image is reported
    /// (once); an undecodable one was reported by the scan.
    fn require(&mut self, name: &str, needed: &str) -> Option<Image> {
        let found = self.dump.try_image(name);
        self.required(name, needed, found)
    }

    /// [`Checker::require`] of an image's first entry, read from the wire
    /// where it can be ([`Dump::try_entries`]); None also when the image
    /// holds no entries (which the scan reported).
    fn require_head(&mut self, name: &str, needed: &str) -> Option<Head> {
        let found = self.dump.try_entries(name);
        self.required(name, needed, found).and_then(Head::new)
    }

    /// [`Checker::require`] as [`Entries`], integers read from the wire.
    fn require_entries(&mut self, name: &str, needed: &str) -> Option<Entries> {
        let found = self.dump.try_entries(name);
        self.required(name, needed, found)
    }

    /// What [`Checker::require`] found, with a missing or undecodable image
    /// reported once.
    fn required<T>(&mut self, name: &str, needed: &str, found: Result<Option<T>>) -> Option<T> {
        match found {
            Ok(Some(img)) => Some(img),
            Ok(None) => {
                if self.missing.insert(name.to_string()) {
                    self.error(name, None, format!("missing (needed by {needed})"));
                }
                None
            }
            Err(e) => {
                if self.bad.insert(name.to_string()) {
                    let mut e = e;
                    e.file = None;
                    self.error(name, None, format!("cannot be decoded: {e}"));
                }
                None
            }
        }
    }

    /// Image `name` if it exists and decodes; None otherwise, silently.
    fn optional(&mut self, name: &str) -> Option<Image> {
        self.dump.try_image(name).ok().flatten()
    }

    /// Like [`Checker::require`] for an image whose content is not needed:
    /// the scan has decoded every image, so it is enough that it exists.
    fn require_present(&mut self, name: &str, needed: &str) {
        if self.bad.contains(name) {
            return; // reported by the scan
        }
        if !std::fs::metadata(self.dump.path(name)).is_ok_and(|m| m.is_file()) {
            self.require(name, needed);
        }
    }
}
