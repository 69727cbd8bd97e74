//! Every image of the dump decodes to the end, and its entries are whole.

use std::path::Path;

use super::Checker;
use crate::explore::view::Entry;
use crate::message::{Message, Value};
use crate::schema::Schema;
use crate::wire::may_lack_required;

pub use crate::image::magic::is_raw_name as is_raw;

/// Images holding exactly one entry, by name prefix.
const SINGLE_ENTRY: &[&str] = &["core-", "ids-", "mm-", "fs-", "inventory.img"];

/// The image files of a dump directory, sorted: `*.img` and `stats-*`.
pub fn image_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        // CRIU's stats images have no suffix (`stats-dump`); a mount's
        // views of them (`stats-dump.json`) are not images.
        if name.ends_with(".img") || (name.starts_with("stats-") && !name.contains('.')) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

impl Checker<'_> {
    /// Decodes every protobuf image; a truncated image or trailing bytes
    /// fail to decode, and an entry missing required fields is reported.
    pub(super) fn scan(&mut self, names: &[String]) {
        self.report.images = names.len();
        for name in names.iter().filter(|n| !is_raw(n)) {
            // Regular entries stay wire bytes: the walk checks that they
            // decode, and their required fields are looked for on the wire.
            let entries = match self.dump.try_entries(name) {
                Ok(Some(entries)) => entries,
                Ok(None) => continue, // vanished meanwhile
                Err(mut e) => {
                    self.bad.insert(name.clone());
                    e.file = None;
                    self.error(name, None, format!("cannot be decoded: {e}"));
                    continue;
                }
            };
            for (i, e) in entries.iter().enumerate() {
                if let Some((type_name, field)) = lacks_required(e) {
                    self.error(
                        name,
                        Some(i),
                        format!("{type_name} lacks required field {field}"),
                    );
                }
            }
            let count = entries.len();
            if SINGLE_ENTRY.iter().any(|p| name.starts_with(p)) {
                // Restore reads one entry of these (pb_read_one): none fails,
                // more are never read.
                if count == 0 {
                    self.error(name, None, "holds no entry, 1 expected");
                } else if count > 1 {
                    self.warn(
                        name,
                        None,
                        format!("holds {count} entries, 1 expected (restore reads the first)"),
                    );
                }
            }
        }
    }
}

/// The message type and dotted path of the first required field an
/// entry's message lacks.
fn lacks_required(e: Entry) -> Option<(&'static str, String)> {
    if let Some((msg_type, body)) = e.wire()
        && !may_lack_required(Schema::get(), msg_type, body, 0)
    {
        return None;
    }
    let m = e.message();
    missing_required(&m, 0).map(|field| (m.type_name(), field))
}

/// The dotted path of the first required field a message lacks.
fn missing_required(m: &Message, depth: usize) -> Option<String> {
    let plan = Schema::get().message(m.msg_type);
    for (idx, field) in plan.fields.iter().enumerate() {
        let values = m.fields.iter().find(|f| f.field == idx).map(|f| &f.values);
        match values {
            None if field.required => return Some(field.name.to_string()),
            Some(values) if depth < 64 => {
                for v in values {
                    if let Value::Msg(sub) = v
                        && let Some(path) = missing_required(sub, depth + 1)
                    {
                        return Some(format!("{}.{path}", field.name));
                    }
                }
            }
            _ => {}
        }
    }
    None
}
