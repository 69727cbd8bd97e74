//! A real CRIU for the end-to-end tests: finding one (4.x), starting small
//! programs to dump, dumping and restoring them, and killing whatever was
//! restored (even when the test fails).
//!
//! CRIU is `$CRIU` when set (it must then be a CRIU 4.x: a wrong setting
//! fails the test instead of hiding it as a skip), else /opt/criu/bin/criu,
//! else `criu` on PATH when `criu --version` says 4.x. Without one, a test
//! calls [`criu_or_skip`], which prints one `skipped: ...` line and returns
//! `None`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// How long any one CRIU command or wait may take before the test fails
/// (generous: the machine is shared and slow at times).
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Criu {
    pub path: PathBuf,
    /// What `criu --version` printed first, e.g. "Version: 4.2".
    pub version: String,
}

/// The `Version: X.Y` line of `criu --version` when X is 4 or more.
fn version_4(path: &Path) -> Result<String, String> {
    let out = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{}: not found", path.display()),
            _ => format!("{}: {e}", path.display()),
        })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("Version:"))
        .ok_or_else(|| {
            let first = text.lines().next().unwrap_or_default();
            format!("{}: --version printed {first:?}", path.display())
        })?;
    let major: u32 = line["Version:".len()..]
        .trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("{}: cannot read {line:?}", path.display()))?;
    if major >= 4 {
        Ok(line.trim().to_string())
    } else {
        Err(format!("{}: {line} (4.x needed)", path.display()))
    }
}

fn find() -> Result<Criu, String> {
    if let Some(path) = std::env::var_os("CRIU") {
        let path = PathBuf::from(path);
        let version = version_4(&path).unwrap_or_else(|e| panic!("CRIU={e}"));
        return Ok(Criu { path, version });
    }
    let mut tried = Vec::new();
    for path in [PathBuf::from("/opt/criu/bin/criu"), PathBuf::from("criu")] {
        match version_4(&path) {
            Ok(version) => return Ok(Criu { path, version }),
            Err(e) => tried.push(e),
        }
    }
    Err(tried.join("; "))
}

/// The CRIU to use, or `None` after printing why the test is skipped.
pub fn criu_or_skip() -> Option<&'static Criu> {
    static FOUND: OnceLock<Result<Criu, String>> = OnceLock::new();
    let why = match FOUND.get_or_init(find) {
        Ok(criu) if unsafe { libc::geteuid() } == 0 => return Some(criu),
        Ok(_) => "CRIU needs root".to_string(),
        Err(e) => format!("no CRIU 4.x (set CRIU=...); tried {e}"),
    };
    // Straight to fd 2 in one write: the test harness captures print! and
    // eprint! of passing tests, and tests run side by side.
    let _ = std::io::stderr().write_all(format!("skipped: {why}\n").as_bytes());
    None
}

/// Held by every test that runs CRIU: one dump or restore at a time, so
/// that they never freeze or restore side by side on a 2-core machine.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls `cond` every 20 ms until it holds or [`PATIENCE`] has passed.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Compiles C source `src` with `cc` into `dir/name`.
pub fn compile(src: &Path, dir: &Path, name: &str) -> PathBuf {
    compile_with(src, dir, name, &[])
}

/// [`compile`] with more `cc` flags (`-pthread`, say).
pub fn compile_with(src: &Path, dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let exe = dir.join(name);
    let out = Command::new("cc")
        .arg("-O2")
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg(src)
        .output()
        .expect("cc");
    assert!(
        out.status.success(),
        "cc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// A program started for dumping: its own session (setsid), stdio on
/// /dev/null. Killed (with its descendants) and reaped on drop unless a
/// dump took it.
pub struct Running {
    child: Option<Child>,
    pub pid: i32,
}

impl Running {
    /// Starts `cmd` in a new session; waits until `ready` exists (the
    /// program creates it, by rename, once it is set up).
    pub fn start(cmd: Command, ready: &Path) -> Running {
        Running::start_until(cmd, "the program to get ready", |_| ready.exists())
    }

    /// Starts `cmd` in a new session; waits until `ready(pid)` holds (a
    /// program that announces nothing, `sleep` say, once it is asleep).
    pub fn start_until(
        mut cmd: Command,
        what: &str,
        mut ready: impl FnMut(i32) -> bool,
    ) -> Running {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the program to dump");
        let mut running = Running {
            pid: child.id() as i32,
            child: Some(child),
        };
        let start = Instant::now();
        while !ready(running.pid) {
            if let Some(status) = running.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the program to dump exited early: {status}");
            }
            assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
        running
    }

    /// `criu dump -t PID -D dir` (the tree ends with the dump); the log
    /// goes to `log`. Returns once every pid of the dumped tree is free
    /// again for the restore: the root is reaped here, its descendants by
    /// init (which can take seconds here).
    pub fn dump(mut self, criu: &Criu, dir: &Path, log: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let tree = tree_of(self.pid);
        let pid = self.pid.to_string();
        let args = ["dump", "-t", &pid, "-D"];
        run_criu(criu, &args, dir, log);
        let mut child = self.child.take().unwrap();
        wait_for(&format!("the end of dumped process {pid}"), || {
            child.try_wait().unwrap().is_some()
        });
        for p in &tree[1..] {
            let proc = PathBuf::from(format!("/proc/{p}"));
            wait_for(&format!("pid {p} of the dumped tree to be free"), || {
                !proc.exists()
            });
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Its descendants too, each by pid.
            for pid in tree_of(self.pid).into_iter().skip(1) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `criu ARGS DIR -v4 -o LOG` in `dir`, failing the test (with the
/// log's errors) when it fails or outlasts [`PATIENCE`].
fn run_criu(criu: &Criu, args: &[&str], dir: &Path, log: &Path) {
    let place = Place {
        cwd: dir,
        setup: None,
    };
    if let Err(e) = try_criu_in(criu, args, dir, log, &[], &place) {
        panic!("{e}");
    }
}

/// `path` as one shell word.
pub fn quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "'\\''"))
}

/// Where and how a CRIU command runs: in `cwd`, and, with `setup`, in a
/// mount namespace of its own that the shell commands `setup` prepare
/// first (`cwd` is then entered after them, inside the namespace).
pub struct Place<'a> {
    pub cwd: &'a Path,
    pub setup: Option<&'a str>,
}

/// Runs `criu ARGS DIR -v4 -o LOG MORE` at `place`: a failure of CRIU
/// comes back as what it ran, its exit status and the log's errors; only
/// outlasting [`PATIENCE`] fails the test here.
fn try_criu_in(
    criu: &Criu,
    args: &[&str],
    dir: &Path,
    log: &Path,
    more: &[&std::ffi::OsStr],
    place: &Place,
) -> Result<(), String> {
    let _ = std::fs::remove_file(log);
    let mut cmd = match place.setup {
        None => {
            let mut cmd = Command::new(&criu.path);
            cmd.current_dir(place.cwd);
            cmd
        }
        Some(setup) => {
            // unshare -m makes the new namespace's mounts private.
            let script = format!("{setup}\ncd {}\nexec \"$0\" \"$@\"", quote(place.cwd));
            let mut cmd = Command::new("unshare");
            cmd.args(["-m", "sh", "-ec", &script]).arg(&criu.path);
            cmd
        }
    };
    let mut child = cmd
        .args(args)
        .arg(dir)
        .arg("-v4")
        .arg("-o")
        .arg(log)
        .args(more)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", criu.path.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("criu {args:?} {} took over {PATIENCE:?}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "criu {args:?} {}: {status}; log {}:\n{}",
            dir.display(),
            log.display(),
            log_errors(log)
        ))
    }
}

/// The error lines of a CRIU log (or its last lines when it has none).
pub fn log_errors(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("Error")).collect();
    if errors.is_empty() {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    } else {
        errors.join("\n")
    }
}

/// A process tree CRIU restored, detached (`restore -d`). Every process of
/// it is SIGKILLed on drop.
#[derive(Debug)]
pub struct Restored {
    pub pid: i32,
}

impl Restored {
    /// `criu restore -D dir -d --pidfile F`, run in `cwd`; the log goes to
    /// `log`, the pid file beside it.
    pub fn new(criu: &Criu, dir: &Path, log: &Path, cwd: &Path) -> Restored {
        let place = Place { cwd, setup: None };
        Restored::at(criu, dir, log, &place)
    }

    /// [`Restored::new`] at `place`. A process restored in a mount
    /// namespace of its own sees its files under /proc/PID/root/.
    pub fn at(criu: &Criu, dir: &Path, log: &Path, place: &Place) -> Restored {
        Restored::try_at(criu, dir, log, place).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Restored::new`], or why CRIU refused: what it ran, its status and
    /// the error lines of its log (for a dump it must refuse).
    pub fn try_new(criu: &Criu, dir: &Path, log: &Path, cwd: &Path) -> Result<Restored, String> {
        let place = Place { cwd, setup: None };
        Restored::try_at(criu, dir, log, &place)
    }

    /// [`Restored::try_new`] at `place`.
    pub fn try_at(criu: &Criu, dir: &Path, log: &Path, place: &Place) -> Result<Restored, String> {
        let pidfile = log.with_extension("pid");
        let _ = std::fs::remove_file(&pidfile);
        let more = ["--pidfile".as_ref(), pidfile.as_os_str()];
        let done = try_criu_in(criu, &["restore", "-d", "-D"], dir, log, &more, place);
        let pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|text| text.trim().parse().ok());
        // Whatever a failed restore may have left running is killed too.
        let restored = pid.map(|pid| Restored { pid });
        done?;
        let restored = restored.expect("criu restore wrote no pid file");
        assert!(
            restored.alive(),
            "restored process {} is not running; log:\n{}",
            restored.pid,
            log_errors(log)
        );
        Ok(restored)
    }

    pub fn alive(&self) -> bool {
        running(self.pid)
    }

    pub fn proc(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{rel}", self.pid))
    }

    /// /proc/PID/comm without its newline.
    pub fn comm(&self) -> String {
        let comm = std::fs::read_to_string(self.proc("comm")).unwrap();
        comm.trim_end_matches('\n').to_string()
    }

    /// Soft and hard limit of a /proc/PID/limits line ("Max open files").
    pub fn limit(&self, name: &str) -> (String, String) {
        let limits = std::fs::read_to_string(self.proc("limits")).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name:?} in {limits}"));
        let mut words = line[name.len()..].split_whitespace();
        let soft = words.next().unwrap().to_string();
        let hard = words.next().unwrap().to_string();
        (soft, hard)
    }

    /// Where /proc/PID/fd/N points.
    pub fn fd(&self, n: i32) -> PathBuf {
        std::fs::read_link(self.proc(&format!("fd/{n}"))).unwrap()
    }
}

/// `pid` and its descendants, parents first (from /proc/PID/task/*/children).
pub fn tree_of(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let tasks = format!("/proc/{}/task", all[i]);
        for task in fs_entries(&tasks) {
            let children = std::fs::read_to_string(task.join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if !all.contains(&child) {
                    all.push(child);
                }
            }
        }
        i += 1;
    }
    all
}

fn fs_entries(dir: &str) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Whether `pid` is a process that has not ended (zombies have).
pub fn running(pid: i32) -> bool {
    state(pid).is_some_and(|s| !matches!(s, b'Z' | b'X'))
}

/// The state letter of `pid` in /proc/PID/stat (`S` asleep, `Z` a
/// zombie...), None when there is no such process.
pub fn state(pid: i32) -> Option<u8> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the parenthesised comm.
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.bytes().next()
}

impl Drop for Restored {
    fn drop(&mut self) {
        // Each process of the restored tree by its pid (from CRIU's pid file
        // and /proc), never a group.
        if self.pid > 1 {
            let tree = tree_of(self.pid);
            for &pid in &tree {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let start = Instant::now();
            while tree.iter().any(|&p| running(p)) && start.elapsed() < PATIENCE {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
