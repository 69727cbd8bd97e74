//! `x fds`: each task's open files, cwd and root.

use std::io::Write;

use serde_json::json;

use super::JsonList;
use super::dump::Dump;
use super::files::Files;
use crate::error::Result;

/// Tasks and their files as CRIT prints them, one task at a time.
pub fn render(dump: &Dump, json: bool, out: &mut dyn Write) -> Result<()> {
    let mut files = Files::new(dump)?;
    let mut list = JsonList::default();
    for task in dump.live_tasks("x fds")? {
        let pid = task.pid;
        let why = format!("x fds for pid {pid}");
        let fdinfo = dump.fdinfo(pid, &why)?;
        if !json {
            writeln!(out, "{pid}")?;
        }
        let mut fds = Vec::new();
        for e in &fdinfo.entries {
            let fd = e.msg.u64("fd").unwrap_or(0);
            let ty = e.msg.enum_name("type").unwrap_or("UND");
            let id = e.msg.u64("id").unwrap_or(0);
            let name = files.describe(ty, id, &why)?;
            if json {
                fds.push(json!({"fd": fd, "type": ty, "id": id, "file": name}));
            } else {
                writeln!(out, "\t{fd:>7}: {name}")?;
            }
        }
        let fs = dump.head(&format!("fs-{pid}.img"), &why)?;
        let cwd = files.describe("REG", fs.u64("cwd_id").unwrap_or(0), &why)?;
        let root = files.describe("REG", fs.u64("root_id").unwrap_or(0), &why)?;
        if json {
            list.push(
                out,
                &json!({"pid": pid, "fds": fds, "cwd": cwd, "root": root}),
            )?;
        } else {
            writeln!(out, "\t{:>7}: {cwd}", "cwd")?;
            writeln!(out, "\t{:>7}: {root}", "root")?;
        }
    }
    if json {
        list.finish(out)?;
    }
    Ok(())
}
