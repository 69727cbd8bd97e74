//! Memory edited through the library (src/memory) comes back with `criu
//! restore`: the corpus program memtest is run, dumped by a real CRIU 4.x,
//! edited (a dumped page in place, an untouched anonymous page and a clean
//! page of a private file mapping added), restored, and the restored
//! process's own report and /proc/PID/mem checked. Without a CRIU this
//! test says it was skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crit_fs::memory::AddressSpace;

const PAGE: u64 = 4096;

/// CRIU as the tests find it: $CRIU, /opt/criu/bin/criu, or `criu` on PATH
/// at version 4 or later.
fn criu() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = std::env::var_os("CRIU")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/opt/criu/bin/criu"), PathBuf::from("criu")])
        .collect();
    for c in candidates {
        let Ok(out) = Command::new(&c).arg("--version").output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let major = text
            .split_whitespace()
            .skip_while(|w| *w != "Version:")
            .nth(1)
            .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
        if major.is_some_and(|m| m >= 4) {
            return Ok(c);
        }
    }
    Err("no CRIU >= 4 ($CRIU, /opt/criu/bin/criu, PATH)".into())
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(cmd: &mut Command, log: &Path) {
    let status = cmd.status().unwrap();
    assert!(
        status.success(),
        "{cmd:?}: {status}\n{}",
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Kills a process on drop.
struct Kill(i32);
impl Drop for Kill {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

#[test]
fn memory_edits_come_back_with_criu_restore() {
    let criu = match criu() {
        Ok(c) => c,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: CRIU needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("memtest");
    let src = common::corpus("memory/program/memtest.c");
    let cc = Command::new("cc")
        .args(["-O0", "-o"])
        .arg(&bin)
        .arg(&src)
        .status();
    if !cc.is_ok_and(|s| s.success()) {
        println!("skipped: no C compiler to build memtest");
        return;
    }
    let work = tmp.path().join("work");
    let dump = tmp.path().join("dump");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&dump).unwrap();
    let child = Command::new("setsid")
        .arg(&bin)
        .arg(&work)
        .arg("--argv-marker=critfs-argv-memory")
        .env("READY_FILE", work.join("ready"))
        .current_dir(&work)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(work.join("stdout.log")).unwrap())
        .stderr(std::fs::File::create(work.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let _guard = Kill(pid);
    wait_for("memtest to be ready", Duration::from_secs(20), || {
        work.join("ready").exists()
    });
    let addresses = std::fs::read_to_string(work.join("addresses")).unwrap();
    let addr = |name: &str| {
        let line = addresses
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        u64::from_str_radix(
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .trim_start_matches("0x"),
            16,
        )
        .unwrap()
    };
    let (marker, anon, filemap) = (addr("marker"), addr("anon"), addr("filemap"));

    run(
        Command::new(&criu)
            .args(["dump", "-t", &pid.to_string(), "-D"])
            .arg(&dump)
            .args(["-v4", "-o"])
            .arg(tmp.path().join("dump.log")),
        &tmp.path().join("dump.log"),
    );
    let mut child = child;
    let _ = child.wait();

    // The edits.
    let mut space = AddressSpace::open(&dump, pid as u64).unwrap();
    assert!(space.problems().is_empty(), "{:?}", space.problems());
    assert_eq!(space.write(marker + 21, b"0777"), Ok(4));
    assert_eq!(space.write(anon + PAGE + 8, b"ADDED-ANON-PAGE"), Ok(15));
    assert_eq!(space.write(filemap + 3 * PAGE, b"ADDED-FILE-PAGE"), Ok(15));
    assert!(space.problems().is_empty(), "{:?}", space.problems());
    drop(space);

    let pidfile = tmp.path().join("restored.pid");
    std::fs::remove_file(work.join("report")).ok();
    run(
        Command::new(&criu)
            .args(["restore", "-d", "-D"])
            .arg(&dump)
            .args(["-v4", "-o"])
            .arg(tmp.path().join("restore.log"))
            .arg("--pidfile")
            .arg(&pidfile)
            .current_dir(&work),
        &tmp.path().join("restore.log"),
    );
    let restored: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _restored_guard = Kill(restored);
    wait_for("the restored report", Duration::from_secs(20), || {
        std::fs::read_to_string(work.join("report"))
            .is_ok_and(|r| r.contains("marker=CRITFS-GLOBAL-MARKER:0777"))
    });
    // The added pages, from the restored process's own memory.
    let mem = std::fs::File::open(format!("/proc/{restored}/mem")).unwrap();
    let read_at = |at: u64, n: usize| {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; n];
        mem.read_exact_at(&mut buf, at).unwrap();
        buf
    };
    let page = read_at(anon + PAGE, PAGE as usize);
    assert_eq!(&page[8..23], b"ADDED-ANON-PAGE");
    assert!(page[..8].iter().chain(&page[23..]).all(|&b| b == 0));
    let page = read_at(filemap + 3 * PAGE, 36);
    // The rest of the added file page is the file's own bytes.
    assert_eq!(&page[..15], b"ADDED-FILE-PAGE");
    assert_eq!(&page[24..36], b"FILE-PAGE-3 ");
}
