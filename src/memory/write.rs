//! Writes into a process's memory, as CRIU will restore it.
//!
//! - Bytes in a page this dump's pages image holds are written there in
//!   place (the image keeps its size; [`AddressSpace::sync`] makes them
//!   durable).
//! - Bytes in a private, writable page the dump did not hold add the page: a
//!   present pagemap entry in address order (merged with a present neighbour
//!   it touches) and a pages image with the page in its place. The rest of
//!   the new page is what a read returned before. The new pages image is
//!   written under a new pages id (temp file, fsync, rename), then the
//!   pagemap naming it replaces the old one the same way, and only then is
//!   the old pages image removed: a crash leaves the old dump or the new one
//!   (at worst with an unnamed pages image beside it), never a mix.
//! - Refused, changing nothing: outside every mapping or a damaged range
//!   (EIO); shared mappings and mappings without PROT_WRITE (EPERM); pages
//!   kept only in a parent dump (EROFS: that dump is other checkpoints'
//!   base); a space opened read-only (EROFS).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;

use super::pagemap::{PE_LAZY, PE_PARENT, PE_PRESENT, Span, entry_flags};
use super::{AddressSpace, Backing, MemError, PROT_WRITE};
use crate::explore::dump::nr_pages;
use crate::image::Image;
use crate::message::{Message, Value};
use crate::schema::Schema;

/// Where one page touched by a write goes.
enum Target {
    /// In place at this offset of this dump's pages image.
    InPlace(u64),
    /// A page to add.
    New,
}

impl AddressSpace {
    /// Writes `data` at `addr` (see the module's rules). All of `data` is
    /// written or nothing is; returns `data.len()`.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<usize, MemError> {
        if !self.writable {
            return Err(MemError::new(libc::EROFS, "memory is read-only here"));
        }
        if data.is_empty() {
            return Ok(0);
        }
        let end = addr
            .checked_add(data.len() as u64)
            .ok_or_else(|| MemError::eio("write past the end of the address space"))?;
        let plan = self.plan(addr, end)?;
        if plan.values().all(|t| matches!(t, Target::InPlace(_))) {
            self.write_in_place(addr, data, &plan)?;
        } else {
            self.add_pages(addr, data, &plan)?;
        }
        Ok(data.len())
    }

    /// Makes in-place writes durable (fsync of the pages image).
    pub fn sync(&self) -> Result<(), MemError> {
        if let Some(f) = &self.pages_writer {
            f.sync_data()
                .map_err(|e| MemError::eio(format!("fsync of the pages image: {e}")))?;
        }
        Ok(())
    }

    /// For each page of `[addr, end)`: where its bytes go; or the refusal.
    fn plan(&self, addr: u64, end: u64) -> Result<BTreeMap<u64, Target>, MemError> {
        let ps = self.page_size;
        let mut plan = BTreeMap::new();
        let mut page = addr - addr % ps;
        while page < end {
            let at = page.max(addr);
            let Some(vi) = self.vma_index(at) else {
                return Err(MemError::eio(format!(
                    "address {at:#x} is outside every mapping of {}",
                    self.pid
                )));
            };
            let vma = &self.vmas[vi];
            let range = format!("{:x}-{:x}", vma.start, vma.end);
            if !matches!(self.backing[vi], Backing::Private(_)) {
                return Err(MemError::new(
                    libc::EPERM,
                    format!(
                        "{at:#x} is in the shared mapping {range}: its bytes are not the process's alone"
                    ),
                ));
            }
            if vma.prot & PROT_WRITE == 0 {
                return Err(MemError::new(
                    libc::EPERM,
                    format!(
                        "{at:#x} is in the mapping {range} ({}), which is not writable",
                        vma.perms()
                    ),
                ));
            }
            let target = match self.task.lookup(page) {
                (Span::Data { layer: 0, offset }, _) => Target::InPlace(offset),
                (Span::Data { .. }, _) => {
                    return Err(MemError::new(
                        libc::EROFS,
                        format!("the page at {page:#x} is kept only in a parent dump"),
                    ));
                }
                (Span::Bad { problem }, _) => return Err(self.bad(problem)),
                (Span::Hole, _) => Target::New,
            };
            plan.insert(page, target);
            page += ps;
        }
        Ok(plan)
    }

    fn write_in_place(
        &mut self,
        addr: u64,
        data: &[u8],
        plan: &BTreeMap<u64, Target>,
    ) -> Result<(), MemError> {
        if self.pages_writer.is_none() {
            let layer = &self.task.layers[0];
            let path = layer.dir.join(&layer.pages_name);
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| MemError::eio(format!("{}: {e}", layer.pages_name)))?;
            self.pages_writer = Some(f);
        }
        let f = self.pages_writer.as_ref().expect("opened above");
        let ps = self.page_size;
        let end = addr + data.len() as u64;
        for (&page, target) in plan {
            let Target::InPlace(offset) = *target else {
                continue;
            };
            let from = page.max(addr);
            let to = (page + ps).min(end);
            let bytes = &data[(from - addr) as usize..(to - addr) as usize];
            f.write_all_at(bytes, offset + (from - page))
                .map_err(|e| MemError::eio(format!("{}: {e}", self.task.layers[0].pages_name)))?;
        }
        Ok(())
    }

    /// Rewrites the pagemap and pages image with the new pages of `plan`
    /// and all of `data` in place.
    fn add_pages(
        &mut self,
        addr: u64,
        data: &[u8],
        plan: &BTreeMap<u64, Target>,
    ) -> Result<(), MemError> {
        let ps = self.page_size;
        let end = addr + data.len() as u64;
        let layer = &self.task.layers[0];
        let dir = layer.dir.clone();
        let pm_name = layer.pagemap.clone();
        let old_pages = layer.pages_name.clone();
        let io = |what: &str, e: &dyn std::fmt::Display| MemError::eio(format!("{what}: {e}"));
        let pm_bytes = std::fs::read(dir.join(&pm_name)).map_err(|e| io(&pm_name, &e))?;
        let mut img = Image::decode(&pm_bytes).map_err(|e| io(&pm_name, &e))?;
        if img.entries.is_empty() {
            return Err(MemError::eio(format!("{pm_name}: no head entry")));
        }

        // The bytes of every page the write touches, as they will be.
        let mut pages: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for &page in plan.keys() {
            let mut buf = vec![0u8; ps as usize];
            let n = self.read(page, &mut buf)?;
            if n != buf.len() {
                return Err(MemError::eio(format!(
                    "the page at {page:#x} cannot be read whole"
                )));
            }
            let from = page.max(addr);
            let to = (page + ps).min(end);
            buf[(from - page) as usize..(to - page) as usize]
                .copy_from_slice(&data[(from - addr) as usize..(to - addr) as usize]);
            pages.insert(page, buf);
        }

        // Entries with their old pages-image offsets (present ones), then
        // the new pages, sorted by address and merged where they touch.
        let mut items: Vec<Item> = Vec::with_capacity(img.entries.len() + pages.len());
        let mut offset = 0u64;
        for e in img.entries.drain(1..) {
            let flags = entry_flags(&e.msg);
            let n = nr_pages(&e.msg);
            let start = e.msg.u64("vaddr").unwrap_or(0);
            let len = n
                .checked_mul(ps)
                .ok_or_else(|| MemError::eio(format!("{pm_name}: an entry's size overflows")))?;
            let source = if flags & PE_PRESENT != 0 {
                let s = vec![Piece::Old(offset, len)];
                offset += len;
                s
            } else {
                Vec::new()
            };
            items.push(Item {
                start,
                pages: n,
                flags,
                msg: Some(e.msg),
                source,
            });
        }
        for (&page, target) in plan {
            if matches!(target, Target::New) {
                items.push(Item {
                    start: page,
                    pages: 1,
                    flags: PE_PRESENT,
                    msg: None,
                    source: vec![Piece::New(page)],
                });
            }
        }
        items.sort_by_key(|i| i.start);
        let mut merged: Vec<Item> = Vec::with_capacity(items.len());
        for it in items {
            if let Some(last) = merged.last_mut()
                && last.start + last.pages * ps == it.start
                && mergeable(last, &it)
            {
                last.pages += it.pages;
                last.source.extend(it.source);
                if last.msg.is_none() {
                    last.msg = it.msg;
                    last.flags = it.flags;
                }
                continue;
            }
            merged.push(it);
        }

        // The new pages image, under a new id.
        let new_id = next_pages_id(&dir);
        let new_pages = format!("pages-{new_id}.img");
        let old_file = File::open(dir.join(&old_pages)).ok();
        crate::atomic::replace_file_with(&dir.join(&new_pages), |out: &mut File| {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
            let mut buf = vec![0u8; 1 << 20];
            for it in &merged {
                for piece in &it.source {
                    match *piece {
                        Piece::New(page) => w.write_all(&pages[&page])?,
                        Piece::Old(mut at, len) => {
                            let f = old_file.as_ref().ok_or_else(|| {
                                std::io::Error::other(format!("{old_pages} cannot be read"))
                            })?;
                            let stop = at + len;
                            while at < stop {
                                let k = ((stop - at) as usize).min(buf.len());
                                f.read_exact_at(&mut buf[..k], at)?;
                                // Pages this write changes in place.
                                let chunk = &mut buf[..k];
                                patch(chunk, at, plan, &pages, ps);
                                w.write_all(chunk)?;
                                at += k as u64;
                            }
                        }
                    }
                }
            }
            w.flush()
        })
        .map_err(|e: std::io::Error| io(&new_pages, &e))?;

        // The pagemap naming it.
        let schema = Schema::get();
        let head = &mut img.entries[0].msg;
        set_u64(head, "pages_id", new_id);
        // New entries follow the style of the existing ones: CRIU 4.2 writes
        // nr_pages (and compat_nr_pages 0), older versions nr_pages as field 2.
        let wide = merged
            .iter()
            .filter_map(|i| i.msg.as_ref())
            .next()
            .is_none_or(|m| m.has("nr_pages"));
        let entry_type = schema.message_id("pagemap_entry").expect("in the schema");
        for it in merged {
            let msg = match it.msg {
                Some(mut m) => {
                    set_u64(&mut m, "vaddr", it.start);
                    if m.has("nr_pages") || !m.has("compat_nr_pages") {
                        set_u64(&mut m, "nr_pages", it.pages);
                    } else {
                        set_u64(&mut m, "compat_nr_pages", it.pages);
                    }
                    m
                }
                None => {
                    let mut m = Message::new(entry_type);
                    set_u64(&mut m, "vaddr", it.start);
                    if wide {
                        set_u64(&mut m, "compat_nr_pages", 0);
                        set_u64(&mut m, "nr_pages", it.pages);
                    } else {
                        set_u64(&mut m, "compat_nr_pages", it.pages);
                    }
                    set_u64(&mut m, "flags", it.flags);
                    m
                }
            };
            img.entries.push(crate::image::Entry {
                msg,
                payload: crate::image::Payload::None,
            });
        }
        let encoded = img.encode().map_err(|e| io(&pm_name, &e))?;
        if let Err(e) = crate::atomic::replace_file(&dir.join(&pm_name), &encoded) {
            let _ = std::fs::remove_file(dir.join(&new_pages));
            return Err(io(&pm_name, &e));
        }
        if old_pages != new_pages && !old_pages.is_empty() {
            let _ = std::fs::remove_file(dir.join(&old_pages));
        }

        let writable = self.writable;
        let reopened = AddressSpace::open(&dir, self.pid)
            .map_err(|e| MemError::eio(format!("reopening after the write: {e}")))?;
        *self = reopened;
        self.writable = writable;
        Ok(())
    }
}

/// One pagemap entry being rebuilt.
struct Item {
    start: u64,
    pages: u64,
    flags: u64,
    /// The entry's message (None for a new page).
    msg: Option<Message>,
    /// Where its pages come from, in order (none unless present).
    source: Vec<Piece>,
}

enum Piece {
    /// Bytes `[offset, offset + len)` of the old pages image.
    Old(u64, u64),
    /// A new page, by address.
    New(u64),
}

/// Whether two touching entries can be one: a new page joins a present
/// entry (lazy or not) that is not in the parent.
fn mergeable(a: &Item, b: &Item) -> bool {
    let plain = |i: &Item| i.flags & PE_PRESENT != 0 && i.flags & !(PE_PRESENT | PE_LAZY) == 0;
    (a.msg.is_none() || b.msg.is_none()) && plain(a) && plain(b) && a.flags & PE_PARENT == 0
}

/// Copies over `chunk` (old pages-image bytes from offset `at`) the new
/// bytes of the pages this write changes in place, found by their offset in
/// the old image.
fn patch(
    chunk: &mut [u8],
    at: u64,
    plan: &BTreeMap<u64, Target>,
    pages: &BTreeMap<u64, Vec<u8>>,
    ps: u64,
) {
    let end = at + chunk.len() as u64;
    for (page, target) in plan {
        let Target::InPlace(off) = *target else {
            continue;
        };
        if off + ps <= at || off >= end {
            continue;
        }
        let bytes = &pages[page];
        let from = off.max(at);
        let to = (off + ps).min(end);
        chunk[(from - at) as usize..(to - at) as usize]
            .copy_from_slice(&bytes[(from - off) as usize..(to - off) as usize]);
    }
}

fn set_u64(m: &mut Message, name: &str, v: u64) {
    let schema = Schema::get();
    if let Some(idx) = schema.message(m.msg_type).field_by_name(name) {
        m.set(idx, vec![Value::U64(v)]);
    }
}

/// One more than the highest pages-N.img id in `dir`.
fn next_pages_id(dir: &std::path::Path) -> u64 {
    let mut max = 0u64;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = name
                .strip_prefix("pages-")
                .and_then(|s| s.strip_suffix(".img"))
                .and_then(|s| s.parse::<u64>().ok())
            {
                max = max.max(id);
            }
        }
    }
    max + 1
}
