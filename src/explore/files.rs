//! Resolving file ids: through files.img as current CRIU writes it, or
//! through the per-kind images (reg-files.img, pipes.img, unixsk.img, …) of
//! dumps older than files.img.

use std::collections::HashMap;
use std::rc::Rc;

use super::dump::Dump;
use crate::error::Result;
use crate::image::Image;
use crate::json::text::qp_encode;
use crate::message::Message;

/// For each fd type: the field of file_entry that holds it, and the image
/// that held it before files.img existed.
const KINDS: &[(&str, &str, &str)] = &[
    ("REG", "reg", "reg-files.img"),
    ("PIPE", "pipe", "pipes.img"),
    ("FIFO", "fifo", "fifo.img"),
    ("INETSK", "isk", "inetsk.img"),
    ("UNIXSK", "usk", "unixsk.img"),
    ("EVENTFD", "efd", "eventfd.img"),
    ("EVENTPOLL", "epfd", "eventpoll.img"),
    ("INOTIFY", "ify", "inotify.img"),
    ("SIGNALFD", "sgfd", "signalfd.img"),
    ("PACKETSK", "psk", "packetsk.img"),
    ("TTY", "tty", "tty.img"),
    ("FANOTIFY", "ffy", "fanotify.img"),
    ("NETLINKSK", "nlsk", "netlinksk.img"),
    ("NS", "nsf", "ns-files.img"),
    ("TUNF", "tunf", "tunfile.img"),
    ("EXT", "ext", "ext-files.img"),
    ("TIMERFD", "tfd", "timerfd.img"),
    ("MEMFD", "memfd", "memfd.img"),
    ("BPFMAP", "bpf", "bpfmap-file.img"),
    ("PIDFD", "pidfd", "pidfd.img"),
];

/// The file_entry field and legacy image of an fd type.
pub fn kind(fd_type: &str) -> Option<(&'static str, &'static str)> {
    KINDS
        .iter()
        .find(|(t, _, _)| *t == fd_type)
        .map(|(_, f, i)| (*f, *i))
}

/// Looks file ids up in a dump.
pub struct Files<'d> {
    dump: &'d Dump,
    /// files.img and its ids, when the dump has one.
    table: Option<(Rc<Image>, HashMap<u64, usize>)>,
    /// Legacy images indexed by id, loaded on first use.
    legacy: HashMap<&'static str, HashMap<u64, usize>>,
}

impl<'d> Files<'d> {
    /// Opens the file tables of `dump` (files.img, if present).
    pub fn new(dump: &'d Dump) -> Result<Files<'d>> {
        let table = dump.try_image("files.img")?.map(|img| {
            let ids = index_by_id(&img);
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

    /// The files.img entry of `id`, if the dump has files.img and the id.
    pub fn file_entry(&self, id: u64) -> Option<&Message> {
        let (img, ids) = self.table.as_ref()?;
        Some(&img.entries[*ids.get(&id)?].msg)
    }

    /// The per-kind entry (reg_file_entry, pipe_entry, …) of file `id` of
    /// type `fd_type`; None when the dump has no such file. Without
    /// files.img, a missing legacy image is an error naming `needed_by`.
    pub fn lookup(&mut self, fd_type: &str, id: u64, needed_by: &str) -> Result<Option<Message>> {
        let Some((field, legacy)) = kind(fd_type) else {
            return Ok(None);
        };
        if self.table.is_some() {
            return Ok(self.file_entry(id).and_then(|f| f.msg(field)).cloned());
        }
        let img = self.dump.image(legacy, needed_by)?;
        let ids = self
            .legacy
            .entry(legacy)
            .or_insert_with(|| index_by_id(&img));
        Ok(ids.get(&id).map(|&i| img.entries[i].msg.clone()))
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
                    let name = unix_name(&ux);
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
