//! `x ps`: the process tree with pgid, sid and command name.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{Value as Json, json};

use super::JsonList;
use super::dump::{Dump, Task};
use crate::error::{Error, Result};

struct Proc {
    task: Task,
    comm: String,
    /// `x ps --cmdline`: the command line from memory (None for a task
    /// without memory, or one whose arguments cannot be read).
    cmdline: Option<String>,
    state: Option<&'static str>,
    kids: Vec<usize>,
}

/// The tree as CRIT prints it: a header, then each task indented under its
/// parent. With `cmdline`, the COMM column is the command line read from
/// memory (`[comm]` for a task without one, as `ps` shows such tasks).
pub fn render(dump: &Dump, json: bool, cmdline: bool, out: &mut dyn Write) -> Result<()> {
    let (mut procs, roots) = tree(dump)?;
    if cmdline {
        for p in &mut procs {
            p.cmdline = command_line(dump, p.task.pid);
        }
    }
    if json {
        let mut list = JsonList::default();
        for &r in &roots {
            list.push(out, &to_json(&procs, r, cmdline))?;
        }
        return list.finish(out);
    }
    let column = if cmdline { "CMDLINE" } else { "COMM" };
    writeln!(out, "{:>7}{:>7}{:>7}   {column}", "PID", "PGID", "SID")?;
    // Depth-first, children in pstree order, without recursion.
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        let p = &procs[i];
        let shown = match (&p.cmdline, cmdline) {
            (Some(c), true) => c.clone(),
            (None, true) => format!("[{}]", p.comm),
            (_, false) => p.comm.clone(),
        };
        writeln!(
            out,
            "{:>7}{:>7}{:>7}   {:indent$}{}",
            p.task.pid,
            p.task.pgid,
            p.task.sid,
            "",
            shown,
            indent = 4 * depth
        )?;
        stack.extend(p.kids.iter().rev().map(|&k| (k, depth + 1)));
    }
    Ok(())
}

/// The tasks with their children, and the roots (tasks with ppid 0).
fn tree(dump: &Dump) -> Result<(Vec<Proc>, Vec<usize>)> {
    let tasks = dump.tasks("x ps")?;
    let mut procs = Vec::with_capacity(tasks.len());
    let mut by_pid = HashMap::new();
    for task in tasks {
        let name = format!("core-{}.img", task.pid);
        let core = dump.head_only(
            &name,
            &format!("x ps for pid {}", task.pid),
            &["tc.comm", "tc.task_state"],
        )?;
        let tc = core.msg("tc");
        let comm = tc
            .and_then(|tc| tc.str("comm"))
            .ok_or_else(|| Error::other("entry 0 has no tc.comm (needed by x ps)").in_file(&name))?
            .to_string();
        let state = tc.and_then(|tc| tc.u64("task_state")).map(state_name);
        by_pid.entry(task.pid).or_insert(procs.len());
        procs.push(Proc {
            task,
            comm,
            cmdline: None,
            state,
            kids: Vec::new(),
        });
    }
    let mut roots = Vec::new();
    for i in 0..procs.len() {
        let ppid = procs[i].task.ppid;
        if ppid == 0 {
            roots.push(i);
            continue;
        }
        match by_pid.get(&ppid) {
            Some(&parent) if parent != i => procs[parent].kids.push(i),
            found => {
                let (index, pid) = (procs[i].task.index, procs[i].task.pid);
                let what = if found.is_some() {
                    format!("entry {index}: pid {pid} is its own parent")
                } else {
                    format!("entry {index}: parent {ppid} of pid {pid} is not in the tree")
                };
                return Err(Error::other(format!("{what} (needed by x ps)")).in_file("pstree.img"));
            }
        }
    }
    Ok((procs, roots))
}

/// The command line of `pid` from its memory as checkpointctl shows it:
/// NUL separators as spaces, the final NUL dropped. None when memory gives
/// none (no memory, pages not dumped).
fn command_line(dump: &Dump, pid: u64) -> Option<String> {
    if dump.is_stateless(pid) {
        return None;
    }
    let space = crate::memory::AddressSpace::open(dump.dir(), pid).ok()?;
    let mut bytes = space.cmdline().ok().filter(|b| !b.is_empty())?;
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    for b in &mut bytes {
        if *b == 0 {
            *b = b' ';
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn state_name(s: u64) -> &'static str {
    match s {
        1 => "alive",
        2 => "dead",
        3 => "stopped",
        6 => "zombie",
        _ => "unknown",
    }
}

fn to_json(procs: &[Proc], root: usize, cmdline: bool) -> Json {
    // Build bottom-up so that deep trees need no recursion.
    let mut order = vec![root];
    let mut i = 0;
    while i < order.len() {
        order.extend(procs[order[i]].kids.iter().copied());
        i += 1;
    }
    let mut built: HashMap<usize, Json> = HashMap::new();
    for &n in order.iter().rev() {
        let p = &procs[n];
        let kids: Vec<Json> = p.kids.iter().filter_map(|k| built.remove(k)).collect();
        let mut node = json!({
                "pid": p.task.pid,
                "ppid": p.task.ppid,
                "pgid": p.task.pgid,
                "sid": p.task.sid,
                "comm": p.comm,
                "state": p.state,
                "threads": p.task.threads,
                "children": kids,
        });
        if cmdline {
            node["cmdline"] = p.cmdline.clone().map_or(Json::Null, Json::String);
        }
        built.insert(n, node);
    }
    built.remove(&root).unwrap_or(Json::Null)
}
