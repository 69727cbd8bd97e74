//! A pre-dump chain built by tests/common/predump.rs from a fresh CRIU dump
//! of a `sleep` is what CRIU itself accepts: `criu restore` reads the moved
//! ranges from the ancestors, and refuses the chain with a range taken out
//! of its parent, where `check` names the same address.
//!
//! CRIU is `$CRIU`, else /opt/criu/bin/criu, else `criu` on PATH, when it
//! is 4.x and we are root; otherwise the test prints one `skipped:` line.

mod common;
mod mounting;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::predump::{predump_chain, predump_chain_split};

const PATIENCE: Duration = Duration::from_secs(60);

/// One CRIU at a time: the machine is small and shared.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn criu_4(path: &Path) -> bool {
    Command::new(path)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let line = text
                .lines()
                .find(|l| l.starts_with("Version:"))?
                .to_string();
            line["Version:".len()..]
                .trim()
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .is_some_and(|major| major >= 4)
}

/// The CRIU to use, or None after one `skipped:` line.
fn criu_or_skip() -> Option<PathBuf> {
    let found = match std::env::var_os("CRIU") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(criu_4(&p), "CRIU={} is not a CRIU 4.x", p.display());
            Some(p)
        }
        None => [PathBuf::from("/opt/criu/bin/criu"), PathBuf::from("criu")]
            .into_iter()
            .find(|p| criu_4(p)),
    };
    let why = match found {
        Some(p) if unsafe { libc::geteuid() } == 0 => return Some(p),
        Some(_) => "CRIU needs root",
        None => "no CRIU 4.x (set CRIU=...; tried /opt/criu/bin/criu and criu on PATH)",
    };
    let _ = std::io::stderr().write_all(format!("skipped: {why}\n").as_bytes());
    None
}

/// Runs criu with `args`, its log in `log`; Ok when it succeeds.
fn criu(criu: &Path, args: &[&str], log: &Path, cwd: &Path) -> Result<(), String> {
    let mut child = Command::new(criu)
        .current_dir(cwd)
        .args(args)
        .arg("-v4")
        .arg("-o")
        .arg(log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("criu {args:?} took over {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        Ok(())
    } else {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        Err(text
            .lines()
            .filter(|l| l.contains("Error"))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// Kills (by pid) what a restore started, even when the test fails.
struct Restored(Option<i32>);

impl Drop for Restored {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A `sleep` in its own session, dumped by CRIU into `dir`.
fn dump_a_sleep(criu_path: &Path, work: &Path, dir: &Path) {
    let mut cmd = Command::new("sleep");
    cmd.arg("100000");
    dump_program(criu_path, cmd, work, dir, None);
}

/// Starts `cmd` in its own session in `work`, waits for it (until `ready`
/// exists, when given; else 200 ms), and dumps it with CRIU into `dir`.
fn dump_program(criu_path: &Path, mut cmd: Command, work: &Path, dir: &Path, ready: Option<&Path>) {
    use std::os::unix::process::CommandExt;
    cmd.current_dir(work);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    match ready {
        Some(ready) => {
            let start = Instant::now();
            while !ready.exists() {
                if start.elapsed() > PATIENCE {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the program never got ready");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        None => std::thread::sleep(Duration::from_millis(200)),
    }
    std::fs::create_dir_all(dir).unwrap();
    let pid = child.id().to_string();
    let dumped = criu(
        criu_path,
        &["dump", "-t", &pid, "-D", dir.to_str().unwrap()],
        &work.join("dump.log"),
        work,
    );
    if let Err(e) = dumped {
        let _ = child.kill();
        let _ = child.wait();
        panic!("criu dump: {e}");
    }
    child.wait().unwrap(); // frees the pid for the restore
}

/// `criu restore -D dir -d` run in `work`: the restored pid, or the
/// error lines of its log.
fn restore(criu_path: &Path, dir: &Path, work: &Path) -> (Restored, Result<i32, String>) {
    let log = work.join("restore.log");
    let pidfile = work.join("pidfile");
    let _ = std::fs::remove_file(&pidfile);
    let done = criu(
        criu_path,
        &[
            "restore",
            "-D",
            dir.to_str().unwrap(),
            "-d",
            "--pidfile",
            pidfile.to_str().unwrap(),
        ],
        &log,
        work,
    );
    let pid: Option<i32> = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let guard = Restored(pid);
    let result = done.and_then(|()| pid.ok_or_else(|| "criu restore wrote no pidfile".to_string()));
    (guard, result)
}

/// A program whose 256 pages each hold a different pattern, which it keeps
/// checking: restored from a chain with ranges at both levels up, every
/// page comes back where it was.
#[test]
fn criu_restores_a_chain_page_for_page() {
    let Some(criu_path) = criu_or_skip() else {
        return;
    };
    let _one = one_at_a_time();
    let work = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/programs/pattern.c");
    let exe = work.path().join("pattern");
    let cc = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("cc");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let run = work.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let mut cmd = Command::new(&exe);
    cmd.arg(&run);
    let dump = work.path().join("dump");
    dump_program(
        &criu_path,
        cmd,
        work.path(),
        &dump,
        Some(&run.join("ready")),
    );

    // Ranges of at most 8 pages, every other one up the chain,
    // alternately one and two levels.
    let c = predump_chain_split(&dump, 2, 8, |_, i| i % 2 == 1);
    assert!(c.moved.iter().any(|m| m.level == 2), "{:?}", c.moved);
    assert!(
        c.moved.iter().map(|m| m.nr_pages).sum::<u64>() >= 16,
        "{:?}",
        c.moved
    );
    let report = crit_fs::check::check(c.last()).unwrap();
    assert!(report.findings.is_empty(), "{}", report.text());

    std::fs::remove_file(run.join("report")).unwrap();
    let (_guard, pid) = restore(&criu_path, c.last(), work.path());
    let pid = pid.unwrap_or_else(|e| panic!("criu restore of the chain: {e}"));
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let start = Instant::now();
    let text = loop {
        if let Ok(t) = std::fs::read_to_string(run.join("report")) {
            break t;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the restored program never reported"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        text, "ok\n",
        "the restored pages differ from the dumped ones"
    );
}

#[test]
fn criu_restores_a_predump_chain() {
    let Some(criu_path) = criu_or_skip() else {
        return;
    };
    let _one = one_at_a_time();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("dump");
    dump_a_sleep(&criu_path, work.path(), &src);

    // Two ancestors: some ranges are read from the grandparent.
    let c = predump_chain(&src, 2, |_, i| i % 2 == 1);
    assert!(c.moved.iter().any(|m| m.level == 2), "{:?}", c.moved);
    let report = crit_fs::check::check(c.last()).unwrap();
    assert!(report.findings.is_empty(), "{}", report.text());

    let log = work.path().join("restore.log");
    let pidfile = work.path().join("pidfile");
    let restored = criu(
        &criu_path,
        &[
            "restore",
            "-D",
            c.last().to_str().unwrap(),
            "-d",
            "--pidfile",
            pidfile.to_str().unwrap(),
        ],
        &log,
        work.path(),
    );
    let pid: Option<i32> = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let _guard = Restored(pid);
    if let Err(e) = restored {
        panic!("criu restore of the chain: {e}");
    }
    let pid = pid.expect("criu restore wrote no pidfile");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim_end(), "sleep");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Read from parent"),
        "the restore did not read from the chain"
    );
}

#[test]
fn criu_refuses_a_chain_that_check_refuses() {
    let Some(criu_path) = criu_or_skip() else {
        return;
    };
    let _one = one_at_a_time();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("dump");
    dump_a_sleep(&criu_path, work.path(), &src);
    let c = predump_chain(&src, 1, |_, i| i % 2 == 1);
    let m = c.moved[0].clone();
    // The first moved range taken out of the parent's pagemap (the pages
    // after it shift: restore would read them wrongly, but stops first).
    let pm_path = c.dirs[1].join(&m.pagemap);
    let mut pm = crit_fs::image::Image::decode(&std::fs::read(&pm_path).unwrap()).unwrap();
    let ps = crit_fs::explore::Dump::new(&src).page_size();
    let at = pm
        .entries
        .iter()
        .position(|e| e.msg.u64("vaddr") == Some(m.vaddr))
        .unwrap();
    pm.entries.remove(at);
    std::fs::write(&pm_path, pm.encode().unwrap()).unwrap();
    let pages = c.dirs[1].join(format!(
        "pages-{}.img",
        pm.entries[0].msg.u64("pages_id").unwrap()
    ));
    let mut bytes = std::fs::read(&pages).unwrap();
    bytes.drain(..(m.nr_pages * ps) as usize);
    std::fs::write(&pages, bytes).unwrap();
    let f: Vec<String> = crit_fs::check::check(c.last())
        .unwrap()
        .findings
        .iter()
        .map(|f| f.to_string())
        .collect();
    let missing = format!("Missing {:x} in parent pagemap", m.vaddr);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains(&missing), "{f:?}");

    let log = work.path().join("restore.log");
    let pidfile = work.path().join("pidfile");
    let restored = criu(
        &criu_path,
        &[
            "restore",
            "-D",
            c.last().to_str().unwrap(),
            "-d",
            "--pidfile",
            pidfile.to_str().unwrap(),
        ],
        &log,
        work.path(),
    );
    let pid: Option<i32> = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let _guard = Restored(pid);
    let errors = restored.expect_err("criu restored a chain missing a range");
    assert!(errors.contains(&missing), "{errors}");
}

/// `criu restore -D MNT` of a crit-fs mount of a chain's last dump reads
/// through the chain: the mount's `parent` link leads to the dump beside
/// DUMP.
#[test]
fn criu_restores_a_chain_through_the_mount() {
    let Some(criu_path) = criu_or_skip() else {
        return;
    };
    let _one = one_at_a_time();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("dump");
    dump_a_sleep(&criu_path, work.path(), &src);
    let c = predump_chain(&src, 2, |_, i| i % 2 == 1);
    assert!(c.moved.iter().any(|m| m.level == 2), "{:?}", c.moved);
    let last = c.last().to_path_buf();
    let m = mounting::Mounted::with_dump("chain", move |_| (last, Vec::new()));
    let (_guard, pid) = restore(&criu_path, &m.mnt, work.path());
    let pid = pid.unwrap_or_else(|e| panic!("criu restore of the chain through the mount: {e}"));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim_end(), "sleep");
    let log = std::fs::read_to_string(work.path().join("restore.log")).unwrap();
    assert!(
        log.contains("Read from parent"),
        "the restore did not read from the chain"
    );
}
