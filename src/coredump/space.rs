//! The memory layer's address space as a core's [`Memory`].

use std::path::Path;

use crate::error::Result;
use crate::memory::AddressSpace;

use super::{Memory, Region};

/// Opens process `pid`'s memory for a core, read-only.
pub fn open_memory(dump_dir: &Path, pid: u64) -> Result<AddressSpace> {
    let mut space = AddressSpace::open(dump_dir, pid)?;
    space.set_read_only();
    Ok(space)
}

impl Memory for AddressSpace {
    fn regions(&self) -> Vec<Region> {
        self.vmas()
            .iter()
            .map(|v| Region {
                start: v.start,
                end: v.end,
                prot: v.prot,
                flags: v.flags,
                status: v.status,
                pgoff: v.pgoff,
                madv: 0,
                path: v.path.clone(),
                file_missing: v.file_on_host == Some(false),
            })
            .collect()
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> std::result::Result<usize, String> {
        AddressSpace::read(self, addr, buf).map_err(|e| e.message)
    }

    fn has_saved_pages(&self, start: u64, end: u64) -> bool {
        if self.seek_data(start).is_some_and(|a| a < end) {
            return true;
        }
        if AddressSpace::problems(self).is_empty() {
            return false;
        }
        // Pages the pagemap lists but that cannot be read (a damaged or
        // short pages image) were written by the process all the same: the
        // mapping is in the core, with zeros there, and the range named.
        let mut buf = vec![0u8; (end - start).min(1 << 20) as usize];
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(buf.len());
            match AddressSpace::read(self, at, &mut buf[..n]) {
                Ok(k) if k == n => at += n as u64,
                _ => return true,
            }
        }
        false
    }

    fn all_saved(&self, start: u64, end: u64) -> bool {
        self.seek_hole(start) >= end
    }

    fn problems(&self) -> Vec<String> {
        AddressSpace::problems(self).to_vec()
    }
}
