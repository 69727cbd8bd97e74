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

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
