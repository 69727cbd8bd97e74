//! Every image of the dump decodes to the end, and its entries are whole.

use std::path::Path;

use super::Checker;
use crate::message::{Message, Value};
use crate::schema::Schema;

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
        if name.ends_with(".img") || name.starts_with("stats-") {
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
            let img = match self.dump.try_image(name) {
                Ok(Some(img)) => img,
                Ok(None) => continue, // vanished meanwhile
                Err(mut e) => {
                    self.bad.insert(name.clone());
                    e.file = None;
                    self.error(name, None, format!("cannot be decoded: {e}"));
                    continue;
                }
            };
            for (i, e) in img.entries.iter().enumerate() {
                if let Some(field) = missing_required(&e.msg, 0) {
                    self.error(
                        name,
                        Some(i),
                        format!("{} lacks required field {field}", e.msg.type_name()),
                    );
                }
            }
            if SINGLE_ENTRY.iter().any(|p| name.starts_with(p)) && img.entries.len() != 1 {
                self.error(
                    name,
                    None,
                    format!("holds {} entries, 1 expected", img.entries.len()),
                );
            }
        }
    }
}

/// The dotted path of the first required field a message lacks.
fn missing_required(m: &Message, depth: usize) -> Option<String> {
    let plan = Schema::get().message(m.msg_type);
    for (idx, field) in plan.fields.iter().enumerate() {
        let values = m.fields.iter().find(|f| f.field == idx).map(|f| &f.values);
        match values {
            None if field.required => return Some(field.name.clone()),
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
