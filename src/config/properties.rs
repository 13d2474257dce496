//! Java `.properties` files.

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
pub fn load_properties(path: &Path) -> Result<Properties, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_properties(&text, &path.display().to_string())
}

/// Parses `.properties` text; `origin` names it in errors.
pub fn parse_properties(text: &str, origin: &str) -> Result<Properties, ConfigError> {
    let _ = origin;
    let mut props = Properties::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            props.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    Ok(props)
}
