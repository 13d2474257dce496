//! A JSON parser that keeps numbers as text until the schema says what
//! they are, and base64 decoding.

use super::*;

/// A parsed JSON value; numbers keep their text so nothing is rounded
/// before the schema says what they are.
#[derive(Debug)]
pub(super) enum Node<'a> {
    Null,
    Bool(bool),
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<Node<'a>>),
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl Node<'_> {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "JSON null",
            Node::Bool(_) => "JSON boolean",
            Node::Num(_) => "JSON number",
            Node::Str(_) => "JSON string",
            Node::Arr(_) => "JSON array",
            Node::Obj(_) => "JSON object",
        }
    }

    /// The member `name` (the last one, as Jackson keeps the last).
    pub(super) fn get(&self, name: &str) -> Option<&Self> {
        match self {
            Node::Obj(members) => members
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A strict RFC 8259 parser over text already checked to be UTF-8.
pub(super) struct Parser<'a> {
    pub(super) text: &'a str,
    pub(super) pos: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Parser { text, pos: 0 }
    }

    pub(super) fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    pub(super) fn err(&self, what: &str) -> ConvertError {
        serialization(format!("{what} at byte {}", self.pos))
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    pub(super) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    pub(super) fn expect(&mut self, c: u8) -> Result<(), ConvertError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", char::from(c))))
        }
    }

    pub(super) fn finish(&mut self) -> Result<(), ConvertError> {
        self.skip_ws();
        if self.at_end() {
            Ok(())
        } else {
            Err(self.err("unexpected content after the JSON value"))
        }
    }

    pub(super) fn literal(&mut self, word: &str) -> Result<(), ConvertError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err("unrecognized token"))
        }
    }

    /// The envelope `{"schema":…,"payload":…}`: the schema's text span
    /// (read by the caller, which caches by it) and the payload.
    pub(super) fn parse_envelope(
        &mut self,
    ) -> Result<((usize, usize), Option<Node<'a>>), ConvertError> {
        let wrong = || {
            ConvertError::Serialization(
                "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and \
                 may not contain additional fields. If you are trying to deserialize plain JSON \
                 data, set schemas.enable=false in your converter configuration."
                    .to_owned(),
            )
        };
        self.skip_ws();
        if self.peek() != Some(b'{') {
            // Still check the bytes are JSON, so malformed input says so.
            self.parse_value(0)?;
            self.finish()?;
            return Err(wrong());
        }
        self.pos += 1;
        let mut schema = None;
        let mut payload = None;
        let mut members = 0;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                let key = self.parse_string()?;
                self.expect(b':')?;
                self.skip_ws();
                let start = self.pos;
                members += 1;
                match &*key {
                    "schema" => {
                        self.skip_value(1)?;
                        schema = Some((start, self.pos));
                    }
                    "payload" => payload = Some(self.parse_value(1)?),
                    _ => self.skip_value(1)?,
                }
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or '}'")),
                }
            }
        }
        self.finish()?;
        match (schema, payload) {
            (Some(span), Some(payload)) if members == 2 => Ok((span, Some(payload))),
            _ => Err(wrong()),
        }
    }

    pub(super) fn parse_value(&mut self, depth: usize) -> Result<Node<'a>, ConvertError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut members = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Node::Obj(members));
                }
                loop {
                    self.skip_ws();
                    let key = self.parse_string()?;
                    self.expect(b':')?;
                    let value = self.parse_value(depth + 1)?;
                    members.push((key, value));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Node::Obj(members));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Node::Arr(items));
                }
                loop {
                    items.push(self.parse_value(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Node::Arr(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => Ok(Node::Str(self.parse_string()?)),
            Some(b't') => self.literal("true").map(|()| Node::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Node::Bool(false)),
            Some(b'n') => self.literal("null").map(|()| Node::Null),
            Some(b'-' | b'0'..=b'9') => self.parse_number().map(Node::Num),
            None => Err(self.err("unexpected end of input")),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    /// Checks one value without building it.
    pub(super) fn skip_value(&mut self, depth: usize) -> Result<(), ConvertError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.skip_ws();
        let (open, close) = match self.peek() {
            Some(b'{') => (b'{', b'}'),
            Some(b'[') => (b'[', b']'),
            Some(b'"') => return self.parse_string().map(drop),
            Some(b't') => return self.literal("true"),
            Some(b'f') => return self.literal("false"),
            Some(b'n') => return self.literal("null"),
            Some(b'-' | b'0'..=b'9') => return self.parse_number().map(drop),
            None => return Err(self.err("unexpected end of input")),
            Some(_) => return Err(self.err("unexpected character")),
        };
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if open == b'{' {
                self.skip_ws();
                self.parse_string()?;
                self.expect(b':')?;
            }
            self.skip_value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or a closing bracket")),
            }
        }
    }

    pub(super) fn parse_number(&mut self) -> Result<&'a str, ConvertError> {
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - from
        };
        let int_start = i;
        let n = digits(&mut i);
        if n == 0 || (n > 1 && b[int_start] == b'0') {
            self.pos = i;
            return Err(self.err("invalid number"));
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.err("invalid number"));
            }
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    pub(super) fn parse_string(&mut self) -> Result<Cow<'a, str>, ConvertError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string"));
        }
        self.pos += 1;
        let b = self.bytes();
        let start = self.pos;
        // Fast path: no escapes.
        let mut i = start;
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&self.text[start..i]));
                }
                b'\\' => break,
                0..=0x1f => {
                    self.pos = i;
                    return Err(self.err("unescaped control character in string"));
                }
                _ => i += 1,
            }
        }
        let mut s = String::from(&self.text[start..i]);
        self.pos = i;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(Cow::Owned(s));
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    match e {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xd800..0xdc00).contains(&hi) {
                                if !self.text[self.pos..].starts_with("\\u") {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            s.push(
                                char::from_u32(c).ok_or_else(|| self.err("unpaired surrogate"))?,
                            );
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                0..=0x1f => return Err(self.err("unescaped control character in string")),
                _ => {
                    // Copy up to the next special byte (UTF-8 sequences stay whole).
                    let rest = &self.bytes()[self.pos..];
                    let n = rest
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                        .unwrap_or(rest.len());
                    s.push_str(&self.text[self.pos..self.pos + n]);
                    self.pos += n;
                }
            }
        }
    }

    pub(super) fn hex4(&mut self) -> Result<u32, ConvertError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }
}

/// Decodes standard base64; padding optional, whitespace not allowed.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const LENIENT_PADDING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT_PADDING.decode(text).ok()
}
