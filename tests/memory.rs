//! The memory layer (src/memory) on corpus dumps and on dumps the tests
//! make: what a read returns, seeks, damaged input, pre-dump chains, writes.

mod common;

use std::path::Path;

use common::{copy_case, corpus};
use crit_fs::memory::{AddressSpace, MemError, VMA_AREA_MEMFD, VMA_AREA_SYSVIPC, Vma};

const MEMORY_PID: u64 = 13292;
// Addresses from tests/data/corpus/memory/README.txt.
const MARKER: u64 = 0x555634f630c0;
const COUNTER: u64 = 0x555634f630a0;
const HEAP: u64 = 0x7f90b49f2010;
const ANON: u64 = 0x7f90b49b2000;
const SHARED: u64 = 0x7f90b4c1d000;
const FILEMAP: u64 = 0x7f90b4c19000;
const PAGE: u64 = 4096;

fn memory() -> AddressSpace {
    AddressSpace::open(&corpus("memory"), MEMORY_PID).unwrap()
}

/// Opens `pid`'s address space in `dir`, which must have no problems.
fn open_clean(dir: &Path, pid: u64) -> AddressSpace {
    let s = AddressSpace::open(dir, pid).unwrap();
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    s
}

/// The first mapping whose status has `flag`.
fn vma_with_status(space: &AddressSpace, flag: u32) -> Vma {
    space
        .vmas()
        .iter()
        .find(|v| v.status & flag != 0)
        .unwrap()
        .clone()
}

fn read(space: &AddressSpace, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0xaa; len];
    let n = space
        .read(addr, &mut buf)
        .unwrap_or_else(|e| panic!("read {addr:#x}+{len}: {e}"));
    buf.truncate(n);
    buf
}

fn read_err(space: &AddressSpace, addr: u64, len: usize) -> MemError {
    let mut buf = vec![0; len];
    match space.read(addr, &mut buf) {
        Ok(n) => panic!("read {addr:#x}+{len} gave {n} bytes, not an error"),
        Err(e) => e,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn memory_marker_and_counter() {
    let s = memory();
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    let marker = read(&s, MARKER, 64);
    assert!(
        marker.starts_with(b"CRITFS-GLOBAL-MARKER:0001\0"),
        "{marker:?}"
    );
    assert!(marker[26..].iter().all(|&b| b == 0));
    let counter = read(&s, COUNTER, 8);
    assert_eq!(u64::from_le_bytes(counter.try_into().unwrap()), 0x1234);
}

#[test]
fn memory_heap_pattern() {
    let s = memory();
    let heap = read(&s, HEAP, 256 * 1024);
    assert_eq!(heap.len(), 256 * 1024);
    for i in [0usize, 1, 204, 13106] {
        let cell = format!("HEAP-PATTERN-{i:06} ");
        assert_eq!(&heap[i * 20..i * 20 + 20], cell.as_bytes(), "cell {i}");
    }
}

#[test]
fn memory_anon_pages_touched_and_untouched() {
    let s = memory();
    for i in 0..64u64 {
        let page = read(&s, ANON + i * PAGE, PAGE as usize);
        if i % 4 == 0 {
            let text = format!("ANON-PAGE-{i}\0");
            assert!(page.starts_with(text.as_bytes()), "page {i}");
        } else {
            assert!(
                page.iter().all(|&b| b == 0),
                "untouched page {i} reads as zeros"
            );
        }
    }
}

#[test]
fn memory_shared_anonymous_memory() {
    let s = memory();
    let v = s.vma_at(SHARED).unwrap();
    assert_eq!(v.perms(), "rw-s");
    assert_eq!(v.path.as_deref(), Some("/dev/zero (deleted)"));
    assert_eq!(v.inode, Some(36));
    let bytes = read(&s, SHARED, 3 * PAGE as usize);
    assert!(bytes.starts_with(b"SHARED-ANON-MEMORY\0"));
    // Pages 1..3 of the object are not in pagemap-shmem-36.img: zeros.
    assert!(bytes[PAGE as usize..].iter().all(|&b| b == 0));
}

#[test]
fn memory_file_mapping_dirty_page_and_missing_file() {
    let s = memory();
    let v = s.vma_at(FILEMAP).unwrap();
    assert_eq!(
        v.path.as_deref(),
        Some("/srv/crit-corpus/memory/mapped.dat")
    );
    assert_eq!(v.perms(), "rw-p");
    // The corpus's work directory is not on this host.
    assert_eq!(v.file_on_host, Some(false));
    let page1 = read(&s, FILEMAP + PAGE, PAGE as usize);
    assert!(page1.starts_with(b"FILE-PRIVATE-DIRTY"));
    // The rest of the dirty page is the file's: "FILE-PAGE-1 " cells.
    assert_eq!(&page1[24..36], b"FILE-PAGE-1 ");
    let page0 = read(&s, FILEMAP, PAGE as usize);
    assert!(page0.iter().all(|&b| b == 0), "file not on host: zeros");
}

#[test]
fn memory_file_mapping_reads_host_file_when_present() {
    // A copy of the dump whose mapped.dat path points at a file we make,
    // with the recorded size: undumped pages come from it.
    let tmp = copy_case("memory");
    let host = tempfile::tempdir().unwrap();
    let mapped = host.path().join("mapped.dat");
    let mut content = Vec::new();
    for i in 0..4 {
        for j in 0..PAGE as usize {
            content.push(b"FILE-PAGE-0 "[j % 12]);
        }
        let base = i * PAGE as usize;
        for j in (0..PAGE as usize - 11).step_by(12) {
            content[base + j + 10] = b'0' + i as u8;
        }
    }
    std::fs::write(&mapped, &content).unwrap();
    set_reg_name(tmp.path(), 3, mapped.to_str().unwrap());
    let s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    let v = s.vma_at(FILEMAP).unwrap();
    assert_eq!(v.file_on_host, Some(true));
    assert_eq!(read(&s, FILEMAP, 12), b"FILE-PAGE-0 ");
    assert_eq!(read(&s, FILEMAP + 2 * PAGE, 12), b"FILE-PAGE-2 ");
    assert!(read(&s, FILEMAP + PAGE, 18).starts_with(b"FILE-PRIVATE-DIRTY"));
    // A file of another size than recorded is not used.
    std::fs::write(&mapped, &content[..8192]).unwrap();
    let s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    assert_eq!(s.vma_at(FILEMAP).unwrap().file_on_host, Some(false));
    assert_eq!(read(&s, FILEMAP, 12), vec![0; 12]);
}

/// Renames the REG file `id` of files.img.
fn set_reg_name(dir: &Path, id: u64, name: &str) {
    use crit_fs::message::Value;
    common::edit(dir, "files.img", |img| {
        for e in &mut img.entries {
            if e.msg.u64("id") == Some(id) {
                let reg = common::sub(&mut e.msg, "reg");
                let idx = crit_fs::schema::Schema::get()
                    .message(reg.msg_type)
                    .field_by_name("name")
                    .unwrap();
                reg.set(idx, vec![Value::Str(name.as_bytes().to_vec())]);
            }
        }
    });
}

#[test]
fn memory_outside_every_mapping_is_eio() {
    let s = memory();
    let e = read_err(&s, 0x1000, 16);
    assert_eq!(e.errno, libc::EIO);
    assert!(e.message.contains("outside every mapping"), "{e}");
    // A read running off the end of a mapping into a gap stops there.
    let before_gap = s
        .vmas()
        .windows(2)
        .find(|w| w[0].end < w[1].start)
        .map(|w| w[0].end)
        .unwrap();
    let got = read(&s, before_gap - 8, 64);
    assert_eq!(got.len(), 8);
    // Reading across two adjacent mappings goes on.
    let anon_end = s.vma_at(ANON).unwrap().end;
    assert_eq!(read(&s, anon_end - 8, 64).len(), 64);
}

#[test]
fn memory_names_special_mappings() {
    let s = memory();
    let names: Vec<(String, Option<String>)> = s
        .vmas()
        .iter()
        .map(|v| (format!("{:x}-{:x}", v.start, v.end), v.path.clone()))
        .collect();
    let named = |want: &str| {
        names
            .iter()
            .filter(|(_, p)| p.as_deref() == Some(want))
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(named("[heap]"), ["555643d67000-555643d88000"]);
    assert_eq!(named("[stack]"), ["7ffdde25d000-7ffdde27e000"]);
    assert_eq!(named("[vdso]"), ["7f90b4c29000-7f90b4c2b000"]);
    assert_eq!(named("[vvar]"), ["7f90b4c23000-7f90b4c29000"]);
    assert_eq!(named("[vsyscall]"), ["ffffffffff600000-ffffffffff601000"]);
    assert_eq!(named("/srv/crit-corpus/bin/memtest").len(), 5);
    assert_eq!(
        s.mm().exe_path.as_deref(),
        Some("/srv/crit-corpus/bin/memtest")
    );
    // [vsyscall] lies beyond 2^63: not part of the size.
    assert_eq!(s.size(), 0x7ffdde27e000);
}

#[test]
fn memory_seek_data_and_hole() {
    let s = memory();
    // The anon mapping: pages 0, 4, 8… are dumped, one page each.
    assert_eq!(s.seek_data(ANON), Some(ANON));
    assert_eq!(s.seek_hole(ANON), ANON + PAGE);
    assert_eq!(s.seek_data(ANON + PAGE), Some(ANON + 4 * PAGE));
    assert_eq!(s.seek_hole(ANON + PAGE + 5), ANON + PAGE + 5);
    assert_eq!(s.seek_data(ANON + 100), Some(ANON + 100));
    // The shared mapping's first page is data (from pagemap-shmem-36.img).
    assert_eq!(s.seek_data(SHARED), Some(SHARED));
    assert_eq!(s.seek_hole(SHARED), SHARED + PAGE);
    // Nothing after the stack (vsyscall is not dumped).
    assert_eq!(s.seek_data(0x7ffdde27e000), None);
    // Every data range reads without error and holes between stay holes.
    for &(a, b) in s.data_ranges() {
        assert_eq!(s.seek_data(a), Some(a));
        assert_eq!(s.seek_hole(a), b);
        assert_eq!(read(&s, a, (b - a) as usize).len(), (b - a) as usize);
    }
    let total: u64 = s.data_ranges().iter().map(|(a, b)| b - a).sum();
    // 114 pages in pagemap-13292.img + 1 page of shared memory.
    assert_eq!(total, 115 * PAGE);
}

#[test]
fn memory_cmdline_and_environ_bytes() {
    let s = memory();
    let mm = s.mm().clone();
    let args = read(&s, mm.arg_start, (mm.arg_end - mm.arg_start) as usize);
    let parts: Vec<&[u8]> = args.split(|&b| b == 0).collect();
    assert_eq!(parts[0], b"/srv/crit-corpus/bin/memtest");
    assert_eq!(parts[1], b"/srv/crit-corpus/memory");
    assert_eq!(parts[2], b"--argv-marker=critfs-argv-memory");
    assert_eq!(args.last(), Some(&0));
    let env = read(&s, mm.env_start, (mm.env_end - mm.env_start) as usize);
    assert!(find(&env, b"MEMTEST_ENV=critfs-env-marker-memory\0").is_some());
    assert!(find(&env, b"PATH=/usr/local/bin:/usr/bin:/bin\0").is_some());
    assert_eq!(mm.auxv.len() % 2, 0);
    assert_eq!(mm.auxv[0], 33); // AT_SYSINFO_EHDR, the vdso
    assert_eq!(mm.auxv[1], 0x7f90b4c29000);
}

#[test]
fn threads_share_their_process_memory() {
    let dir = corpus("threads");
    let s = open_clean(&dir, 19150);
    let t = AddressSpace::open(&dir, 19153).unwrap();
    assert_eq!(t.pid(), 19150);
    assert_eq!(s.vmas(), t.vmas());
    let mm = s.mm();
    let a = read(&s, mm.arg_start, (mm.arg_end - mm.arg_start) as usize);
    assert_eq!(a, read(&t, mm.arg_start, a.len()));
    assert!(a.starts_with(b"/srv/crit-corpus/bin/"), "{a:?}");
    // Every dumped range reads.
    for &(x, y) in s.data_ranges() {
        assert_eq!(read(&s, x, (y - x) as usize).len() as u64, y - x);
    }
}

#[test]
fn unix_files_memfd_mapping_reads_its_shmem_pages() {
    let dir = corpus("unix-files");
    let s = open_clean(&dir, 19065);
    let v = vma_with_status(&s, VMA_AREA_MEMFD);
    assert_eq!(v.path.as_deref(), Some("/memfd:corpus-memfd (deleted)"));
    assert_eq!(v.inode, Some(1353));
    let bytes = read(&s, v.start, (v.end - v.start) as usize);
    let shm_pages = std::fs::read(dir.join("pages-1.img")).unwrap();
    assert_eq!(
        bytes, shm_pages,
        "the memfd's two pages, from pagemap-shmem-1353.img"
    );
    assert!(bytes.iter().any(|&b| b != 0));
}

#[test]
fn ipc_ns_sysv_shm_attached() {
    let dir = corpus("ipc-ns");
    let s = open_clean(&dir, 19262);
    let v = vma_with_status(&s, VMA_AREA_SYSVIPC);
    assert_eq!(v.path.as_deref(), Some("/SYSV00001234 (deleted)"));
    assert_eq!(v.perms(), "rw-s");
    let bytes = read(&s, v.start, (v.end - v.start) as usize);
    // pagemap-shmem-0.img: 16 pages at the start of pages-2.img.
    let pages = std::fs::read(dir.join("pages-2.img")).unwrap();
    assert_eq!(&bytes[..], &pages[..16 * PAGE as usize]);
    assert_eq!(s.seek_data(v.start), Some(v.start));
    // All 16 pages are data (the next mapping's dumped pages follow on).
    assert!(s.seek_hole(v.start) >= v.end);
}

#[test]
fn zombie_has_no_memory() {
    let dir = corpus("zombie");
    if !dir.exists() {
        // The case comes with the corpus copy of tests/data; without it
        // this test has nothing to check.
        panic!("tests/data/corpus/zombie is missing");
    }
    let tasks = crit_fs::explore::dump::Dump::new(&dir)
        .tasks("test")
        .unwrap();
    let root = tasks[0].pid;
    let s = AddressSpace::open(&dir, root).unwrap();
    assert!(!s.vmas().is_empty());
    for t in &tasks[1..] {
        let e = AddressSpace::open(&dir, t.pid).err().unwrap();
        let line = e.to_string();
        assert!(line.contains("zombie"), "{line}");
        assert!(line.contains(&format!("core-{}.img", t.pid)), "{line}");
    }
}

#[test]
fn unknown_pid_is_an_error_naming_the_mm_image() {
    let e = AddressSpace::open(&corpus("memory"), 4242).err().unwrap();
    assert!(e.to_string().contains("mm-4242.img"), "{e}");
}

// ---- pre-dump chains ----
// Built with tests/common/predump.rs (the `check` helper's builder): present
// entries moved up into ancestor dumps, flagged PE_PARENT on the way down.

use common::predump::predump_chain;

/// Every data range of `a` reads the same in `b`.
fn same_memory(a: &AddressSpace, b: &AddressSpace) {
    assert_eq!(a.data_ranges(), b.data_ranges());
    for &(x, y) in a.data_ranges() {
        assert!(
            read(a, x, (y - x) as usize) == read(b, x, (y - x) as usize),
            "{x:#x} differs"
        );
    }
}

/// Points `dir/parent` at `target` (replacing the link).
fn relink(dir: &Path, target: &str) {
    let link = dir.join("parent");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(target, link).unwrap();
}

const PM: &str = "pagemap-13292.img";

#[test]
fn predump_chain_reads_through_the_parent() {
    // Every movable entry (the marker's page among them) goes to the parent.
    let chain = predump_chain(&corpus("memory"), 1, |name, _| name == PM);
    assert!(
        chain.moved.iter().any(|m| m.entry == 2),
        "{:?}",
        chain.moved
    );
    let s = open_clean(chain.last(), MEMORY_PID);
    same_memory(&memory(), &s);
    assert!(read(&s, MARKER, 25).starts_with(b"CRITFS-GLOBAL-MARKER:0001"));
}

#[test]
fn predump_chain_of_three() {
    // Moved entries alternate between the parent and the grandparent.
    let chain = predump_chain(&corpus("memory"), 2, |name, _| name == PM);
    assert!(
        chain.moved.iter().any(|m| m.level == 2),
        "{:?}",
        chain.moved
    );
    let s = open_clean(chain.last(), MEMORY_PID);
    same_memory(&memory(), &s);
}

#[test]
fn predump_missing_parent_gives_eio_for_parent_pages_only() {
    let chain = predump_chain(&corpus("memory"), 1, |name, i| name == PM && i == 2);
    std::fs::remove_file(chain.last().join("parent")).unwrap();
    let s = AddressSpace::open(chain.last(), MEMORY_PID).unwrap();
    let problems = s.problems().join("\n");
    assert!(problems.contains("parent link"), "{problems}");
    assert!(problems.contains("pagemap-13292.img entry 2"), "{problems}");
    // Entry 2 holds the marker's page.
    let e = read_err(&s, MARKER, 8);
    assert_eq!(e.errno, libc::EIO);
    assert!(e.message.contains("entry 2"), "{e}");
    // The rest reads.
    assert!(read(&s, HEAP, 12).starts_with(b"HEAP-PATTERN"));
    assert!(read(&s, SHARED, 18).starts_with(b"SHARED-ANON-MEMORY"));
}

#[test]
fn predump_parent_link_loop_gives_eio() {
    let chain = predump_chain(&corpus("memory"), 1, |name, i| name == PM && i == 2);
    let parent = &chain.dirs[1];
    // The parent's pages are deferred to its own parent, which is the child.
    common::edit(parent, PM, |img| {
        common::set_int(&mut img.entries[1].msg, "flags", 1);
    });
    relink(parent, "../d0");
    let s = AddressSpace::open(chain.last(), MEMORY_PID).unwrap();
    let problems = s.problems().join("\n");
    assert!(problems.contains("loops"), "{problems}");
    let e = read_err(&s, MARKER, 8);
    assert_eq!(e.errno, libc::EIO);
    assert!(read(&s, HEAP, 12).starts_with(b"HEAP-PATTERN"));
    // A link to itself loops too.
    relink(chain.last(), ".");
    let s = AddressSpace::open(chain.last(), MEMORY_PID).unwrap();
    assert!(
        s.problems().join("\n").contains("loops"),
        "{:?}",
        s.problems()
    );
    assert_eq!(read_err(&s, MARKER, 8).errno, libc::EIO);
}

#[test]
fn predump_parent_lacking_the_pages_gives_eio() {
    let chain = predump_chain(&corpus("memory"), 1, |name, i| name == PM && i == 2);
    let parent = &chain.dirs[1];
    // The parent's pagemap loses the entry.
    common::edit(parent, PM, |img| {
        img.entries.truncate(1);
    });
    std::fs::write(parent.join("pages-2.img"), b"").unwrap();
    let s = AddressSpace::open(chain.last(), MEMORY_PID).unwrap();
    let problems = s.problems().join("\n");
    assert!(
        problems.contains("entry 2") && problems.contains("parent"),
        "{problems}"
    );
    assert_eq!(read_err(&s, MARKER, 8).errno, libc::EIO);
    assert!(read(&s, HEAP, 12).starts_with(b"HEAP-PATTERN"));
}

// ---- damaged input ----

#[test]
fn pagemap_past_the_end_of_pages_image() {
    let tmp = copy_case("memory");
    // Cut the pages image in the middle of the heap's entry (entry 20, 67 pages).
    let pages = std::fs::read(tmp.path().join("pages-2.img")).unwrap();
    let keep = 30 * PAGE as usize;
    std::fs::write(tmp.path().join("pages-2.img"), &pages[..keep]).unwrap();
    let s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    let problems = s.problems().join("\n");
    assert!(
        problems.contains("pagemap-13292.img entry 20"),
        "{problems}"
    );
    assert!(
        problems.contains("past the end of pages-2.img"),
        "{problems}"
    );
    // Earlier pages read; the marker (entry 2) and the anon pages before the heap too.
    assert!(read(&s, MARKER, 25).starts_with(b"CRITFS-GLOBAL-MARKER"));
    assert!(read(&s, ANON, 11).starts_with(b"ANON-PAGE-0"));
    // Later entries fail with EIO naming the entry.
    let e = read_err(&s, 0x7ffdde25d000 + 0x1e000, 16);
    assert_eq!(e.errno, libc::EIO);
    assert!(e.message.contains("entry 29"), "{e}");
}

#[test]
fn overlapping_entries_give_eio_there_only() {
    let tmp = copy_case("memory");
    // Entry 5 moved onto entry 4's page.
    common::edit(tmp.path(), "pagemap-13292.img", |img| {
        let v = img.entries[4].msg.u64("vaddr").unwrap();
        common::set_int(&mut img.entries[5].msg, "vaddr", v as i64);
    });
    let s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    let problems = s.problems().join("\n");
    assert!(problems.contains("overlap"), "{problems}");
    assert!(
        problems.contains("entry 5") && problems.contains("entry 4"),
        "{problems}"
    );
    assert_eq!(read_err(&s, ANON, 8).errno, libc::EIO);
    assert!(read(&s, MARKER, 25).starts_with(b"CRITFS-GLOBAL-MARKER"));
    assert!(read(&s, ANON + 8 * PAGE, 11).starts_with(b"ANON-PAGE-8"));
}

#[test]
fn undecodable_pagemap_keeps_shared_memory_readable() {
    let tmp = copy_case("memory");
    let mut pm = std::fs::read(tmp.path().join("pagemap-13292.img")).unwrap();
    pm.truncate(pm.len() - 3);
    std::fs::write(tmp.path().join("pagemap-13292.img"), pm).unwrap();
    let s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    assert!(
        s.problems()[0].starts_with("pagemap-13292.img"),
        "{:?}",
        s.problems()
    );
    assert_eq!(read_err(&s, MARKER, 8).errno, libc::EIO);
    assert!(read(&s, SHARED, 18).starts_with(b"SHARED-ANON-MEMORY"));
}

#[test]
fn hostile_entry_sizes_do_not_allocate_or_panic() {
    let tmp = copy_case("memory");
    common::edit(tmp.path(), "pagemap-13292.img", |img| {
        common::set_int(&mut img.entries[3].msg, "nr_pages", i64::MAX);
        common::set_int(&mut img.entries[7].msg, "vaddr", 0x1001);
    });
    let s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    let problems = s.problems().join("\n");
    assert!(problems.contains("entry 3"), "{problems}");
    assert!(problems.contains("entry 7"), "{problems}");
    assert!(read(&s, MARKER, 25).starts_with(b"CRITFS-GLOBAL-MARKER"));
    let mut buf = vec![0u8; 1 << 16];
    let _ = s.read(0x555643d67000, &mut buf);
}

// ---- writes ----

/// Every file of `dir` with its bytes, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// The (vaddr, nr_pages, flags) of the entries of a pagemap and its pages id.
fn pagemap_entries(dir: &Path, name: &str) -> (u64, Vec<(u64, u64, u64)>) {
    let img = common::load(dir, name);
    let id = img.entries[0].msg.u64("pages_id").unwrap();
    let entries = img.entries[1..]
        .iter()
        .map(|e| {
            (
                e.msg.u64("vaddr").unwrap(),
                e.msg.u64("nr_pages").unwrap(),
                e.msg.u64("flags").unwrap(),
            )
        })
        .collect();
    (id, entries)
}

/// Offset in the pages image of the page at `addr` (present entries only).
fn page_offset(entries: &[(u64, u64, u64)], addr: u64) -> u64 {
    let mut off = 0;
    for &(v, n, f) in entries {
        if (v..v + n * PAGE).contains(&addr) {
            return off + (addr - v);
        }
        if f & 4 != 0 {
            off += n * PAGE;
        }
    }
    panic!("{addr:#x} not in the pagemap");
}

#[test]
fn write_in_place_changes_only_those_bytes() {
    let tmp = copy_case("memory");
    let before = std::fs::read(tmp.path().join("pages-2.img")).unwrap();
    let pm_before = std::fs::read(tmp.path().join("pagemap-13292.img")).unwrap();
    let mut s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    assert_eq!(s.write(MARKER + 21, b"0042"), Ok(4));
    s.sync().unwrap();
    assert!(read(&s, MARKER, 26).starts_with(b"CRITFS-GLOBAL-MARKER:0042\0"));
    let after = std::fs::read(tmp.path().join("pages-2.img")).unwrap();
    assert_eq!(after.len(), before.len(), "the image keeps its size");
    let (_, entries) = pagemap_entries(tmp.path(), "pagemap-13292.img");
    let off = page_offset(&entries, MARKER + 21) as usize;
    let changed: Vec<usize> = (0..after.len())
        .filter(|&i| after[i] != before[i])
        .collect();
    assert_eq!(
        changed,
        (off..off + 4)
            .filter(|&i| before[i] != after[i])
            .collect::<Vec<_>>()
    );
    assert_eq!(&after[off..off + 4], b"0042");
    assert_eq!(
        std::fs::read(tmp.path().join("pagemap-13292.img")).unwrap(),
        pm_before
    );
    // A fresh open sees it.
    let s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    assert!(read(&s, MARKER, 25).ends_with(b"0042"));
}

#[test]
fn write_adds_a_page_with_a_new_entry() {
    let tmp = copy_case("memory");
    let dir = tmp.path();
    let old_pages = std::fs::read(dir.join("pages-2.img")).unwrap();
    let (old_id, old_entries) = pagemap_entries(dir, "pagemap-13292.img");
    assert_eq!(old_id, 2);
    let mut s = AddressSpace::open(dir, MEMORY_PID).unwrap();
    // Anon page 2: untouched, not next to a dumped page.
    let page = ANON + 2 * PAGE;
    assert_eq!(s.write(page + 100, b"NEW-BYTES"), Ok(9));
    let got = read(&s, page, PAGE as usize);
    assert_eq!(&got[100..109], b"NEW-BYTES");
    assert!(got[..100].iter().chain(&got[109..]).all(|&b| b == 0));
    assert!(s.problems().is_empty(), "{:?}", s.problems());

    let (new_id, entries) = pagemap_entries(dir, "pagemap-13292.img");
    assert_eq!(new_id, 3, "the new pages image has a new id");
    assert!(
        !dir.join("pages-2.img").exists(),
        "the old pages image is gone"
    );
    assert_eq!(entries.len(), old_entries.len() + 1);
    let at = entries.iter().position(|e| e.0 == page).unwrap();
    assert_eq!(entries[at], (page, 1, 4), "a present entry for the page");
    assert_eq!(entries[at - 1], old_entries[at - 1]);
    assert_eq!(entries[at + 1..], old_entries[at..]);
    // The pages image: one page more, at the right place.
    let new_pages = std::fs::read(dir.join("pages-3.img")).unwrap();
    assert_eq!(new_pages.len(), old_pages.len() + PAGE as usize);
    let off = page_offset(&entries, page) as usize;
    assert_eq!(&new_pages[..off], &old_pages[..off]);
    assert_eq!(&new_pages[off..off + PAGE as usize], &got[..]);
    assert_eq!(&new_pages[off + PAGE as usize..], &old_pages[off..]);
    // The rest of memory is as before.
    same_memory_except(&memory(), &s, &[page]);
    // The re-encoded pagemap decodes with crit-fs's decoder as JSON too.
    let json = crit_fs::codec::decode_to_json(
        &std::fs::read(dir.join("pagemap-13292.img")).unwrap(),
        Default::default(),
    )
    .unwrap();
    let text = String::from_utf8(json).unwrap();
    assert!(text.contains(&format!("\"vaddr\": {page}")), "{text}");
    // No temporary file is left, and `check` finds the dump consistent.
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".crit-fs-tmp"), "{name}");
    }
    let (report, clean) = crit_fs::check::render(dir, false).unwrap();
    assert!(clean, "{report}");
}

/// Data ranges of `a` read the same in `b`, but for the page at `skip`.
fn same_memory_except(a: &AddressSpace, b: &AddressSpace, skip: &[u64]) {
    for &(x, y) in a.data_ranges() {
        let mut p = x;
        while p < y {
            if !skip.contains(&p) {
                assert!(
                    read(a, p, PAGE as usize) == read(b, p, PAGE as usize),
                    "{p:#x} differs"
                );
            }
            p += PAGE;
        }
    }
}

#[test]
fn write_next_to_a_dumped_page_merges_the_entry_and_spans_both() {
    let tmp = copy_case("memory");
    let dir = tmp.path();
    let (_, old_entries) = pagemap_entries(dir, "pagemap-13292.img");
    let mut s = AddressSpace::open(dir, MEMORY_PID).unwrap();
    // Crosses from dumped anon page 0 into untouched page 1.
    assert_eq!(s.write(ANON + PAGE - 4, b"ABCDEFGH"), Ok(8));
    assert_eq!(read(&s, ANON + PAGE - 4, 8), b"ABCDEFGH");
    assert!(read(&s, ANON, 11).starts_with(b"ANON-PAGE-0"));
    let (_, entries) = pagemap_entries(dir, "pagemap-13292.img");
    assert_eq!(
        entries.len(),
        old_entries.len(),
        "merged into page 0's entry"
    );
    let e = entries.iter().find(|e| e.0 == ANON).unwrap();
    assert_eq!(*e, (ANON, 2, 6), "two pages, flags kept (lazy, present)");
    assert!(read(&s, ANON + 4 * PAGE, 11).starts_with(b"ANON-PAGE-4"));
    same_memory_except(&memory(), &s, &[ANON, ANON + PAGE]);
}

#[test]
fn write_into_a_clean_file_page_keeps_the_file_bytes() {
    let tmp = copy_case("memory");
    let host = tempfile::tempdir().unwrap();
    let mapped = host.path().join("mapped.dat");
    let content: Vec<u8> = (0..4 * PAGE as usize)
        .map(|i| b"0123456789ab"[i % 12])
        .collect();
    std::fs::write(&mapped, &content).unwrap();
    set_reg_name(tmp.path(), 3, mapped.to_str().unwrap());
    let mut s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    assert_eq!(s.write(FILEMAP + 2 * PAGE + 5, b"xyz"), Ok(3));
    let page = read(&s, FILEMAP + 2 * PAGE, PAGE as usize);
    let mut want = content[2 * PAGE as usize..3 * PAGE as usize].to_vec();
    want[5..8].copy_from_slice(b"xyz");
    assert_eq!(page, want);
    // The host file is untouched.
    assert_eq!(std::fs::read(&mapped).unwrap(), content);
}

#[test]
fn write_refusals_change_nothing() {
    let tmp = copy_case("memory");
    let dir = tmp.path();
    let before = snapshot(dir);
    let mut s = AddressSpace::open(dir, MEMORY_PID).unwrap();
    let cases: &[(u64, i32, &str)] = &[
        (0x1000, libc::EIO, "outside every mapping"),
        (SHARED, libc::EPERM, "shared"),
        (0x555634f5f000, libc::EPERM, "not writable"), // r--p of the executable
        (0x7f90b4c29000, libc::EPERM, "not writable"), // [vdso]
    ];
    for &(addr, errno, words) in cases {
        let e = s.write(addr, b"x").unwrap_err();
        assert_eq!(e.errno, errno, "{addr:#x}: {e}");
        assert!(e.message.contains(words), "{addr:#x}: {e}");
    }
    // A write that starts in a good page and runs out of the mapping is
    // refused whole.
    let before_gap = s
        .vmas()
        .windows(2)
        .find(|w| w[0].end < w[1].start && w[0].prot & 2 != 0)
        .map(|w| w[0].end)
        .unwrap();
    assert_eq!(
        s.write(before_gap - 2, b"abcd").unwrap_err().errno,
        libc::EIO
    );
    // Read-only.
    s.set_read_only();
    assert_eq!(s.write(MARKER, b"x").unwrap_err().errno, libc::EROFS);
    assert_eq!(snapshot(dir), before);
}

#[test]
fn write_into_a_parent_only_page_is_erofs() {
    let chain = predump_chain(&corpus("memory"), 1, |name, i| name == PM && i == 2);
    let (child, parent) = (chain.last(), &chain.dirs[1]);
    let child_before = snapshot(child);
    let parent_before = snapshot(parent);
    let mut s = AddressSpace::open(child, MEMORY_PID).unwrap();
    let e = s.write(MARKER, b"x").unwrap_err();
    assert_eq!(e.errno, libc::EROFS, "{e}");
    assert!(e.message.contains("parent"), "{e}");
    assert_eq!(snapshot(child), child_before);
    assert_eq!(snapshot(parent), parent_before);
    // Pages of the child itself are writable in place.
    assert_eq!(s.write(HEAP, b"heap"), Ok(4));
    assert_eq!(read(&s, HEAP, 4), b"heap");
}

#[test]
fn address_space_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<AddressSpace>();
}

#[test]
fn cmdline_is_the_argument_area_or_a_rewritten_title() {
    let s = memory();
    let mm = s.mm().clone();
    let args = read(&s, mm.arg_start, (mm.arg_end - mm.arg_start) as usize);
    assert_eq!(s.cmdline().unwrap(), args);
    let env = read(&s, mm.env_start, (mm.env_end - mm.env_start) as usize);
    assert_eq!(s.environ().unwrap(), env);

    // A program that rewrote its title (the last argument byte is not NUL
    // any more): up to the title's first NUL, as the kernel shows it.
    let tmp = copy_case("memory");
    let mut s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    assert_eq!(s.write(mm.arg_start, b"memtest: retitled\0"), Ok(18));
    assert_eq!(s.write(mm.arg_end - 1, b"X"), Ok(1));
    s.sync().unwrap();
    assert_eq!(s.cmdline().unwrap(), b"memtest: retitled\0");
    let shown = stdout_of(&["x", tmp.path().to_str().unwrap(), "ps", "--cmdline"]);
    assert!(shown.ends_with("   memtest: retitled\n"), "{shown}");
}

// ---- crit-fs mem and x ps --cmdline ----

fn crit_fs(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_crit-fs"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = crit_fs(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn memory_dir() -> String {
    corpus("memory").to_str().unwrap().to_string()
}

#[test]
fn mem_cli_hexdump_of_the_dumped_ranges() {
    let text = stdout_of(&["mem", &memory_dir(), "13292"]);
    let s = memory();
    let total: u64 = s.data_ranges().iter().map(|(a, b)| b - a).sum();
    assert_eq!(text.lines().count() as u64, total / 16);
    let first = s.data_ranges()[0].0;
    assert!(
        text.starts_with(&format!("{first:08x}: ")),
        "{}",
        &text[..80]
    );
    // The marker's line, as xxd shows it.
    assert!(
        text.contains("555634f630c0: 4352 4954 4653 2d47 4c4f 4241 4c2d 4d41  CRITFS-GLOBAL-MA\n"),
        "marker line"
    );
    // Untouched anon page 1 is left out: the address column jumps.
    assert!(!text.contains(&format!("{:x}: ", ANON + PAGE)));
    assert!(text.contains(&format!("{:x}: ", ANON + 4 * PAGE)));
}

#[test]
fn mem_cli_range_in_hex_or_decimal() {
    let dir = memory_dir();
    let hex = stdout_of(&[
        "mem",
        &dir,
        "13292",
        "--addr",
        "0x555634f630c0",
        "--len",
        "0x20",
    ]);
    let dec = stdout_of(&[
        "mem",
        &dir,
        "13292",
        "--addr",
        &MARKER.to_string(),
        "--len",
        "32",
    ]);
    assert_eq!(hex, dec);
    assert_eq!(
        hex,
        "555634f630c0: 4352 4954 4653 2d47 4c4f 4241 4c2d 4d41  CRITFS-GLOBAL-MA\n\
         555634f630d0: 524b 4552 3a30 3030 3100 0000 0000 0000  RKER:0001.......\n"
    );
    // A range may include untouched pages: zeros.
    let hole = stdout_of(&[
        "mem",
        &dir,
        "13292",
        "--addr",
        &(ANON + PAGE).to_string(),
        "--len",
        "16",
    ]);
    assert_eq!(
        hole,
        format!(
            "{:x}: 0000 0000 0000 0000 0000 0000 0000 0000  ................\n",
            ANON + PAGE
        )
    );
}

#[test]
fn mem_cli_raw_bytes_to_a_file() {
    let dir = memory_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("raw");
    stdout_of(&["mem", &dir, "13292", "-o", out.to_str().unwrap()]);
    let s = memory();
    let mut want = Vec::new();
    for &(a, b) in s.data_ranges() {
        want.extend(read(&s, a, (b - a) as usize));
    }
    assert!(
        std::fs::read(&out).unwrap() == want,
        "the dumped ranges, in order"
    );
    let r = tmp.path().join("range");
    stdout_of(&[
        "mem",
        &dir,
        "13292",
        "--addr",
        &HEAP.to_string(),
        "--len",
        "40",
        "-o",
        r.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&r).unwrap(),
        b"HEAP-PATTERN-000000 HEAP-PATTERN-000001 "
    );
}

#[test]
fn mem_cli_errors_are_one_line() {
    let dir = memory_dir();
    let out = crit_fs(&["mem", &dir, "13292", "--addr", "0x1000"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&dir) && err.contains("0x1000") && err.contains("outside"),
        "{err}"
    );
    let out = crit_fs(&["mem", &dir, "4242"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("mm-4242.img"), "{err}");
    // Damaged: the line names the image and entry.
    let tmp = copy_case("memory");
    let pages = std::fs::read(tmp.path().join("pages-2.img")).unwrap();
    std::fs::write(tmp.path().join("pages-2.img"), &pages[..4096]).unwrap();
    let out = crit_fs(&[
        "mem",
        tmp.path().to_str().unwrap(),
        "13292",
        "--addr",
        &MARKER.to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("pagemap-13292.img entry 2"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn mem_cli_search_text_hex_regex() {
    let dir = memory_dir();
    let text = stdout_of(&[
        "mem",
        &dir,
        "13292",
        "--search",
        "CRITFS-GLOBAL-MARKER",
        "--context",
        "0",
    ]);
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        "555634f630c0: 20 bytes in 555634f63000-555634f64000 rw-p 3000 /srv/crit-corpus/bin/memtest"
    );
    assert!(
        text.contains(
            "555634f630c0: 4352 4954 4653 2d47 4c4f 4241 4c2d 4d41  CRITFS-GLOBAL-MA\n\
             555634f630d0: 524b 4552                                RKER\n"
        ),
        "{text}"
    );
    let hex = stdout_of(&[
        "mem",
        &dir,
        "13292",
        "--hex",
        "43 52 49 54 46 53 2d 47 4c 4f 42 41 4c 2d 4d 41 52 4b 45 52",
        "--context",
        "0",
    ]);
    assert_eq!(hex, text);
    // SHARED-ANON-MEMORY is in the shared mapping (from pagemap-shmem-36.img).
    let shared = stdout_of(&["mem", &dir, "13292", "--search", "SHARED-ANON-MEMORY"]);
    assert!(
        shared.starts_with(&format!("{SHARED:x}: 18 bytes in {SHARED:x}-")),
        "{shared}"
    );
    assert!(
        shared
            .lines()
            .next()
            .unwrap()
            .ends_with("rw-s 0 /dev/zero (deleted)"),
        "{shared}"
    );
    // Context: N bytes before and after the match.
    let ctx = stdout_of(&[
        "mem",
        &dir,
        "13292",
        "--search",
        "RKER:0001",
        "--context",
        "4",
    ]);
    assert!(
        ctx.starts_with(
            "555634f630d0: 9 bytes in 555634f63000-555634f64000 rw-p 3000 /srv/crit-corpus/bin/memtest\n\
             555634f630cc: 4c2d 4d41 524b 4552 3a30 3030 3100 0000  L-MARKER:0001...\n\
             555634f630dc: 00                                       .\n"
        ),
        "{ctx}"
    );
    let re = stdout_of(&[
        "mem",
        &dir,
        "13292",
        "--regex",
        r"argv-marker=[a-z-]+",
        "--context",
        "0",
    ]);
    assert!(
        re.starts_with("7ffdde27df2a: 30 bytes in 7ffdde25d000-7ffdde27e000 rw-p 0 [stack]\n"),
        "{re}"
    );
    let n = stdout_of(&[
        "mem",
        &dir,
        "13292",
        "--regex",
        "HEAP-PATTERN-[0-9]{6} ",
        "--count",
    ]);
    // Every heap cell (13107), and the last one again in memtest's stack
    // buffer `cell`.
    assert_eq!(n, "13108\n");
}

#[test]
fn search_finds_matches_across_pages_entries_and_chunks() {
    use crit_fs::memcmd::{Pattern, Searcher};
    // Split the heap's entry (20: 67 pages) in two at its second page, so
    // that cell 204 ("HEAP-PATTERN-000204 ", at heap + 4080) crosses both a
    // page and an entry.
    let tmp = copy_case("memory");
    common::edit(tmp.path(), "pagemap-13292.img", |img| {
        let mut second = img.entries[20].clone();
        let v = second.msg.u64("vaddr").unwrap();
        assert_eq!(v, HEAP - 0x10);
        common::set_int(&mut img.entries[20].msg, "nr_pages", 1);
        common::set_int(&mut second.msg, "vaddr", (v + PAGE) as i64);
        common::set_int(&mut second.msg, "nr_pages", 66);
        img.entries.insert(21, second);
    });
    let s = open_clean(tmp.path(), MEMORY_PID);
    let cell = Pattern::Bytes(b"HEAP-PATTERN-000204 ".to_vec());
    let all = Pattern::from_regex("HEAP-PATTERN-[0-9]{6} ").unwrap();
    for chunk in [4 << 20, 4096, 4093, 7, 1] {
        let mut found = Vec::new();
        for &(a, b) in s.data_ranges() {
            Searcher::new(&cell)
                .with_chunk(chunk)
                .run(&s, a, b, |m| {
                    found.push(m.addr);
                    Ok(())
                })
                .ok()
                .unwrap();
        }
        assert_eq!(found, [HEAP + 204 * 20], "chunk {chunk}");
        if chunk >= 4093 {
            let mut n = 0;
            for &(a, b) in s.data_ranges() {
                Searcher::new(&all)
                    .with_chunk(chunk)
                    .run(&s, a, b, |_| {
                        n += 1;
                        Ok(())
                    })
                    .ok()
                    .unwrap();
            }
            assert_eq!(n, 13108, "chunk {chunk}");
        }
    }
}

#[test]
fn x_ps_cmdline() {
    let dir = memory_dir();
    let plain = stdout_of(&["x", &dir, "ps"]);
    assert_eq!(
        plain,
        std::fs::read_to_string(corpus("memory/expected/x-ps.txt")).unwrap(),
        "without --cmdline, CRIT's output"
    );
    let with = stdout_of(&["x", &dir, "ps", "--cmdline"]);
    assert_eq!(
        with,
        "    PID   PGID    SID   CMDLINE\n  13292  13292  13292   /srv/crit-corpus/bin/memtest /srv/crit-corpus/memory --argv-marker=critfs-argv-memory\n"
    );
    let json = stdout_of(&["x", &dir, "ps", "--cmdline", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v[0]["cmdline"],
        "/srv/crit-corpus/bin/memtest /srv/crit-corpus/memory --argv-marker=critfs-argv-memory"
    );
    // Zombies have no memory: their name in brackets, null in JSON.
    let zombie = corpus("zombie");
    let z = stdout_of(&["x", zombie.to_str().unwrap(), "ps", "--cmdline"]);
    assert!(z.contains("13416   sleep 100000\n"), "{z}");
    assert!(z.contains("[sleep]\n"), "{z}");
    let zj: serde_json::Value = serde_json::from_str(&stdout_of(&[
        "x",
        zombie.to_str().unwrap(),
        "ps",
        "--cmdline",
        "--json",
    ]))
    .unwrap();
    assert_eq!(zj[0]["children"][0]["cmdline"], serde_json::Value::Null);
    // --cmdline is for ps only.
    let out = crit_fs(&["x", &dir, "fds", "--cmdline"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn mutated_images_never_panic() {
    // Bytes of the mm, pagemap and shmem pagemap images changed at random:
    // open is an error or a space whose every mapping reads (or fails) cleanly.
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..60 {
        let tmp = copy_case("memory");
        let name = [
            "pagemap-13292.img",
            "mm-13292.img",
            "pagemap-shmem-36.img",
            "memfd.img",
        ][round % 4];
        let path = tmp.path().join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % bytes.len();
            bytes[i] = next() as u8;
        }
        std::fs::write(&path, &bytes).unwrap();
        let Ok(mut s) = AddressSpace::open(tmp.path(), MEMORY_PID) else {
            continue;
        };
        let mut buf = vec![0u8; 64 << 10];
        for v in s.vmas().to_vec() {
            let mut at = v.start;
            while at < v.end.min(v.start + (4 << 20)) {
                let _ = s.read(at, &mut buf);
                at += buf.len() as u64;
            }
            let _ = s.seek_data(v.start);
            let _ = s.seek_hole(v.start);
        }
        let _ = s.cmdline();
        let _ = s.write(MARKER, b"x");
    }
}

#[test]
fn mem_cli_warns_of_damaged_ranges_and_shows_the_rest() {
    let tmp = copy_case("memory");
    let pages = std::fs::read(tmp.path().join("pages-2.img")).unwrap();
    std::fs::write(tmp.path().join("pages-2.img"), &pages[..30 * PAGE as usize]).unwrap();
    let out = crit_fs(&[
        "mem",
        tmp.path().to_str().unwrap(),
        "13292",
        "--search",
        "CRITFS-GLOBAL",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("crit-fs: warning: "), "{err}");
    assert!(err.contains("pagemap-13292.img entry 20"), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("555634f630c0: 13 bytes in"), "{text}");
}

#[test]
fn lazy_only_entries_read_as_not_dumped_and_refuse_writes() {
    let tmp = copy_case("memory");
    // Entry 4 (anon page 0): PE_LAZY alone, its bytes left to a page server.
    common::edit(tmp.path(), "pagemap-13292.img", |img| {
        assert_eq!(img.entries[4].msg.u64("vaddr"), Some(ANON));
        common::set_int(&mut img.entries[4].msg, "flags", 2);
    });
    let before = snapshot(tmp.path());
    let mut s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    assert_eq!(read(&s, ANON, 16), vec![0; 16]);
    assert_eq!(s.seek_data(ANON), Some(ANON + 4 * PAGE));
    let e = s.write(ANON, b"x").unwrap_err();
    assert_eq!(e.errno, libc::EPERM, "{e}");
    assert!(e.message.contains("lazy"), "{e}");
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn ipc_ns_sysv_shm_kept_in_its_ipc_image() {
    // The segment's bytes after its ipcns-shm entry (in_pagemaps false), as
    // CRIU wrote them before SysV shm went to pagemaps.
    use crit_fs::image::Payload;
    use crit_fs::message::Value;
    let tmp = copy_case("ipc-ns");
    let bytes: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
    common::edit(tmp.path(), "ipcns-shm-9.img", |img| {
        let e = &mut img.entries[0];
        assert_eq!(e.msg.u64("size"), Some(65536));
        let idx = crit_fs::schema::Schema::get()
            .message(e.msg.msg_type)
            .field_by_name("in_pagemaps")
            .unwrap();
        e.msg.set(idx, vec![Value::Bool(false)]);
        e.payload = Payload::Raw(bytes.clone());
    });
    std::fs::remove_file(tmp.path().join("pagemap-shmem-0.img")).unwrap();
    let s = open_clean(tmp.path(), 19262);
    let v = vma_with_status(&s, VMA_AREA_SYSVIPC);
    assert!(read(&s, v.start, (v.end - v.start) as usize) == bytes);
    assert_eq!(s.seek_data(v.start), Some(v.start));
    assert!(s.seek_hole(v.start) >= v.end);
}

#[test]
fn write_adds_a_page_to_an_old_style_pagemap() {
    // Entries as CRIU before 4.2 wrote them: the page count in field 2
    // (compat_nr_pages), no nr_pages.
    let tmp = copy_case("memory");
    common::edit(tmp.path(), "pagemap-13292.img", |img| {
        for e in &mut img.entries[1..] {
            let n = e.msg.u64("nr_pages").unwrap();
            common::clear(&mut e.msg, "nr_pages");
            common::set_int(&mut e.msg, "compat_nr_pages", n as i64);
        }
    });
    let mut s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    assert!(read(&s, HEAP, 12).starts_with(b"HEAP-PATTERN"));
    let page = ANON + 2 * PAGE;
    assert_eq!(s.write(page, b"OLD-STYLE"), Ok(9));
    let img = common::load(tmp.path(), "pagemap-13292.img");
    let added = img.entries[1..]
        .iter()
        .find(|e| e.msg.u64("vaddr") == Some(page))
        .unwrap();
    assert_eq!(added.msg.u64("compat_nr_pages"), Some(1));
    assert_eq!(added.msg.u64("nr_pages"), None);
    assert_eq!(added.msg.u64("flags"), Some(4));
    assert!(
        img.entries[1..]
            .iter()
            .all(|e| e.msg.u64("nr_pages").is_none())
    );
    let s = AddressSpace::open(tmp.path(), MEMORY_PID).unwrap();
    assert_eq!(read(&s, page, 9), b"OLD-STYLE");
    same_memory_except(&memory(), &s, &[page]);
}

#[test]
fn write_adds_a_page_to_a_dump_with_a_parent() {
    let chain = predump_chain(&corpus("memory"), 1, |name, i| name == PM && i == 2);
    let parent_before = snapshot(&chain.dirs[1]);
    let mut s = AddressSpace::open(chain.last(), MEMORY_PID).unwrap();
    let page = ANON + 2 * PAGE;
    assert_eq!(s.write(page + 1, b"CHILD"), Ok(5));
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    // The parent's pages still read through the rewritten pagemap.
    assert!(read(&s, MARKER, 25).starts_with(b"CRITFS-GLOBAL-MARKER:0001"));
    assert_eq!(read(&s, page, 6), b"\0CHILD");
    same_memory_except(&memory(), &s, &[page]);
    assert_eq!(snapshot(&chain.dirs[1]), parent_before);
    let (_, entries) = pagemap_entries(chain.last(), PM);
    assert!(
        entries.iter().any(|e| e.2 == 1),
        "the PE_PARENT entry is kept"
    );
}
