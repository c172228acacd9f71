//! Errors: [`CoreError`] ends a call; [`WalkError`] is one entry that could not be read, the walk
//! goes on. Both name the path.

use std::io;
use std::path::PathBuf;

/// An error that ends the whole call.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("invalid {field}: {message}")]
    InvalidSelection { field: &'static str, message: String },
    /// A root refused by `Selection::beneath`: outside every allowed root, or reached through
    /// a symlink (the tree changed since the root was checked).
    #[error("{}: {reason}", path.display())]
    NotAllowed { path: PathBuf, reason: String },
    /// A search pattern that does not compile (syntax, or over the size or nesting limit).
    #[error("invalid pattern: {0}")]
    InvalidPattern(String),
    /// A name template that does not parse, or names a capture its regex does not have.
    #[error("invalid template: {0}")]
    InvalidTemplate(String),
    /// A JSON Schema file that is not JSON or not a schema.
    #[error("{}: {message}", path.display())]
    InvalidSchema { path: PathBuf, message: String },
    #[error("cancelled")]
    Cancelled,
    /// A checksum manifest with a line that is not a checksum line (`verify`); `line` 0: the
    /// manifest as a whole (it has no checksum line).
    #[error("{}: {}{message}", path.display(), if *line == 0 { String::new() } else { format!("line {line}: ") })]
    InvalidManifest { path: PathBuf, line: usize, message: String },
}

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        CoreError::Io { path: path.into(), source }
    }
}

/// Why one entry could not be read. Stable names: they appear in JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    PermissionDenied,
    /// The entry was listed by its directory but was gone when we looked at it.
    Vanished,
    /// A followed symlink leads back to one of its own ancestors.
    Loop,
    /// The entry is no longer what the walk saw (another file, another size) when it was read.
    Changed,
    Io,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Vanished => "vanished",
            ErrorKind::Loop => "loop",
            ErrorKind::Changed => "changed",
            ErrorKind::Io => "io",
        }
    }
}

/// One entry the walk could not read; the walk records it and goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError {
    pub path: PathBuf,
    pub kind: ErrorKind,
    pub message: String,
}

impl WalkError {
    pub fn from_io(path: PathBuf, err: &io::Error) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::NotFound => ErrorKind::Vanished,
            _ => ErrorKind::Io,
        };
        WalkError { path, kind, message: err.to_string() }
    }

    pub fn from_errno(path: PathBuf, err: rustix::io::Errno) -> Self {
        Self::from_io(path, &io::Error::from(err))
    }
}
