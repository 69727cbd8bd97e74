//! The JSON text as the direct encoder sees it: all of it in memory, or a
//! file read in pieces, keeping only what the encoder has not finished with.

use std::io::{self, Read};

use crate::mapped::Mapping;

pub(super) struct Window<'a> {
    source: Source<'a>,
    /// How much is read at a time (at least).
    pub(super) read: usize,
}

enum Source<'a> {
    /// Text in memory: `text[start..end]` is in view, and the view grows
    /// only as far as the encoder asks, so that it can stream a long
    /// payload to its sink as it would from a file; nothing is copied.
    Memory {
        text: &'a [u8],
        start: usize,
        end: usize,
        /// The mapping `text` is, if it is one: pages are brought in as
        /// they come into view and let go of once dropped from it.
        mapping: Option<&'a Mapping>,
    },
    /// Text read from `reader` (None once all of it has been read) into `buf`.
    Reading {
        buf: Vec<u8>,
        reader: Option<&'a mut dyn Read>,
    },
}

impl<'a> Window<'a> {
    /// The whole text, already in memory, in view at once.
    pub(super) fn whole(text: &'a [u8]) -> Window<'a> {
        Window::in_memory(text, text.len(), None)
    }

    /// A text in memory brought into view `read` bytes or more at a time, as
    /// [`Window::mapped`] does without a mapping (for the fuzzer and tests).
    pub(super) fn revealing(text: &'a [u8], read: usize) -> Window<'a> {
        Window::in_memory(text, read, None)
    }

    /// A mapped file brought into view `read` bytes or more at a time, as
    /// if it were read.
    pub(super) fn mapped(m: &'a Mapping, read: usize) -> Window<'a> {
        m.bring_in(0..m.len().min(read));
        Window::in_memory(m, read, Some(m))
    }

    fn in_memory(text: &'a [u8], read: usize, mapping: Option<&'a Mapping>) -> Window<'a> {
        Window {
            source: Source::Memory {
                text,
                start: 0,
                end: text.len().min(read),
                mapping,
            },
            read,
        }
    }

    /// A text still to be read from `reader`, `read` bytes or more at a time.
    pub(super) fn reading(reader: &'a mut dyn Read, read: usize) -> Window<'a> {
        Window {
            source: Source::Reading {
                buf: Vec::new(),
                reader: Some(reader),
            },
            read,
        }
    }

    /// The part of the text in view.
    pub(super) fn bytes(&self) -> &[u8] {
        match &self.source {
            Source::Memory {
                text, start, end, ..
            } => &text[*start..*end],
            Source::Reading { buf, .. } => buf,
        }
    }

    /// Whether the text in view runs to its end.
    pub(super) fn complete(&self) -> bool {
        match &self.source {
            Source::Memory { text, end, .. } => *end == text.len(),
            Source::Reading { reader, .. } => reader.is_none(),
        }
    }

    /// Drops the bytes before `keep` and brings at least `more` bytes further
    /// into view (fewer at the end of the text). Returns how many bytes were
    /// dropped: positions in [`Window::bytes`] move back by that much.
    pub(super) fn advance(&mut self, keep: usize, more: usize) -> io::Result<usize> {
        match &mut self.source {
            Source::Memory {
                text,
                start,
                end,
                mapping,
            } => {
                *start += keep;
                let old_end = *end;
                *end = text.len().min(end.saturating_add(more));
                if let Some(m) = mapping {
                    m.let_go(*start);
                    m.bring_in(old_end..*end);
                }
                Ok(keep)
            }
            Source::Reading { buf, reader } => {
                let Some(r) = reader.as_mut() else {
                    return Ok(0);
                };
                buf.drain(..keep);
                buf.reserve(more);
                let n = (&mut **r).take(more as u64).read_to_end(buf)?;
                if n < more {
                    *reader = None;
                }
                Ok(keep)
            }
        }
    }
}
