//! `x fds`: each task's open files, cwd and root.

use std::fmt::Write;

use serde_json::{Value as Json, json};

use super::dump::Dump;
use super::files::Files;
use crate::error::Result;

/// Tasks and their files as CRIT prints them.
pub fn render(dump: &Dump, json: bool) -> Result<String> {
    let mut files = Files::new(dump)?;
    let mut out = String::new();
    let mut list = Vec::new();
    for task in dump.live_tasks("x fds")? {
        let pid = task.pid;
        let why = format!("x fds for pid {pid}");
        let fdinfo = dump.fdinfo(pid, &why)?;
        let _ = writeln!(out, "{pid}");
        let mut fds = Vec::new();
        for e in &fdinfo.entries {
            let fd = e.msg.u64("fd").unwrap_or(0);
            let ty = e.msg.enum_name("type").unwrap_or("UND");
            let id = e.msg.u64("id").unwrap_or(0);
            let name = files.describe(ty, id, &why)?;
            let _ = writeln!(out, "\t{fd:>7}: {name}");
            fds.push(json!({"fd": fd, "type": ty, "id": id, "file": name}));
        }
        let fs = dump.head(&format!("fs-{pid}.img"), &why)?;
        let cwd = files.describe("REG", fs.u64("cwd_id").unwrap_or(0), &why)?;
        let root = files.describe("REG", fs.u64("root_id").unwrap_or(0), &why)?;
        let _ = writeln!(out, "\t{:>7}: {cwd}", "cwd");
        let _ = writeln!(out, "\t{:>7}: {root}", "root");
        list.push(json!({"pid": pid, "fds": fds, "cwd": cwd, "root": root}));
    }
    if json {
        return Ok(super::json_text(&Json::Array(list)));
    }
    Ok(out)
}
