//! The process tree: one root, every parent present, no cycles, every
//! thread with its core, every task with the images a restore reads.

use std::collections::{HashMap, HashSet};

use super::Checker;
use crate::explore::dump::Task;

impl Checker<'_> {
    /// Checks pstree.img and returns its tasks (empty when it is unusable).
    pub(super) fn tree(&mut self) -> Vec<Task> {
        const P: &str = "pstree.img";
        if self.require(P, "every dump").is_none() {
            return Vec::new();
        }
        let Ok(tasks) = self.dump.tasks("check") else {
            return Vec::new();
        };
        if tasks.is_empty() {
            self.error(P, None, "holds no tasks");
            return tasks;
        }
        let mut by_pid: HashMap<u64, usize> = HashMap::new();
        for t in &tasks {
            if t.pid == 0 {
                self.error(P, Some(t.index), "pid is 0");
            }
            if let Some(&first) = by_pid.get(&t.pid) {
                self.error(
                    P,
                    Some(t.index),
                    format!("pid {} appears again (first at entry {first})", t.pid),
                );
            } else {
                by_pid.insert(t.pid, t.index);
            }
        }
        // Restore reads a task's threads only when its core says it is alive
        // (cr-restore.c open_cores); CRIU leaves a zombie's thread list
        // unset, so whatever it holds means nothing.
        let stateless: HashSet<u64> = tasks
            .iter()
            .filter(|t| self.dump.is_stateless(t.pid))
            .map(|t| t.pid)
            .collect();
        for t in tasks.iter().filter(|t| !stateless.contains(&t.pid)) {
            // Harmless (restore opens core-TID for each listed thread and
            // uses the task's own core for the pid), but CRIU never writes it.
            if !t.threads.contains(&t.pid) {
                self.warn(
                    P,
                    Some(t.index),
                    format!("threads of pid {} do not include the pid itself", t.pid),
                );
            }
        }
        // Restore registers every thread after the first as a pid of its
        // own (pstree.c read_one_pstree_item), so one that is also a task's
        // pid or another thread fails with "Unexpected task".
        let mut tids: HashMap<u64, u64> = HashMap::new();
        for t in &tasks {
            for &tid in t.threads.iter().skip(1) {
                let clash = if by_pid.contains_key(&tid) {
                    Some("is also the pid of a task".to_string())
                } else {
                    tids.insert(tid, t.pid)
                        .map(|other| format!("is also a thread of pid {other}"))
                };
                if let Some(clash) = clash {
                    self.error(
                        P,
                        Some(t.index),
                        format!(
                            "thread {tid} of pid {} {clash} (restore: Unexpected task {tid})",
                            t.pid
                        ),
                    );
                }
            }
        }
        let roots: Vec<&Task> = tasks.iter().filter(|t| t.ppid == 0).collect();
        match roots.as_slice() {
            [] => self.error(P, None, "no root task (no entry has ppid 0)"),
            [_] => {}
            [first, rest @ ..] => {
                for r in rest {
                    self.error(
                        P,
                        Some(r.index),
                        format!(
                            "pid {} is a second root (ppid 0), besides pid {}",
                            r.pid, first.pid
                        ),
                    );
                }
            }
        }
        for t in &tasks {
            if t.ppid != 0 && !by_pid.contains_key(&t.ppid) {
                self.error(
                    P,
                    Some(t.index),
                    format!("parent {} of pid {} is not in the tree", t.ppid, t.pid),
                );
            }
        }
        // Tasks whose parent chain never reaches a root are in a cycle.
        let mut kids: HashMap<u64, Vec<u64>> = HashMap::new();
        for t in &tasks {
            kids.entry(t.ppid).or_default().push(t.pid);
        }
        let mut reached: HashSet<u64> = HashSet::new();
        let mut todo: Vec<u64> = roots.iter().map(|t| t.pid).collect();
        while let Some(pid) = todo.pop() {
            if reached.insert(pid) {
                todo.extend(kids.get(&pid).into_iter().flatten().copied());
            }
        }
        for t in &tasks {
            if t.ppid != 0 && by_pid.contains_key(&t.ppid) && !reached.contains(&t.pid) {
                self.error(
                    P,
                    Some(t.index),
                    format!(
                        "pid {} is not connected to the root (its parents form a cycle)",
                        t.pid
                    ),
                );
            }
        }
        // Restore reads pstree.img in order and needs each parent read
        // before its children ("Can't find a parent for PID").
        for t in &tasks {
            if let Some(&at) = by_pid.get(&t.ppid)
                && at > t.index
                && reached.contains(&t.pid)
            {
                self.error(
                    P,
                    Some(t.index),
                    format!(
                        "parent {} of pid {} comes after it, at entry {at} (restore reads parents first: Can't find a parent for {})",
                        t.ppid, t.pid, t.pid
                    ),
                );
            }
        }
        tasks
    }

    /// Per task: core for every thread; for tasks with state, ids, mm,
    /// pagemap, fs and the fdinfo of its files, then their references.
    pub(super) fn tasks(&mut self, tasks: &[Task]) {
        let mut files_seen = HashSet::new();
        for t in tasks {
            let pid = t.pid;
            self.require_present(&format!("core-{pid}.img"), &format!("pid {pid}"));
            self.task_state(pid);
            // A zombie (or dead task) is restored from its own core alone:
            // its thread list is not filled by CRIU and not read back.
            if self.dump.is_stateless(pid) {
                continue;
            }
            for &tid in t.threads.iter().filter(|&&tid| tid != pid) {
                self.require_present(
                    &format!("core-{tid}.img"),
                    &format!("thread {tid} of pid {pid}"),
                );
            }
            let needed = format!("pid {pid}");
            let ids = self.require(&format!("ids-{pid}.img"), &needed);
            let mm = self.require_head(&format!("mm-{pid}.img"), &needed);
            let pagemap = self.require_entries(&format!("pagemap-{pid}.img"), &needed);
            let fs = self.require(&format!("fs-{pid}.img"), &needed);
            if let Some(files_id) = ids
                .as_ref()
                .and_then(|i| i.entries.first())
                .and_then(|e| e.msg.u64("files_id"))
            {
                let name = format!("fdinfo-{files_id}.img");
                if let Some(fdinfo) = self.require(&name, &format!("ids-{pid}.img"))
                    && files_seen.insert(files_id)
                {
                    self.fds(&name, &fdinfo);
                }
            }
            if let Some(fs) = fs.and_then(|i| i.entries.into_iter().next()) {
                self.fs_refs(pid, &fs.msg);
            }
            if let Some(mm) = mm {
                self.mm_refs(pid, &mm);
                if let Some(pm) = pagemap {
                    self.pagemap(pid, &mm, &pm);
                }
            }
        }
    }

    /// Restore knows a task alive (1), dead (2, how CRIU records a zombie)
    /// or stopped (3) and fails on any other state (cr-restore.c
    /// fork_with_pid, check_core).
    fn task_state(&mut self, pid: u64) {
        let name = format!("core-{pid}.img");
        let Some(core) = self.optional(&name) else {
            return; // missing or undecodable: reported already
        };
        let Some(e) = core.entries.first() else {
            return;
        };
        let Some(tc) = e.msg.msg("tc") else {
            self.error(
                &name,
                Some(0),
                "has no tc (restore: Core task state data missed)",
            );
            return;
        };
        let state = tc.u64("task_state").unwrap_or(0);
        if !matches!(state, 1..=3) {
            self.error(
                &name,
                Some(0),
                format!("tc.task_state is {state}, not 1 (alive), 2 (dead) or 3 (stopped) (restore: Unknown task state {state})"),
            );
        }
    }
}
