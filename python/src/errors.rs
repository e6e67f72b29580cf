//! vpipe's errors as Python exceptions: the classes of `vpipe/_errors.py` (all `vpipe.Error`,
//! some also a built-in: `FileNotFoundError`, `ValueError`, `IndexError`), carrying vpipe's
//! whole message (file, line, key).

use pyo3::prelude::*;

/// Which `vpipe.Error` subclass an error becomes, when its cause does not decide.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A bad pipeline file, key or argument: `vpipe.ConfigError` (a `ValueError`).
    Config,
    /// A video that does not open or decode: `vpipe.DecodeError`.
    Decode,
    /// Anything else: `vpipe.Error`.
    Other,
}

/// `e` as the exception of `kind`, or `vpipe.FileNotFound` (a `FileNotFoundError`) when a
/// missing file caused it.
pub fn to_py(e: anyhow::Error, kind: Kind) -> PyErr {
    let missing = e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound));
    let class = match (missing, kind) {
        (true, _) => "FileNotFound",
        (_, Kind::Config) => "ConfigError",
        (_, Kind::Decode) => "DecodeError",
        (_, Kind::Other) => "Error",
    };
    raise(class, &format!("{e:#}"))
}

/// An exception of class `class` of `vpipe._errors` with `message`.
pub fn raise(class: &str, message: &str) -> PyErr {
    Python::attach(|py| {
        let made = py.import("vpipe._errors").and_then(|m| m.getattr(class)).and_then(|c| c.call1((message,)));
        match made {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        }
    })
}

/// `Result<T, anyhow::Error>` → `PyResult<T>` with the exception of a kind.
pub trait OrRaise<T> {
    /// The value, or the error as the exception of `kind`.
    fn or_raise(self, kind: Kind) -> PyResult<T>;
}

impl<T> OrRaise<T> for anyhow::Result<T> {
    fn or_raise(self, kind: Kind) -> PyResult<T> {
        self.map_err(|e| to_py(e, kind))
    }
}
