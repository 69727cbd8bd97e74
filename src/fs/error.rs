//! The filesystem's one error type: an errno for the kernel and a message for
//! the user (logged, and for rejected saves readable in `NAME.json.err`).

use std::fmt;

/// An error of a filesystem operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsError {
    /// What the caller of the system call sees.
    pub errno: i32,
    /// Why, phrased for the user.
    pub message: String,
}

/// Builds an [`FsError`]: `fs_err!(libc::ENOENT, "no {name:?}")`.
#[macro_export]
macro_rules! fs_err {
    ($errno:expr, $($fmt:tt)*) => {
        $crate::fs::FsError { errno: $errno, message: format!($($fmt)*) }
    };
}

impl FsError {
    /// This error with its message clipped by [`crate::error::clip`]: a
    /// reason that quotes a huge key or value of a hostile save would otherwise
    /// fill `NAME.json.err` and the log with it.
    pub fn clipped(mut self) -> FsError {
        if let std::borrow::Cow::Owned(m) = crate::error::clip(&self.message) {
            self.message = m;
        }
        self
    }

    /// An I/O error of the underlying dump directory, with the path it concerns.
    pub fn io(e: &std::io::Error, what: impl fmt::Display) -> FsError {
        FsError {
            errno: e.raw_os_error().unwrap_or(libc::EIO),
            message: format!("{what}: {e}"),
        }
    }

    /// Whether this is an expected miss (logged at debug level, not warn).
    pub fn is_expected(&self) -> bool {
        matches!(
            self.errno,
            libc::ENOENT | libc::ENODATA | libc::EEXIST | libc::ENXIO
        )
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, errno_name(self.errno))
    }
}

impl std::error::Error for FsError {}

/// The symbolic name of an errno, for messages and logs.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::EINVAL => "EINVAL",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EROFS => "EROFS",
        libc::EEXIST => "EEXIST",
        libc::EISDIR => "EISDIR",
        libc::ENOTDIR => "ENOTDIR",
        libc::EBADF => "EBADF",
        libc::ENODATA => "ENODATA",
        libc::ENOTSUP => "ENOTSUP",
        libc::ENOSYS => "ENOSYS",
        libc::EXDEV => "EXDEV",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ERANGE => "ERANGE",
        libc::EFBIG => "EFBIG",
        libc::ENXIO => "ENXIO",
        libc::ELOOP => "ELOOP",
        libc::EOVERFLOW => "EOVERFLOW",
        _ => "errno",
    }
}

/// Result of a filesystem operation.
pub type FsResult<T> = Result<T, FsError>;
