//! A large input file mapped into memory rather than read.
//!
//! Reading a 64 MiB image costs a copy and, worse, faulting in (and zeroing)
//! 64 MiB of fresh memory; mapping the page cache costs neither. The price
//! of a mapping is that a file cut short by another process while it is
//! mapped raises SIGBUS on the next access past its new end. A handler turns
//! that into one error line naming the file and exit status 1, as any
//! other error of the CLI; any other SIGBUS goes to the action before it.
//!
//! Only the CLI maps files: the mount daemon must outlive any change to the
//! dump under it, so it reads.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

/// Files at least this large are mapped; smaller ones are cheaper to read.
pub const MAP_FROM: u64 = 1 << 20;

/// A whole file's bytes: mapped, or read into memory.
pub enum Input {
    Mapped(Mapping),
    Read(Vec<u8>),
}

impl Deref for Input {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m.bytes(),
            Input::Read(v) => v,
        }
    }
}

/// Opens `path` and maps it when it is a regular file of at least
/// [`MAP_FROM`] bytes (and a watch slot is free), reading it otherwise.
/// `label` starts the SIGBUS message (`PROGRAM: FILE`).
pub fn open(path: &Path, label: &str) -> io::Result<Input> {
    let mut f = File::open(path)?;
    if let Some(m) = map(&f, label, Pages::All)? {
        return Ok(Input::Mapped(m));
    }
    let len = f.metadata().map_or(0, |m| m.len());
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(1));
    f.read_to_end(&mut data)?;
    Ok(Input::Read(data))
}

/// Maps the open file `f` when it is a regular file of at least
/// [`MAP_FROM`] bytes and one of the handler's watch slots is free; None
/// otherwise, and when the kernel refuses (a file system without mmap):
/// then read it.
pub fn map(f: &File, label: &str, pages: Pages) -> io::Result<Option<Mapping>> {
    let meta = f.metadata()?;
    if !meta.is_file() || meta.len() < MAP_FROM {
        return Ok(None);
    }
    Ok(Mapping::new(f, meta.len(), label, pages))
}

/// Standard input mapped when it is a regular file of at least [`MAP_FROM`]
/// bytes read from its start (`crit decode < FILE`), its offset then moved
/// to the end as reading it would; None otherwise, or on any error (the
/// caller reads, and reports what reading finds).
pub fn map_stdin(label: &str) -> Option<Mapping> {
    // Borrowed, not owned: dropping it must not close fd 0.
    // SAFETY: fd 0 is only inspected and mapped here; an fd 0 that is not
    // open makes the calls below fail, which gives None.
    let f =
        std::mem::ManuallyDrop::new(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(0) });
    // SAFETY: lseek on fd 0 changes nothing here (SEEK_CUR by 0).
    if unsafe { libc::lseek(0, 0, libc::SEEK_CUR) } != 0 {
        return None;
    }
    let m = map(&f, label, Pages::All).ok()??;
    // SAFETY: moves fd 0's offset to its end, as reading it all would.
    unsafe { libc::lseek(0, 0, libc::SEEK_END) };
    Some(m)
}

/// Which pages of the file are mapped in at once.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pages {
    /// All of them, in one call.
    All,
    /// Those the reader asks for ([`Mapping::bring_in`]); it lets go of
    /// those it is done with ([`Mapping::let_go`]), so that a long file
    /// read front to back adds little to the process's resident memory.
    AsRead,
}

const PAGE: usize = 4096;
/// Files up to this size are mapped in whole at once ([`Pages::All`]).
const POPULATE_UP_TO: usize = 1 << 30;
/// Linux's madvise advice to map a range's pages in (5.14 and later).
const MADV_POPULATE_READ: libc::c_int = 22;

/// A read-only private mapping of a whole file, watched by the SIGBUS handler.
pub struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
    /// Its place in [`WATCHED`].
    slot: usize,
    /// The handler's message, kept here for as long as the slot names it.
    _message: Box<[u8]>,
}

/// What the handler watches: up to this many mappings at a time.
const SLOTS: usize = 4;

/// One watched mapping: its range and the message for a fault in it.
struct Watch {
    taken: AtomicBool,
    start: AtomicUsize,
    len: AtomicUsize,
    message: AtomicPtr<u8>,
    message_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // only to repeat it below
const FREE: Watch = Watch {
    taken: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    message: AtomicPtr::new(std::ptr::null_mut()),
    message_len: AtomicUsize::new(0),
};

static WATCHED: [Watch; SLOTS] = [FREE; SLOTS];

impl Deref for Mapping {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

impl Mapping {
    /// Maps `len` bytes of `f`; None when every watch slot is taken or the
    /// kernel refuses.
    fn new(f: &File, len: u64, label: &str, pages: Pages) -> Option<Mapping> {
        let len = usize::try_from(len).ok()?;
        let slot = WATCHED
            .iter()
            .position(|w| !w.taken.swap(true, Ordering::AcqRel))?;
        install_handler();
        // MAP_POPULATE maps the pages now, in one call, rather than by one
        // fault per few pages; not for a huge file, which it would read
        // whole before the first byte is looked at.
        let populate = match pages {
            Pages::All if len <= POPULATE_UP_TO => libc::MAP_POPULATE,
            _ => 0,
        };
        // SAFETY: a fresh read-only private mapping of a file we opened; no
        // existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | populate,
                f.as_raw_fd(),
                0,
            )
        };
        let w = &WATCHED[slot];
        if ptr == libc::MAP_FAILED {
            w.taken.store(false, Ordering::Release);
            return None;
        }
        let mut message =
            format!("{label}: the file was cut short by another process while being read\n")
                .into_bytes()
                .into_boxed_slice();
        w.message_len.store(message.len(), Ordering::Release);
        w.message.store(message.as_mut_ptr(), Ordering::Release);
        w.start.store(ptr as usize, Ordering::Release);
        w.len.store(len, Ordering::Release);
        Some(Mapping {
            ptr,
            len,
            slot,
            _message: message,
        })
    }

    /// Maps in the pages under `range` of the bytes, ahead of reading them.
    pub fn bring_in(&self, range: std::ops::Range<usize>) {
        let start = range.start / PAGE * PAGE;
        let end = range.end.min(self.len);
        if end > start {
            // SAFETY: advice on pages of our own mapping; it changes no
            // byte. An older kernel refuses it: pages then fault in.
            unsafe { libc::madvise(self.ptr.byte_add(start), end - start, MADV_POPULATE_READ) };
        }
    }

    /// Unmaps the whole pages before byte `upto`, which the reader is done
    /// with. Their bytes stay readable: touching one maps it in again from
    /// the file (a read-only private mapping has no bytes of its own).
    pub fn let_go(&self, upto: usize) {
        let end = upto.min(self.len) / PAGE * PAGE;
        if end > 0 {
            // SAFETY: as above; MADV_DONTNEED on an unwritten private file
            // mapping only drops page table entries.
            unsafe { libc::madvise(self.ptr, end, libc::MADV_DONTNEED) };
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes and lives as long as
        // self. Another process writing the file changes bytes under us (as
        // it would mid-read); cutting it short is the SIGBUS handled above.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let w = &WATCHED[self.slot];
        w.len.store(0, Ordering::Release);
        w.start.store(0, Ordering::Release);
        // SAFETY: unmaps exactly the mapping this value owns; no borrow of
        // it outlives self.
        unsafe { libc::munmap(self.ptr, self.len) };
        w.taken.store(false, Ordering::Release);
    }
}

/// The SIGBUS action before ours (std's stack-overflow handler, or the
/// default), handed every SIGBUS that is not about a mapping of ours.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: installs a handler that only reads atomics and calls the
        // async-signal-safe write(2), sigaction(2), raise(3) and _exit(2).
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) != 0 {
                return; // no handler then: a cut-short file kills as before
            }
            let _ = PREVIOUS.set(old);
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        }
    });
}

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    for w in &WATCHED {
        let start = w.start.load(Ordering::Acquire);
        let len = w.len.load(Ordering::Acquire);
        if len != 0 && addr >= start && addr - start < len {
            let msg = w.message.load(Ordering::Acquire);
            let n = w.message_len.load(Ordering::Acquire);
            // SAFETY: msg points to the n bytes the mapping keeps while its
            // slot names it; write and _exit are async-signal-safe.
            unsafe {
                libc::write(2, msg as *const libc::c_void, n);
                libc::_exit(1);
            }
        }
    }
    // Not ours: the previous action takes it, as if this handler had never
    // been there. A fault happens again when the handler returns; a signal
    // sent by a process is sent again (it is blocked until then).
    // SAFETY: sigaction(2) and raise(3) are async-signal-safe; PREVIOUS is
    // set before this handler is installed.
    unsafe {
        match PREVIOUS.get() {
            Some(old) => libc::sigaction(libc::SIGBUS, old, std::ptr::null_mut()),
            None => {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
                0
            }
        };
        if (*info).si_code <= 0 {
            libc::raise(libc::SIGBUS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("crit-fs-{name}-{}", std::process::id()));
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// Some mapping of `f`, waiting while other tests hold every slot.
    fn mapping(f: &File, label: &str, pages: Pages) -> Mapping {
        loop {
            if let Some(m) = map(f, label, pages).unwrap() {
                return m;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_large_file_is_mapped_and_a_small_one_read() {
        let big = pattern(MAP_FROM as usize + 1);
        let small = pattern(MAP_FROM as usize - 1);
        let (pb, ps) = (temp_file("big", &big), temp_file("small", &small));
        let b = open(&pb, "t").unwrap();
        assert!(
            matches!(b, Input::Mapped(_))
                || WATCHED.iter().all(|w| w.taken.load(Ordering::Acquire))
        );
        assert_eq!(&b[..], &big[..]);
        let s = open(&ps, "t").unwrap();
        assert!(matches!(s, Input::Read(_)));
        assert_eq!(&s[..], &small[..]);
        drop(b);
        std::fs::remove_file(pb).unwrap();
        std::fs::remove_file(ps).unwrap();
    }

    #[test]
    fn pages_let_go_of_read_the_same_again() {
        let bytes = pattern(3 * MAP_FROM as usize / 2 + 5);
        let p = temp_file("letgo", &bytes);
        let f = File::open(&p).unwrap();
        let m = mapping(&f, "t", Pages::AsRead);
        m.bring_in(0..4096);
        m.bring_in(5000..m.len() + 100);
        assert_eq!(&m[..], &bytes[..]);
        m.let_go(m.len() / 2 + 3);
        m.let_go(m.len() + 7);
        assert_eq!(&m[..], &bytes[..]);
        drop(m);
        std::fs::remove_file(p).unwrap();
    }

    /// Runs `child` in a forked process with stderr into a pipe; returns its
    /// wait status and what it wrote. `child` may only make async-signal-safe
    /// calls: other test threads may hold locks at the fork.
    fn forked(child: impl FnOnce()) -> (libc::c_int, String) {
        let mut fds = [0; 2];
        // SAFETY: plain system calls on descriptors this function owns.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                libc::dup2(fds[1], 2);
                child();
                libc::_exit(0);
            }
            libc::close(fds[1]);
            let mut out = Vec::new();
            let mut buf = [0u8; 512];
            loop {
                let n = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
                if n <= 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n as usize]);
            }
            libc::close(fds[0]);
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            (status, String::from_utf8_lossy(&out).into_owned())
        }
    }

    #[test]
    fn a_file_cut_short_while_mapped_is_one_line_and_status_1() {
        let bytes = pattern(MAP_FROM as usize + 4096 * 3);
        let p = temp_file("cut", &bytes);
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        let m = mapping(&f, "crit-fs: dump/pipes-data.img", Pages::All);
        let fd = f.as_raw_fd();
        let last = m.as_ptr().wrapping_add(m.len() - 1);
        let (status, err) = forked(|| {
            // SAFETY: the test's point: the byte is past the file's new end.
            unsafe {
                libc::ftruncate(fd, 0);
                std::ptr::read_volatile(last);
            }
        });
        assert!(libc::WIFEXITED(status), "status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 1);
        assert_eq!(
            err,
            "crit-fs: dump/pipes-data.img: the file was cut short by another process while being read\n"
        );
        drop(m);
        std::fs::remove_file(p).unwrap();
    }

    /// A file cut short under a mapping that is not ours faults as it would
    /// without the handler: the process dies of SIGBUS, with no message.
    #[test]
    fn a_sigbus_elsewhere_goes_to_the_previous_action() {
        let len = MAP_FROM as usize;
        let p = temp_file("elsewhere", &pattern(len));
        let f = File::open(&p).unwrap();
        let m = mapping(&f, "t", Pages::All); // installs the handler
        let other = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        let fd = other.as_raw_fd();
        let (status, err) = forked(|| {
            // SAFETY: the test's point: a private mapping of the child's own,
            // read past the file's new end.
            unsafe {
                let q = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE,
                    fd,
                    0,
                );
                libc::ftruncate(fd, 0);
                std::ptr::read_volatile((q as *const u8).add(len - 1));
            }
        });
        assert!(libc::WIFSIGNALED(status), "status {status:#x}, {err}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGBUS);
        assert_eq!(err, "");
        drop(m);
        std::fs::remove_file(p).unwrap();
    }
}
