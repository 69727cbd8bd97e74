//! The mount's `proc/` tree: the filesystem core driven directly (no mount),
//! then through real mounts. Facts come from each corpus case's README.txt
//! and images.

mod mounting;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crit_fs::fs::{Caller, Config, CritFs, FsError, Kind, ROOT_INO};
use mounting::*;
use serde_json::Value;

fn core(case: &str) -> (TempDir, CritFs) {
    let t = TempDir::new(case);
    copy_case(case, &t.0);
    let fs = CritFs::new(Config::new(&t.0)).unwrap();
    (t, fs)
}

/// The inode of `path` (slash-separated, from the root).
fn ino_of(fs: &CritFs, path: &str) -> Result<u64, FsError> {
    let mut ino = ROOT_INO;
    for part in path.split('/') {
        ino = fs.lookup(ino, OsStr::new(part))?.ino;
    }
    Ok(ino)
}

fn read_file(fs: &CritFs, path: &str) -> Vec<u8> {
    let ino = ino_of(fs, path).unwrap();
    let o = fs.open(ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    let mut out = Vec::new();
    loop {
        let chunk = fs.read(o.fh, out.len() as u64, 4096).unwrap();
        if chunk.is_empty() {
            break;
        }
        out.extend(chunk);
    }
    fs.release(o.fh).unwrap();
    out
}

fn text(fs: &CritFs, path: &str) -> String {
    String::from_utf8(read_file(fs, path)).unwrap()
}

/// The text of `/proc/PID/NAME`.
fn proc_text(fs: &CritFs, pid: u64, name: &str) -> String {
    text(fs, &format!("proc/{pid}/{name}"))
}

fn names(fs: &CritFs, path: &str) -> Vec<String> {
    let ino = if path.is_empty() {
        ROOT_INO
    } else {
        ino_of(fs, path).unwrap()
    };
    fs.readdir(ino)
        .unwrap()
        .into_iter()
        .map(|e| e.name.to_string_lossy().into_owned())
        .filter(|n| n != "." && n != "..")
        .collect()
}

fn image_json(dir: &Path, image: &str) -> Value {
    serde_json::from_slice(&decode(&dir.join(image), false)).unwrap()
}

/// The first entry of an image, as JSON.
fn head(dir: &Path, image: &str) -> Value {
    image_json(dir, image)["entries"][0].clone()
}

/// The pids of pstree.img, in order.
fn pids(dir: &Path) -> Vec<u64> {
    image_json(dir, "pstree.img")["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pid"].as_u64().unwrap())
        .collect()
}

/// An address the memory case's README gives (`  marker 0x…`).
fn readme_addr(dir: &Path, what: &str) -> u64 {
    let readme = fs::read_to_string(dir.join("README.txt")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{what} 0x")))
        .unwrap();
    u64::from_str_radix(line.trim().rsplit("0x").next().unwrap(), 16).unwrap()
}

/// An integer of the JSON (plain decode writes hex fields as numbers too).
fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap(),
        v => v.as_u64().unwrap(),
    }
}

fn status_field(status: &str, name: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:\t")))
        .map(str::to_string)
}

fn memory_pid(dir: &Path) -> u64 {
    pids(dir)[0]
}

/// The filesystem core on a copy of `case`, and the case's first process.
fn core_with_pid(case: &str) -> (TempDir, CritFs, u64) {
    let (t, fs) = core(case);
    let pid = pids(&t.0)[0];
    (t, fs, pid)
}

/// Opening `ino` for reading fails with EIO; returns the error's message.
fn open_eio(fs: &CritFs, ino: u64) -> String {
    let e = fs.open(ino, libc::O_RDONLY, Caller::ROOT).unwrap_err();
    assert_eq!(e.errno, libc::EIO);
    e.message
}

/// The errno of a lookup of `name` in `parent` that must fail.
fn lookup_errno(fs: &CritFs, parent: u64, name: &str) -> i32 {
    fs.lookup(parent, OsStr::new(name)).unwrap_err().errno
}

// ------------------------------------------------------------ core (no mount)

#[test]
fn proc_lists_the_processes_of_pstree() {
    let (t, fs) = core("zombie");
    assert!(names(&fs, "").contains(&"proc".to_string()));
    let a = fs.lookup(ROOT_INO, OsStr::new("proc")).unwrap();
    assert_eq!(a.kind, Kind::Dir);
    let want: Vec<String> = pids(&t.0).iter().map(u64::to_string).collect();
    assert_eq!(names(&fs, "proc"), want);
    assert_eq!(lookup_errno(&fs, a.ino, "999999"), libc::ENOENT);
}

#[test]
fn proc_entries_of_a_live_process() {
    let (_t, fs, pid) = core_with_pid("memory");
    assert_eq!(
        names(&fs, &format!("proc/{pid}")),
        [
            "auxv", "cmdline", "core", "cwd", "environ", "exe", "fd", "limits", "maps", "mem",
            "root", "status", "task"
        ]
    );
    let kind = |n: &str| fs.getattr(ino_of(&fs, &format!("proc/{pid}/{n}")).unwrap(), None);
    assert_eq!(kind("fd").unwrap().kind, Kind::Dir);
    assert_eq!(kind("cwd").unwrap().kind, Kind::Symlink);
    assert_eq!(kind("mem").unwrap().kind, Kind::File);
    assert_eq!(
        kind("status").unwrap().size,
        read_file(&fs, &format!("proc/{pid}/status")).len() as u64
    );
}

#[test]
fn proc_zombie_has_status_only() {
    let (t, fs) = core("zombie");
    let all = pids(&t.0);
    let (root, zombies) = (all[0], &all[1..]);
    assert_eq!(zombies.len(), 2);
    for z in zombies {
        assert_eq!(names(&fs, &format!("proc/{z}")), ["status"]);
        let s = proc_text(&fs, *z, "status");
        assert_eq!(status_field(&s, "State").unwrap(), "Z (zombie)");
        assert_eq!(status_field(&s, "Name").unwrap(), "sleep");
        assert_eq!(status_field(&s, "PPid").unwrap(), root.to_string());
        let pid_dir = ino_of(&fs, &format!("proc/{z}")).unwrap();
        assert_eq!(lookup_errno(&fs, pid_dir, "mem"), libc::ENOENT);
    }
    let s = proc_text(&fs, root, "status");
    assert_eq!(status_field(&s, "State").unwrap(), "S (sleeping)");
}

#[test]
fn proc_status_fields_from_the_core() {
    let (t, fs, pid) = core_with_pid("memory");
    let s = proc_text(&fs, pid, "status");
    let order: Vec<&str> = s.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        order,
        [
            "Name",
            "Umask",
            "State",
            "Tgid",
            "Pid",
            "PPid",
            "Uid",
            "Gid",
            "Groups",
            "Threads",
            "SigBlk",
            "SigIgn",
            "SigCgt",
            "CapInh",
            "CapPrm",
            "CapEff",
            "CapBnd",
            "CapAmb",
            "NoNewPrivs",
            "Seccomp"
        ]
    );
    let core = head(&t.0, &format!("core-{pid}.img"));
    let tc = &core["tc"];
    let th = &core["thread_core"];
    let cr = &th["creds"];
    assert_eq!(
        status_field(&s, "Name").unwrap(),
        tc["comm"].as_str().unwrap()
    );
    assert_eq!(status_field(&s, "Pid").unwrap(), pid.to_string());
    assert_eq!(status_field(&s, "Tgid").unwrap(), pid.to_string());
    let uid = ["uid", "euid", "suid", "fsuid"]
        .map(|k| cr[k].as_u64().unwrap().to_string())
        .join("\t");
    assert_eq!(status_field(&s, "Uid").unwrap(), uid);
    let cap = |k: &str| {
        let w = cr[k].as_array().unwrap();
        format!(
            "{:016x}",
            w[1].as_u64().unwrap() << 32 | w[0].as_u64().unwrap()
        )
    };
    assert_eq!(status_field(&s, "CapEff").unwrap(), cap("cap_eff"));
    assert_eq!(status_field(&s, "CapBnd").unwrap(), cap("cap_bnd"));
    // SigIgn/SigCgt: signal actions in order 1..=64 without SIGKILL, SIGSTOP.
    let sigs: Vec<u64> = (1..=64).filter(|s| *s != 9 && *s != 19).collect();
    let (mut ign, mut cgt) = (0u64, 0u64);
    for (sig, sa) in sigs.iter().zip(tc["sigactions"].as_array().unwrap()) {
        match num(&sa["sigaction"]) {
            0 => {}
            1 => ign |= 1 << (sig - 1),
            _ => cgt |= 1 << (sig - 1),
        }
    }
    assert_eq!(status_field(&s, "SigIgn").unwrap(), format!("{ign:016x}"));
    assert_eq!(status_field(&s, "SigCgt").unwrap(), format!("{cgt:016x}"));
    assert_eq!(status_field(&s, "Threads").unwrap(), "1");
    assert!(s.contains("\nGroups:\t"));
}

#[test]
fn proc_status_counts_threads() {
    let (_t, fs, pid) = core_with_pid("threads");
    let s = proc_text(&fs, pid, "status");
    assert_eq!(status_field(&s, "Threads").unwrap(), "5");
}

#[test]
fn proc_limits_are_the_cores_rlimits() {
    let (t, fs, pid) = core_with_pid("memory");
    let l = proc_text(&fs, pid, "limits");
    let lines: Vec<&str> = l.lines().collect();
    assert_eq!(lines.len(), 17);
    assert_eq!(
        lines[0],
        "Limit                     Soft Limit           Hard Limit           Units     "
    );
    let core = head(&t.0, &format!("core-{pid}.img"));
    let rl = core["tc"]["rlimits"]["rlimits"].as_array().unwrap().clone();
    let show = |v: &Value| {
        let v = v.as_u64().unwrap();
        if v == u64::MAX {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let nofile = lines
        .iter()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let expect = format!(
        "{:<25} {:<20} {:<20} {:<10}",
        "Max open files",
        show(&rl[7]["cur"]),
        show(&rl[7]["max"]),
        "files"
    );
    assert_eq!(*nofile, expect);
    for (line, r) in lines[1..].iter().zip(&rl) {
        let cols: Vec<&str> = line[26..].split_whitespace().collect();
        assert_eq!(cols[0], show(&r["cur"]), "{line}");
        assert_eq!(cols[1], show(&r["max"]), "{line}");
    }
}

#[test]
fn proc_cmdline_and_environ_from_memory() {
    let (t, fs, pid) = core_with_pid("memory");
    let cmd = read_file(&fs, &format!("proc/{pid}/cmdline"));
    let args: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
    assert_eq!(args.last().unwrap(), b"", "ends with a NUL");
    assert!(args.contains(&&b"--argv-marker=critfs-argv-memory"[..]));
    assert_eq!(args[0], b"/srv/crit-corpus/bin/memtest");
    let mm = head(&t.0, &format!("mm-{pid}.img"));
    let hex = |k: &str| num(&mm[k]);
    assert_eq!(cmd.len() as u64, hex("mm_arg_end") - hex("mm_arg_start"));
    let env = read_file(&fs, &format!("proc/{pid}/environ"));
    assert_eq!(env.len() as u64, hex("mm_env_end") - hex("mm_env_start"));
    assert!(
        env.split(|&b| b == 0)
            .any(|v| v == b"MEMTEST_ENV=critfs-env-marker-memory")
    );
}

#[test]
fn proc_maps_lines_are_the_vmas() {
    let (t, fs, pid) = core_with_pid("memory");
    let maps = proc_text(&fs, pid, "maps");
    let mm = head(&t.0, &format!("mm-{pid}.img"));
    let vmas = mm["vmas"].as_array().unwrap();
    let lines: Vec<&str> = maps.lines().collect();
    assert_eq!(lines.len(), vmas.len());
    for (l, v) in lines.iter().zip(vmas) {
        assert!(
            l.starts_with(&format!("{:08x}-{:08x} ", num(&v["start"]), num(&v["end"]))),
            "{l}"
        );
    }
    for special in ["[heap]", "[stack]", "[vdso]", "[vvar]", "[vsyscall]"] {
        let line = lines.iter().find(|l| l.ends_with(special)).unwrap();
        // The name starts at column 73 as the kernel pads it.
        assert_eq!(line.find(special), Some(73), "{line}");
    }
    let heap = lines.iter().find(|l| l.ends_with("[heap]")).unwrap();
    assert_eq!(
        &heap[heap.find(' ').unwrap()..][..19],
        " rw-p 00000000 00:0"
    );
    let marker = readme_addr(&t.0, "marker");
    let holder = lines
        .iter()
        .find(|l| {
            let (a, b) = l.split(' ').next().unwrap().split_once('-').unwrap();
            let (a, b) = (
                u64::from_str_radix(a, 16).unwrap(),
                u64::from_str_radix(b, 16).unwrap(),
            );
            a <= marker && marker < b
        })
        .unwrap();
    assert!(
        holder.contains("/srv/crit-corpus/bin/memtest (not on this host)"),
        "{holder}"
    );
    let shared = readme_addr(&t.0, "shared");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{shared:x}-")) && l.contains(" rw-s ")),
        "{maps}"
    );
}

#[test]
fn proc_maps_show_sysv_shm() {
    let (_t, fs, pid) = core_with_pid("ipc-ns");
    let maps = proc_text(&fs, pid, "maps");
    let line = maps.lines().find(|l| l.contains("/SYSV")).unwrap();
    assert!(
        line.ends_with(" (deleted)") && line.contains(" rw-s "),
        "{line}"
    );
}

#[test]
fn proc_auxv_is_the_saved_vector() {
    let (t, fs, pid) = core_with_pid("memory");
    let auxv = read_file(&fs, &format!("proc/{pid}/auxv"));
    assert_eq!(auxv.len() % 16, 0);
    let words: Vec<u64> = auxv
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(&words[words.len() - 2..], &[0, 0], "ends with AT_NULL");
    let mm = head(&t.0, &format!("mm-{pid}.img"));
    let saved: Vec<u64> = mm["mm_saved_auxv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let n = (words.len() - 2).min(saved.len());
    assert_eq!(&words[..n], &saved[..n]);
    // AT_PAGESZ (6) is there with the page size.
    assert!(words.chunks(2).any(|p| p == [6, 4096]));
}

#[test]
fn proc_fd_links_in_procs_forms() {
    let (t, fs, pid) = core_with_pid("unix-files");
    let link = |n: &str| {
        let ino = ino_of(&fs, &format!("proc/{pid}/{n}")).unwrap();
        String::from_utf8(fs.readlink(ino).unwrap()).unwrap()
    };
    let fds = names(&fs, &format!("proc/{pid}/fd"));
    let fdinfo = image_json(&t.0, "fdinfo-2.img");
    assert_eq!(fds.len(), fdinfo["entries"].as_array().unwrap().len());
    let all: Vec<String> = fds.iter().map(|n| link(&format!("fd/{n}"))).collect();
    let has = |s: &str| all.iter().any(|l| l == s);
    assert_eq!(link("fd/0"), "/dev/null");
    assert!(
        has("/srv/crit-corpus/unix-files/ghost.txt (deleted)"),
        "{all:?}"
    );
    assert!(has("anon_inode:[eventfd]"));
    assert!(has("anon_inode:[eventpoll]"));
    assert!(has("anon_inode:[signalfd]"));
    assert!(has("anon_inode:[timerfd]"));
    assert!(has("anon_inode:inotify"));
    assert!(has("/memfd:corpus-memfd (deleted)"));
    assert!(has("/srv/crit-corpus/unix-files/fifo"));
    assert!(has("pipe:[171732]"));
    assert!(has("socket:[171725]"));
    assert_eq!(link("cwd"), "/srv/crit-corpus/unix-files");
    assert_eq!(link("root"), "/");
    assert_eq!(link("exe"), "/srv/crit-corpus/bin/unix-files");
    let fd_dir = ino_of(&fs, &format!("proc/{pid}/fd")).unwrap();
    assert_eq!(lookup_errno(&fs, fd_dir, "999"), libc::ENOENT);
}

#[test]
fn proc_mem_reads_by_address() {
    let (t, fs, pid) = core_with_pid("memory");
    let ino = ino_of(&fs, &format!("proc/{pid}/mem")).unwrap();
    let o = fs.open(ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    let marker = readme_addr(&t.0, "marker");
    let got = fs.read(o.fh, marker, 25).unwrap();
    assert_eq!(got, b"CRITFS-GLOBAL-MARKER:0001");
    let heap = readme_addr(&t.0, "heap");
    assert!(
        fs.read(o.fh, heap, 12)
            .unwrap()
            .starts_with(b"HEAP-PATTERN")
    );
    let shared = readme_addr(&t.0, "shared");
    assert!(
        fs.read(o.fh, shared, 18)
            .unwrap()
            .starts_with(b"SHARED-ANON-MEMORY")
    );
    // Outside every mapping: EIO, as /proc/PID/mem.
    assert_eq!(fs.read(o.fh, 0x1000, 16).unwrap_err().errno, libc::EIO);
    // Its size is the end of the highest mapping below 2^63 (the stack).
    let maps = proc_text(&fs, pid, "maps");
    let stack = maps.lines().find(|l| l.ends_with("[stack]")).unwrap();
    let end = u64::from_str_radix(stack.split(['-', ' ']).nth(1).unwrap(), 16).unwrap();
    assert_eq!(fs.getattr(ino, None).unwrap().size, end);
    let blocks = fs.getattr(ino, None).unwrap().blocks.unwrap();
    assert!(
        blocks > 0 && blocks * 512 < end / 1000,
        "sparse: {blocks} blocks"
    );
    fs.release(o.fh).unwrap();
}

#[test]
fn proc_mem_seek_data_finds_dumped_pages() {
    let (t, fs, pid) = core_with_pid("memory");
    let ino = ino_of(&fs, &format!("proc/{pid}/mem")).unwrap();
    let o = fs.open(ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    let marker = readme_addr(&t.0, "marker");
    let page = marker & !4095;
    let data = fs.lseek(o.fh, 0, libc::SEEK_DATA).unwrap() as u64;
    assert!(data > 0 && data <= page, "{data:#x}");
    assert_eq!(
        fs.lseek(o.fh, marker as i64, libc::SEEK_DATA).unwrap() as u64,
        marker
    );
    let hole = fs.lseek(o.fh, marker as i64, libc::SEEK_HOLE).unwrap() as u64;
    assert!(hole > marker && hole.is_multiple_of(4096));
    let size = fs.getattr(ino, None).unwrap().size as i64;
    assert_eq!(
        fs.lseek(o.fh, size, libc::SEEK_HOLE).unwrap_err().errno,
        libc::ENXIO
    );
    fs.release(o.fh).unwrap();
}

#[test]
fn proc_read_only_mount_refuses_mem_writes() {
    let t = TempDir::new("memory");
    copy_case("memory", &t.0);
    let mut cfg = Config::new(&t.0);
    cfg.read_only = true;
    let fs = CritFs::new(cfg).unwrap();
    let pid = memory_pid(&t.0);
    let ino = ino_of(&fs, &format!("proc/{pid}/mem")).unwrap();
    assert_eq!(
        fs.open(ino, libc::O_RDWR, Caller::ROOT).unwrap_err().errno,
        libc::EROFS
    );
}

#[test]
fn proc_text_files_are_read_only() {
    let (_t, fs, pid) = core_with_pid("memory");
    let status = ino_of(&fs, &format!("proc/{pid}/status")).unwrap();
    assert_eq!(
        fs.open(status, libc::O_WRONLY, Caller::ROOT)
            .unwrap_err()
            .errno,
        libc::EACCES
    );
    let dir = ino_of(&fs, &format!("proc/{pid}")).unwrap();
    assert_eq!(
        fs.create(dir, OsStr::new("new"), 0o644, libc::O_WRONLY, Caller::ROOT)
            .unwrap_err()
            .errno,
        libc::EACCES
    );
    assert_eq!(
        fs.unlink(dir, OsStr::new("status")).unwrap_err().errno,
        libc::EPERM
    );
    assert_eq!(
        fs.unlink(ROOT_INO, OsStr::new("proc")).unwrap_err().errno,
        libc::EPERM
    );
}

#[test]
fn proc_real_file_named_proc_wins() {
    let t = TempDir::new("sleep");
    copy_case("sleep", &t.0);
    fs::write(t.0.join("proc"), b"mine\n").unwrap();
    let fs = CritFs::new(Config::new(&t.0)).unwrap();
    let list = names(&fs, "");
    assert_eq!(list.iter().filter(|n| *n == "proc").count(), 1);
    let a = fs.lookup(ROOT_INO, OsStr::new("proc")).unwrap();
    assert_eq!(a.kind, Kind::File);
    assert_eq!(read_file(&fs, "proc"), b"mine\n");
}

#[test]
fn proc_absent_without_pstree() {
    let t = TempDir::new("nopstree");
    fs::write(t.0.join("a.txt"), b"x").unwrap();
    let fs = CritFs::new(Config::new(&t.0)).unwrap();
    assert!(!names(&fs, "").contains(&"proc".to_string()));
    assert_eq!(lookup_errno(&fs, ROOT_INO, "proc"), libc::ENOENT);
}

#[test]
fn proc_mem_damage_is_eio_naming_the_image() {
    let (t, fs, pid) = core_with_pid("memory");
    // Cut every pages image to nothing: the pagemaps now point past their end.
    for e in fs::read_dir(&t.0).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("pages-") {
            fs::OpenOptions::new()
                .write(true)
                .open(e.path())
                .unwrap()
                .set_len(0)
                .unwrap();
        }
    }
    let ino = ino_of(&fs, &format!("proc/{pid}/mem")).unwrap();
    let o = fs.open(ino, libc::O_RDONLY, Caller::ROOT).unwrap();
    let marker = readme_addr(&t.0, "marker");
    let e = fs.read(o.fh, marker, 16).unwrap_err();
    assert_eq!(e.errno, libc::EIO);
    assert!(e.message.contains("pages-"), "{}", e.message);
    // Memory the pages images do not hold still reads: an untouched page.
    let maps = proc_text(&fs, pid, "maps");
    assert!(maps.contains("[stack]"));
    fs.release(o.fh).unwrap();
}

// ------------------------------------------------------------ through a mount

#[test]
fn proc_mount_memory_case() {
    let m = Mounted::new("memory");
    let pid = memory_pid(&m.dump);
    let p = |n: &str| m.p(&format!("proc/{pid}/{n}"));
    let status = fs::read_to_string(p("status")).unwrap();
    assert_eq!(status_field(&status, "Name").unwrap(), "memtest");
    let cmd = fs::read(p("cmdline")).unwrap();
    assert!(
        cmd.split(|&b| b == 0)
            .any(|a| a == b"--argv-marker=critfs-argv-memory")
    );
    let env = fs::read(p("environ")).unwrap();
    assert!(
        env.split(|&b| b == 0)
            .any(|v| v == b"MEMTEST_ENV=critfs-env-marker-memory")
    );
    let maps = fs::read_to_string(p("maps")).unwrap();
    for s in ["[heap]", "[stack]", "[vdso]"] {
        assert!(maps.lines().any(|l| l.ends_with(s)), "{s}");
    }
    let limits = fs::read_to_string(p("limits")).unwrap();
    assert!(limits.lines().any(|l| l.starts_with("Max open files ")));
    assert!(fs::read(p("auxv")).unwrap().len().is_multiple_of(16));
    let meta = fs::metadata(p("mem")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert!(meta.blocks() > 0 && meta.blocks() * 512 < meta.size() / 1000);
    let mem = fs::File::open(p("mem")).unwrap();
    let marker = readme_addr(&m.dump, "marker");
    let mut buf = [0u8; 25];
    mem.read_exact_at(&mut buf, marker).unwrap();
    assert_eq!(&buf, b"CRITFS-GLOBAL-MARKER:0001");
    let err = mem.read_exact_at(&mut buf, 0x1000).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    use std::os::fd::AsRawFd;
    // SAFETY: lseek on a descriptor we own.
    let data = unsafe { libc::lseek(mem.as_raw_fd(), marker as i64, libc::SEEK_DATA) };
    assert_eq!(data as u64, marker);
    let hole = unsafe { libc::lseek(mem.as_raw_fd(), marker as i64, libc::SEEK_HOLE) };
    assert!(hole as u64 > marker);
    assert_eq!(
        fs::read_link(p("exe")).unwrap(),
        Path::new("/srv/crit-corpus/bin/memtest")
    );
    assert_eq!(
        fs::read_link(p("cwd")).unwrap(),
        Path::new("/srv/crit-corpus/memory")
    );
    assert_eq!(fs::read_link(p("root")).unwrap(), Path::new("/"));
    // A text file and a dump file are still lseek-able as whole data.
    let f = fs::File::open(p("status")).unwrap();
    let hole = unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_HOLE) };
    assert_eq!(hole as usize, status.len());
}

/// The CLI's `coredump` of the same dump: the bytes of core.PID.
fn cli_core(dump: &Path, pid: u64) -> Vec<u8> {
    let out = TempDir::new("cli-core");
    let res = std::process::Command::new(bin())
        .arg("coredump")
        .arg(dump)
        .arg("-o")
        .arg(&out.0)
        .args(["-p", &pid.to_string()])
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    fs::read(out.0.join(format!("core.{pid}"))).unwrap()
}

#[test]
fn proc_core_size_at_stat_is_the_cli_core() {
    let (t, fs, pid) = core_with_pid("threads");
    let want = cli_core(&t.0, pid);
    let ino = ino_of(&fs, &format!("proc/{pid}/core")).unwrap();
    // Known at stat, before any byte is produced.
    assert_eq!(fs.getattr(ino, None).unwrap().size, want.len() as u64);
    assert_eq!(read_file(&fs, &format!("proc/{pid}/core")), want);
    assert_eq!(
        fs.open(ino, libc::O_RDWR, Caller::ROOT).unwrap_err().errno,
        libc::EACCES
    );
}

#[test]
fn proc_mount_core_reads_as_the_cli_core() {
    let m = Mounted::new("memory");
    let pid = memory_pid(&m.dump);
    let want = cli_core(&m.dump, pid);
    let path = m.p(&format!("proc/{pid}/core"));
    assert_eq!(fs::metadata(&path).unwrap().len(), want.len() as u64);
    assert_eq!(fs::read(&path).unwrap(), want);
    // Read at any place, in any order.
    let f = fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 10_000];
    let at = want.len() as u64 / 2 + 1234;
    f.read_exact_at(&mut buf, at).unwrap();
    assert_eq!(&buf[..], &want[at as usize..at as usize + buf.len()]);
    assert!(fs::OpenOptions::new().write(true).open(&path).is_err());
}

#[test]
fn proc_mount_threads_case() {
    let m = Mounted::new("threads");
    let pid = pids(&m.dump)[0];
    let status = fs::read_to_string(m.p(&format!("proc/{pid}/status"))).unwrap();
    assert_eq!(status_field(&status, "Threads").unwrap(), "5");
    let maps = fs::read_to_string(m.p(&format!("proc/{pid}/maps"))).unwrap();
    assert!(maps.lines().any(|l| l.ends_with("[stack]")));
    let tasks = fs::read_dir(m.p(&format!("proc/{pid}/task"))).unwrap();
    let mut n = 0;
    for t in tasks.flatten() {
        let s = fs::read_to_string(t.path().join("status")).unwrap();
        assert_eq!(
            status_field(&s, "Pid").unwrap(),
            t.file_name().to_string_lossy()
        );
        n += 1;
    }
    assert_eq!(n, 5);
}

#[test]
fn proc_mount_unix_files_case() {
    let m = Mounted::new("unix-files");
    let pid = pids(&m.dump)[0];
    let fd = m.p(&format!("proc/{pid}/fd"));
    let mut targets: Vec<String> = fs::read_dir(&fd)
        .unwrap()
        .flatten()
        .map(|e| {
            fs::read_link(e.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    targets.sort();
    assert_eq!(targets.len(), 23);
    for t in [
        "anon_inode:[eventfd]",
        "pipe:[171732]",
        "/memfd:corpus-memfd (deleted)",
        "/srv/crit-corpus/unix-files/ghost.txt (deleted)",
    ] {
        assert!(targets.iter().any(|x| x == t), "{t} in {targets:?}");
    }
}

#[test]
fn proc_mount_ipc_ns_case() {
    let m = Mounted::new("ipc-ns");
    let pid = pids(&m.dump)[0];
    let maps = fs::read_to_string(m.p(&format!("proc/{pid}/maps"))).unwrap();
    assert!(maps.contains("/SYSV"));
    let status = fs::read_to_string(m.p(&format!("proc/{pid}/status"))).unwrap();
    assert_eq!(status_field(&status, "State").unwrap(), "S (sleeping)");
    let cmd = fs::read(m.p(&format!("proc/{pid}/cmdline"))).unwrap();
    assert!(cmd.split(|&b| b == 0).any(|a| a == b"corpus-ipc-host"));
}

#[test]
fn proc_mount_zombie_case() {
    let m = Mounted::new("zombie");
    let all = pids(&m.dump);
    for z in &all[1..] {
        let dir = m.p(&format!("proc/{z}"));
        let list: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(list, ["status"]);
        let s = fs::read_to_string(dir.join("status")).unwrap();
        assert_eq!(status_field(&s, "State").unwrap(), "Z (zombie)");
    }
}

#[test]
fn proc_mount_read_only_refuses_mem_write() {
    let m = Mounted::with_args("memory", &["-o", "ro"]);
    let pid = memory_pid(&m.dump);
    let err = fs::OpenOptions::new()
        .write(true)
        .open(m.p(&format!("proc/{pid}/mem")))
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
}

// ------------------------------------------------------------ writes of mem

/// Sum of present pages in the task's pagemap and total size of pages images.
fn dumped(dir: &Path, pid: u64) -> (u64, u64) {
    let pm = image_json(dir, &format!("pagemap-{pid}.img"));
    let pages: u64 = pm["entries"].as_array().unwrap()[1..]
        .iter()
        .filter(|e| num(&e["flags"]) & 4 != 0)
        .map(|e| num(&e["nr_pages"]))
        .sum();
    let bytes: u64 = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    (pages, bytes)
}

fn open_mem(fs: &CritFs, pid: u64) -> u64 {
    let ino = ino_of(fs, &format!("proc/{pid}/mem")).unwrap();
    fs.open(ino, libc::O_RDWR, Caller::ROOT).unwrap().fh
}

#[test]
fn proc_mem_write_in_place_persists() {
    let (t, fs, pid) = core_with_pid("memory");
    let marker = readme_addr(&t.0, "marker");
    let before = dumped(&t.0, pid);
    let fh = open_mem(&fs, pid);
    assert_eq!(
        fs.write(fh, marker, b"CRITFS-GLOBAL-MARKER:4242").unwrap(),
        25
    );
    assert_eq!(
        fs.read(fh, marker, 25).unwrap(),
        b"CRITFS-GLOBAL-MARKER:4242"
    );
    fs.fsync(fh).unwrap();
    fs.release(fh).unwrap();
    assert_eq!(dumped(&t.0, pid), before, "in place: same pages, same size");
    // A new filesystem over the dump (as a new mount) reads the new bytes.
    let again = CritFs::new(Config::new(&t.0)).unwrap();
    let fh = open_mem(&again, pid);
    assert_eq!(
        again.read(fh, marker, 25).unwrap(),
        b"CRITFS-GLOBAL-MARKER:4242"
    );
    again.release(fh).unwrap();
}

#[test]
fn proc_mem_write_adds_an_untouched_page() {
    let (t, fs, pid) = core_with_pid("memory");
    let anon = readme_addr(&t.0, "anon");
    let fh = open_mem(&fs, pid);
    // Every 4th page of `anon` was touched: the next one is a hole of zeros.
    let target = anon + 4096 + 100;
    assert_eq!(
        fs.lseek(fh, target as i64, libc::SEEK_HOLE).unwrap() as u64,
        target
    );
    assert_eq!(fs.read(fh, target, 8).unwrap(), [0u8; 8]);
    let pm_view = format!("pagemap-{pid}.json");
    let view_before = read_file(&fs, &pm_view);
    let (pages, bytes) = dumped(&t.0, pid);
    assert_eq!(fs.write(fh, target, b"NEW-PAGE").unwrap(), 8);
    assert_eq!(
        fs.read(fh, target - 4, 16).unwrap(),
        b"\0\0\0\0NEW-PAGE\0\0\0\0"
    );
    assert_eq!(
        fs.lseek(fh, target as i64, libc::SEEK_DATA).unwrap() as u64,
        target
    );
    fs.release(fh).unwrap();
    // The images, their views and reports follow.
    assert_eq!(dumped(&t.0, pid), (pages + 1, bytes + 4096));
    let view_after = read_file(&fs, &pm_view);
    assert_ne!(view_before, view_after);
    assert_eq!(
        view_after,
        decode(&t.0.join(format!("pagemap-{pid}.img")), true)
    );
    let again = CritFs::new(Config::new(&t.0)).unwrap();
    let fh = open_mem(&again, pid);
    assert_eq!(again.read(fh, target, 8).unwrap(), b"NEW-PAGE");
    again.release(fh).unwrap();
}

#[test]
fn proc_mem_write_refusals() {
    let (t, fs, pid) = core_with_pid("memory");
    let before = dumped(&t.0, pid);
    let fh = open_mem(&fs, pid);
    // Outside every mapping.
    assert_eq!(fs.write(fh, 0x1000, b"x").unwrap_err().errno, libc::EIO);
    // Into a read-only private file mapping (the program's text).
    let maps = proc_text(&fs, pid, "maps");
    let text_line = maps.lines().find(|l| l.contains(" r-xp ")).unwrap();
    let start = u64::from_str_radix(text_line.split('-').next().unwrap(), 16).unwrap();
    assert_eq!(fs.write(fh, start, b"x").unwrap_err().errno, libc::EPERM);
    fs.release(fh).unwrap();
    assert_eq!(dumped(&t.0, pid), before, "nothing changed");
}

#[test]
fn proc_mount_mem_edit_persists() {
    let m = Mounted::new("memory");
    let pid = memory_pid(&m.dump);
    let marker = readme_addr(&m.dump, "marker");
    let anon = readme_addr(&m.dump, "anon");
    let pm_view = m.p(&format!("pagemap-{pid}.json"));
    let view_before = fs::read(&pm_view).unwrap();
    {
        let mem = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(m.p(&format!("proc/{pid}/mem")))
            .unwrap();
        mem.write_all_at(b"CRITFS-GLOBAL-MARKER:7777", marker)
            .unwrap();
        mem.write_all_at(b"ADDED", anon + 4096).unwrap();
        mem.sync_all().unwrap();
        let mut buf = [0u8; 5];
        mem.read_exact_at(&mut buf, anon + 4096).unwrap();
        assert_eq!(&buf, b"ADDED");
        let err = mem.write_all_at(b"x", 0x1000).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
    }
    // The view of the pagemap shows the added page at once.
    let view_after = fs::read(&pm_view).unwrap();
    assert_ne!(view_before, view_after);
    m.unmount();
    assert_eq!(
        view_after,
        decode(&m.d(&format!("pagemap-{pid}.img")), true)
    );
    // Mounted again: the edits are in the dump.
    let mnt2 = m.tmp.0.join("mnt2");
    fs::create_dir(&mnt2).unwrap();
    let out = std::process::Command::new(bin())
        .arg("mount")
        .arg(&m.dump)
        .arg(&mnt2)
        .arg("--log-file")
        .arg(m.tmp.0.join("mnt2.log"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let _guard = UnmountOnDrop(mnt2.clone());
    let mem = fs::File::open(mnt2.join(format!("proc/{pid}/mem"))).unwrap();
    let mut buf = [0u8; 25];
    mem.read_exact_at(&mut buf, marker).unwrap();
    assert_eq!(&buf, b"CRITFS-GLOBAL-MARKER:7777");
    let mut buf = [0u8; 5];
    mem.read_exact_at(&mut buf, anon + 4096).unwrap();
    assert_eq!(&buf, b"ADDED");
}

#[test]
fn proc_texts_follow_the_dump() {
    let (t, fs, pid) = core_with_pid("memory");
    let status = format!("proc/{pid}/status");
    assert_eq!(status_field(&text(&fs, &status), "Umask").unwrap(), "0022");
    // A save of the fs image's view changes the umask: status shows it.
    let image = std::path::PathBuf::from(format!("fs-{pid}.img"));
    let json = String::from_utf8(decode(&t.0.join(&image), true)).unwrap();
    assert!(json.contains("\"umask\": 18"));
    fs.commit(
        &image,
        json.replace("\"umask\": 18", "\"umask\": 63").as_bytes(),
    )
    .unwrap();
    assert_eq!(status_field(&text(&fs, &status), "Umask").unwrap(), "0077");
    // A change of memory made outside (another filesystem over the dump)
    // shows in cmdline.
    let other = CritFs::new(Config::new(&t.0)).unwrap();
    let mm = head(&t.0, &format!("mm-{pid}.img"));
    let arg0 = num(&mm["mm_arg_start"]);
    let fh = open_mem(&other, pid);
    other.write(fh, arg0, b"/SRV").unwrap();
    other.release(fh).unwrap();
    let cmd = read_file(&fs, &format!("proc/{pid}/cmdline"));
    assert!(cmd.starts_with(b"/SRV/crit-corpus/bin/memtest\0"));
}

#[test]
fn proc_fd_links_of_ttys() {
    let (_t, fs, pid) = core_with_pid("zdtm-pty00");
    let link = |n: &str| {
        let ino = ino_of(&fs, &format!("proc/{pid}/fd/{n}")).unwrap();
        String::from_utf8(fs.readlink(ino).unwrap()).unwrap()
    };
    assert_eq!(link("100"), "/dev/pts/0");
    assert_eq!(link("101"), "/dev/ptmx");
    assert_eq!(link("6"), "/dev/tty");
}

#[test]
fn proc_task_dir_has_a_status_per_thread() {
    let (t, fs) = core("threads");
    let pstree = image_json(&t.0, "pstree.img");
    let pid = pstree["entries"][0]["pid"].as_u64().unwrap();
    let tids: Vec<u64> = pstree["entries"][0]["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(tids.len(), 5);
    let want: Vec<String> = tids.iter().map(u64::to_string).collect();
    assert_eq!(names(&fs, &format!("proc/{pid}/task")), want);
    let mut comms = std::collections::HashSet::new();
    for tid in &tids {
        assert_eq!(names(&fs, &format!("proc/{pid}/task/{tid}")), ["status"]);
        let s = text(&fs, &format!("proc/{pid}/task/{tid}/status"));
        assert_eq!(status_field(&s, "Pid").unwrap(), tid.to_string());
        assert_eq!(status_field(&s, "Tgid").unwrap(), pid.to_string());
        assert_eq!(status_field(&s, "Threads").unwrap(), "5");
        let core = head(&t.0, &format!("core-{tid}.img"));
        let th = &core["thread_core"];
        assert_eq!(
            status_field(&s, "Name").unwrap(),
            th["comm"].as_str().unwrap()
        );
        // The leader's blocked set is in its task core, the others' in theirs.
        let blocked = match &th["blk_sigset"] {
            Value::Null => num(&core["tc"]["blk_sigset"]),
            v => num(v),
        };
        assert_eq!(
            status_field(&s, "SigBlk").unwrap(),
            format!("{blocked:016x}")
        );
        comms.insert(status_field(&s, "Name").unwrap());
    }
    // The README's named pthreads: the names differ.
    assert!(comms.len() > 1, "{comms:?}");
    let task = ino_of(&fs, &format!("proc/{pid}/task")).unwrap();
    assert_eq!(lookup_errno(&fs, task, "1"), libc::ENOENT);
}

/// Reads everything of the proc tree; errors are fine, panics and hangs not.
fn walk(fs: &CritFs, ino: u64, depth: usize) -> usize {
    let mut seen = 0;
    let Ok(entries) = fs.readdir(ino) else {
        return 0;
    };
    for e in entries {
        if e.name == "." || e.name == ".." {
            continue;
        }
        seen += 1;
        let Ok(a) = fs.lookup(ino, &e.name) else {
            continue;
        };
        match a.kind {
            Kind::Dir if depth < 4 => seen += walk(fs, a.ino, depth + 1),
            Kind::Symlink => {
                let _ = fs.readlink(a.ino);
            }
            Kind::File => {
                if let Ok(o) = fs.open(a.ino, libc::O_RDONLY, Caller::ROOT) {
                    let _ = fs.read(o.fh, 0, 1 << 16);
                    let _ = fs.lseek(o.fh, 0, libc::SEEK_DATA);
                    let _ = fs.release(o.fh);
                }
            }
            _ => {}
        }
    }
    seen
}

#[test]
fn proc_damaged_images_fail_cleanly() {
    for case in ["memory", "unix-files", "zombie"] {
        let t = TempDir::new(case);
        copy_case(case, &t.0);
        let healthy = {
            let fs = CritFs::new(Config::new(&t.0)).unwrap();
            let proc = fs.lookup(ROOT_INO, OsStr::new("proc")).unwrap().ino;
            walk(&fs, proc, 0)
        };
        assert!(healthy > 5);
        for name in image_names(&t.0) {
            let path = t.0.join(&name);
            let good = fs::read(&path).unwrap();
            for cut in [good.len() / 2, good.len().saturating_sub(3), 12] {
                let mut bad = good[..cut.min(good.len())].to_vec();
                // And a flipped byte in what is left.
                if let Some(b) = bad.get_mut(cut / 3) {
                    *b ^= 0x5a;
                }
                fs::write(&path, &bad).unwrap();
                let fs = CritFs::new(Config::new(&t.0)).unwrap();
                if let Ok(a) = fs.lookup(ROOT_INO, OsStr::new("proc")) {
                    walk(&fs, a.ino, 0);
                }
            }
            fs::write(&path, &good).unwrap();
        }
    }
}

#[test]
fn proc_unreadable_entry_lists_and_fails_at_open() {
    let (t, fs, pid) = core_with_pid("memory");
    let mm = t.0.join(format!("mm-{pid}.img"));
    let good = fs::read(&mm).unwrap();
    fs::write(&mm, &good[..good.len() / 2]).unwrap();
    // Every entry still stats (ls -l works)…
    let dir = ino_of(&fs, &format!("proc/{pid}")).unwrap();
    for e in fs.readdir(dir).unwrap() {
        if e.name == "." || e.name == ".." {
            continue;
        }
        fs.lookup(dir, &e.name).unwrap_or_else(|e| panic!("{e}"));
    }
    let cmdline = ino_of(&fs, &format!("proc/{pid}/cmdline")).unwrap();
    assert_eq!(fs.getattr(cmdline, None).unwrap().size, 0);
    // …and what needs the damaged image fails at open, naming it.
    let mm_img = format!("mm-{pid}.img");
    let msg = open_eio(&fs, cmdline);
    assert!(msg.contains(&mm_img), "{msg}");
    let mem = ino_of(&fs, &format!("proc/{pid}/mem")).unwrap();
    open_eio(&fs, mem);
    let core = ino_of(&fs, &format!("proc/{pid}/core")).unwrap();
    assert_eq!(fs.getattr(core, None).unwrap().size, 0);
    let msg = open_eio(&fs, core);
    assert!(msg.contains(&mm_img), "{msg}");
    // What does not need it still reads.
    assert!(proc_text(&fs, pid, "status").starts_with("Name:\tmemtest\n"));
}

/// Every fd link target of the live processes of `case`.
fn fd_targets(case: &str) -> Vec<String> {
    let (t, fs) = core(case);
    let mut out = Vec::new();
    for pid in pids(&t.0) {
        if ino_of(&fs, &format!("proc/{pid}/fd")).is_err() {
            continue;
        }
        for n in names(&fs, &format!("proc/{pid}/fd")) {
            let ino = ino_of(&fs, &format!("proc/{pid}/fd/{n}")).unwrap();
            out.push(String::from_utf8(fs.readlink(ino).unwrap()).unwrap());
        }
    }
    out
}

/// The `ino` of every files.img entry of `field` (isk, nlsk…).
fn socket_inodes(case: &str, field: &str) -> Vec<String> {
    let files = image_json(&corpus().join(case), "files.img");
    files["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e[field]["ino"].as_u64())
        .map(|i| format!("socket:[{i}]"))
        .collect()
}

#[test]
fn proc_fd_links_of_other_kinds() {
    let tcp = fd_targets("tcp");
    let inet = socket_inodes("tcp", "isk");
    assert!(
        !inet.is_empty() && inet.iter().all(|s| tcp.contains(s)),
        "{tcp:?}"
    );
    let nl = fd_targets("zdtm-sk-netlink");
    let nlsk = socket_inodes("zdtm-sk-netlink", "nlsk");
    assert!(
        !nlsk.is_empty() && nlsk.iter().all(|s| nl.contains(s)),
        "{nl:?}"
    );
    // A packet socket's inode is not in the dump: named as `x fds` does.
    let packet = fd_targets("zdtm-packet_sock");
    assert!(
        packet.iter().any(|s| s.starts_with("PACKETSK.")),
        "{packet:?}"
    );
    assert!(fd_targets("zdtm-bpf_hash").contains(&"anon_inode:bpf-map".to_string()));
    assert!(fd_targets("zdtm-tun").contains(&"/dev/net/tun".to_string()));
    let pipes = fd_targets("shell-tree");
    assert!(pipes.iter().any(|s| s.starts_with("pipe:[")), "{pipes:?}");
}

/// Changes `image` of `dir` by `edit` on its first entry (CLI decode/encode).
fn edit_head(dir: &Path, image: &str, edit: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&decode(&dir.join(image), false)).unwrap();
    edit(&mut v["entries"][0]);
    let json = dir.join(format!("{image}.json"));
    fs::write(&json, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = std::process::Command::new(bin())
        .arg("encode")
        .arg("-i")
        .arg(&json)
        .arg("-o")
        .arg(dir.join(image))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::remove_file(&json).unwrap();
}

#[test]
fn proc_status_name_is_the_one_criu_restores() {
    // CRIU names the main thread after `tc.comm` and every other thread
    // after its own `thread_core.comm`, or `tc.comm` when that is unset
    // (tests/e2e_criu.rs checks it against a restored process).
    let t = TempDir::new("threads");
    copy_case("threads", &t.0);
    let pstree = image_json(&t.0, "pstree.img");
    let pid = pstree["entries"][0]["pid"].as_u64().unwrap();
    let tids: Vec<u64> = pstree["entries"][0]["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .filter(|&t| t != pid)
        .collect();
    edit_head(&t.0, &format!("core-{pid}.img"), |e| {
        e["tc"]["comm"] = "leader-tc".into();
        e["thread_core"]["comm"] = "leader-own".into();
    });
    edit_head(&t.0, &format!("core-{}.img", tids[0]), |e| {
        e["thread_core"]["comm"] = "worker-own".into();
    });
    edit_head(&t.0, &format!("core-{}.img", tids[1]), |e| {
        e["thread_core"].as_object_mut().unwrap().remove("comm");
    });
    let fs = CritFs::new(Config::new(&t.0)).unwrap();
    let name = |rel: String| status_field(&text(&fs, &rel), "Name").unwrap();
    assert_eq!(name(format!("proc/{pid}/status")), "leader-tc");
    assert_eq!(name(format!("proc/{pid}/task/{pid}/status")), "leader-tc");
    assert_eq!(
        name(format!("proc/{pid}/task/{}/status", tids[0])),
        "worker-own"
    );
    assert_eq!(
        name(format!("proc/{pid}/task/{}/status", tids[1])),
        "leader-tc"
    );
}
