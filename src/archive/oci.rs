//! OCI image archives (`podman save --format oci-archive` of an image made by
//! `podman container checkpoint --create-image`): `oci-layout`, `index.json`
//! and `blobs/sha256/…`. The index names manifests (or nested indexes), a
//! manifest names layers; the layer that unpacks to a tree with
//! `checkpoint/inventory.img` is the checkpoint.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::extract::{Extracted, MemberRecord, safe_rel, unpack_file};
use super::rewrite::{NOTHING_EDITED, RewriteOutcome, Sink, copy_members, new_header};
use super::tar::{self, BLOCK, Kind, Member, TarReader};
use super::{ArchiveError, CHECKPOINT_DIR, Compression};

pub(super) struct Found {
    pub tree: PathBuf,
    pub compression: Compression,
    pub records: Vec<MemberRecord>,
    pub plan: Plan,
}

/// Most manifests and indexes read (a crafted index naming itself many times
/// must not make the walk endless).
const MAX_DOCS: usize = 4096;

/// Key of `refs` counting the documents read (no digest has this form).
const DOCS_READ: &str = "(documents read)";

/// Largest index or manifest read.
const MAX_JSON: u64 = 4 << 20;

fn read_json(tree: &Path, rel: &str) -> Result<Value, ArchiveError> {
    let p = tree.join(rel);
    let len = fs::symlink_metadata(&p)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .ok_or_else(|| ArchiveError::at(rel, "missing from the OCI image archive"))?;
    if len > MAX_JSON {
        return Err(ArchiveError::at(
            rel,
            format!("{len} bytes: too large for an OCI index or manifest"),
        ));
    }
    let text = fs::read(&p).map_err(|e| ArchiveError::at(rel, e))?;
    serde_json::from_slice(&text).map_err(|e| ArchiveError::at(rel, format!("not JSON: {e}")))
}

/// `sha256:HEX` → `blobs/sha256/HEX`, refusing anything that is not a plain digest.
fn blob_path(digest: &str) -> Option<String> {
    let (alg, hex) = digest.split_once(':')?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (ok(alg) && ok(hex)).then(|| format!("blobs/{alg}/{hex}"))
}

/// Ancestors of a layer: `index.json`, any nested index, then its manifest.
#[derive(Clone, Debug)]
pub(super) struct Doc {
    /// Member path (`index.json` or `blobs/sha256/…`).
    rel: String,
    value: Value,
    /// Position, in this document's `manifests`, of the next document of the chain.
    child: usize,
}

/// What a rewrite of the checkpoint layer needs, recorded when it is found.
#[derive(Debug)]
pub(super) struct Plan {
    /// Compression of the archive itself (podman writes a plain tar).
    outer: Compression,
    chain: Vec<Doc>,
    layer_pos: usize,
    layer_rel: String,
    layer_media_type: String,
    /// As read from the layer's bytes.
    layer_found: Compression,
    /// The image config (None when its blob is not in the archive).
    config: Option<(String, Value)>,
    /// How many descriptors of the documents read name each digest.
    refs: HashMap<String, usize>,
    /// Every member path of the archive.
    members: HashSet<PathBuf>,
}

struct Candidate {
    chain: Vec<Doc>,
    layer_pos: usize,
    layer_rel: String,
    media_type: String,
}

fn count_refs(v: &Value, refs: &mut HashMap<String, usize>) {
    match v {
        Value::Object(o) => {
            if let Some(d) = o.get("digest").and_then(|d| d.as_str()) {
                *refs.entry(d.to_string()).or_default() += 1;
            }
            o.values().for_each(|x| count_refs(x, refs));
        }
        Value::Array(a) => a.iter().for_each(|x| count_refs(x, refs)),
        _ => {}
    }
}

/// The layers of every manifest reachable from `index.json`, in order, each
/// with the documents leading to it; `refs` counts every descriptor read.
fn layers(tree: &Path, refs: &mut HashMap<String, usize>) -> Result<Vec<Candidate>, ArchiveError> {
    let mut out = Vec::new();
    let index = read_json(tree, "index.json")?;
    let mut chain = Vec::new();
    walk(
        tree,
        "index.json".into(),
        index,
        0,
        &mut chain,
        refs,
        &mut out,
    )?;
    Ok(out)
}

fn walk(
    tree: &Path,
    rel: String,
    value: Value,
    depth: usize,
    chain: &mut Vec<Doc>,
    refs: &mut HashMap<String, usize>,
    out: &mut Vec<Candidate>,
) -> Result<(), ArchiveError> {
    count_refs(&value, refs);
    let list = |key: &str| {
        value
            .get(key)
            .and_then(|m| m.as_array())
            .cloned()
            .unwrap_or_default()
    };
    if rel != "index.json" || depth > 0 {
        for (i, d) in list("layers").iter().enumerate() {
            let Some(digest) = d.get("digest").and_then(|d| d.as_str()) else {
                continue;
            };
            let layer_rel = blob_path(digest)
                .ok_or_else(|| ArchiveError::at(&rel, format!("a malformed digest {digest:?}")))?;
            let mut c = chain.clone();
            c.push(Doc {
                rel: rel.clone(),
                value: value.clone(),
                child: 0,
            });
            out.push(Candidate {
                chain: c,
                layer_pos: i,
                layer_rel,
                media_type: d
                    .get("mediaType")
                    .and_then(|m| m.as_str())
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }
    if depth > 4 {
        return Ok(());
    }
    for (i, d) in list("manifests").iter().enumerate() {
        let Some(digest) = d.get("digest").and_then(|d| d.as_str()) else {
            continue;
        };
        let child = blob_path(digest)
            .ok_or_else(|| ArchiveError::at(&rel, format!("a malformed digest {digest:?}")))?;
        *refs.entry(DOCS_READ.into()).or_default() += 1;
        if refs[DOCS_READ] > MAX_DOCS {
            return Err(ArchiveError::at(
                &rel,
                format!("more than {MAX_DOCS} manifests and indexes reached from index.json"),
            ));
        }
        let v = read_json(tree, &child)?;
        chain.push(Doc {
            rel: rel.clone(),
            value: value.clone(),
            child: i,
        });
        walk(tree, child, v, depth + 1, chain, refs, out)?;
        chain.pop();
    }
    Ok(())
}

/// If `tree` is an OCI image layout, unpacks its layers one by one into the
/// spool until one holds a checkpoint.
pub(super) fn find_checkpoint_layer(
    tree: &Path,
    spool: &Path,
    outer: Compression,
    members: &[MemberRecord],
) -> Result<Option<Found>, ArchiveError> {
    if !tree.join("oci-layout").is_file() || !tree.join("index.json").is_file() {
        return Ok(None);
    }
    let mut refs = HashMap::new();
    for (i, cand) in layers(tree, &mut refs)?.into_iter().enumerate() {
        let rel = &cand.layer_rel;
        let file = File::open(tree.join(rel)).map_err(|e| ArchiveError::at(rel, e))?;
        let dest = spool.join(format!("layer-{i}"));
        let (compression, records) = unpack_file(file, &dest, false).map_err(|e| ArchiveError {
            member: Some(format!("{rel}/{}", e.member.as_deref().unwrap_or(""))),
            what: e.what,
        })?;
        if dest.join(CHECKPOINT_DIR).join("inventory.img").is_file() {
            let manifest = &cand.chain[cand.chain.len() - 1];
            let config = manifest
                .value
                .get("config")
                .and_then(|c| c.get("digest"))
                .and_then(|d| d.as_str())
                .and_then(blob_path)
                .and_then(|r| Some((r.clone(), read_json(tree, &r).ok()?)));
            let plan = Plan {
                outer,
                chain: cand.chain,
                layer_pos: cand.layer_pos,
                layer_rel: cand.layer_rel,
                layer_media_type: cand.media_type,
                layer_found: compression,
                config,
                refs,
                members: members.iter().map(|m| m.rel.clone()).collect(),
            };
            return Ok(Some(Found {
                tree: dest,
                compression,
                records,
                plan,
            }));
        }
        super::remove_tree(&dest);
    }
    Err(ArchiveError::new(format!(
        "an OCI image archive, but none of its layers holds {CHECKPOINT_DIR}/inventory.img: not a checkpoint image"
    )))
}

/// A layer's compression as its media type names it (`…tar`, `…tar+gzip`,
/// `…tar+zstd`; Docker's `…tar.gzip` too).
fn media_type_compression(media_type: &str) -> Option<Compression> {
    if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        Some(Compression::Gzip)
    } else if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
        Some(Compression::Zstd)
    } else if media_type.ends_with(".tar") {
        Some(Compression::None)
    } else {
        None
    }
}

impl Plan {
    /// The compression the new layer is written in, or why it cannot be rewritten.
    pub(super) fn layer_compression(&self) -> Result<Compression, ArchiveError> {
        let rel = &self.layer_rel;
        let c = media_type_compression(&self.layer_media_type).ok_or_else(|| {
            ArchiveError::at(
                rel,
                format!(
                    "its media type {:?} is no layer media type crit-fs writes (tar, tar+gzip, tar+zstd)",
                    self.layer_media_type
                ),
            )
        })?;
        if c != self.layer_found {
            return Err(ArchiveError::at(
                rel,
                format!(
                    "its media type {:?} says {} but its bytes are {}",
                    self.layer_media_type,
                    c.name(),
                    self.layer_found.name()
                ),
            ));
        }
        if self.config.is_none() {
            return Err(ArchiveError::new(
                "the image config named by the manifest is not in the archive (or not JSON): its diff_ids could not be updated",
            ));
        }
        Ok(c)
    }
}

/// `sha256:` digest in hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Passes bytes through, counting them and hashing them (sha256).
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hash: Sha256::new(),
            len: 0,
        }
    }

    /// The writer, the `sha256:…` digest and the length of what went through.
    fn finish(self) -> (W, String, u64) {
        let d = format!("sha256:{}", hex(&self.hash.finalize()));
        (self.inner, d, self.len)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hash.update(&b[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// The data of the tar member being read, as a reader.
struct MemberData<'a, R: Read>(&'a mut TarReader<R>);

impl<R: Read> Read for MemberData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read_data(buf)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Where a new blob's bytes are.
enum Bytes {
    File(PathBuf),
    Mem(Vec<u8>),
}

struct NewBlob {
    rel: String,
    size: u64,
    bytes: Bytes,
}

/// Sets a descriptor's digest and size.
fn set_descriptor(
    d: Option<&mut Value>,
    digest: &str,
    size: u64,
    at: &str,
) -> Result<(), ArchiveError> {
    let Some(Value::Object(o)) = d else {
        return Err(ArchiveError::at(at, "a descriptor to update is missing"));
    };
    o.insert("digest".into(), Value::String(digest.into()));
    o.insert("size".into(), Value::from(size));
    Ok(())
}

fn to_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A header for a new blob: the old blob's main header block with the new
/// name, size and mtime (its extension headers, naming the old blob, left out).
fn blob_header(m: &Member, rel: &str, size: u64, mtime: i64) -> Result<Vec<u8>, ArchiveError> {
    let raw = &m.raw_header;
    let name = rel.as_bytes();
    if raw.len() < BLOCK || name.len() > 100 {
        return Err(ArchiveError::at(
            &m.name(),
            "rewriting: no header to derive a new blob's from",
        ));
    }
    let mut h = raw[raw.len() - BLOCK..].to_vec();
    h[..100].fill(0);
    h[..name.len()].copy_from_slice(name);
    if &h[257..263] == b"ustar\0" {
        h[345..500].fill(0);
    }
    tar::set_number(&mut h[124..136], size);
    tar::set_number(&mut h[136..148], mtime.max(0) as u64);
    tar::set_checksum(&mut h);
    Ok(h)
}

/// Rewrites an OCI image archive whose checkpoint layer's working copy was
/// edited: a new layer blob (members copied as in an export rewrite), its
/// digest and size in the manifest, its diff_id in the config, then new
/// config, manifest (and nested index) blobs and a new `index.json`. Old
/// blobs no other descriptor names are left out; every other member is
/// copied as it was.
pub(super) fn rewrite(
    x: &Extracted,
    touched: &HashSet<PathBuf>,
) -> Result<RewriteOutcome, ArchiveError> {
    let plan = x
        .oci
        .as_ref()
        .ok_or_else(|| ArchiveError::new("an OCI image archive without its layout recorded"))?;
    let layer_c = plan.layer_compression()?;
    let io_err = |e: io::Error| ArchiveError::new(format!("writing the new archive: {e}"));

    // 1. The new layer blob, into the spool.
    let layer_tmp = x.spool_dir().join("new-layer");
    let _ = fs::remove_file(&layer_tmp);
    let written = (|| {
        let (_, stream) = super::decompressed(x.reopen()?).map_err(io_err)?;
        let mut outer = TarReader::new(stream);
        loop {
            let m = outer.next_member()?.ok_or_else(|| {
                ArchiveError::at(&plan.layer_rel, "not found again in the archive")
            })?;
            if m.kind == Kind::File
                && safe_rel(&m.path).ok().flatten().as_deref() == Some(Path::new(&plan.layer_rel))
            {
                break;
            }
        }
        let in_layer = |e: ArchiveError| ArchiveError {
            member: Some(format!(
                "{}/{}",
                plan.layer_rel,
                e.member.as_deref().unwrap_or("")
            )),
            what: e.what,
        };
        let (_, layer_stream) = super::decompress_reader(MemberData(&mut outer))
            .map_err(|e| ArchiveError::at(&plan.layer_rel, e))?;
        let mut inner = TarReader::new(layer_stream);
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&layer_tmp)
            .map_err(io_err)?;
        let blob = Hashing::new(io::BufWriter::with_capacity(1 << 20, f));
        let mut plain = Hashing::new(Sink::new(layer_c, blob).map_err(io_err)?);
        let edited = copy_members(&mut inner, &mut plain, &x.tree(), touched).map_err(in_layer)?;
        let (sink, diff_id, _) = plain.finish();
        let (w, digest, size) = sink.finish().map_err(io_err)?.finish();
        w.into_inner().map_err(|e| io_err(e.into_error()))?;
        Ok::<_, ArchiveError>((edited, diff_id, digest, size))
    })();
    let result = written.and_then(|(edited, diff_id, digest, size)| {
        if edited.is_empty() {
            return Err(ArchiveError::new(NOTHING_EDITED));
        }
        let blobs = new_documents(plan, &layer_tmp, &diff_id, &digest, size)?;
        write_outer(x, plan, blobs)?;
        Ok(RewriteOutcome::Rewritten(edited))
    });
    let _ = fs::remove_file(&layer_tmp);
    result
}

/// The new blobs (by the old blob each replaces) and `index.json`'s new bytes.
struct NewLayout {
    replaced: HashMap<String, NewBlob>,
    index: Vec<u8>,
}

fn new_documents(
    plan: &Plan,
    layer_tmp: &Path,
    diff_id: &str,
    digest: &str,
    size: u64,
) -> Result<NewLayout, ArchiveError> {
    let mut replaced = HashMap::new();
    let mut chain = plan.chain.clone();
    let last = chain.len() - 1;
    let manifest = &mut chain[last];
    let at = manifest.rel.clone();
    set_descriptor(
        manifest
            .value
            .get_mut("layers")
            .and_then(|l| l.get_mut(plan.layer_pos)),
        digest,
        size,
        &at,
    )?;
    replaced.insert(
        plan.layer_rel.clone(),
        NewBlob {
            rel: blob_path(digest).unwrap_or_default(),
            size,
            bytes: Bytes::File(layer_tmp.to_path_buf()),
        },
    );
    if let Some((config_rel, config)) = &plan.config {
        let mut config = config.clone();
        if let Some(ids) = config
            .get_mut("rootfs")
            .and_then(|r| r.get_mut("diff_ids"))
            .and_then(|d| d.as_array_mut())
        {
            let slot = ids.get_mut(plan.layer_pos).ok_or_else(|| {
                ArchiveError::at(
                    config_rel,
                    "rootfs.diff_ids has fewer entries than the manifest has layers",
                )
            })?;
            *slot = Value::String(diff_id.into());
        }
        let bytes = to_json(&config);
        let d = digest_of(&bytes);
        set_descriptor(
            manifest.value.get_mut("config"),
            &d,
            bytes.len() as u64,
            &at,
        )?;
        replaced.insert(
            config_rel.clone(),
            NewBlob {
                rel: blob_path(&d).unwrap_or_default(),
                size: bytes.len() as u64,
                bytes: Bytes::Mem(bytes),
            },
        );
    }
    // From the manifest up: each new document's digest goes into its parent.
    for i in (1..chain.len()).rev() {
        let bytes = to_json(&chain[i].value);
        let d = digest_of(&bytes);
        let old = chain[i].rel.clone();
        let parent = &mut chain[i - 1];
        let at = parent.rel.clone();
        let child = parent.child;
        set_descriptor(
            parent
                .value
                .get_mut("manifests")
                .and_then(|m| m.get_mut(child)),
            &d,
            bytes.len() as u64,
            &at,
        )?;
        replaced.insert(
            old,
            NewBlob {
                rel: blob_path(&d).unwrap_or_default(),
                size: bytes.len() as u64,
                bytes: Bytes::Mem(bytes),
            },
        );
    }
    Ok(NewLayout {
        replaced,
        index: to_json(&chain[0].value),
    })
}

/// The archive copied member by member into a temporary file renamed over
/// it: `index.json` with its new bytes, each replaced blob followed by (or,
/// when nothing else names it, replaced by) its new blob.
fn write_outer(x: &Extracted, plan: &Plan, layout: NewLayout) -> Result<(), ArchiveError> {
    let io_err = |e: io::Error| ArchiveError::new(format!("writing the new archive: {e}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let dropped = |old: &str| {
        let digest = old.strip_prefix("blobs/").map(|r| r.replacen('/', ":", 1));
        digest.is_some_and(|d| plan.refs.get(&d).copied().unwrap_or(0) <= 1)
    };
    crate::atomic::replace_file_with(x.archive(), |out: &mut File| -> Result<(), ArchiveError> {
        let (_, stream) = super::decompressed(x.reopen()?).map_err(io_err)?;
        let mut reader = TarReader::new(stream);
        let mut sink = Sink::new(
            plan.outer,
            io::BufWriter::with_capacity(1 << 20, out.try_clone().map_err(io_err)?),
        )
        .map_err(io_err)?;
        let pad = |n: u64| vec![0u8; tar::padding(n) as usize];
        let mut seen_index = false;
        while let Some(m) = reader.next_member()? {
            let rel = safe_rel(&m.path).ok().flatten();
            let rel_s = rel.as_ref().map(|r| r.to_string_lossy().into_owned());
            if m.kind == Kind::File && rel_s.as_deref() == Some("index.json") {
                seen_index = true;
                reader.skip_data()?;
                let n = layout.index.len() as u64;
                sink.write_all(&new_header(&m, n, now)?).map_err(io_err)?;
                sink.write_all(&layout.index).map_err(io_err)?;
                sink.write_all(&pad(n)).map_err(io_err)?;
                continue;
            }
            let new = rel_s
                .as_ref()
                .filter(|_| m.kind == Kind::File)
                .and_then(|r| layout.replaced.get(r).map(|b| (r.clone(), b)));
            match new {
                Some((ref old, _)) if dropped(old) => reader.skip_data()?,
                _ => {
                    sink.write_all(&m.raw_header).map_err(io_err)?;
                    reader.copy_data(&mut sink)?;
                    sink.write_all(&pad(m.size)).map_err(io_err)?;
                }
            }
            let Some((_, blob)) = new else { continue };
            let kept_already = plan.members.contains(Path::new(&blob.rel))
                && !layout.replaced.keys().any(|o| *o == blob.rel && dropped(o));
            if kept_already {
                continue; // the same bytes are in the archive already (same digest)
            }
            sink.write_all(&blob_header(&m, &blob.rel, blob.size, now)?)
                .map_err(io_err)?;
            match &blob.bytes {
                Bytes::Mem(b) => sink.write_all(b).map_err(io_err)?,
                Bytes::File(p) => {
                    let n =
                        io::copy(&mut File::open(p).map_err(io_err)?, &mut sink).map_err(io_err)?;
                    if n != blob.size {
                        return Err(ArchiveError::at(
                            &blob.rel,
                            "the new layer changed while being written",
                        ));
                    }
                }
            }
            sink.write_all(&pad(blob.size)).map_err(io_err)?;
        }
        reader.copy_rest(&mut sink)?;
        if !seen_index {
            return Err(ArchiveError::at(
                "index.json",
                "not found again in the archive",
            ));
        }
        sink.finish()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .map_err(io_err)?;
        Ok(())
    })
}
