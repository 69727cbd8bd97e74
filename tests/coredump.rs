//! `crit-fs coredump`: ELF cores that gdb and readelf read, for the dump's
//! own architecture (x86_64 corpus dumps; an aarch64 dump encoded from
//! JSON in tests/data/coredump-aarch64), zombies skipped, unreadable memory
//! zeros and named, the library's `read_at` identical to the CLI's file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::corpus;

const BIN: &str = env!("CARGO_BIN_EXE_crit-fs");

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether `tool` runs; if not, prints the one skip line.
fn have(tool: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: {test}: {tool} is not installed");
    }
    ok
}

/// Runs `crit-fs coredump DIR ARGS -o OUT`; returns the output.
fn coredump(dir: &Path, out: &Path, args: &[&str]) -> Output {
    run(Command::new(BIN)
        .arg("coredump")
        .arg(dir)
        .args(args)
        .arg("-o")
        .arg(out))
}

/// Runs `crit-fs coredump` on `dir` into a fresh directory, which must
/// succeed; returns that directory.
fn coredump_ok(dir: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let res = coredump(dir, out.path(), &[]);
    assert!(res.status.success(), "{}", text(&res.stderr));
    out
}

/// The one file in `dir`.
fn only_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// A JSON field of the first entry of an image, via `crit-fs decode`.
fn decoded(image: &Path) -> serde_json::Value {
    let out = run(Command::new(BIN).arg("decode").arg("-i").arg(image));
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn gdb(gdb: &str, exe: Option<&Path>, core: &Path, cmds: &[&str]) -> String {
    gdb_in(gdb, None, exe, core, cmds)
}

/// gdb on a core, with `sysroot` (if any) set before the files are loaded.
fn gdb_in(
    gdb: &str,
    sysroot: Option<&Path>,
    exe: Option<&Path>,
    core: &Path,
    cmds: &[&str],
) -> String {
    let mut c = Command::new(gdb);
    c.args(["-nx", "-batch", "-iex", "set debuginfod enabled off"]);
    if let Some(root) = sysroot {
        c.arg("-iex").arg(format!("set sysroot {}", root.display()));
    }
    for x in cmds {
        c.args(["-ex", x]);
    }
    if let Some(exe) = exe {
        c.arg(exe);
    } else {
        c.arg("-c");
    }
    c.arg(core);
    let out = run(&mut c);
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// The marker's address from the case README ("  marker 0x...").
fn readme_address(case: &Path, name: &str) -> String {
    let readme = std::fs::read_to_string(case.join("README.txt")).unwrap();
    readme
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("README.txt has no {name} address"))
        .trim()
        .to_string()
}

/// A sysroot for gdb in which the dump's executable path (from files.img)
/// is `program/memtest` and everything else is this host's /usr, /lib,
/// /lib64: the core names the files by the paths they had where the dump
/// was made, and gdb finds the PIE's load address from the executable's
/// program headers at that path (the kernel's core would carry them, read
/// from the file; this dump's file is not on this host).
fn sysroot_for(case: &Path, root: &Path) {
    let exe_id = decoded(&case.join(format!(
        "mm-{}.img",
        decoded(&case.join("pstree.img"))["entries"][0]["pid"]
    )))["entries"][0]["exe_file_id"]
        .as_u64()
        .unwrap();
    let files = decoded(&case.join("files.img"));
    let exe = files["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"].as_u64() == Some(exe_id))
        .and_then(|f| f["reg"]["name"].as_str())
        .unwrap()
        .to_string();
    for dir in ["usr", "lib", "lib64"] {
        let _ = std::os::unix::fs::symlink(Path::new("/").join(dir), root.join(dir));
    }
    let at = root.join(exe.trim_start_matches('/'));
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(case.join("program/memtest"), at).unwrap();
}

#[test]
fn memory_core_gdb_reads_marker_registers_and_backtrace() {
    if !have(
        "gdb",
        "memory_core_gdb_reads_marker_registers_and_backtrace",
    ) {
        return;
    }
    let case = corpus("memory");
    let out = coredump_ok(&case);
    let pid = decoded(&case.join("pstree.img"))["entries"][0]["pid"]
        .as_u64()
        .unwrap();
    let core = out.path().join(format!("core.{pid}"));
    let marker = readme_address(&case, "marker");
    let ti = &decoded(&case.join(format!("core-{pid}.img")))["entries"][0]["thread_info"];
    let ip = ti["gpregs"]["ip"].as_u64().unwrap();
    // FP state: xmm1 (NT_FPREGSET / NT_X86_XSTATE) and k0 (the AVX-512 part of XSTATE).
    let xmm1: Vec<String> = ti["fpregs"]["xmm_space"].as_array().unwrap()[4..8]
        .iter()
        .map(|v| format!("{:#x}", v.as_u64().unwrap()))
        .collect();
    let k0 = ti["fpregs"]["xsave"]["opmask_reg"][0].as_u64();
    let exe = case.join("program/memtest");
    let root = tempfile::tempdir().unwrap();
    sysroot_for(&case, root.path());
    let said = gdb_in(
        "gdb",
        Some(root.path()),
        Some(&exe),
        &core,
        &[
            &format!("x/s {marker}"),
            "info registers rip",
            "bt",
            "p/x $xmm1.v4_int32",
            "p $k0",
        ],
    );
    println!("{said}");
    assert!(
        said.contains("\"CRITFS-GLOBAL-MARKER:0001\""),
        "x/s {marker}: {said}"
    );
    let rip_line = said
        .lines()
        .find(|l| l.starts_with("rip"))
        .unwrap_or_else(|| panic!("no rip: {said}"));
    assert!(
        rip_line.contains(&format!("{ip:#x}")),
        "{rip_line} vs {ip:#x}"
    );
    assert!(
        said.lines()
            .any(|l| l.starts_with('#') && l.contains(" main ")),
        "bt does not reach main: {said}"
    );
    assert!(
        said.contains(&format!("= {{{}}}", xmm1.join(", "))),
        "xmm1 {xmm1:?}: {said}"
    );
    let k0 = k0.expect("the image has AVX-512 state");
    assert!(
        said.lines().any(|l| l.ends_with(&format!("= {k0}"))),
        "k0 {k0}: {said}"
    );
}

#[test]
fn memory_core_holds_every_kind_of_memory() {
    if !have("gdb", "memory_core_holds_every_kind_of_memory") {
        return;
    }
    let case = corpus("memory");
    let out = coredump_ok(&case);
    let core = only_file(out.path());
    let heap = readme_address(&case, "heap");
    let anon = readme_address(&case, "anon");
    let shared = readme_address(&case, "shared");
    let said = gdb(
        "gdb",
        Some(&case.join("program/memtest")),
        &core,
        &[
            &format!("x/s {heap}"),
            &format!("x/s {anon}"),
            &format!("x/s {shared}"),
        ],
    );
    println!("{said}");
    assert!(said.contains("\"HEAP-PATTERN-000000 HEAP"), "{said}");
    assert!(said.contains("\"ANON-PAGE-0\""), "{said}");
    // Shared anonymous memory comes from its own pagemap, not zeros.
    assert!(said.contains("\"SHARED-ANON-MEMORY\""), "{said}");
}

#[test]
fn threads_core_lists_every_thread() {
    if !have("gdb", "threads_core_lists_every_thread") {
        return;
    }
    let case = corpus("threads");
    let out = coredump_ok(&case);
    let entry = &decoded(&case.join("pstree.img"))["entries"][0];
    let pid = entry["pid"].as_u64().unwrap();
    let threads: Vec<u64> = entry["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    assert_eq!(threads.len(), 5);
    let said = gdb(
        "gdb",
        None,
        &out.path().join(format!("core.{pid}")),
        &["info threads"],
    );
    println!("{said}");
    // The rows of `info threads`: "[*] N LWP TID FRAME".
    let rows: Vec<(bool, u64)> = said
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (cur, w) = match w.first() {
                Some(&"*") => (true, &w[1..]),
                _ => (false, &w[..]),
            };
            (w.len() >= 3 && w[0].parse::<u64>().is_ok() && w[1] == "LWP")
                .then(|| (cur, w[2].parse().unwrap()))
        })
        .collect();
    let mut listed: Vec<u64> = rows.iter().map(|r| r.1).collect();
    listed.sort();
    let mut want = threads.clone();
    want.sort();
    assert_eq!(listed, want, "{said}");
    // The main thread is the first and the current one.
    assert_eq!(rows[0], (true, pid), "{said}");
    // Each thread's registers are its own core image's.
    let regs = gdb(
        "gdb",
        None,
        &out.path().join(format!("core.{pid}")),
        &["thread apply all info registers rip"],
    );
    for tid in &threads {
        let ip = decoded(&case.join(format!("core-{tid}.img")))["entries"][0]["thread_info"]
            ["gpregs"]["ip"]
            .as_u64()
            .unwrap();
        let at = regs
            .find(&format!("(LWP {tid}):"))
            .unwrap_or_else(|| panic!("no thread {tid}: {regs}"));
        let rip = regs[at..].lines().find(|l| l.starts_with("rip")).unwrap();
        assert!(
            rip.contains(&format!("{ip:#x}")),
            "thread {tid}: {rip} vs {ip:#x}"
        );
    }
}

#[test]
fn readelf_lists_the_notes() {
    if !have("readelf", "readelf_lists_the_notes") {
        return;
    }
    let case = corpus("threads");
    let out = coredump_ok(&case);
    let pid = decoded(&case.join("pstree.img"))["entries"][0]["pid"]
        .as_u64()
        .unwrap();
    let core = out.path().join(format!("core.{pid}"));
    let notes = text(&run(Command::new("readelf").arg("-nW").arg(&core)).stdout);
    let count = |what: &str| notes.matches(what).count();
    assert_eq!(count("NT_PRSTATUS"), 5, "{notes}");
    assert_eq!(count("NT_FPREGSET"), 5, "{notes}");
    assert_eq!(count("NT_X86_XSTATE"), 5, "{notes}");
    assert_eq!(count("NT_SIGINFO"), 5, "{notes}");
    assert_eq!(count("NT_PRPSINFO"), 1, "{notes}");
    assert_eq!(count("NT_AUXV"), 1, "{notes}");
    assert_eq!(count("NT_FILE"), 1, "{notes}");
    let exe = decoded(&case.join("files.img"))["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f["reg"]["name"].as_str().map(String::from))
        .unwrap();
    // This readelf does not decode NT_FILE ("Cannot decode 64-bit note in
    // 32-bit build", for the kernel's cores too): it is read here.
    let bytes = std::fs::read(&core).unwrap();
    let files = note_files(&bytes);
    assert!(
        files.iter().any(|(_, _, _, name)| name == &exe),
        "NT_FILE lacks {exe}: {files:?}"
    );
    assert!(files.iter().all(|(s, e, _, _)| s < e));
    let header = text(&run(Command::new("readelf").arg("-h").arg(&core)).stdout);
    assert!(header.contains("CORE (Core file)"), "{header}");
    assert!(header.contains("Advanced Micro Devices X86-64"), "{header}");
}

/// The aarch64 dump of tests/data/coredump-aarch64, encoded into `dir`,
/// with its pages image: text page (an instruction at 0x400010), data page
/// (a marker at 0x10001000), two stack pages (the command line).
fn aarch64_dump(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/coredump-aarch64");
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap();
        let Some(img) = name.strip_suffix(".json") else {
            continue;
        };
        let out = run(Command::new(BIN)
            .args(["encode", "-i"])
            .arg(&p)
            .arg("-o")
            .arg(dir.join(img)));
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    }
    let mut pages = vec![0u8; 4 * 4096];
    pages[0x10..0x14].copy_from_slice(&[0x1f, 0x20, 0x03, 0xd5]); // nop
    let marker = b"CRITFS-AARCH64-MARKER";
    pages[4096..4096 + marker.len()].copy_from_slice(marker);
    let args = b"/usr/bin/arm-test\0--marker=crit-aarch64\0";
    pages[2 * 4096 + 0x100..2 * 4096 + 0x100 + args.len()].copy_from_slice(args);
    std::fs::write(dir.join("pages-1.img"), pages).unwrap();
}

#[test]
fn aarch64_core_is_aarch64_for_readelf_and_gdb_multiarch() {
    let dir = tempfile::tempdir().unwrap();
    aarch64_dump(dir.path());
    let out = coredump_ok(dir.path());
    let core = out.path().join("core.4242");
    if have("readelf", "aarch64_core (readelf)") {
        let header = text(&run(Command::new("readelf").arg("-h").arg(&core)).stdout);
        println!("{header}");
        assert!(header.contains("AArch64"), "{header}");
        let notes = text(&run(Command::new("readelf").arg("-nW").arg(&core)).stdout);
        println!("{notes}");
        assert!(notes.contains("NT_ARM_TLS"), "{notes}");
        assert!(notes.contains("NT_FPREGSET"), "{notes}");
        assert!(notes.contains("NT_PRPSINFO"), "{notes}");
    }
    if !have("gdb-multiarch", "aarch64_core (gdb-multiarch)") {
        return;
    }
    let said = gdb(
        "gdb-multiarch",
        None,
        &core,
        &[
            "info registers pc",
            "info registers x3",
            "info registers sp",
            "x/4xb 0x400010",
            "x/s 0x10001000",
            "info proc",
            "p/x $fpsr",
            "p/x $tpidr",
            "p/x $v1.d.u",
        ],
    );
    println!("{said}");
    assert!(said.contains("0x400010"), "pc: {said}");
    // x3 = 0x1000 + 3 * 0x11 in the core image.
    assert!(said.contains("0x1033"), "x3: {said}");
    assert!(said.contains("0xfffffffff000"), "sp: {said}");
    assert!(said.contains("0x1f\t0x20\t0x03\t0xd5"), "x/4xb: {said}");
    assert!(said.contains("\"CRITFS-AARCH64-MARKER\""), "{said}");
    assert!(
        said.contains("/usr/bin/arm-test --marker=crit-aarch64"),
        "psargs: {said}"
    );
    // NT_PRFPREG (fpsr 0x10, v1 = vregs[2], vregs[3]) and NT_ARM_TLS, as in the JSON.
    assert!(said.contains("= 0x10\n"), "fpsr: {said}");
    assert!(said.contains("= 0xfffff7ff0720\n"), "tpidr: {said}");
    assert!(said.contains("= {0x2, 0x3}"), "v1: {said}");
}

#[test]
fn other_architectures_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    aarch64_dump(dir.path());
    // The same core with ppc64 thread info instead.
    let json = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/coredump-aarch64/core-4242.img.json"),
    )
    .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let e = &mut v["entries"][0];
    e.as_object_mut().unwrap().remove("ti_aarch64");
    e["mtype"] = "PPC64".into();
    e["ti_ppc64"] = serde_json::json!({"clear_tid_addr": 0, "gpregs": {"gpr": vec![0; 32], "nip": 0, "msr": 0,
        "orig_gpr3": 0, "ctr": 0, "link": 0, "xer": 0, "ccr": 0, "trap": 0}});
    let p = dir.path().join("core.json");
    std::fs::write(&p, v.to_string()).unwrap();
    let enc = run(Command::new(BIN)
        .args(["encode", "-i"])
        .arg(&p)
        .arg("-o")
        .arg(dir.path().join("core-4242.img")));
    assert!(enc.status.success(), "{}", text(&enc.stderr));
    let out = tempfile::tempdir().unwrap();
    let res = coredump(dir.path(), out.path(), &[]);
    let err = text(&res.stderr);
    assert!(!res.status.success());
    assert!(err.contains("core-4242.img"), "{err}");
    assert!(err.contains("ti_ppc64"), "{err}");
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
}

#[test]
fn zombies_get_no_core_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    aarch64_dump(dir.path());
    // A second process, a zombie: a core image only.
    let pstree = r#"{"magic": "PSTREE", "entries": [
        {"pid": 4242, "ppid": 1, "pgid": 4242, "sid": 4242, "threads": [4242]},
        {"pid": 4243, "ppid": 4242, "pgid": 4242, "sid": 4242, "threads": [4243]}]}"#;
    let core = r#"{"magic": "CORE", "entries": [{"mtype": "AARCH64",
        "tc": {"task_state": 2, "exit_code": 0, "personality": 0, "flags": 0,
               "blk_sigset": 0, "comm": "zombie"}}]}"#;
    for (name, json) in [("pstree.img", pstree), ("core-4243.img", core)] {
        let p = dir.path().join("x.json");
        std::fs::write(&p, json).unwrap();
        let enc = run(Command::new(BIN)
            .args(["encode", "-i"])
            .arg(&p)
            .arg("-o")
            .arg(dir.path().join(name)));
        assert!(enc.status.success(), "{}", text(&enc.stderr));
    }
    let out = tempfile::tempdir().unwrap();
    let res = coredump(dir.path(), out.path(), &[]);
    let err = text(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(err.contains("process 4243 is a zombie"), "{err}");
    assert!(out.path().join("core.4242").exists());
    assert!(!out.path().join("core.4243").exists());
    // Asked for by pid: still no core, and the command fails.
    let res = coredump(dir.path(), out.path(), &["-p", "4243"]);
    assert!(!res.status.success());
    assert!(text(&res.stderr).contains("process 4243 is a zombie"));
}

/// The notes of a core: (name, type, descriptor).
fn notes_of(core: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let u32_at = |o: usize| u32::from_le_bytes(core[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(core[o..o + 8].try_into().unwrap());
    let phoff = u64_at(32) as usize;
    assert_eq!(u32_at(phoff), 4, "the first program header is PT_NOTE");
    let (off, size) = (u64_at(phoff + 8) as usize, u64_at(phoff + 32) as usize);
    let mut out = Vec::new();
    let mut p = off;
    while p < off + size {
        let (nsz, dsz, ty) = (u32_at(p) as usize, u32_at(p + 4) as usize, u32_at(p + 8));
        let name = text(&core[p + 12..p + 12 + nsz - 1]);
        let d = p + 12 + nsz.next_multiple_of(4);
        out.push((name, ty, core[d..d + dsz].to_vec()));
        p = d + dsz.next_multiple_of(4);
    }
    out
}

/// NT_FILE's entries: (start, end, page offset, name).
fn note_files(core: &[u8]) -> Vec<(u64, u64, u64, String)> {
    let (_, _, d) = notes_of(core)
        .into_iter()
        .find(|n| n.1 == 0x4649_4c45)
        .expect("NT_FILE");
    let w = |i: usize| u64::from_le_bytes(d[8 * i..8 * i + 8].try_into().unwrap());
    let count = w(0) as usize;
    let names: Vec<String> = d[8 * (2 + 3 * count)..]
        .split(|&b| b == 0)
        .take(count)
        .map(text)
        .collect();
    (0..count)
        .map(|i| (w(2 + 3 * i), w(3 + 3 * i), w(4 + 3 * i), names[i].clone()))
        .collect()
}

/// PT_LOAD headers of a core: (vaddr, offset, filesz).
fn loads(core: &[u8]) -> Vec<(u64, u64, u64)> {
    let u16_at = |o: usize| u16::from_le_bytes(core[o..o + 2].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(core[o..o + 8].try_into().unwrap());
    let phoff = u64_at(32) as usize;
    (0..u16_at(56))
        .map(|i| phoff + 56 * i)
        .filter(|&p| u32::from_le_bytes(core[p..p + 4].try_into().unwrap()) == 1)
        .map(|p| (u64_at(p + 16), u64_at(p + 8), u64_at(p + 32)))
        .collect()
}

#[test]
fn unreadable_memory_is_zeros_and_named() {
    let dir = tempfile::tempdir().unwrap();
    aarch64_dump(dir.path());
    // The pages image loses its last two pages (the stack's).
    let pages = dir.path().join("pages-1.img");
    let bytes = std::fs::read(&pages).unwrap();
    std::fs::write(&pages, &bytes[..2 * 4096]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let res = coredump(dir.path(), out.path(), &[]);
    let err = text(&res.stderr);
    println!("{err}");
    assert!(res.status.success(), "{err}");
    assert!(err.contains("core.4242"), "{err}");
    assert!(
        err.contains("0xffffffffe000-0x1000000000000 unreadable, zeros in the core"),
        "{err}"
    );
    let core = std::fs::read(out.path().join("core.4242")).unwrap();
    let (_, off, len) = loads(&core)
        .into_iter()
        .find(|l| l.0 == 0xfffffffde000)
        .unwrap();
    // The stack is in the core whole (its pages were written), as zeros.
    assert_eq!(len, 0x22000);
    assert!(
        core[off as usize..(off + len) as usize]
            .iter()
            .all(|&b| b == 0)
    );
    // The data page is still there.
    let (_, off, _) = loads(&core)
        .into_iter()
        .find(|l| l.0 == 0x10000000)
        .unwrap();
    assert_eq!(
        &core[off as usize + 4096..off as usize + 4096 + 21],
        b"CRITFS-AARCH64-MARKER"
    );
}

#[test]
fn missing_core_image_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    aarch64_dump(dir.path());
    std::fs::remove_file(dir.path().join("core-4242.img")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let res = coredump(dir.path(), out.path(), &[]);
    let err = text(&res.stderr);
    assert!(!res.status.success());
    assert!(err.contains("core-4242.img"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn library_read_at_matches_the_cli_file() {
    let case = corpus("memory");
    let out = coredump_ok(&case);
    let file = only_file(out.path());
    let pid: u64 = file
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .strip_prefix("core.")
        .unwrap()
        .parse()
        .unwrap();
    let written = std::fs::read(&file).unwrap();
    let dump = crit_fs::explore::dump::Dump::new(&case);
    let mem = crit_fs::coredump::open_memory(&case, pid).unwrap();
    let core = crit_fs::coredump::CoreFile::new(&dump, pid, mem).unwrap();
    assert_eq!(core.size(), written.len() as u64);
    // Odd pieces across headers, notes and segments.
    let mut at = 0u64;
    let mut piece = 1usize;
    while at < core.size() {
        let mut buf = vec![0xaau8; piece];
        let n = core.read_at(at, &mut buf);
        assert_eq!(&buf[..n], &written[at as usize..at as usize + n], "at {at}");
        at += n as u64;
        piece = piece * 7 % 100_003 + 1;
    }
    let mut buf = [0u8; 10];
    assert_eq!(core.read_at(core.size(), &mut buf), 0);
}

/// criu-coredump (CRIU's coredump/, run by CRIU_COREDUMP or
/// /opt/criu/bin/criu-coredump), if it runs here.
fn criu_coredump() -> Option<PathBuf> {
    let p = std::env::var_os("CRIU_COREDUMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/criu/bin/criu-coredump"));
    p.exists().then_some(p)
}

/// On the `sleep` case both tools read the same host files. criu-coredump's
/// segments are right up to the first private file mapping whose file ends
/// inside a page: it copies the short read, so every later segment lies
/// before the offset its header gives (docs/coredump.md). Up to there, every
/// segment both dump holds the same bytes.
#[test]
fn criu_coredump_agrees_until_its_first_short_file_page() {
    let Some(tool) = criu_coredump() else {
        println!(
            "skipped: criu_coredump_agrees_until_its_first_short_file_page: criu-coredump is not installed"
        );
        return;
    };
    let case = corpus("sleep");
    let pid = decoded(&case.join("pstree.img"))["entries"][0]["pid"]
        .as_u64()
        .unwrap();
    let ours = coredump_ok(&case);
    let theirs = tempfile::tempdir().unwrap();
    let out = run(Command::new(&tool)
        .arg("-i")
        .arg(&case)
        .arg("-o")
        .arg(theirs.path()));
    let name = format!("core.{pid}");
    if !out.status.success() || !theirs.path().join(&name).exists() {
        println!(
            "skipped: criu_coredump_agrees_until_its_first_short_file_page: criu-coredump failed: {}",
            text(&out.stderr)
        );
        return;
    }
    let a = std::fs::read(ours.path().join(&name)).unwrap();
    let b = std::fs::read(theirs.path().join(&name)).unwrap();
    let theirs_loads: std::collections::HashMap<u64, (u64, u64)> =
        loads(&b).into_iter().map(|(v, o, f)| (v, (o, f))).collect();
    // Where criu-coredump starts shifting: the first file mapping of which
    // it dumps a page that the dump did not save and the file (on this
    // host) does not fill.
    let mem = crit_fs::memory::AddressSpace::open(&case, pid).unwrap();
    let saved = |page: u64| mem.seek_data(page) == Some(page);
    let shift_at = note_files(&a)
        .iter()
        .filter(|(s, _, ofs, name)| {
            let dumped = theirs_loads.get(s).map_or(0, |l| l.1);
            let len = std::fs::metadata(name).map_or(0, |m| m.len());
            (0..dumped)
                .step_by(4096)
                .any(|p| ofs * 4096 + p + 4096 > len && !saved(s + p))
        })
        .map(|f| f.0)
        .min()
        .unwrap_or(u64::MAX);
    let mut compared = 0u64;
    for (vaddr, off, filesz) in loads(&a) {
        if vaddr >= shift_at {
            break;
        }
        let (boff, bsz) = theirs_loads[&vaddr];
        let n = filesz.min(bsz) as usize;
        assert_eq!(
            &a[off as usize..off as usize + n],
            &b[boff as usize..boff as usize + n],
            "segment {vaddr:#x}"
        );
        compared += n as u64;
    }
    println!("compared {compared} bytes of segments below {shift_at:#x}");
    assert!(compared >= 0x20000, "too little to compare: {compared}");
}

/// Damaged images (a byte changed here and there in each image of the aarch64
/// dump, pages cut short): a core or one error, never a panic.
#[test]
fn damaged_images_give_a_core_or_an_error() {
    let base = tempfile::tempdir().unwrap();
    aarch64_dump(base.path());
    let names = [
        "core-4242.img",
        "mm-4242.img",
        "pagemap-4242.img",
        "pstree.img",
        "files.img",
    ];
    let mut runs = 0;
    for name in names {
        let orig = std::fs::read(base.path().join(name)).unwrap();
        for at in (0..orig.len()).step_by(3) {
            for flip in [0xffu8, 0x80] {
                let dir = tempfile::tempdir().unwrap();
                for e in std::fs::read_dir(base.path()).unwrap() {
                    let p = e.unwrap().path();
                    std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
                }
                let mut bytes = orig.clone();
                bytes[at] ^= flip;
                std::fs::write(dir.path().join(name), &bytes).unwrap();
                let dump = crit_fs::explore::dump::Dump::new(dir.path());
                if let Ok(mem) = crit_fs::coredump::open_memory(dir.path(), 4242)
                    && let Ok(core) = crit_fs::coredump::CoreFile::new(&dump, 4242, mem)
                {
                    // Big layouts are fine; their bytes are produced only as read.
                    let mut buf = vec![0u8; 1 << 16];
                    let mut off = 0;
                    while off < core.size().min(1 << 22) {
                        let n = core.read_at(off, &mut buf);
                        assert!(n > 0);
                        off += n as u64;
                    }
                    let _ = core.problems();
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 100);
}

/// Pages of a pre-dump come from the parent dumps (not the parent process):
/// with the `memory` case's pagemap entries moved up into a parent and a
/// grandparent dump, the core is byte for byte the core of the whole dump.
#[test]
fn predump_chain_core_equals_the_whole_dump_core() {
    let case = corpus("memory");
    let pid = decoded(&case.join("pstree.img"))["entries"][0]["pid"]
        .as_u64()
        .unwrap();
    // Moved entries alternate between the parent and the grandparent.
    let pm = format!("pagemap-{pid}.img");
    let chain = common::predump::predump_chain(&case, 2, |name, _| name == pm);
    assert!(!chain.moved.is_empty());
    let whole = coredump_ok(&case);
    let split = coredump_ok(chain.last());
    let name = format!("core.{pid}");
    let (a, b) = (
        std::fs::read(whole.path().join(&name)).unwrap(),
        std::fs::read(split.path().join(&name)).unwrap(),
    );
    assert!(loads(&a).iter().any(|l| l.2 > 0));
    assert!(a == b, "the pre-dump chain's core differs");
}

/// 70,000 mappings: more program headers than e_phnum holds, so e_phnum is
/// PN_XNUM and the one section header carries the count (readelf reads it).
#[test]
fn many_mappings_use_extended_numbering() {
    let dir = tempfile::tempdir().unwrap();
    aarch64_dump(dir.path());
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/coredump-aarch64/mm-4242.img.json");
    let mut mm: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    let vmas = mm["entries"][0]["vmas"].as_array_mut().unwrap();
    let template = vmas[1].clone();
    let n = 70_000u64;
    for i in 0..n {
        let mut v = template.clone();
        // Every other page, so that no two touch.
        let start = 0x2000_0000u64 + i * 0x2000;
        v["start"] = start.into();
        v["end"] = (start + 0x1000).into();
        vmas.push(v);
    }
    vmas.sort_by_key(|v| {
        let s = &v["start"];
        s.as_u64().unwrap_or_else(|| {
            u64::from_str_radix(s.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
        })
    });
    let p = dir.path().join("mm.json");
    std::fs::write(&p, mm.to_string()).unwrap();
    let enc = run(Command::new(BIN)
        .args(["encode", "-i"])
        .arg(&p)
        .arg("-o")
        .arg(dir.path().join("mm-4242.img")));
    assert!(enc.status.success(), "{}", text(&enc.stderr));
    std::fs::remove_file(&p).unwrap();
    let out = coredump_ok(dir.path());
    let core = std::fs::read(out.path().join("core.4242")).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes(core[o..o + 2].try_into().unwrap());
    assert_eq!(u16_at(56), 0xffff, "e_phnum is PN_XNUM");
    let shoff = u64::from_le_bytes(core[40..48].try_into().unwrap()) as usize;
    assert_eq!(shoff + 64, core.len(), "the section header ends the file");
    let sh_info = u32::from_le_bytes(core[shoff + 44..shoff + 48].try_into().unwrap());
    assert_eq!(sh_info as u64, n + 3 + 1);
    if have("readelf", "many_mappings_use_extended_numbering (readelf)") {
        let h = text(
            &run(Command::new("readelf")
                .arg("-h")
                .arg(out.path().join("core.4242")))
            .stdout,
        );
        assert!(h.contains(&format!("65535 ({})", n + 4)), "{h}");
    }
}
