//! The memory layer (src/memory) on corpus dumps and on dumps the tests
//! make: what a read returns, seeks, damaged input, pre-dump chains, writes.

mod common;

use std::path::Path;

use common::{copy_case, corpus};
use crit_fs::memory::{AddressSpace, MemError};

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
    let s = AddressSpace::open(&dir, 19150).unwrap();
    assert!(s.problems().is_empty(), "{:?}", s.problems());
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
    let s = AddressSpace::open(&dir, 19065).unwrap();
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    let v = s
        .vmas()
        .iter()
        .find(|v| v.status & crit_fs::memory::VMA_AREA_MEMFD != 0)
        .unwrap()
        .clone();
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
    let s = AddressSpace::open(&dir, 19262).unwrap();
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    let v = s
        .vmas()
        .iter()
        .find(|v| v.status & crit_fs::memory::VMA_AREA_SYSVIPC != 0)
        .unwrap()
        .clone();
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
