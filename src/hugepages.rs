//! Large buffers backed by huge pages: a big input read into 4 KiB pages
//! spends a good part of its time in page faults.

/// Buffers at least this large are worth a huge-page hint.
pub const WORTH_IT: usize = 4 << 20;

/// Asks for huge pages under the whole pages of `v`'s allocation, when it
/// is large enough for them to matter.
pub fn advise(v: &Vec<u8>) {
    const PAGE: usize = 4096;
    if v.capacity() < WORTH_IT {
        return;
    }
    let start = (v.as_ptr() as usize).next_multiple_of(PAGE);
    let end = (v.as_ptr() as usize + v.capacity()) / PAGE * PAGE;
    if end > start {
        // SAFETY: madvise only hints how to back these pages, which lie
        // inside an allocation of ours; it changes no byte of memory.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}
