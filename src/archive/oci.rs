//! OCI image archives (`podman save --format oci-archive` of an image made by
//! `podman container checkpoint --create-image`): `oci-layout`, `index.json`
//! and `blobs/sha256/…`. The index names manifests (or nested indexes), a
//! manifest names layers; the layer that unpacks to a tree with
//! `checkpoint/inventory.img` is the checkpoint.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::extract::{MemberRecord, unpack_file};
use super::{ArchiveError, CHECKPOINT_DIR, Compression};

pub(super) struct Found {
    pub tree: PathBuf,
    pub compression: Compression,
    pub records: Vec<MemberRecord>,
}

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

fn descriptors(v: &Value, key: &str) -> Vec<(String, String)> {
    v.get(key)
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    Some((
                        d.get("mediaType")
                            .and_then(|m| m.as_str())
                            .unwrap_or("")
                            .to_string(),
                        d.get("digest")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The layers of every manifest reachable from `index.json`, in order.
fn layers(tree: &Path) -> Result<Vec<String>, ArchiveError> {
    let mut out = Vec::new();
    let mut todo: Vec<(String, usize)> = descriptors(&read_json(tree, "index.json")?, "manifests")
        .into_iter()
        .map(|(_, d)| (d, 0))
        .collect();
    todo.reverse();
    while let Some((digest, depth)) = todo.pop() {
        let rel = blob_path(&digest).ok_or_else(|| {
            ArchiveError::at("index.json", format!("a malformed digest {digest:?}"))
        })?;
        let v = read_json(tree, &rel)?;
        if v.get("manifests").is_some() && depth < 4 {
            let mut more: Vec<_> = descriptors(&v, "manifests")
                .into_iter()
                .map(|(_, d)| (d, depth + 1))
                .collect();
            more.reverse();
            todo.extend(more);
        }
        for (_, d) in descriptors(&v, "layers") {
            let rel = blob_path(&d)
                .ok_or_else(|| ArchiveError::at(&rel, format!("a malformed digest {d:?}")))?;
            out.push(rel);
        }
    }
    Ok(out)
}

/// If `tree` is an OCI image layout, unpacks its layers one by one into the
/// spool until one holds a checkpoint.
pub(super) fn find_checkpoint_layer(
    tree: &Path,
    spool: &Path,
) -> Result<Option<Found>, ArchiveError> {
    if !tree.join("oci-layout").is_file() || !tree.join("index.json").is_file() {
        return Ok(None);
    }
    for (i, rel) in layers(tree)?.into_iter().enumerate() {
        let file = File::open(tree.join(&rel)).map_err(|e| ArchiveError::at(&rel, e))?;
        let dest = spool.join(format!("layer-{i}"));
        let (compression, records) = unpack_file(file, &dest, false).map_err(|e| ArchiveError {
            member: Some(format!("{rel}/{}", e.member.as_deref().unwrap_or(""))),
            what: e.what,
        })?;
        if dest.join(CHECKPOINT_DIR).join("inventory.img").is_file() {
            return Ok(Some(Found {
                tree: dest,
                compression,
                records,
            }));
        }
        super::remove_tree(&dest);
    }
    Err(ArchiveError::new(format!(
        "an OCI image archive, but none of its layers holds {CHECKPOINT_DIR}/inventory.img: not a checkpoint image"
    )))
}
