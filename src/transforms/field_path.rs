//! Field paths and Kafka's `field.syntax.version` key (KIP-821): `V1`
//! takes a field name as written; `V2` reads `a.b.c` as a nested path,
//! with backticks around a name that contains dots (`` `a.b`.c ``) and
//! `` \` `` for a backtick inside one.

use crate::config::{ConfigKey, ConfigType, Importance, Validator};

/// The key name.
pub const FIELD_SYNTAX_VERSION: &str = "field.syntax.version";

/// `field.syntax.version` for a transform that reads nested paths.
pub fn syntax_key() -> ConfigKey {
    ConfigKey::new(
        FIELD_SYNTAX_VERSION,
        ConfigType::String,
        Importance::High,
        "V1: the field name as written. V2: a dotted path into nested structs and maps, \
         backticks around names that contain dots.",
    )
    .default_value("V1")
    .validator(Validator::one_of(&["V1", "V2"]))
}

/// `field.syntax.version` for a transform that takes top-level field names
/// only here: `V1` is accepted, `V2` is refused (rather than silently
/// reading a dotted name as a plain one).
pub fn v1_only_key() -> ConfigKey {
    ConfigKey::new(
        FIELD_SYNTAX_VERSION,
        ConfigType::String,
        Importance::Low,
        "Only V1 (top-level field names) is supported by this transform here; nested V2 paths \
         are refused.",
    )
    .default_value("V1")
    .validator(Validator::one_of(&["V1"]))
}

/// Splits a field path: the whole text for `V1`, the dotted segments for `V2`.
pub fn parse(text: &str, v2: bool) -> Result<Vec<String>, String> {
    if !v2 {
        return Ok(vec![text.to_owned()]);
    }
    let mut segments = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut segment = String::new();
        if chars.peek() == Some(&'`') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&'`') => {
                        chars.next();
                        segment.push('`');
                    }
                    '`' if matches!(chars.peek(), None | Some('.')) => {
                        closed = true;
                        break;
                    }
                    c => segment.push(c),
                }
            }
            if !closed {
                return Err(format!("unclosed backtick in field path `{text}`"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                segment.push(c);
                chars.next();
            }
        }
        if segment.is_empty() {
            return Err(format!("empty field name in field path `{text}`"));
        }
        segments.push(segment);
        match chars.next() {
            None => return Ok(segments),
            Some(_dot) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_keeps_dots_and_v2_splits_them() {
        assert_eq!(parse("a.b", false).unwrap(), ["a.b"]);
        assert_eq!(parse("a.b", true).unwrap(), ["a", "b"]);
        assert_eq!(parse("`a.b`.c", true).unwrap(), ["a.b", "c"]);
        assert_eq!(parse("`a\\`b`", true).unwrap(), ["a`b"]);
    }

    #[test]
    fn v2_rejects_empty_names_and_unclosed_backticks() {
        assert!(parse("a..b", true).is_err());
        assert!(parse("a.", true).is_err());
        assert!(parse("`a.b", true).is_err());
    }
}
