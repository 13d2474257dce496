//! Java `.properties` files, read by the rules of `java.util.Properties.load`.
//!
//! - A line whose first non-blank character is `#` or `!` is a comment; a
//!   comment never continues onto the next line.
//! - A key ends at the first unescaped `=`, `:` or blank (space, tab, form
//!   feed); blanks around the separator are skipped, so `a=b`, `a: b` and
//!   `a b` are the same entry.
//! - A line ending in an odd number of backslashes continues on the next
//!   line, whose leading blanks are dropped; an empty continuation line ends
//!   the entry.
//! - Escapes: `\t`, `\n`, `\r`, `\f`, `\uXXXX` (surrogate pairs combine);
//!   a backslash before any other character stands for that character, so
//!   `\=`, `\:`, `\ ` and `\\` put separators and backslashes into keys.
//! - Leading blanks of a value are dropped; trailing blanks are kept, as in
//!   Java. A key given twice: the last one wins.

use std::collections::BTreeMap;
use std::path::Path;

/// A connector's (or task's) string properties, in key order.
pub type Properties = BTreeMap<String, String>;

/// A properties file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A syntax problem.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads a `.properties` file.
///
/// The file is read as UTF-8; a file that is not valid UTF-8 is read as
/// ISO-8859-1, the encoding Java's `Properties.load(InputStream)` assumes
/// (the same fallback Java's `PropertyResourceBundle` makes).
pub fn load_properties(path: &Path) -> Result<Properties, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(not_utf8) => not_utf8
            .into_bytes()
            .iter()
            .map(|&b| char::from(b))
            .collect(),
    };
    parse_properties(&text, &path.display().to_string())
}

/// Parses `.properties` text; `origin` names it in errors (a path, or
/// something like `<command line>`).
///
/// ```
/// use timely_connect::config::parse_properties;
///
/// let props = parse_properties("# a comment\nname = files\ntopics: a,\\\n    b\n", "x").unwrap();
/// assert_eq!(props["name"], "files");
/// assert_eq!(props["topics"], "a,b");
/// ```
pub fn parse_properties(text: &str, origin: &str) -> Result<Properties, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = physical_lines(text);
    let mut props = Properties::new();
    let mut next = 0;
    while next < lines.len() {
        let first_line = next + 1;
        let start = lines[next].trim_start_matches(is_blank);
        next += 1;
        if start.is_empty() || start.starts_with(['#', '!']) {
            continue;
        }
        // The logical line, each character with the physical line it came
        // from, so an error can point at the right line.
        let mut logical: Vec<(char, usize)> = Vec::new();
        let mut part = start;
        let mut part_line = first_line;
        loop {
            let continued = ends_in_odd_backslashes(part);
            let body = if continued {
                &part[..part.len() - 1]
            } else {
                part
            };
            logical.extend(body.chars().map(|c| (c, part_line)));
            if !continued || next >= lines.len() {
                break;
            }
            let following = lines[next].trim_start_matches(is_blank);
            part_line = next + 1;
            next += 1;
            if following.is_empty() {
                break;
            }
            part = following;
        }
        let (key, value) = split_entry(&logical, origin)?;
        props.insert(key, value);
    }
    Ok(props)
}

/// Blanks as `.properties` files know them.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Splits at `\r\n`, `\r` or `\n`.
fn physical_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                i += 1;
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn ends_in_odd_backslashes(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line into its unescaped key and value.
fn split_entry(chars: &[(char, usize)], origin: &str) -> Result<(String, String), ConfigError> {
    let mut key_end = chars.len();
    let mut value_start = chars.len();
    let mut has_separator = false;
    let mut escaped = false;
    for (i, &(c, _)) in chars.iter().enumerate() {
        if !escaped && (c == '=' || c == ':') {
            key_end = i;
            value_start = i + 1;
            has_separator = true;
            break;
        }
        if !escaped && is_blank(c) {
            key_end = i;
            value_start = i + 1;
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    while let Some(&(c, _)) = chars.get(value_start) {
        if !is_blank(c) {
            if !has_separator && (c == '=' || c == ':') {
                has_separator = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    let key = unescape(&chars[..key_end], origin)?;
    let value = unescape(&chars[value_start..], origin)?;
    Ok((key, value))
}

/// Resolves backslash escapes.
fn unescape(chars: &[(char, usize)], origin: &str) -> Result<String, ConfigError> {
    let syntax = |line: usize, message: String| ConfigError::Syntax {
        path: origin.to_owned(),
        line,
        message,
    };
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let (c, _) = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&(escaped, line)) = chars.get(i) else {
            // A lone backslash at the very end (a continuation at the end
            // of the file) stands for nothing, as in Java.
            break;
        };
        i += 1;
        match escaped {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'u' => {
                let unit = hex4(&chars[i..])
                    .ok_or_else(|| syntax(line, "malformed \\uXXXX escape".to_owned()))?;
                i += 4;
                let decoded = if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate: must be followed by `\u` and a low one.
                    let low = match chars.get(i..i + 2) {
                        Some([('\\', _), ('u', _)]) => hex4(&chars[i + 2..]),
                        _ => None,
                    }
                    .filter(|low| (0xDC00..0xE000).contains(low));
                    match low {
                        Some(low) => {
                            i += 6;
                            char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                        }
                        None => None,
                    }
                } else {
                    char::from_u32(unit)
                };
                let decoded = decoded.ok_or_else(|| {
                    syntax(line, format!("\\u{unit:04X} is an unpaired surrogate"))
                })?;
                out.push(decoded);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The value of the four hex digits at the start of `chars`.
fn hex4(chars: &[(char, usize)]) -> Option<u32> {
    let digits = chars.get(..4)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &(c, _)| Some(acc * 16 + c.to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Properties {
        parse_properties(text, "test.properties").unwrap()
    }

    fn entries(text: &str) -> Vec<(String, String)> {
        parse(text).into_iter().collect()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn properties_separators_equals_colon_and_blank() {
        let p = parse("a=1\nb:2\nc 3\nd = 4\ne\t:\t5\nf  =  = 6\ng\n");
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "2");
        assert_eq!(p["c"], "3");
        assert_eq!(p["d"], "4");
        assert_eq!(p["e"], "5");
        // Only one separator is skipped; the second `=` is part of the value.
        assert_eq!(p["f"], "= 6");
        assert_eq!(p["g"], "");
    }

    #[test]
    fn properties_comments_and_blank_lines_are_skipped() {
        let p = entries(
            "# comment\n! also a comment\n   # indented comment\n\n  \t \na=1 # not a comment\n",
        );
        assert_eq!(p, vec![pair("a", "1 # not a comment")]);
    }

    #[test]
    fn properties_continuation_and_escapes() {
        let text = "list = a,\\\n      b,\\\n\t c\n\
                    tab=x\\ty\nnl=x\\ny\n\
                    uni=caf\\u00e9 \\u00E9\n\
                    emoji=\\uD83D\\uDE00\n\
                    plain=\\q\\\\\n\
                    path=C:\\\\dir\\\\file\n";
        let p = parse(text);
        assert_eq!(p["list"], "a,b,c");
        assert_eq!(p["tab"], "x\ty");
        assert_eq!(p["nl"], "x\ny");
        assert_eq!(p["uni"], "café é");
        assert_eq!(p["emoji"], "😀");
        assert_eq!(p["plain"], "q\\");
        assert_eq!(p["path"], "C:\\dir\\file");
    }

    #[test]
    fn properties_even_backslashes_do_not_continue() {
        let p = parse("a=x\\\\\nb=y\n");
        assert_eq!(p["a"], "x\\");
        assert_eq!(p["b"], "y");
    }

    #[test]
    fn properties_continued_line_starting_with_hash_is_not_a_comment() {
        let p = parse("a=x\\\n  # y\n");
        assert_eq!(p["a"], "x# y");
    }

    #[test]
    fn properties_comment_never_continues() {
        let p = entries("# comment \\\na=1\n");
        assert_eq!(p, vec![pair("a", "1")]);
    }

    #[test]
    fn properties_empty_continuation_line_ends_the_entry() {
        let p = entries("a=x\\\n\nb=y\n");
        assert_eq!(p, vec![pair("a", "x"), pair("b", "y")]);
    }

    #[test]
    fn properties_continuation_at_end_of_file_is_dropped() {
        assert_eq!(parse("a=x\\")["a"], "x");
    }

    #[test]
    fn properties_escaped_separators_in_keys() {
        let p = parse("a\\=b=1\nc\\:d:2\ne\\ f 3\n\\#g=4\n");
        assert_eq!(p["a=b"], "1");
        assert_eq!(p["c:d"], "2");
        assert_eq!(p["e f"], "3");
        assert_eq!(p["#g"], "4");
    }

    #[test]
    fn properties_leading_blanks_trimmed_trailing_kept() {
        let p = parse("   \t key =   value  \n");
        assert_eq!(p["key"], "value  ");
    }

    #[test]
    fn properties_duplicate_key_last_wins() {
        assert_eq!(parse("a=1\na=2\n")["a"], "2");
    }

    #[test]
    fn properties_all_line_endings() {
        let p = parse("a=1\r\nb=2\rc=3\nd=4");
        assert_eq!(p.len(), 4);
        assert_eq!(p["b"], "2");
        assert_eq!(p["d"], "4");
        assert_eq!(parse("a=x\\\r\n  y\r\n")["a"], "xy");
    }

    #[test]
    fn properties_byte_order_mark_is_ignored() {
        assert_eq!(parse("\u{feff}a=1")["a"], "1");
    }

    #[test]
    fn properties_malformed_unicode_escape_names_file_and_line() {
        let err = parse_properties("a=1\nb=2\\\n  x\\u12G4\n", "conn.properties").unwrap_err();
        match &err {
            ConfigError::Syntax { path, line, .. } => {
                assert_eq!(path, "conn.properties");
                assert_eq!(*line, 3);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().starts_with("conn.properties:3: "), "{err}");
        let short = parse_properties("k=\\u12", "p").unwrap_err();
        assert!(
            matches!(short, ConfigError::Syntax { line: 1, .. }),
            "{short}"
        );
    }

    #[test]
    fn properties_unpaired_surrogate_is_an_error() {
        let err = parse_properties("k=\\uD83Dx", "p").unwrap_err();
        assert!(err.to_string().contains("unpaired surrogate"), "{err}");
        assert!(parse_properties("k=\\uDE00", "p").is_err());
    }

    #[test]
    fn load_properties_reads_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.properties");
        std::fs::write(&path, "name=x\n").unwrap();
        assert_eq!(load_properties(&path).unwrap()["name"], "x");

        std::fs::write(&path, b"city=M\xfcnchen\n").unwrap();
        assert_eq!(load_properties(&path).unwrap()["city"], "München");

        let missing = dir.path().join("missing.properties");
        let err = load_properties(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
        assert!(err.to_string().contains("missing.properties"), "{err}");
    }
}
