//! The library's error: what went wrong, and in which file and where.

use crate::image::ImageError;
use crate::json::JsonError;

/// What failed.
#[derive(Debug)]
pub enum ErrorKind {
    /// A binary image that could not be decoded or encoded.
    Image(ImageError),
    /// Text that is not JSON at all (position from the parser).
    JsonSyntax {
        line: usize,
        column: usize,
        what: String,
    },
    /// JSON that does not fit the image schema.
    JsonSchema(JsonError),
    Io(std::io::Error),
    /// Anything else, already phrased for the user.
    Other(String),
}

/// An error with the file it concerns.
#[derive(Debug)]
pub struct Error {
    pub file: Option<String>,
    pub kind: ErrorKind,
}

impl Error {
    pub fn new(kind: ErrorKind) -> Error {
        Error { file: None, kind }
    }

    pub fn other(what: impl Into<String>) -> Error {
        Error::new(ErrorKind::Other(what.into()))
    }

    /// Names the file the error concerns (keeps a name set earlier).
    pub fn in_file(mut self, file: impl std::fmt::Display) -> Error {
        if self.file.is_none() {
            self.file = Some(file.to_string());
        }
        self
    }

    /// Whether the input was raw data with no known magic (e.g. pages-*.img).
    pub fn is_unknown_magic(&self) -> bool {
        matches!(&self.kind, ErrorKind::Image(e) if e.unknown_magic.is_some())
    }
}

/// Longest message an error shows (about; the cut adds a short note): a reason
/// that quotes a huge key or value of hostile JSON would otherwise fill stderr,
/// the mount's log and `NAME.json.err` with it.
pub const MAX_MESSAGE: usize = 4096;

/// `message` cut in the middle when longer than [`MAX_MESSAGE`] (at character
/// boundaries), so that its start (the file) and its end (the JSON path or
/// position and what was expected) stay.
pub fn clip(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_MESSAGE {
        return message.into();
    }
    clip_fmt(format_args!("{message}")).into()
}

/// What `format!(…)` would give, cut as by [`clip`], without ever holding
/// more than about [`MAX_MESSAGE`] bytes of it: for a message that quotes a
/// huge key or value.
pub fn clip_fmt(args: std::fmt::Arguments<'_>) -> String {
    clip_fmt_to(MAX_MESSAGE, args)
}

/// [`clip_fmt`] to at most about `max` bytes: for a part of a message (a JSON
/// path, a key it quotes), so that the whole stays under [`MAX_MESSAGE`].
pub fn clip_fmt_to(max: usize, args: std::fmt::Arguments<'_>) -> String {
    let mut c = Clipper {
        half: max / 2,
        ..Clipper::default()
    };
    let _ = std::fmt::Write::write_fmt(&mut c, args);
    c.finish()
}

/// Keeps the first and the last `MAX_MESSAGE / 2` bytes of what is written.
#[derive(Default)]
struct Clipper {
    head: String,
    head_full: bool,
    tail: String,
    total: usize,
    half: usize,
}

impl std::fmt::Write for Clipper {
    fn write_str(&mut self, mut s: &str) -> std::fmt::Result {
        self.total += s.len();
        if !self.head_full {
            let mut take = s.len().min(self.half - self.head.len());
            while !s.is_char_boundary(take) {
                take -= 1;
            }
            self.head.push_str(&s[..take]);
            s = &s[take..];
            if s.is_empty() {
                return Ok(());
            }
            self.head_full = true;
        }
        // Keep the last `half` bytes (and up to `half` more, to cut rarely).
        let half = self.half;
        if s.len() > half {
            self.tail.clear();
            s = &s[ceil_boundary(s, s.len() - half)..];
        }
        self.tail.push_str(s);
        if self.tail.len() > 2 * half {
            let cut = ceil_boundary(&self.tail, self.tail.len() - half);
            self.tail.drain(..cut);
        }
        Ok(())
    }
}

fn ceil_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at += 1;
    }
    at
}

impl Clipper {
    fn finish(mut self) -> String {
        if self.total <= 2 * self.half {
            self.head.push_str(&self.tail);
            return self.head;
        }
        let at = self.tail.len().saturating_sub(self.half);
        let tail = &self.tail[ceil_boundary(&self.tail, at)..];
        format!(
            "{} … ({} bytes cut) … {}",
            self.head,
            self.total - self.head.len() - tail.len(),
            tail
        )
    }
}

/// Shows the message clipped by [`clip`]; the alternate form (`{:#}`) shows
/// it whole, for callers that add to it and clip the result themselves.
impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            return self.fmt_whole(f);
        }
        f.write_str(&clip_fmt(format_args!("{}", Whole(self))))
    }
}

/// An error shown whole (what `{:#}` shows).
struct Whole<'a>(&'a Error);

impl std::fmt::Display for Whole<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt_whole(f)
    }
}

impl Error {
    fn fmt_whole(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        match &self.kind {
            ErrorKind::Image(e) => write!(f, "{e}"),
            ErrorKind::JsonSyntax { line, column, what } => {
                write!(f, "invalid JSON at line {line}, column {column}: {what}")
            }
            ErrorKind::JsonSchema(e) => write!(f, "{e}"),
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::Other(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ImageError> for Error {
    fn from(e: ImageError) -> Error {
        Error::new(ErrorKind::Image(e))
    }
}

impl From<JsonError> for Error {
    fn from(e: JsonError) -> Error {
        Error::new(ErrorKind::JsonSchema(e))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io(e))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_start_and_end() {
        let short = "a".repeat(MAX_MESSAGE);
        assert_eq!(clip(&short), short.as_str());
        let long = format!(
            "file: {}é{} at entries[0]",
            "k".repeat(10_000),
            "é".repeat(3_000)
        );
        let c = clip(&long);
        assert!(c.len() < MAX_MESSAGE + 40, "{}", c.len());
        assert!(c.starts_with("file: kkk") && c.ends_with("éé at entries[0]"));
        // Streamed in pieces of any size, the same cut.
        let pieces = clip_fmt(format_args!(
            "{}{}{}",
            &long[..7],
            &long[7..9_000],
            &long[9_000..]
        ));
        assert_eq!(pieces, c);
        let cut: usize = c
            .split("(")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            c.len() - " …  bytes cut) … ".len() - 1 - cut.to_string().len() + cut,
            long.len()
        );
    }
}
