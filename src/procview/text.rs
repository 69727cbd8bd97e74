//! `auxv` (the saved vector); `cmdline` and `environ` are read from memory
//! by `memory::AddressSpace`.

use crate::error::Result;
use crate::explore::dump::Dump;
use crate::message::Message;

use super::u64s;

fn mm_head(dump: &Dump, pid: u64, what: &str) -> Result<Message> {
    dump.head_only(
        &format!("mm-{pid}.img"),
        &format!("proc/{pid}/{what}"),
        &[
            "mm_arg_start",
            "mm_arg_end",
            "mm_env_start",
            "mm_env_end",
            "mm_saved_auxv",
        ],
    )
}

/// `auxv`: the saved auxiliary vector as native-endian words, pairs up to
/// and including the AT_NULL pair (as /proc/PID/auxv). CRIU saves what it
/// read into a buffer of fixed size, which can cut a long vector before its
/// AT_NULL: the pair is then added, as the kernel's file always ends so.
pub fn auxv(dump: &Dump, pid: u64) -> Result<Vec<u8>> {
    let mm = mm_head(dump, pid, "auxv")?;
    Ok(auxv_bytes(&u64s(&mm, "mm_saved_auxv")))
}

/// The /proc form of a saved vector.
pub fn auxv_bytes(words: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for pair in words.chunks(2) {
        let key = pair[0];
        let val = pair.get(1).copied().unwrap_or(0);
        out.extend_from_slice(&key.to_ne_bytes());
        out.extend_from_slice(&val.to_ne_bytes());
        if key == 0 {
            return out;
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auxv_ends_at_at_null() {
        let b = auxv_bytes(&[6, 4096, 0, 0, 7, 7]);
        assert_eq!(b.len(), 32);
        assert_eq!(&b[0..8], &6u64.to_ne_bytes());
        assert_eq!(&b[16..32], &[0u8; 16]);
        let cut = auxv_bytes(&[6, 4096, 7]);
        assert_eq!(cut.len(), 48);
        assert_eq!(&cut[16..24], &7u64.to_ne_bytes());
        assert_eq!(&cut[32..48], &[0u8; 16]);
    }
}
