//! `crit-fs inspect`: one tree of what a checkpoint holds — the container's
//! facts (archive or podman export directory), then the process tree with
//! command lines, and per process its files, sockets and mounts; `--stats`
//! adds CRIU's dump statistics. Built from the explorers' JSON (`x ps`, `x
//! fds`, `x sk`) and the archive facts, so the numbers are theirs.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::archive::facts::{self, Facts};
use crate::error::{Error, Result};
use crate::explore::dump::Dump;
use crate::explore::view::Ints;

/// NUL-separated strings (argv, environ) from dumped memory.
fn strings(mut bytes: Vec<u8>) -> Vec<String> {
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The command line (arguments joined by spaces) and environment of `pid`,
/// read from its dumped memory through the memory layer; None where the
/// pages were not dumped or the images do not say.
pub fn cmdline_environ(dir: &Path, pid: u64) -> (Option<String>, Option<Vec<String>>) {
    let Ok(space) = crate::memory::AddressSpace::open(dir, pid) else {
        return (None, None);
    };
    let cmd = space
        .cmdline()
        .ok()
        .map(strings)
        .filter(|a| !a.is_empty())
        .map(|a| a.join(" "));
    let env = space.environ().ok().map(strings);
    (cmd, env)
}

const FSTYPES: [(u64, &str); 21] = [
    (0, "other"),
    (1, "proc"),
    (2, "sysfs"),
    (3, "devtmpfs"),
    (4, "binfmt_misc"),
    (5, "tmpfs"),
    (6, "devpts"),
    (7, "simfs"),
    (8, "pstore"),
    (9, "securityfs"),
    (10, "fusectl"),
    (11, "debugfs"),
    (12, "cgroup"),
    (13, "aufs"),
    (14, "mqueue"),
    (15, "fuse"),
    (16, "auto"),
    (17, "overlay"),
    (18, "autofs"),
    (19, "tracefs"),
    (23, "cgroup2"),
];

/// The mounts of mount namespace `ns` (`mountpoints-NS.img`), as JSON objects.
fn mounts(dump: &Dump, ns: u64) -> Vec<Value> {
    let Ok(Some(img)) = dump.try_entries(&format!("mountpoints-{ns}.img")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in img.iter() {
        let m = e.message();
        let text = |k: &str| m.str(k).map(|s| s.into_owned()).unwrap_or_default();
        let fstype = e.u64("fstype").unwrap_or(0);
        let name = FSTYPES
            .iter()
            .find(|(n, _)| *n == fstype)
            .map(|(_, s)| s.to_string())
            .unwrap_or_else(|| format!("fstype {fstype}"));
        out.push(json!({
            "mountpoint": text("mountpoint"),
            "type": name,
            "source": text("source"),
            "root": text("root"),
        }));
    }
    out
}

fn explorer(dir: &Path, what: &str) -> Result<Value> {
    let text = crate::explore::render(dir, what, true)?;
    serde_json::from_str(&text).map_err(|e| Error::other(format!("x {what} --json: {e}")))
}

fn by_pid(list: &Value) -> std::collections::HashMap<u64, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t.get("pid")?.as_u64()?, t.clone())))
        .collect()
}

/// The whole inspection as one JSON value.
pub fn inspect(dir: &Path, top: &Path, stats: bool, env: bool) -> Result<Value> {
    let dump = Dump::new(dir);
    let facts = facts::read_with(top, dir);
    let ps = explorer(dir, "ps")?;
    let fds = by_pid(&explorer(dir, "fds")?);
    let sk = by_pid(&explorer(dir, "sk")?);
    let mut seen_ns = std::collections::HashSet::new();
    let mut mem_ok = true;
    fn walk(
        t: &Value,
        dump: &Dump,
        fds: &std::collections::HashMap<u64, Value>,
        sk: &std::collections::HashMap<u64, Value>,
        seen_ns: &mut std::collections::HashSet<u64>,
        mem_ok: &mut bool,
    ) -> Value {
        let pid = t.get("pid").and_then(|p| p.as_u64()).unwrap_or(0);
        let alive = t.get("state").and_then(|s| s.as_str()) == Some("alive");
        let (cmd, environ) = if alive {
            cmdline_environ(dump.dir(), pid)
        } else {
            (None, None)
        };
        if alive && cmd.is_none() {
            *mem_ok = false;
        }
        let ns = dump
            .try_image(&format!("ids-{pid}.img"))
            .ok()
            .flatten()
            .and_then(|img| img.entries.first()?.msg.u64("mnt_ns_id"));
        let mnts = match ns {
            Some(ns) if seen_ns.insert(ns) => Value::Array(mounts(dump, ns)),
            Some(ns) => json!(format!("mount namespace {ns}, as above")),
            None => Value::Null,
        };
        let children: Vec<Value> = t
            .get("children")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .map(|c| walk(c, dump, fds, sk, seen_ns, mem_ok))
            .collect();
        json!({
            "pid": pid,
            "comm": t.get("comm"),
            "state": t.get("state"),
            "cmdline": cmd,
            "environ": environ,
            "cwd": fds.get(&pid).and_then(|f| f.get("cwd")),
            "root": fds.get(&pid).and_then(|f| f.get("root")),
            "files": fds.get(&pid).and_then(|f| f.get("fds")).cloned().unwrap_or(json!([])),
            "sockets": sk.get(&pid).and_then(|f| f.get("sockets")).cloned().unwrap_or(json!([])),
            "mount_namespace": ns,
            "mounts": mnts,
            "children": children,
        })
    }
    let tree: Vec<Value> = ps
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| walk(t, &dump, &fds, &sk, &mut seen_ns, &mut mem_ok))
        .collect();
    let mut v = json!({
        "container": facts.json(),
        "processes": tree,
    });
    if !env {
        strip_environ(&mut v["processes"]);
    }
    if stats {
        v["statistics"] = facts
            .stats
            .clone()
            .map(Value::Object)
            .unwrap_or(Value::Null);
    }
    Ok(v)
}

fn strip_environ(procs: &mut Value) {
    for p in procs.as_array_mut().into_iter().flatten() {
        if let Some(o) = p.as_object_mut() {
            o.remove("environ");
        }
        strip_environ(&mut p["children"]);
    }
}

fn facts_of(v: &Value) -> Facts {
    // Only for text: rebuild the lines from the JSON so text and JSON agree.
    let c = &v["container"];
    let s = |k: &str| c.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let list = |k: &str| {
        c.get(k)
            .and_then(|x| x.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Facts {
        name: s("name"),
        id: s("id"),
        image: s("image"),
        image_id: s("image_id"),
        engine: s("engine"),
        runtime: s("runtime"),
        created: s("created"),
        checkpointed: s("checkpointed"),
        namespace: s("namespace"),
        pod: s("pod"),
        ip: list("ip"),
        mac: list("mac"),
        criu_image_version: c.get("criu_image_version").and_then(|x| x.as_u64()),
        criu_run_id: s("criu_run_id"),
        checkpoint_size: c
            .get("checkpoint_size")
            .and_then(|x| x.as_u64())
            .unwrap_or(0),
        pages_size: c.get("pages_size").and_then(|x| x.as_u64()).unwrap_or(0),
        rootfs_diff_size: c.get("rootfs_diff_size").and_then(|x| x.as_u64()),
        deleted: list("deleted_files"),
        stats: v.get("statistics").and_then(|s| s.as_object()).cloned(),
        problems: list("problems"),
    }
}

fn branch(out: &mut String, prefix: &str, last: bool, text: &str) -> String {
    let _ = writeln!(out, "{prefix}{}{text}", if last { "└── " } else { "├── " });
    format!("{prefix}{}", if last { "    " } else { "│   " })
}

fn process_text(out: &mut String, prefix: &str, last: bool, p: &Value) {
    let pid = p["pid"].as_u64().unwrap_or(0);
    let comm = p["comm"].as_str().unwrap_or("?");
    let head = match p["cmdline"].as_str() {
        Some(c) => format!("[{pid}] {c}"),
        None => format!("[{pid}] {comm} (command line not in the dump; comm shown)"),
    };
    let inner = branch(out, prefix, last, &head);
    let children = p["children"].as_array().cloned().unwrap_or_default();
    let files = p["files"].as_array().cloned().unwrap_or_default();
    let sockets = p["sockets"].as_array().cloned().unwrap_or_default();
    let mut parts: Vec<(&str, Vec<String>)> = Vec::new();
    let mut f: Vec<String> = Vec::new();
    if let Some(c) = p["cwd"].as_str() {
        f.push(format!("cwd {c}"));
    }
    if let Some(r) = p["root"].as_str()
        && r != "/"
    {
        f.push(format!("root {r}"));
    }
    for fd in &files {
        f.push(format!(
            "[{}] {} {}",
            fd["fd"],
            fd["type"].as_str().unwrap_or(""),
            fd["file"].as_str().unwrap_or("")
        ));
    }
    parts.push(("Files", f));
    if let Some(env) = p.get("environ").and_then(|e| e.as_array()) {
        parts.push((
            "Environment",
            env.iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect(),
        ));
    }
    if !sockets.is_empty() {
        let s = sockets
            .iter()
            .map(|s| {
                let mut t = format!(
                    "[{}] {} {}",
                    s["fd"],
                    s["family"].as_str().unwrap_or(""),
                    s["proto"].as_str().or(s["type"].as_str()).unwrap_or("")
                );
                for k in ["state", "local", "peer", "path"] {
                    if let Some(v) = s[k].as_str().filter(|v| !v.is_empty()) {
                        let _ = write!(t, " {}{v}", if k == "peer" { "-> " } else { "" });
                    }
                }
                t
            })
            .collect();
        parts.push(("Sockets", s));
    }
    match &p["mounts"] {
        Value::Array(m) => parts.push((
            "Mounts",
            m.iter()
                .map(|m| {
                    let root = m["root"].as_str().unwrap_or("/");
                    format!(
                        "{} {} ({}{})",
                        m["mountpoint"].as_str().unwrap_or(""),
                        m["type"].as_str().unwrap_or(""),
                        m["source"].as_str().unwrap_or(""),
                        if root == "/" {
                            String::new()
                        } else {
                            format!(", bind of {root}")
                        }
                    )
                })
                .collect(),
        )),
        Value::String(s) => parts.push(("Mounts", vec![s.clone()])),
        _ => {}
    }
    let n = parts.len() + children.len();
    let mut i = 0;
    for (label, lines) in parts {
        i += 1;
        let p2 = branch(out, &inner, i == n, label);
        for (j, l) in lines.iter().enumerate() {
            branch(out, &p2, j + 1 == lines.len(), l);
        }
    }
    for c in &children {
        i += 1;
        process_text(out, &inner, i == n, c);
    }
}

/// The inspection as a text tree.
pub fn text(v: &Value, what: &str) -> String {
    let facts = facts_of(v);
    let mut out = String::new();
    let _ = writeln!(out, "{what}");
    let lines = facts.lines();
    let stats = facts.stats_lines();
    let has_stats = v.get("statistics").is_some();
    let mut sections = vec!["Container", "Processes"];
    if has_stats {
        sections.insert(1, "Statistics");
    }
    for (k, section) in sections.iter().enumerate() {
        let last = k + 1 == sections.len();
        let p = branch(&mut out, "", last, section);
        match *section {
            "Container" => {
                for (i, (l, val)) in lines.iter().enumerate() {
                    branch(
                        &mut out,
                        &p,
                        i + 1 == lines.len() && facts.problems.is_empty(),
                        &format!("{l}: {val}"),
                    );
                }
                for (i, pr) in facts.problems.iter().enumerate() {
                    branch(
                        &mut out,
                        &p,
                        i + 1 == facts.problems.len(),
                        &format!("Unreadable: {pr}"),
                    );
                }
            }
            "Statistics" => {
                if stats.is_empty() {
                    branch(&mut out, &p, true, "no stats-dump in this checkpoint");
                }
                for (i, (l, val)) in stats.iter().enumerate() {
                    branch(&mut out, &p, i + 1 == stats.len(), &format!("{l}: {val}"));
                }
            }
            _ => {
                let procs = v["processes"].as_array().cloned().unwrap_or_default();
                for (i, pr) in procs.iter().enumerate() {
                    process_text(&mut out, &p, i + 1 == procs.len(), pr);
                }
            }
        }
    }
    out
}
