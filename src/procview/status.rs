//! `proc/PID/status`: the lines of the kernel's /proc/PID/status that a dump
//! knows, in the kernel's order and format (`Name:\tVALUE`, signal and
//! capability masks as 16 hex digits). A line whose facts the dump lacks is
//! left out rather than guessed.

use std::fmt::Write;

use super::{Proc, u64s};
use crate::error::Result;
use crate::explore::dump::Dump;
use crate::message::Message;

/// CRIU's task states (compel's COMPEL_TASK_*).
const TASK_ALIVE: u64 = 1;
const TASK_DEAD: u64 = 2;
const TASK_STOPPED: u64 = 3;
const TASK_ZOMBIE: u64 = 6;

/// Signals CRIU does not save an action for (its list of sigactions skips them).
const SIGKILL: u64 = 9;
const SIGSTOP: u64 = 19;

/// The State line of a CRIU task state. A live task is shown sleeping (it
/// was frozen in the kernel, as a dumped task is); CRIU records a zombie as
/// TASK_DEAD and restores it as a zombie, so both show `Z (zombie)`.
pub fn state_line(task_state: u64) -> &'static str {
    match task_state {
        TASK_ALIVE => "S (sleeping)",
        TASK_STOPPED => "T (stopped)",
        TASK_DEAD | TASK_ZOMBIE => "Z (zombie)",
        _ => "? (unknown)",
    }
}

/// The text of `status` for `proc`.
pub fn render(dump: &Dump, proc: &Proc) -> Result<String> {
    render_task(dump, proc, proc.pid)
}

/// The text of `task/TID/status`: the thread's own name, pid, credentials
/// and blocked signals (its core image), the rest from the process (the
/// leader's core: state, signal actions, limits are per process).
pub fn render_task(dump: &Dump, proc: &Proc, tid: u64) -> Result<String> {
    let pid = proc.pid;
    let why = format!("proc/{pid}/status");
    let core = dump.head(&format!("core-{pid}.img"), &why)?;
    let own = if tid == pid {
        None
    } else {
        Some(dump.head(
            &format!("core-{tid}.img"),
            &format!("proc/{pid}/task/{tid}/status"),
        )?)
    };
    let tc = core.msg("tc");
    let thread = own.as_ref().unwrap_or(&core).msg("thread_core");
    let creds = thread.and_then(|t| t.msg("creds"));
    let mut s = String::new();
    let comm = thread
        .and_then(|t| t.str("comm"))
        .or_else(|| tc.and_then(|tc| tc.str("comm")))
        .unwrap_or_default();
    let _ = writeln!(s, "Name:\t{}", escape_comm(&comm));
    if proc.alive
        && let Ok(fs) = dump.head(&format!("fs-{pid}.img"), &why)
        && let Some(umask) = fs.u64("umask")
    {
        let _ = writeln!(s, "Umask:\t{umask:04o}");
    }
    if let Some(st) = tc.and_then(|tc| tc.u64("task_state")) {
        let _ = writeln!(s, "State:\t{}", state_line(st));
    }
    let _ = writeln!(s, "Tgid:\t{pid}");
    let _ = writeln!(s, "Pid:\t{tid}");
    let _ = writeln!(s, "PPid:\t{}", proc.ppid);
    if let Some(c) = creds {
        let ids = |names: [&str; 4]| {
            names
                .iter()
                .map(|n| c.u64(n).unwrap_or(0).to_string())
                .collect::<Vec<_>>()
                .join("\t")
        };
        let _ = writeln!(s, "Uid:\t{}", ids(["uid", "euid", "suid", "fsuid"]));
        let _ = writeln!(s, "Gid:\t{}", ids(["gid", "egid", "sgid", "fsgid"]));
        // The kernel ends the list with a space, even an empty one.
        let groups: Vec<String> = u64s(c, "groups").iter().map(u64::to_string).collect();
        let _ = writeln!(s, "Groups:\t{} ", groups.join(" "));
    }
    if proc.alive {
        let _ = writeln!(s, "Threads:\t{}", proc.threads.len());
    }
    let blocked = thread
        .and_then(|t| t.u64("blk_sigset"))
        .or_else(|| tc.and_then(|tc| tc.u64("blk_sigset")));
    if let Some(b) = blocked {
        let _ = writeln!(s, "SigBlk:\t{b:016x}");
    }
    if let Some(tc) = tc
        && tc.has("sigactions")
    {
        let (ign, cgt) = ignored_and_caught(tc);
        let _ = writeln!(s, "SigIgn:\t{ign:016x}");
        let _ = writeln!(s, "SigCgt:\t{cgt:016x}");
    }
    if let Some(c) = creds {
        for (line, field) in [
            ("CapInh", "cap_inh"),
            ("CapPrm", "cap_prm"),
            ("CapEff", "cap_eff"),
            ("CapBnd", "cap_bnd"),
            ("CapAmb", "cap_amb"),
        ] {
            let words = u64s(c, field);
            if field == "cap_amb" && words.is_empty() {
                continue;
            }
            let lo = words.first().copied().unwrap_or(0) & 0xffff_ffff;
            let hi = words.get(1).copied().unwrap_or(0) & 0xffff_ffff;
            let _ = writeln!(s, "{line}:\t{:016x}", hi << 32 | lo);
        }
        // CRIU records both only when they are not 0.
        let _ = writeln!(s, "NoNewPrivs:\t{}", c.u64("no_new_privs").unwrap_or(0));
    }
    let seccomp = thread
        .and_then(|t| t.u64("seccomp_mode"))
        .or_else(|| tc.and_then(|tc| tc.u64("old_seccomp_mode")));
    if let Some(mode) = seccomp.or(thread.map(|_| 0)) {
        let _ = writeln!(s, "Seccomp:\t{mode}");
    }
    Ok(s)
}

/// SigIgn and SigCgt from the signal actions, which CRIU lists for signals
/// 1..=64 without SIGKILL and SIGSTOP: SIG_IGN (1) is ignored, any other
/// handler but SIG_DFL (0) is caught.
fn ignored_and_caught(tc: &Message) -> (u64, u64) {
    let (mut ign, mut cgt) = (0u64, 0u64);
    let signals = (1..=64u64).filter(|&s| s != SIGKILL && s != SIGSTOP);
    for (sig, sa) in signals.zip(tc.msgs("sigactions")) {
        let bit = 1u64 << (sig - 1);
        match sa.u64("sigaction").unwrap_or(0) {
            0 => {}
            1 => ign |= bit,
            _ => cgt |= bit,
        }
    }
    (ign, cgt)
}

/// The command name as the kernel writes it in status: `\\` and `\n`
/// escaped, other bytes as they are.
fn escape_comm(comm: &str) -> String {
    comm.replace('\\', "\\\\").replace('\n', "\\n")
}
