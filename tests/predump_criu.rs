//! A pre-dump chain built by tests/common/predump.rs from a fresh CRIU dump
//! of a `sleep` is what CRIU itself accepts: `criu restore` reads the moved
//! ranges from the ancestors, and refuses the chain with a range taken out
//! of its parent, where `check` names the same address.
//!
//! CRIU is found, run and cleaned up after by tests/criu/mod.rs; without a
//! CRIU 4.x (or root) each test prints one `skipped:` line.

mod common;
mod criu;
mod mounting;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::predump::{Chain, predump_chain, predump_chain_split};
use criu::{Criu, Restored, Running, compile, criu_or_skip, one_at_a_time, state, wait_for};
use tempfile::TempDir;

/// A `sleep` started in `work/`, dumped by CRIU into `work/dump` once it
/// is asleep, and a chain of `levels` ancestors made from that dump (every
/// other range moved up): the work dir, the dump and the chain.
fn chain_of_a_sleep(criu: &Criu, levels: usize) -> (TempDir, PathBuf, Chain) {
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sleep");
    cmd.arg("100000").current_dir(work.path());
    let running = Running::start_until(cmd, "sleep to be asleep", |pid| state(pid) == Some(b'S'));
    let dump = work.path().join("dump");
    running.dump(criu, &dump, &work.path().join("dump.log"));
    let chain = predump_chain(&dump, levels, |_, i| i % 2 == 1);
    (work, dump, chain)
}

/// A chain's last dump restored by CRIU in `work/` (log `restore.log`):
/// a `sleep` again, and the log says pages were read from the parent.
fn restores_a_sleep_from_the_chain(criu: &Criu, dir: &Path, work: &Path) {
    let log = work.join("restore.log");
    let r = Restored::new(criu, dir, &log, work);
    assert_eq!(r.comm(), "sleep");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Read from parent"),
        "the restore did not read from the chain"
    );
}

/// A program whose 256 pages each hold a different pattern, which it keeps
/// checking: restored from a chain with ranges at both levels up, every
/// page comes back where it was.
#[test]
fn criu_restores_a_chain_page_for_page() {
    let Some(criu) = criu_or_skip() else { return };
    let _one = one_at_a_time();
    let work = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/programs/pattern.c");
    let exe = compile(&src, work.path(), "pattern");
    let run = work.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let mut cmd = Command::new(&exe);
    cmd.arg(&run).current_dir(work.path());
    let running = Running::start(cmd, &run.join("ready"));
    let dump = work.path().join("dump");
    running.dump(criu, &dump, &work.path().join("dump.log"));

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
    let log = work.path().join("restore.log");
    let r = Restored::new(criu, c.last(), &log, work.path());
    assert!(r.alive());
    let report = run.join("report");
    wait_for("the restored program's report", || report.exists());
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        "ok\n",
        "the restored pages differ from the dumped ones"
    );
}

#[test]
fn criu_restores_a_predump_chain() {
    let Some(criu) = criu_or_skip() else { return };
    let _one = one_at_a_time();
    // Two ancestors: some ranges are read from the grandparent.
    let (work, _, c) = chain_of_a_sleep(criu, 2);
    assert!(c.moved.iter().any(|m| m.level == 2), "{:?}", c.moved);
    let report = crit_fs::check::check(c.last()).unwrap();
    assert!(report.findings.is_empty(), "{}", report.text());
    restores_a_sleep_from_the_chain(criu, c.last(), work.path());
}

#[test]
fn criu_refuses_a_chain_that_check_refuses() {
    let Some(criu) = criu_or_skip() else { return };
    let _one = one_at_a_time();
    let (work, src, c) = chain_of_a_sleep(criu, 1);
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
    let errors = Restored::try_new(criu, c.last(), &log, work.path())
        .expect_err("criu restored a chain missing a range");
    assert!(errors.contains(&missing), "{errors}");
}

/// `criu restore -D MNT` of a crit-fs mount of a chain's last dump reads
/// through the chain: the mount's `parent` link leads to the dump beside
/// DUMP.
#[test]
fn criu_restores_a_chain_through_the_mount() {
    let Some(criu) = criu_or_skip() else { return };
    let _one = one_at_a_time();
    let (work, _, c) = chain_of_a_sleep(criu, 2);
    assert!(c.moved.iter().any(|m| m.level == 2), "{:?}", c.moved);
    let last = c.last().to_path_buf();
    let m = mounting::Mounted::with_dump("chain", move |_| (last, Vec::new()));
    restores_a_sleep_from_the_chain(criu, &m.mnt, work.path());
}
