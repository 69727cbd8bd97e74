//! A checkpoint directory opened for reading: images loaded on demand and
//! cached, with errors that name the image and what needed it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::image::{EntryMessage, Image, Layout, img_err, read_magic};
use crate::message::{Message, Value, read_varint};
use crate::schema::Schema;
use crate::wire::next_field;

use super::view::{Entries, Head, Ints};

/// `task_state` values of tasks that have only a core image (CRIU's
/// TASK_DEAD and TASK_ZOMBIE).
const STATELESS_STATES: [u64; 2] = [2, 6];

/// PE_PRESENT: the entry's pages are in the pages image.
pub const PE_PRESENT: u64 = 1 << 2;
/// PE_PARENT: the entry's pages are in the parent dump.
pub const PE_PARENT: u64 = 1 << 0;

/// Page sizes a dump may have been taken with, smallest first.
const PAGE_SIZES: [u64; 3] = [4096, 16384, 65536];

/// One task of the process tree (a pstree entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Index of the entry in pstree.img.
    pub index: usize,
    pub pid: u64,
    pub ppid: u64,
    pub pgid: u64,
    pub sid: u64,
    pub threads: Vec<u64>,
}

/// A dump directory. Images are decoded when asked for and handed over
/// (the caller drops them when done), except the few that every task looks
/// things up in — pstree.img, files.img, the legacy per-kind file images —
/// which [`Dump::try_shared`] decodes once and keeps for the whole run. So an
/// explorer or `check` over many tasks holds one task's images at a time.
pub struct Dump {
    dir: PathBuf,
    shared: RefCell<HashMap<String, Option<Rc<Image>>>>,
    page_size: Cell<Option<u64>>,
}

impl Dump {
    pub fn new(dir: &Path) -> Dump {
        Dump {
            dir: dir.to_path_buf(),
            shared: RefCell::new(HashMap::new()),
            page_size: Cell::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The bytes of file `name`, or None when it does not exist.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::from(e).in_file(name)),
        }
    }

    /// The image `name` decoded afresh (not kept), or None when the file
    /// does not exist.
    pub fn try_image(&self, name: &str) -> Result<Option<Image>> {
        match self.read(name)? {
            Some(bytes) => Ok(Some(
                Image::decode(&bytes).map_err(|e| Error::from(e).in_file(name))?,
            )),
            None => Ok(None),
        }
    }

    /// The image `name`, decoded once and kept for the run (for images that
    /// many tasks look things up in), or None when the file does not exist.
    pub fn try_shared(&self, name: &str) -> Result<Option<Rc<Image>>> {
        if let Some(cached) = self.shared.borrow().get(name) {
            return Ok(cached.clone());
        }
        let loaded = self.try_image(name)?.map(Rc::new);
        self.shared
            .borrow_mut()
            .insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// The image `name`; a missing or undecodable image is an error that says
    /// what needed it.
    pub fn image(&self, name: &str, needed_by: &str) -> Result<Image> {
        needed(self.try_image(name), name, needed_by)
    }

    /// [`Dump::image`] through the shared images ([`Dump::try_shared`]).
    pub fn shared(&self, name: &str, needed_by: &str) -> Result<Rc<Image>> {
        needed(self.try_shared(name), name, needed_by)
    }

    /// The first entry of image `name` (core, mm, ids, fs… hold one).
    pub fn head(&self, name: &str, needed_by: &str) -> Result<Message> {
        let img = self.image(name, needed_by)?;
        match img.entries.into_iter().next() {
            Some(e) => Ok(e.msg),
            None => Err(no_entries(name, needed_by)),
        }
    }

    /// [`Dump::head`] as a [`Head`] of [`Dump::entries`]: its integers read
    /// from the wire where the entry is regular. Errors as [`Dump::head`].
    pub fn head_view(&self, name: &str, needed_by: &str) -> Result<Head> {
        Head::new(self.entries(name, needed_by)?).ok_or_else(|| no_entries(name, needed_by))
    }

    /// The entries of image `name` as [`Entries`]: integers read from the
    /// wire where an entry is regular. A missing or undecodable image is an
    /// error naming `needed_by`, as [`Dump::image`].
    pub fn entries(&self, name: &str, needed_by: &str) -> Result<Entries> {
        needed(self.try_entries(name), name, needed_by)
    }

    /// [`Dump::entries`] without a user to name: None when the file does not
    /// exist; an image that does not decode is [`Dump::try_image`]'s error.
    pub fn try_entries(&self, name: &str) -> Result<Option<Entries>> {
        match self.read(name)? {
            Some(bytes) => Ok(Some(
                Entries::new(bytes).map_err(|e| Error::from(e).in_file(name))?,
            )),
            None => Ok(None),
        }
    }

    /// [`Dump::head`] with only the fields on the dotted paths `only`
    /// decoded ([`Message::decode_only`]): damage in the rest of the entry is
    /// not looked for. A core's registers and signal actions are most of its
    /// decoding time, and `x ps` needs two fields of it.
    pub fn head_only(&self, name: &str, needed_by: &str, only: &[&str]) -> Result<Message> {
        let bytes = needed(self.read(name), name, needed_by)?;
        let in_file = |e: crate::image::ImageError| {
            Error::other(format!("{e} (needed by {needed_by})")).in_file(name)
        };
        let (magic, start) = read_magic(&bytes).map_err(in_file)?;
        let mut first = None;
        // Only the framing is read here; the callback takes no message apart.
        Image::render_entries(&bytes, magic, start, |e| {
            first.get_or_insert(e.msg);
            Ok(())
        })
        .map_err(in_file)?;
        let (msg_type, body) = match first {
            Some(EntryMessage::Wire { msg_type, body })
            | Some(EntryMessage::Unchecked { msg_type, body }) => (msg_type, body),
            Some(EntryMessage::Decoded(m)) => return Ok(m),
            None => return Err(no_entries(name, needed_by)),
        };
        Message::decode_only(msg_type, body, only).map_err(|e| {
            let at = body.as_ptr() as usize - bytes.as_ptr() as usize + e.offset;
            let type_name = Schema::get().message(msg_type).name;
            in_file(img_err(Some(0), at, format!("{type_name} message: {e}")))
        })
    }

    /// The fdinfo image of task `pid`: fdinfo-FILES_ID.img, named by its ids image.
    pub fn fdinfo(&self, pid: u64, needed_by: &str) -> Result<Image> {
        let name = format!("ids-{pid}.img");
        let files_id = self
            .head(&name, needed_by)?
            .u64("files_id")
            .ok_or_else(|| {
                Error::other(format!("entry 0 has no files_id (needed by {needed_by})"))
                    .in_file(&name)
            })?;
        self.image(&format!("fdinfo-{files_id}.img"), needed_by)
    }

    /// Size in bytes of a file of the dump, None if absent.
    pub fn file_len(&self, name: &str) -> Option<u64> {
        std::fs::metadata(self.path(name)).ok().map(|m| m.len())
    }

    /// The process tree, in pstree.img order.
    pub fn tasks(&self, needed_by: &str) -> Result<Vec<Task>> {
        let img = self.shared("pstree.img", needed_by)?;
        Ok(img
            .entries
            .iter()
            .enumerate()
            .map(|(index, e)| task_of(index, &e.msg))
            .collect())
    }

    /// Whether the task has only a core image (a zombie or dead task). A task
    /// whose core is missing or unreadable counts as having state, so that
    /// the images an explorer needs are reported missing.
    pub fn is_stateless(&self, pid: u64) -> bool {
        let name = format!("core-{pid}.img");
        let Ok(Some(bytes)) = self.read(&name) else {
            return false;
        };
        // Most tasks are alive: their state is read from `tc.task_state` on
        // the wire, without decoding the core. Only a task that looks
        // stateless has its whole core decoded, so that the answer is
        // the same as from a full decode (an undecodable core has state).
        if let Some(state) = quick_task_state(&bytes)
            && !STATELESS_STATES.contains(&state)
        {
            return false;
        }
        Image::decode(&bytes).is_ok_and(|img| {
            img.entries
                .first()
                .and_then(|e| e.msg.msg("tc"))
                .and_then(|tc| tc.u64("task_state"))
                .is_some_and(|s| STATELESS_STATES.contains(&s))
        })
    }

    /// The tasks that have state (explorers other than `ps` skip the rest).
    pub fn live_tasks(&self, needed_by: &str) -> Result<Vec<Task>> {
        Ok(self
            .tasks(needed_by)?
            .into_iter()
            .filter(|t| !self.is_stateless(t.pid))
            .collect())
    }

    /// The page size of the dump. Images do not record it, so it is read from
    /// what they imply: the page size at which every pages image holds exactly
    /// the pages its pagemap marks present. When no size or several fit (no
    /// pages at all, or a damaged dump), the architecture's usual page size
    /// from the root task's core is used (64 KiB on ppc64, else 4 KiB).
    pub fn page_size(&self) -> u64 {
        if let Some(ps) = self.page_size.get() {
            return ps;
        }
        let ps = self.infer_page_size();
        self.page_size.set(Some(ps));
        ps
    }

    fn infer_page_size(&self) -> u64 {
        let tasks = self.tasks("the page size").unwrap_or_default();
        let mut needs: Vec<(u64, u64)> = Vec::new(); // (pages bytes, present pages)
        for t in &tasks {
            let Ok(Some(pm)) = self.try_entries(&format!("pagemap-{}.img", t.pid)) else {
                continue;
            };
            let Some(id) = pm.first().and_then(|head| head.u64("pages_id")) else {
                continue;
            };
            let pages = present_pages(&pm);
            if pages == 0 {
                continue;
            }
            if let Some(len) = self.file_len(&format!("pages-{id}.img")) {
                needs.push((len, pages));
            }
        }
        let fits: Vec<u64> = PAGE_SIZES
            .iter()
            .copied()
            .filter(|ps| {
                !needs.is_empty()
                    && needs
                        .iter()
                        .all(|&(len, pages)| pages.checked_mul(*ps) == Some(len))
            })
            .collect();
        if let [ps] = fits[..] {
            return ps;
        }
        let arch = tasks
            .first()
            .and_then(|t| {
                self.try_image(&format!("core-{}.img", t.pid))
                    .ok()
                    .flatten()
            })
            .and_then(|img| img.entries.first().and_then(|e| e.msg.enum_name("mtype")));
        match arch {
            Some("PPC64") => 65536,
            _ => 4096,
        }
    }
}

/// The error for an image `needed_by` requires that holds no entry.
fn no_entries(name: &str, needed_by: &str) -> Error {
    Error::other(format!("has no entries (needed by {needed_by})")).in_file(name)
}

/// An image that `needed_by` requires: missing or undecodable is an error
/// naming it and `needed_by`.
fn needed<T>(found: Result<Option<T>>, name: &str, needed_by: &str) -> Result<T> {
    match found {
        Ok(Some(img)) => Ok(img),
        Ok(None) => Err(Error::other(format!("missing (needed by {needed_by})")).in_file(name)),
        Err(mut e) => {
            e.file = None;
            Err(Error::other(format!("{e} (needed by {needed_by})")).in_file(name))
        }
    }
}

/// `tc.task_state` of the first entry of a core image, read from the wire
/// without decoding the rest of the entry (registers, signal actions…); None
/// when there is none or the bytes are not what a well-formed core holds.
fn quick_task_state(bytes: &[u8]) -> Option<u64> {
    let (magic, start) = read_magic(bytes).ok()?;
    let Layout::Entries("core_entry", _) = magic.layout else {
        return None;
    };
    let size = u32::from_le_bytes(bytes.get(start..start + 4)?.try_into().ok()?) as usize;
    let body = bytes.get(start + 4..(start + 4).checked_add(size)?)?;
    let schema = Schema::get();
    let core = schema.message(schema.message_id("core_entry")?);
    let tc = &core.fields[core.field_by_name("tc")?];
    let crate::schema::Kind::Message(tc_type) = tc.kind else {
        return None;
    };
    let tc_plan = schema.message(tc_type);
    let state_no = tc_plan.fields[tc_plan.field_by_name("task_state")?].number;
    // A repeated `tc` merges into one, and a repeated singular field keeps
    // its last value: the last task_state on the wire counts.
    let mut state = None;
    let mut pos = 0;
    while pos < body.len() {
        let f = next_field(body, &mut pos)?;
        if f.number == tc.number && f.wire == 2 {
            let mut p = 0;
            while p < f.data.len() {
                let g = next_field(f.data, &mut p)?;
                if g.number == state_no && g.wire == 0 {
                    state = read_varint(g.data, &mut 0);
                }
            }
        }
    }
    state
}

/// A task from its pstree entry; `pid` may also be recorded as `ns_pid[0]`.
fn task_of(index: usize, m: &Message) -> Task {
    let id = |name: &str| {
        m.u64(name)
            .or_else(|| match m.get(&format!("ns_{name}")).first() {
                Some(Value::U64(v)) => Some(*v),
                _ => None,
            })
            .unwrap_or(0)
    };
    Task {
        index,
        pid: id("pid"),
        ppid: m.u64("ppid").unwrap_or(0),
        pgid: id("pgid"),
        sid: id("sid"),
        threads: m
            .get("threads")
            .iter()
            .filter_map(|v| match v {
                Value::U64(t) => Some(*t),
                _ => None,
            })
            .collect(),
    }
}

/// Pages of a pagemap entry: `nr_pages`, or `compat_nr_pages` in dumps
/// older than CRIU 4.2.
pub fn nr_pages(m: &impl Ints) -> u64 {
    m.u64("nr_pages")
        .or_else(|| m.u64("compat_nr_pages"))
        .unwrap_or(0)
}

/// Whether a pagemap entry's pages are in this dump's pages image. Entries
/// without flags (older dumps) are present unless `in_parent` (a bool,
/// read as 1 when true).
pub fn is_present(m: &impl Ints) -> bool {
    match m.u64("flags") {
        Some(f) => f & PE_PRESENT != 0,
        None => m.u64("in_parent") != Some(1),
    }
}

/// How many pages the entries of pagemap `pm` (after its head) hold in the
/// pages image.
pub fn present_pages(pm: &Entries) -> u64 {
    pm.iter()
        .skip(1)
        .filter(is_present)
        .map(|e| nr_pages(&e))
        .fold(0u64, u64::saturating_add)
}
