//! The JSON text as the direct encoder sees it: all of it in memory, or a
//! file read in pieces, keeping only what the encoder has not finished with.

use std::borrow::Cow;
use std::io::{self, Read};

pub(super) struct Window<'a> {
    buf: Cow<'a, [u8]>,
    /// How much is read at a time (at least).
    pub(super) read: usize,
    /// The rest of the text; None once it has all been read.
    reader: Option<&'a mut dyn Read>,
    /// Whether to back the buffer with huge pages: only when it is to hold
    /// the whole text. A window that slides would grow huge pages it never
    /// fills (16 MiB more of RSS for the 64 MiB pipe).
    huge: bool,
}

impl<'a> Window<'a> {
    /// The whole text, already in memory.
    pub(super) fn whole(text: &'a [u8]) -> Window<'a> {
        Window {
            buf: Cow::Borrowed(text),
            read: 0,
            reader: None,
            huge: false,
        }
    }

    /// A text still to be read from `reader`, `read` bytes or more at a
    /// time; `whole`: the first read is expected to take all of it.
    pub(super) fn reading(reader: &'a mut dyn Read, read: usize, whole: bool) -> Window<'a> {
        Window {
            buf: Cow::Owned(Vec::new()),
            read,
            reader: Some(reader),
            huge: whole,
        }
    }

    /// The part of the text in memory.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Whether the text in memory runs to its end.
    pub(super) fn complete(&self) -> bool {
        self.reader.is_none()
    }

    /// Drops the bytes before `keep` and reads at least `more` bytes further
    /// (fewer at the end of the text). Returns how many bytes were dropped:
    /// positions in [`Window::bytes`] move back by that much.
    pub(super) fn advance(&mut self, keep: usize, more: usize) -> io::Result<usize> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(0);
        };
        let buf = self.buf.to_mut();
        buf.drain(..keep);
        let cap = buf.capacity();
        buf.reserve(more);
        if self.huge && buf.capacity() != cap {
            crate::hugepages::advise(buf);
        }
        let n = (&mut **reader).take(more as u64).read_to_end(buf)?;
        if n < more {
            self.reader = None;
        }
        Ok(keep)
    }
}
