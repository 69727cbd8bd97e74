//! crit-fs: CRIU checkpoint images as JSON, on the command line and as a
//! FUSE filesystem. See ARCHITECTURE.md for the map of the code.

pub mod archive;
pub mod atomic;
pub mod check;
pub mod cli;
pub mod codec;
pub mod coredump;
pub mod error;
pub mod explore;
pub mod fs;
pub mod fuse;
pub mod image;
pub mod inspect;
pub mod json;
pub mod mapped;
pub mod memcmd;
pub mod memory;
pub mod message;
pub mod mount;
mod mount_archive;
pub mod procview;
pub mod schema;
pub mod wire;

pub use error::{Error, ErrorKind, Result};
