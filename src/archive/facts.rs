//! What a container checkpoint says about its container (what checkpointctl's
//! `show` prints): from `config.dump` and `spec.dump` (podman's container
//! config and the OCI runtime spec), `network.status`, `deleted.files`,
//! `stats-dump` and the CRIU inventory. Every file is optional: a missing or
//! unreadable one leaves its facts out and is named in `problems`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::CHECKPOINT_DIR;

/// Largest metadata file read (config.dump and spec.dump are tens of KiB).
const MAX_META: u64 = 16 << 20;

/// The facts, each None when the archive does not say.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub name: Option<String>,
    pub id: Option<String>,
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub engine: Option<String>,
    pub runtime: Option<String>,
    pub created: Option<String>,
    pub checkpointed: Option<String>,
    pub ip: Vec<String>,
    pub mac: Vec<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub criu_image_version: Option<u64>,
    pub criu_run_id: Option<String>,
    pub checkpoint_size: u64,
    pub pages_size: u64,
    pub rootfs_diff_size: Option<u64>,
    pub deleted: Vec<String>,
    /// The `stats-dump` entry as decoded (`freezing_time`, `pages_written`, …).
    pub stats: Option<Map<String, Value>>,
    /// Files that were there but could not be read, and why.
    pub problems: Vec<String>,
}

fn read_json(top: &Path, name: &str, problems: &mut Vec<String>) -> Option<Value> {
    let p = top.join(name);
    let meta = fs::metadata(&p).ok()?;
    if meta.len() > MAX_META {
        problems.push(format!("{name}: {} bytes, too large to read", meta.len()));
        return None;
    }
    let text = match fs::read(&p) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            return None;
        }
    };
    match serde_json::from_slice(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("{name}: not JSON: {e}"));
            None
        }
    }
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// RFC 3339 to the second, as checkpointctl prints times.
fn to_second(t: &str) -> String {
    match (t.find('.'), t.ends_with('Z')) {
        (Some(dot), true) => format!("{}Z", &t[..dot]),
        _ => t.to_string(),
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn engine_of(spec: &Value) -> (Option<String>, Option<String>, Option<String>) {
    let ann = spec.get("annotations");
    let a = |k: &str| ann.and_then(|a| s(a, k));
    match a("io.container.manager").as_deref() {
        Some("libpod") => (Some("Podman".into()), None, None),
        Some("cri-o") => (
            Some("CRI-O".into()),
            a("io.kubernetes.pod.namespace"),
            a("io.kubernetes.pod.name"),
        ),
        _ if a("io.kubernetes.cri.container-name").is_some() => (
            Some("containerd".into()),
            a("io.kubernetes.cri.sandbox-namespace"),
            a("io.kubernetes.cri.sandbox-name"),
        ),
        _ => (None, None, None),
    }
}

/// Addresses in podman's `network.status`: per network, per interface, the
/// subnets' `ipnet` (without the prefix length) and `mac_address`.
fn network(v: &Value, ip: &mut Vec<String>, mac: &mut Vec<String>) {
    let Some(nets) = v.as_object() else { return };
    for net in nets.values() {
        let Some(ifaces) = net.get("interfaces").and_then(|i| i.as_object()) else {
            continue;
        };
        for iface in ifaces.values() {
            if let Some(m) = s(iface, "mac_address") {
                mac.push(m);
            }
            for sub in iface
                .get("subnets")
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(n) = s(sub, "ipnet") {
                    ip.push(n.split('/').next().unwrap_or(&n).to_string());
                }
            }
        }
    }
}

/// Decodes a one-entry image of the dump to its JSON entry.
fn entry_of(path: &Path, problems: &mut Vec<String>, name: &str) -> Option<Map<String, Value>> {
    let bytes = fs::read(path).ok()?;
    let json = match crate::codec::decode_to_json(&bytes, crate::codec::Options::default()) {
        Ok(j) => j,
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            return None;
        }
    };
    let v: Value = serde_json::from_slice(&json).ok()?;
    v.get("entries")?.get(0)?.as_object().cloned()
}

/// Reads the facts of the archive tree `top` (`checkpoint/` inside it).
pub fn read(top: &Path) -> Facts {
    read_with(top, &top.join(CHECKPOINT_DIR))
}

/// Reads the facts of the tree `top` whose CRIU images are in `cp` (a plain
/// CRIU dump: both the same directory).
pub fn read_with(top: &Path, cp: &Path) -> Facts {
    let mut f = Facts::default();
    let mut problems = Vec::new();
    let config = read_json(top, "config.dump", &mut problems);
    let spec = read_json(top, "spec.dump", &mut problems);
    if let Some(c) = &config {
        f.name = s(c, "name");
        f.id = s(c, "id");
        f.image = s(c, "rootfsImageName").or_else(|| s(c, "RawImageName"));
        f.image_id = s(c, "rootfsImageID");
        f.runtime = s(c, "runtime").or_else(|| s(c, "ociRuntime"));
        f.created = s(c, "createdTime").map(|t| to_second(&t));
        f.checkpointed = s(c, "checkpointedTime").map(|t| to_second(&t));
    }
    if let Some(sp) = &spec {
        let (engine, ns, pod) = engine_of(sp);
        f.engine = engine;
        f.namespace = ns;
        f.pod = pod;
        let ann = sp.get("annotations");
        if f.engine.as_deref() == Some("CRI-O") {
            if let Some(ip) = ann.and_then(|a| s(a, "io.kubernetes.cri-o.IP.0")) {
                f.ip.push(ip);
            }
            if f.created.is_none() {
                f.created = ann
                    .and_then(|a| s(a, "io.kubernetes.cri-o.Created"))
                    .map(|t| to_second(&t));
            }
            if f.name.is_none() {
                f.name = ann
                    .and_then(|a| s(a, "io.kubernetes.cri-o.Metadata"))
                    .and_then(|m| serde_json::from_str::<Value>(&m).ok())
                    .and_then(|m| s(&m, "name"));
            }
        }
    }
    if let Some(n) = read_json(top, "network.status", &mut problems) {
        network(&n, &mut f.ip, &mut f.mac);
    }
    if let Some(Value::Array(d)) = read_json(top, "deleted.files", &mut problems) {
        f.deleted = d
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
    }
    let cp = cp.to_path_buf();
    if let Ok(rd) = fs::read_dir(&cp) {
        for e in rd.flatten() {
            if let Ok(m) = e.metadata()
                && m.is_file()
            {
                f.checkpoint_size += m.len();
                if e.file_name().to_string_lossy().starts_with("pages-") {
                    f.pages_size += m.len();
                }
            }
        }
    }
    if let Ok(inv) = fs::metadata(cp.join("inventory.img")) {
        // In an engine's export the images' times are the checkpoint's (a
        // plain directory's may be a copy's).
        if f.checkpointed.is_none() && config.is_some() {
            f.checkpointed = Some(utc(inv.mtime()));
        }
        if let Some(e) = entry_of(&cp.join("inventory.img"), &mut problems, "inventory.img") {
            f.criu_image_version = e.get("img_version").and_then(|v| v.as_u64());
            f.criu_run_id = e
                .get("dump_criu_run_id")
                .and_then(|v| v.as_str())
                .map(str::to_string);
        }
    }
    f.rootfs_diff_size = fs::symlink_metadata(top.join("rootfs-diff.tar"))
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    // podman writes stats-dump at the top; CRIU itself in the images' directory.
    let stats = [top.join("stats-dump"), cp.join("stats-dump")]
        .into_iter()
        .find(|p| p.is_file());
    if let Some(p) = stats {
        // One entry with `dump` (or `restore`) inside.
        f.stats = entry_of(&p, &mut problems, "stats-dump")
            .and_then(|e| e.get("dump").and_then(|d| d.as_object()).cloned());
    }
    f.problems = problems;
    f
}

/// `12345 bytes (12.1 KiB)`.
pub fn size_text(n: u64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{n} bytes ({v:.1} {})", units[u])
}

impl Facts {
    /// `(label, value)` lines, in the order `container.txt` shows them; what
    /// the checkpoint does not say is left out.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut all = self.all_lines();
        all.retain(|(_, v)| v != "-");
        all
    }

    fn all_lines(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut opt = |label: &'static str, v: &Option<String>| {
            out.push((label, v.clone().unwrap_or_else(|| "-".into())));
        };
        opt("Container", &self.name);
        opt("ID", &self.id);
        opt("Image", &self.image);
        opt("Image ID", &self.image_id);
        opt("Engine", &self.engine);
        opt("Runtime", &self.runtime);
        opt("Created", &self.created);
        opt("Checkpointed", &self.checkpointed);
        if self.namespace.is_some() || self.pod.is_some() {
            opt("Namespace", &self.namespace);
            opt("Pod", &self.pod);
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        out.push(("IP", list(&self.ip)));
        out.push(("MAC", list(&self.mac)));
        out.push((
            "CRIU",
            match (&self.criu_image_version, &self.criu_run_id) {
                (Some(v), Some(r)) => {
                    format!("image format {v}, dump run {r} (the CRIU version is not recorded)")
                }
                (Some(v), None) => format!("image format {v} (the CRIU version is not recorded)"),
                _ => "-".into(),
            },
        ));
        out.push(("Checkpoint size", size_text(self.checkpoint_size)));
        out.push(("Memory pages", size_text(self.pages_size)));
        out.push((
            "Root fs diff",
            self.rootfs_diff_size
                .map(size_text)
                .unwrap_or_else(|| "-".into()),
        ));
        out.push(("Deleted files", list(&self.deleted)));
        out
    }

    /// The facts as aligned text lines (`container.txt`).
    pub fn text(&self) -> String {
        let mut t = String::new();
        for (label, v) in self.lines() {
            t.push_str(&format!("{label:<16}{v}\n"));
        }
        for p in &self.problems {
            t.push_str(&format!("{:<16}{p}\n", "Unreadable"));
        }
        t
    }

    /// The statistics lines (`inspect --stats`).
    pub fn stats_lines(&self) -> Vec<(String, String)> {
        let Some(st) = &self.stats else {
            return Vec::new();
        };
        let us = |k: &str| st.get(k).and_then(|v| v.as_u64());
        let mut out = Vec::new();
        for (k, label) in [
            ("freezing_time", "Freezing time"),
            ("frozen_time", "Frozen time"),
            ("memdump_time", "Memory dump time"),
            ("memwrite_time", "Memory write time"),
        ] {
            if let Some(v) = us(k) {
                out.push((label.to_string(), format!("{v} us")));
            }
        }
        for (k, label) in [
            ("pages_scanned", "Pages scanned"),
            ("pages_skipped_parent", "Pages skipped (parent)"),
            ("pages_written", "Pages written"),
            ("pages_lazy", "Pages lazy"),
        ] {
            if let Some(v) = us(k) {
                out.push((label.to_string(), v.to_string()));
            }
        }
        out
    }

    pub fn json(&self) -> Value {
        json!({
            "name": self.name,
            "id": self.id,
            "image": self.image,
            "image_id": self.image_id,
            "engine": self.engine,
            "runtime": self.runtime,
            "created": self.created,
            "checkpointed": self.checkpointed,
            "namespace": self.namespace,
            "pod": self.pod,
            "ip": self.ip,
            "mac": self.mac,
            "criu_image_version": self.criu_image_version,
            "criu_run_id": self.criu_run_id,
            "checkpoint_size": self.checkpoint_size,
            "pages_size": self.pages_size,
            "rootfs_diff_size": self.rootfs_diff_size,
            "deleted_files": self.deleted,
            "problems": self.problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_767_699), "2026-12-08T22:08:19Z");
        assert_eq!(
            to_second("2026-12-04T22:08:19.678983244Z"),
            "2026-12-04T22:08:19Z"
        );
    }
}
