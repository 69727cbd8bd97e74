//! The CRIT JSON mapping: protobuf messages to and from the JSON that CRIT
//! prints and reads. Knows nothing of image files, the CLI or FUSE.

mod direct;
pub mod image;
pub mod parse;
pub mod render;
pub mod strict;
pub mod text;
pub mod wire;
pub mod writer;

pub use parse::{JsonError, message_from_json};
pub use render::{UNKNOWN_KEY, write_message};
pub use writer::JsonWriter;
