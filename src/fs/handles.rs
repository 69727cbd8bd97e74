//! Open files. A handle is one of a few kinds, and a writer of a view is a
//! small state machine: `Clean` (nothing to save) → `Dirty` (buffer changed)
//! → `Saved` or `Failed` (remembered, so a later close reports it again until
//! the buffer changes).

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::FsError;

/// A file created through the mount that is not a view: kept in memory only
/// (editor swap files, backups, temporary files of `sed -i`), never written to
/// the dump.
#[derive(Debug)]
pub struct ScratchFile {
    pub data: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

/// Where a writer of a view stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteState {
    /// The buffer is what the view showed at open: nothing to save.
    Clean,
    /// Written or truncated since the last save attempt.
    Dirty,
    /// Saved (or found unchanged) at the last flush/fsync.
    Saved,
    /// The last save was rejected; the buffer still holds the rejected text.
    Failed(FsError),
}

/// One open file or directory.
#[derive(Debug)]
pub enum Handle {
    /// A file of the dump, read and written through.
    Real {
        file: File,
        rel: PathBuf,
        wrote: bool,
    },
    /// A view opened read-only: the text as it was at open.
    Snapshot { body: Arc<Vec<u8>> },
    /// A view opened for writing: a private buffer, saved on flush/fsync.
    ViewWrite {
        image: PathBuf,
        buf: Vec<u8>,
        state: WriteState,
    },
    /// A scratch file (shared by all its handles, like a real file).
    Scratch { file: Arc<Mutex<ScratchFile>> },
    /// `proc/PID/mem`: the process's address space, shared by its handles.
    Mem { pid: u64, mem: super::SharedMem },
    /// `proc/PID/core`: the core file as laid out at open.
    Core { core: super::SharedCore },
    /// A directory listing taken at opendir.
    Dir { entries: Vec<super::DirEntry> },
}
