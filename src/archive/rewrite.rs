//! Writing an edited working copy back into its archive: the original is read
//! again front to back and copied member by member — header blocks and data as
//! they were — except members whose file in the working copy now holds other
//! bytes: those get the new data, with size, mtime and checksum (and a pax
//! size) changed in their header. Same compression; temporary file beside the
//! archive, fsync, rename: an interrupted rewrite leaves the old archive.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::extract::{Extracted, safe_rel};
use super::tar::{self, BLOCK, Kind, Member, TarReader};
use super::{ArchiveError, Compression, Format, Version};

/// What a rewrite did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteOutcome {
    /// No member's bytes changed: the archive was not touched.
    Unchanged,
    /// The archive was replaced; these members got new bytes.
    Rewritten(Vec<PathBuf>),
}

pub(super) enum Sink<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Sink<W> {
    pub(super) fn new(c: Compression, w: W) -> io::Result<Sink<W>> {
        Ok(match c {
            Compression::None => Sink::Plain(w),
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                w,
                flate2::Compression::default(),
            )),
            Compression::Zstd => Sink::Zstd(zstd::stream::write::Encoder::new(w, 3)?),
        })
    }

    /// Ends the compressed stream; the writer underneath is returned.
    pub(super) fn finish(self) -> io::Result<W> {
        match self {
            Sink::Plain(w) => Ok(w),
            Sink::Gzip(g) => g.finish(),
            Sink::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(b),
            Sink::Gzip(w) => w.write(b),
            Sink::Zstd(w) => w.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }
}

/// A new file sink over `f` in compression `c`.
fn file_sink(c: Compression, f: File) -> io::Result<Sink<BufWriter<File>>> {
    Sink::new(c, BufWriter::with_capacity(1 << 20, f))
}

/// Whether the current member's data equals `work`'s bytes (same length
/// known); stops at the first difference (the caller skips the rest).
fn same_bytes<R: Read>(reader: &mut TarReader<R>, work: &mut File) -> Result<bool, ArchiveError> {
    let mut x = vec![0u8; 128 << 10];
    let mut y = vec![0u8; 128 << 10];
    loop {
        let n = reader.read_data(&mut x)?;
        if n == 0 {
            return Ok(true);
        }
        work.read_exact(&mut y[..n])
            .map_err(|e| ArchiveError::new(format!("its working copy: {e}")))?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// The member's header blocks with a new size and mtime.
pub(super) fn new_header(m: &Member, size: u64, mtime: i64) -> Result<Vec<u8>, ArchiveError> {
    let name = m.name();
    let raw = &m.raw_header;
    let mut out = Vec::with_capacity(raw.len() + BLOCK);
    let mut at = 0;
    while at + BLOCK < raw.len() {
        // An extension header and its data.
        let h = &raw[at..at + BLOCK];
        let len = h
            .get(124..136)
            .and_then(|f| {
                let s: String = f
                    .iter()
                    .take_while(|b| **b != 0 && **b != b' ')
                    .map(|b| *b as char)
                    .collect();
                u64::from_str_radix(s.trim(), 8).ok()
            })
            .ok_or_else(|| ArchiveError::at(&name, "rewriting: an extension header has no size"))?;
        let total = (len + tar::padding(len)) as usize;
        let body = &raw[at + BLOCK..at + BLOCK + total];
        if h[156] == b'x' && m.pax_size {
            let records = tar::pax_records(&body[..len as usize])
                .ok_or_else(|| ArchiveError::at(&name, "rewriting: a pax header is malformed"))?;
            let mut data = Vec::new();
            for (k, v) in records {
                let v = match k.as_slice() {
                    b"size" => size.to_string().into_bytes(),
                    b"mtime" => mtime.to_string().into_bytes(),
                    _ => v,
                };
                data.extend_from_slice(&tar::pax_record(&k, &v));
            }
            let mut hh = h.to_vec();
            tar::set_number(&mut hh[124..136], data.len() as u64);
            tar::set_checksum(&mut hh);
            out.extend_from_slice(&hh);
            let pad = tar::padding(data.len() as u64) as usize;
            out.extend_from_slice(&data);
            out.extend(std::iter::repeat_n(0u8, pad));
        } else {
            out.extend_from_slice(h);
            out.extend_from_slice(body);
        }
        at += BLOCK + total;
    }
    let mut main = raw[at..].to_vec();
    if main.len() != BLOCK {
        return Err(ArchiveError::at(
            &name,
            "rewriting: the header blocks are out of step",
        ));
    }
    if !m.pax_size {
        tar::set_number(&mut main[124..136], size);
    }
    tar::set_number(&mut main[136..148], mtime.max(0) as u64);
    tar::set_checksum(&mut main);
    out.extend_from_slice(&main);
    Ok(out)
}

impl Extracted {
    /// Files of the working copy whose version changed since they were unpacked
    /// (candidates: a rewrite compares their bytes).
    pub fn touched(&self) -> Vec<PathBuf> {
        let tree = self.tree();
        self.members
            .iter()
            .filter(|r| r.kind == Kind::File)
            .filter(|r| {
                let now = fs::symlink_metadata(tree.join(&r.rel))
                    .ok()
                    .map(|m| Version::of(&m));
                now != r.version
            })
            .map(|r| r.rel.clone())
            .collect()
    }

    /// Writes the working copy back into the archive when a member's bytes
    /// changed: an export is copied member by member; an OCI image archive
    /// gets a new checkpoint layer and new digests up to `index.json` (see
    /// `oci::rewrite`). Refused when the archive changed since it was read.
    pub fn rewrite(&self) -> Result<RewriteOutcome, ArchiveError> {
        let touched = self.touched();
        if touched.is_empty() {
            return Ok(RewriteOutcome::Unchanged);
        }
        self.check_unchanged_on_disk()?;
        let touched: HashSet<PathBuf> = touched.into_iter().collect();
        let outcome = match self.format {
            Format::Export(compression) => self.rewrite_export(compression, &touched),
            Format::Oci(_) => super::oci::rewrite(self, &touched),
        };
        outcome.or_else(|e| {
            if e.what == NOTHING_EDITED {
                Ok(RewriteOutcome::Unchanged)
            } else {
                Err(e)
            }
        })
    }

    /// The archive on disk is the one that was read (same file, size, times).
    pub(super) fn check_unchanged_on_disk(&self) -> Result<(), ArchiveError> {
        let now = fs::metadata(&self.archive)
            .map_err(|e| ArchiveError::new(format!("reading it again: {e}")))?;
        if Version::of(&now) != self.archive_version {
            return Err(ArchiveError::new(
                "it changed since it was mounted; it is left as it is",
            ));
        }
        Ok(())
    }

    /// The archive opened again for reading, refused if it is not the one read at mount.
    pub(super) fn reopen(&self) -> Result<File, ArchiveError> {
        let file = File::open(&self.archive)
            .map_err(|e| ArchiveError::new(format!("reading it again: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| ArchiveError::new(format!("reading it again: {e}")))?;
        if Version::of(&meta) != self.archive_version {
            return Err(ArchiveError::new(
                "it changed since it was mounted; it is left as it is",
            ));
        }
        Ok(file)
    }

    fn rewrite_export(
        &self,
        compression: Compression,
        touched: &HashSet<PathBuf>,
    ) -> Result<RewriteOutcome, ArchiveError> {
        let mut edited = Vec::new();
        let tree = self.tree();
        crate::atomic::replace_file_with(
            &self.archive,
            |out: &mut File| -> Result<(), ArchiveError> {
                let io_err =
                    |e: io::Error| ArchiveError::new(format!("writing the new archive: {e}"));
                let (_, stream) = super::decompressed(self.reopen()?).map_err(io_err)?;
                let mut reader = TarReader::new(stream);
                let mut sink =
                    file_sink(compression, out.try_clone().map_err(io_err)?).map_err(io_err)?;
                edited = copy_members(&mut reader, &mut sink, &tree, touched)?;
                if edited.is_empty() {
                    return Err(ArchiveError::new(NOTHING_EDITED));
                }
                sink.finish()
                    .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                    .map_err(io_err)?;
                Ok(())
            },
        )?;
        Ok(RewriteOutcome::Rewritten(edited))
    }
}

/// Copies a tar stream from `reader` to `sink` member by member, header blocks
/// and data as they were, except files named in `touched` whose working copy
/// under `tree` now holds other bytes: those get the new data and a header with
/// the new size and mtime. Returns the members so edited.
pub(super) fn copy_members<R: Read, W: Write>(
    reader: &mut TarReader<R>,
    sink: &mut W,
    tree: &Path,
    touched: &HashSet<PathBuf>,
) -> Result<Vec<PathBuf>, ArchiveError> {
    let io_err = |e: io::Error| ArchiveError::new(format!("writing the new archive: {e}"));
    let mut edited = Vec::new();
    while let Some(m) = reader.next_member()? {
        let rel = safe_rel(&m.path).ok().flatten();
        let candidate = m.kind == Kind::File && rel.as_ref().is_some_and(|r| touched.contains(r));
        if !candidate {
            sink.write_all(&m.raw_header).map_err(io_err)?;
            reader.copy_data(sink)?;
            sink.write_all(&vec![0u8; tar::padding(m.size) as usize])
                .map_err(io_err)?;
            continue;
        }
        let rel = rel.unwrap_or_default();
        let path = tree.join(&rel);
        let name = m.name();
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| ArchiveError::at(&name, format!("its working copy: {e}")))?;
        let mut work = File::open(&path)
            .map_err(|e| ArchiveError::at(&name, format!("its working copy: {e}")))?;
        let same = meta.len() == m.size
            && same_bytes(reader, &mut work).map_err(|e| ArchiveError::at(&name, e.what))?;
        reader.skip_data()?;
        use std::io::Seek;
        work.seek(io::SeekFrom::Start(0))
            .map_err(|e| ArchiveError::at(&name, e))?;
        let header = if same {
            m.raw_header.clone()
        } else {
            edited.push(rel.clone());
            new_header(&m, meta.len(), meta.mtime())?
        };
        sink.write_all(&header).map_err(io_err)?;
        let n = io::copy(&mut (&mut work).take(meta.len()), sink)
            .map_err(|e| ArchiveError::at(&name, format!("its working copy: {e}")))?;
        if n != meta.len() {
            return Err(ArchiveError::at(
                &name,
                "its working copy changed while being written",
            ));
        }
        sink.write_all(&vec![0u8; tar::padding(n) as usize])
            .map_err(io_err)?;
    }
    reader.copy_rest(sink)?;
    Ok(edited)
}

/// Not an error: the touched files hold their old bytes; the temp file is dropped.
pub(super) const NOTHING_EDITED: &str = "(nothing edited)";
