//! The text of an annotation list, as mmaction2 reads it (`line.strip().split()`), read as bytes:
//! a UTF-8 byte-order mark (Windows editors write one) is dropped, and a path column may hold any
//! bytes but NUL (Linux file names are bytes, not text), while a number column that is not UTF-8
//! is an error naming its line.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One line that holds an entry (not blank, not a `#` comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListLine {
    /// `file:line` (1-based), for messages.
    pub at: String,
    /// The line's number in the file (1-based).
    pub number: usize,
    /// Its whitespace-separated columns, as bytes.
    pub columns: Vec<Vec<u8>>,
}

impl ListLine {
    /// Column `i` as a path (any bytes), `None` past the last column.
    pub fn path(&self, i: usize) -> Option<PathBuf> {
        self.columns.get(i).map(|c| PathBuf::from(OsStr::from_bytes(c)))
    }

    /// Column `i` as text for messages and outputs (invalid UTF-8 shown as U+FFFD).
    pub fn name(&self, i: usize) -> String {
        self.columns.get(i).map(|c| String::from_utf8_lossy(c).into_owned()).unwrap_or_default()
    }

    /// Columns `from..` as text: numbers and labels.
    ///
    /// # Errors
    /// A column that is not UTF-8 (the message names `file:line` and the column).
    pub fn texts(&self, from: usize) -> Result<Vec<&str>> {
        self.columns
            .iter()
            .enumerate()
            .skip(from)
            .map(|(i, c)| {
                std::str::from_utf8(c)
                    .map_err(|e| anyhow::anyhow!("{}: column {} is not UTF-8 text ({e}): {:?}", self.at, i + 1, String::from_utf8_lossy(c)))
            })
            .collect()
    }

    /// The whole line as text, for messages.
    pub fn display(&self) -> String {
        self.columns.iter().map(|c| String::from_utf8_lossy(c)).collect::<Vec<_>>().join(" ")
    }
}

/// The entry lines of the list at `path`: a leading UTF-8 BOM dropped, blank lines and lines
/// starting with `#` skipped, columns split at ASCII whitespace.
///
/// # Errors
/// The file is missing, not a regular file (a FIFO, `/dev/zero`) or cannot be read (the message
/// names it); a NUL byte (no path holds one: the file is
/// not a list), naming the line.
pub fn read_list(path: &Path) -> Result<Vec<ListLine>> {
    super::walk::regular_file(path).with_context(|| format!("annotation list {}", path.display()))?;
    let bytes = std::fs::read(path).with_context(|| format!("reading annotation list {}", path.display()))?;
    parse_list(&bytes, &path.display().to_string())
}

/// As [`read_list`], from the file's bytes; `name` stands for the file in messages.
///
/// # Errors
/// As [`read_list`].
pub fn parse_list(bytes: &[u8], name: &str) -> Result<Vec<ListLine>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = format!("{name}:{}", i + 1);
        if line.contains(&0) {
            anyhow::bail!("{at}: a NUL byte: this is not a text list");
        }
        let columns: Vec<Vec<u8>> = line.split(|b| b.is_ascii_whitespace()).filter(|c| !c.is_empty()).map(<[u8]>::to_vec).collect();
        if columns.first().is_none_or(|c| c.starts_with(b"#")) {
            continue;
        }
        out.push(ListLine { at, number: i + 1, columns });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_is_dropped_paths_keep_their_bytes_and_text_columns_name_the_line() {
        let lines = parse_list(b"\xEF\xBB\xBFa.avi 1\r\n\n# c\ncaf\xE9.avi 2\nb.avi \xFF\n", "l.txt").unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].name(0), "a.avi", "no BOM in the first path, no CR in the last column");
        assert_eq!(lines[0].texts(1).unwrap(), ["1"]);
        assert_eq!(lines[1].path(0).unwrap().as_os_str().as_bytes(), b"caf\xE9.avi", "Latin-1 file names are paths too");
        assert_eq!(lines[1].number, 4);
        let e = lines[2].texts(1).unwrap_err().to_string();
        assert!(e.starts_with("l.txt:5: column 2 is not UTF-8"), "{e}");
        assert!(parse_list(b"a\0b 1\n", "l.txt").unwrap_err().to_string().contains("l.txt:1"));
    }
}
