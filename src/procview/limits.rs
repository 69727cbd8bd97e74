//! `proc/PID/limits`: the task's rlimits as the kernel's /proc/PID/limits
//! prints them (a header, then one line per limit in RLIMIT_* order, with the
//! kernel's column widths).

use std::fmt::Write;

use crate::error::{Error, Result};
use crate::explore::dump::Dump;

/// RLIM_INFINITY as CRIU saves it (a 64-bit rlim_t of all ones).
pub const RLIM_INFINITY: u64 = u64::MAX;

/// The kernel's name and unit of each rlimit, in RLIMIT_* order.
pub const NAMES: [(&str, &str); 16] = [
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
];

/// The text of `limits` for task `pid`.
pub fn render(dump: &Dump, pid: u64) -> Result<String> {
    let name = format!("core-{pid}.img");
    let core = dump.head(&name, &format!("proc/{pid}/limits"))?;
    let limits: Vec<(u64, u64)> = core
        .msg("tc")
        .and_then(|tc| tc.msg("rlimits"))
        .map(|r| {
            r.msgs("rlimits")
                .map(|l| (l.u64("cur").unwrap_or(0), l.u64("max").unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    if limits.is_empty() {
        return Err(Error::other(format!(
            "entry 0 has no tc.rlimits (needed by proc/{pid}/limits)"
        ))
        .in_file(&name));
    }
    Ok(text(&limits))
}

/// The kernel's text for these (soft, hard) pairs; pairs past the known
/// names are left out, as the kernel has none.
pub fn text(limits: &[(u64, u64)]) -> String {
    let value = |v: u64| {
        if v == RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let mut s = format!(
        "{:<25} {:<20} {:<20} {:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for ((name, unit), &(cur, max)) in NAMES.iter().zip(limits) {
        let _ = write!(s, "{name:<25} {:<20} {:<20} ", value(cur), value(max));
        if unit.is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "{unit:<10}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_the_kernels() {
        let t = text(&[(RLIM_INFINITY, RLIM_INFINITY); 16]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "Limit                     Soft Limit           Hard Limit           Units     "
        );
        assert_eq!(
            lines[1],
            "Max cpu time              unlimited            unlimited            seconds   "
        );
        assert_eq!(
            lines[15],
            "Max realtime priority     unlimited            unlimited            "
        );
        assert_eq!(lines.len(), 17);
    }
}
