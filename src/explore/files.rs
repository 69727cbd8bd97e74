//! Resolving file ids: through files.img as current CRIU writes it, or
//! through the per-kind images (reg-files.img, pipes.img, unixsk.img, …) of
//! dumps older than files.img.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::rc::Rc;

use super::dump::Dump;
use crate::error::Result;
use crate::image::Image;
use crate::json::text::qp_encode;
use crate::message::Message;

/// For each fd type: the field of file_entry that holds it, and the image
/// that held it before files.img existed (None for kinds that came later).
const KINDS: &[(&str, &str, Option<&str>)] = &[
    ("REG", "reg", Some("reg-files.img")),
    ("PIPE", "pipe", Some("pipes.img")),
    ("FIFO", "fifo", Some("fifo.img")),
    ("INETSK", "isk", Some("inetsk.img")),
    ("UNIXSK", "usk", Some("unixsk.img")),
    ("EVENTFD", "efd", Some("eventfd.img")),
    ("EVENTPOLL", "epfd", Some("eventpoll.img")),
    ("INOTIFY", "ify", Some("inotify.img")),
    ("SIGNALFD", "sgfd", Some("signalfd.img")),
    ("PACKETSK", "psk", Some("packetsk.img")),
    ("TTY", "tty", Some("tty.img")),
    ("FANOTIFY", "ffy", Some("fanotify.img")),
    ("NETLINKSK", "nlsk", Some("netlinksk.img")),
    ("NS", "nsf", Some("ns-files.img")),
    ("TUNF", "tunf", Some("tunfile.img")),
    ("EXT", "ext", Some("ext-files.img")),
    ("TIMERFD", "tfd", Some("timerfd.img")),
    ("MEMFD", "memfd", None),
    ("BPFMAP", "bpf", Some("bpfmap-file.img")),
    ("PIDFD", "pidfd", None),
];

/// The file_entry field and legacy image of an fd type.
pub fn kind(fd_type: &str) -> Option<(&'static str, Option<&'static str>)> {
    KINDS
        .iter()
        .find(|(t, _, _)| *t == fd_type)
        .map(|(_, f, i)| (*f, *i))
}

/// Index of files.img entries by (fd type, file id).
type ByTypeAndId = HashMap<(&'static str, u64), usize>;

/// Looks file ids up in a dump.
pub struct Files<'d> {
    dump: &'d Dump,
    /// files.img and its entries by (type, id), when the dump has one. Ids
    /// are unique per type only: a tun device is a REG and a TUNF file of
    /// the same id.
    table: Option<(Rc<Image>, ByTypeAndId)>,
    /// Legacy images and their entries by id, loaded on first use.
    legacy: HashMap<&'static str, (Rc<Image>, HashMap<u64, usize>)>,
}

impl<'d> Files<'d> {
    /// Opens the file tables of `dump` (files.img, if present).
    pub fn new(dump: &'d Dump) -> Result<Files<'d>> {
        let table = dump.try_shared("files.img")?.map(|img| {
            let mut ids = HashMap::new();
            for (i, e) in img.entries.iter().enumerate() {
                if let (Some(ty), Some(id)) = (e.msg.enum_name("type"), e.msg.u64("id")) {
                    ids.entry((ty, id)).or_insert(i);
                }
            }
            (img, ids)
        });
        Ok(Files {
            dump,
            table,
            legacy: HashMap::new(),
        })
    }

    /// Whether the dump uses files.img (rather than per-kind images).
    pub fn has_files_img(&self) -> bool {
        self.table.is_some()
    }

    /// The files.img entry of file `id` of type `fd_type`, if the dump has
    /// files.img and that file.
    pub fn file_entry(&self, fd_type: &str, id: u64) -> Option<&Message> {
        let (img, ids) = self.table.as_ref()?;
        let ty = KINDS.iter().find(|k| k.0 == fd_type)?.0;
        Some(&img.entries[*ids.get(&(ty, id))?].msg)
    }

    /// The types of the files.img entries with id `id`.
    pub fn types_of(&self, id: u64) -> Vec<&'static str> {
        let Some((_, ids)) = self.table.as_ref() else {
            return Vec::new();
        };
        let mut types: Vec<&'static str> = ids
            .keys()
            .filter(|(_, i)| *i == id)
            .map(|(t, _)| *t)
            .collect();
        types.sort_unstable();
        types
    }

    /// The per-kind entry (reg_file_entry, pipe_entry, …) of file `id` of
    /// type `fd_type`; None when the dump has no such file. Without
    /// files.img, a missing legacy image is an error naming `needed_by`.
    pub fn lookup(&mut self, fd_type: &str, id: u64, needed_by: &str) -> Result<Option<&Message>> {
        let Some((field, legacy)) = kind(fd_type) else {
            return Ok(None);
        };
        if self.table.is_some() {
            return Ok(self.file_entry(fd_type, id).and_then(|f| f.msg(field)));
        }
        let Some(legacy) = legacy else {
            return Ok(None);
        };
        let (img, ids) = match self.legacy.entry(legacy) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let img = self.dump.shared(legacy, needed_by)?;
                let ids = index_by_id(&img);
                v.insert((img, ids))
            }
        };
        Ok(ids.get(&id).map(|&i| &img.entries[i].msg))
    }

    /// Every file of type `fd_type` as (id, per-kind entry). Without
    /// files.img the legacy image is read; a missing one holds no files.
    pub fn all(&self, fd_type: &str) -> Result<Vec<(u64, Message)>> {
        let Some((field, legacy)) = kind(fd_type) else {
            return Ok(Vec::new());
        };
        if let Some((img, _)) = &self.table {
            return Ok(img
                .entries
                .iter()
                .filter(|e| e.msg.enum_name("type") == Some(fd_type))
                .filter_map(|e| Some((e.msg.u64("id")?, e.msg.msg(field)?.clone())))
                .collect());
        }
        let Some(legacy) = legacy else {
            return Ok(Vec::new());
        };
        Ok(match self.dump.try_shared(legacy)? {
            Some(img) => img
                .entries
                .iter()
                .map(|e| (e.msg.u64("id").unwrap_or(0), e.msg.clone()))
                .collect(),
            None => Vec::new(),
        })
    }

    /// How CRIT names a file in `x fds` and `x mems`: a path for regular
    /// files, `pipe[ID]`, `unix[INO (PEER) NAME]`, else `TYPE.ID`.
    pub fn describe(&mut self, fd_type: &str, id: u64, needed_by: &str) -> Result<String> {
        Ok(match fd_type {
            "REG" => match self.lookup(fd_type, id, needed_by)? {
                Some(rf) => match rf.bytes("name") {
                    Some(name) if !name.is_empty() => String::from_utf8_lossy(name).into_owned(),
                    _ => "unknown path".into(),
                },
                None => "unknown path".into(),
            },
            "PIPE" => match self.lookup(fd_type, id, needed_by)? {
                Some(p) if p.has("pipe_id") => format!("pipe[{}]", p.u64("pipe_id").unwrap_or(0)),
                _ => "pipe[?]".into(),
            },
            "UNIXSK" => match self.lookup(fd_type, id, needed_by)? {
                Some(ux) => {
                    let name = unix_name(ux);
                    let name = if name.is_empty() {
                        String::new()
                    } else {
                        format!(" {name}")
                    };
                    format!(
                        "unix[{} ({}){name}]",
                        ux.u64("ino").unwrap_or(0),
                        ux.u64("peer").unwrap_or(0)
                    )
                }
                None => "unix[?]".into(),
            },
            other => format!("{other}.{id}"),
        })
    }
}

/// A unix socket's name as CRIT shows it (printable bytes, others as `=XX`).
pub fn unix_name(ux: &Message) -> String {
    qp_encode(ux.bytes("name").unwrap_or_default())
}

fn index_by_id(img: &Image) -> HashMap<u64, usize> {
    let mut ids = HashMap::new();
    for (i, e) in img.entries.iter().enumerate() {
        if let Some(id) = e.msg.u64("id") {
            ids.entry(id).or_insert(i);
        }
    }
    ids
}
