//! Java's and Jackson's text forms of numbers and strings, so converters
//! write the bytes Kafka Connect (a JVM program) writes.
//!
//! - [`write_double`] / [`write_float`]: `Double.toString` /
//!   `Float.toString` as specified since JDK 19 (Raffaello Giulietti's
//!   shortest-decimal algorithm): `1.0`, `0.001`, `1.0E7`, `1.0E-4`,
//!   `123.456`, `4.9E-324`, `NaN`, `Infinity`, `-0.0`. Plain notation for
//!   `10^-3 <= |v| < 10^7`, otherwise `d.dddE±n` (no `+`). JDK 17 and
//!   older print a few values with more digits than needed (`2.0E-3` as
//!   `0.0020`, for instance); we follow the current specification.
//! - [`write_big_decimal`]: `BigDecimal.toString` (`12.30`, `1E+3`, `5E-10`).
//! - [`write_json_string`]: a string as Jackson's default generator quotes
//!   it: `"` and `\` escaped, `\b \t \n \f \r` short, other control
//!   characters as `\u00XX` with upper-case hex, nothing else escaped
//!   (no `/`, no non-ASCII).

use std::fmt::{self, Write as _};

use crate::data::json::write_base64;
use crate::data::logical::{self, LogicalType};
use crate::data::{Schema, Value};

/// A fixed-size stack buffer for `fmt` output (numbers only).
struct StackBuf {
    buf: [u8; 48],
    len: usize,
}

impl StackBuf {
    fn new() -> Self {
        StackBuf {
            buf: [0; 48],
            len: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Decimal digits of a finite float and the exponent of the first digit:
/// the value is `d1.d2d3… × 10^exp`.
struct Digits {
    negative: bool,
    digits: [u8; 20],
    len: usize,
    exp: i32,
}

impl Digits {
    /// Parses Rust's `{:e}` output (`-1.2345e-7`, `5e0`).
    fn parse(text: &[u8]) -> Option<Digits> {
        let mut d = Digits {
            negative: false,
            digits: [0; 20],
            len: 0,
            exp: 0,
        };
        let mut i = 0;
        if text.first() == Some(&b'-') {
            d.negative = true;
            i = 1;
        }
        while i < text.len() && text[i] != b'e' {
            if text[i].is_ascii_digit() {
                if d.len == d.digits.len() {
                    return None;
                }
                d.digits[d.len] = text[i];
                d.len += 1;
            }
            i += 1;
        }
        let exp = std::str::from_utf8(text.get(i + 1..)?).ok()?;
        d.exp = exp.parse().ok()?;
        (d.len > 0).then_some(d)
    }

    fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }
}

/// The float types Java prints: `f64` (`Double.toString`) and `f32`
/// (`Float.toString`).
trait JavaFloat: Copy + fmt::LowerExp + PartialEq + std::str::FromStr {
    fn is_finite_(self) -> bool;
    fn is_nan_(self) -> bool;
    fn is_sign_positive_(self) -> bool;
}

impl JavaFloat for f64 {
    fn is_finite_(self) -> bool {
        self.is_finite()
    }
    fn is_nan_(self) -> bool {
        self.is_nan()
    }
    fn is_sign_positive_(self) -> bool {
        self.is_sign_positive()
    }
}

impl JavaFloat for f32 {
    fn is_finite_(self) -> bool {
        self.is_finite()
    }
    fn is_nan_(self) -> bool {
        self.is_nan()
    }
    fn is_sign_positive_(self) -> bool {
        self.is_sign_positive()
    }
}

/// The digits Java selects: the shortest decimal that rounds to `v`
/// (Rust's `{:e}` gives exactly that), except that when one digit is
/// enough Java picks the closest decimal of one or two digits
/// (`4.9E-324`, not `5E-324`).
fn java_digits<F: JavaFloat>(v: F) -> Option<Digits> {
    let mut buf = StackBuf::new();
    write!(buf, "{v:e}").ok()?;
    let shortest = Digits::parse(buf.bytes())?;
    if shortest.len != 1 {
        return Some(shortest);
    }
    let mut two = StackBuf::new();
    write!(two, "{v:.1e}").ok()?;
    let candidate = Digits::parse(two.bytes())?;
    // Only if the two-digit form still reads back as `v`.
    let text = std::str::from_utf8(two.bytes()).ok()?;
    match text.parse::<F>() {
        Ok(back) if back == v && candidate.digits().get(1) != Some(&b'0') => Some(candidate),
        _ => Some(shortest),
    }
}

/// Lays out Java's `Double.toString` / `Float.toString` text.
fn write_java_layout(out: &mut Vec<u8>, d: &Digits) {
    if d.negative {
        out.push(b'-');
    }
    let digits = d.digits();
    let exp = d.exp;
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            // `exp` is in 0..7 here.
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.extend_from_slice(digits);
                out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            // `-exp - 1` is in 0..3 here.
            out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
            out.extend_from_slice(digits);
        }
    } else {
        out.push(digits[0]);
        out.push(b'.');
        if digits.len() > 1 {
            out.extend_from_slice(&digits[1..]);
        } else {
            out.push(b'0');
        }
        out.push(b'E');
        write_i64(out, i64::from(exp));
    }
}

fn write_java_float<F: JavaFloat>(out: &mut Vec<u8>, v: F) {
    if v.is_nan_() {
        out.extend_from_slice(b"NaN");
    } else if !v.is_finite_() {
        out.extend_from_slice(if v.is_sign_positive_() {
            b"Infinity"
        } else {
            b"-Infinity"
        });
    } else if let Some(d) = java_digits(v) {
        write_java_layout(out, &d);
    } else {
        // Unreachable for finite floats: `{:e}` always fits the buffer.
        let _ = write!(Bytes(out), "{v:e}");
    }
}

/// Appends Java's `Double.toString(v)` (JDK 19+ rules; see the module doc).
pub(crate) fn write_double(out: &mut Vec<u8>, v: f64) {
    write_java_float(out, v);
}

/// Appends Java's `Float.toString(v)` (JDK 19+ rules).
pub(crate) fn write_float(out: &mut Vec<u8>, v: f32) {
    write_java_float(out, v);
}

/// `Double.toString(v)` as a `String`.
#[cfg(test)]
pub(crate) fn double_to_string(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_double(&mut out, v);
    ascii_string(out)
}

/// `Float.toString(v)` as a `String`.
#[cfg(test)]
pub(crate) fn float_to_string(v: f32) -> String {
    let mut out = Vec::with_capacity(16);
    write_float(&mut out, v);
    ascii_string(out)
}

#[cfg(test)]
fn ascii_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_default()
}

/// Appends a decimal integer.
pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 40];
    let digits = logical::u128_digits(u128::from(v.unsigned_abs()), &mut buf);
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(digits);
}

/// `fmt::Write` into a byte buffer.
pub(crate) struct Bytes<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends Java's `BigDecimal.toString()` of the big-endian two's-complement
/// unscaled value `unscaled` with `scale`: plain when `scale >= 0` and the
/// adjusted exponent is at least -6 (`12.30`, `0.000001`, `-5`), otherwise
/// scientific (`1.2E+3`, `5E-10`). Empty bytes read as zero.
pub(crate) fn write_big_decimal(out: &mut Vec<u8>, unscaled: &[u8], scale: i32) {
    let mut text = Vec::with_capacity(unscaled.len() * 3 + 2);
    // The exact integer digits, with a leading `-` when negative.
    let _ = logical::write_decimal_bytes(&mut Bytes(&mut text), unscaled, 0);
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, &text[..]),
    };
    let n = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let scale = i64::from(scale);
    let adjusted = -scale + (n - 1);
    if negative {
        out.push(b'-');
    }
    if scale >= 0 && adjusted >= -6 {
        if scale == 0 {
            out.extend_from_slice(digits);
        } else if n > scale {
            // `n - scale` is in 1..n here.
            let point = (n - scale) as usize;
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        } else {
            out.extend_from_slice(b"0.");
            // `scale - n` is at most 6 here.
            out.extend(std::iter::repeat_n(b'0', (scale - n) as usize));
            out.extend_from_slice(digits);
        }
        return;
    }
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    out.push(b'E');
    if adjusted >= 0 {
        out.push(b'+');
    }
    write_i64(out, adjusted);
}

/// For each byte of UTF-8: 0 = copy, `b'u'` = `\u00XX`, `b'S'` = the lead
/// byte of a character beyond the BMP (a surrogate pair), other = the
/// short escape's letter.
static ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    let mut lead = 0xF0;
    while lead < 0x100 {
        t[lead] = b'S';
        lead += 1;
    }
    t
};

/// Appends `s` as a quoted JSON string, escaped as Jackson escapes it:
/// control characters, `"` and `\` escaped, other characters of the Basic
/// Multilingual Plane as they are, and characters beyond it (emoji and the
/// like) as an escaped UTF-16 surrogate pair (`\uD83D\uDE00` for 😀), as
/// Jackson's UTF-8 generator writes them.
pub(crate) fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    fn push_u16(out: &mut Vec<u8>, unit: u32) {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(HEX[((unit >> shift) & 0xf) as usize]);
        }
    }
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Most strings (field names, ordinary text) need no escape at all: one
    // branch-free pass finds out, and they are copied whole.
    if bytes
        .iter()
        .fold(0u8, |any, &b| any | ESCAPES[usize::from(b)])
        == 0
    {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPES[usize::from(b)];
        if esc == 0 {
            // Copied as it is (continuation bytes of a surrogate pair included:
            // they are skipped by `start`).
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            b'S' => {
                let c = s[i..].chars().next().map_or(0x1_0000, u32::from) - 0x1_0000;
                push_u16(out, 0xD800 + (c >> 10));
                push_u16(out, 0xDC00 + (c & 0x3FF));
                start = i + 4;
                continue;
            }
            b'u' => push_u16(out, u32::from(b)),
            _ => {
                out.push(b'\\');
                out.push(esc);
            }
        }
        start = i + 1;
    }
    if start < bytes.len() {
        out.extend_from_slice(&bytes[start..]);
    }
    out.push(b'"');
}

/// Appends what Java's `value.toString()` gives for the Java object Kafka
/// Connect would hold for `value` (what Kafka's `StringConverter` writes):
/// numbers as `Integer.toString` … `Double.toString`, a Decimal (with its
/// schema) as `BigDecimal.toString`, a Date / Time / Timestamp (with its
/// schema) as `java.util.Date.toString` in UTC (`Thu Feb 29 00:00:00 UTC
/// 2024`), lists as `[a, b]`, maps as `{k=v, k2=v2}`, structs as
/// `Struct{a=1,b=x}` (null fields left out), null as `null`.
///
/// BYTES differ: Java prints an identity hash (`[B@1b6d3586`) no one can
/// use; we write the bytes as base64, as Kafka's `Values` does for headers.
pub(crate) fn write_java_to_string(out: &mut Vec<u8>, value: &Value, schema: Option<&Schema>) {
    if let (Some(s), false) = (schema, value.is_null()) {
        match (LogicalType::of(s), value) {
            (Some(LogicalType::Decimal), Value::Bytes(b)) if !b.is_empty() => {
                if let Ok(scale) = logical::decimal_scale(s) {
                    return write_big_decimal(out, b, scale);
                }
            }
            (Some(LogicalType::Date), Value::Int32(d)) => {
                return write_java_date(out, i64::from(*d) * MILLIS_PER_DAY)
            }
            (Some(LogicalType::Time), Value::Int32(ms)) => {
                return write_java_date(out, i64::from(*ms))
            }
            (Some(LogicalType::Timestamp), Value::Int64(ms)) => return write_java_date(out, *ms),
            _ => {}
        }
    }
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Int8(v) => write_i64(out, i64::from(*v)),
        Value::Int16(v) => write_i64(out, i64::from(*v)),
        Value::Int32(v) => write_i64(out, i64::from(*v)),
        Value::Int64(v) => write_i64(out, *v),
        Value::Float32(v) => write_float(out, *v),
        Value::Float64(v) => write_double(out, *v),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::Bytes(b) => write_base64(out, b),
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.value_schema.as_deref());
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_java_to_string(out, item, item_schema);
            }
            out.push(b']');
        }
        Value::Map(entries) => {
            let ks = schema.and_then(|s| s.key_schema.as_deref());
            let vs = schema.and_then(|s| s.value_schema.as_deref());
            out.push(b'{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_java_to_string(out, k, ks);
                out.push(b'=');
                write_java_to_string(out, v, vs);
            }
            out.push(b'}');
        }
        Value::Struct(st) => {
            out.extend_from_slice(b"Struct{");
            let mut first = true;
            for (field, v) in st.schema().fields.iter().zip(st.values()) {
                if v.is_null() {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(field.name.as_bytes());
                out.push(b'=');
                write_java_to_string(out, v, Some(&field.schema));
            }
            out.push(b'}');
        }
    }
}

const MILLIS_PER_DAY: i64 = 86_400_000;

/// `java.util.Date.toString()` on a JVM in UTC: `Thu Feb 29 13:05:09 UTC 2024`.
fn write_java_date(out: &mut Vec<u8>, millis: i64) {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = millis.div_euclid(MILLIS_PER_DAY);
    let secs = millis.rem_euclid(MILLIS_PER_DAY) / 1000;
    let (year, month, day) = logical::civil_from_days(days);
    // 1970-01-01 was a Thursday; the indexes are in range by construction.
    let weekday = DAYS[days.rem_euclid(7).wrapping_add(4) as usize % 7];
    let month_name = MONTHS[(month as usize).saturating_sub(1) % 12];
    let _ = write!(
        Bytes(out),
        "{weekday} {month_name} {day:02} {:02}:{:02}:{:02} UTC {year}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: f64) -> String {
        double_to_string(v)
    }

    fn f(v: f32) -> String {
        float_to_string(v)
    }

    #[test]
    fn double_to_string_uses_plain_form_between_1e_minus_3_and_1e7() {
        assert_eq!(d(1.0), "1.0");
        assert_eq!(d(0.0), "0.0");
        assert_eq!(d(-0.0), "-0.0");
        assert_eq!(d(123.456), "123.456");
        assert_eq!(d(0.001), "0.001");
        assert_eq!(d(0.1), "0.1");
        assert_eq!(d(100.0), "100.0");
        assert_eq!(d(9999999.0), "9999999.0");
        assert_eq!(d(1234567.125), "1234567.125");
        assert_eq!(d(-2.5), "-2.5");
    }

    #[test]
    fn double_to_string_uses_computerized_scientific_outside() {
        assert_eq!(d(1.0e7), "1.0E7");
        assert_eq!(d(1.0e-4), "1.0E-4");
        assert_eq!(d(1.0e-5), "1.0E-5");
        assert_eq!(d(9.99e-4), "9.99E-4");
        assert_eq!(d(1.2345e10), "1.2345E10");
        assert_eq!(d(-1.5e300), "-1.5E300");
        assert_eq!(d(f64::MAX), "1.7976931348623157E308");
        assert_eq!(d(1.0e23), "1.0E23");
        assert_eq!(d(2.0e-3), "0.002");
    }

    #[test]
    fn double_to_string_prefers_closest_two_digit_form_for_subnormals() {
        assert_eq!(d(f64::from_bits(1)), "4.9E-324");
        assert_eq!(d(f64::from_bits(2)), "9.9E-324");
        assert_eq!(d(f64::MIN_POSITIVE), "2.2250738585072014E-308");
    }

    #[test]
    fn double_to_string_spells_non_finite_values() {
        assert_eq!(d(f64::NAN), "NaN");
        assert_eq!(d(f64::INFINITY), "Infinity");
        assert_eq!(d(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn float_to_string_uses_float_digits() {
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1.0e10), "1.0E10");
        assert_eq!(f(3.4028235e38), "3.4028235E38");
        assert_eq!(f(f32::from_bits(1)), "1.4E-45");
        assert_eq!(f(1.1), "1.1");
        assert_eq!(f(16777216.0), "1.6777216E7");
    }

    #[test]
    fn double_to_string_reads_back_exactly() {
        for v in [0.1, 1.0 / 3.0, 2.0f64.powi(60), 5e-310, 123456.789e-20] {
            assert_eq!(d(v).parse::<f64>().unwrap(), v);
        }
    }

    fn bd(unscaled: i128, scale: i32) -> String {
        let mut out = Vec::new();
        write_big_decimal(
            &mut out,
            &logical::Decimal::new(unscaled, scale).to_bytes(),
            scale,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn big_decimal_to_string_follows_java() {
        assert_eq!(bd(1230, 2), "12.30");
        assert_eq!(bd(-5, 2), "-0.05");
        assert_eq!(bd(0, 2), "0.00");
        assert_eq!(bd(7, 0), "7");
        assert_eq!(bd(1, 6), "0.000001");
        assert_eq!(bd(1, 7), "1E-7");
        assert_eq!(bd(123, 10), "1.23E-8");
        assert_eq!(bd(12, -2), "1.2E+3");
        assert_eq!(bd(0, -2), "0E+2");
        assert_eq!(bd(-12345, 3), "-12.345");
    }

    fn java(value: Value, schema: Option<&Schema>) -> String {
        let mut out = Vec::new();
        write_java_to_string(&mut out, &value, schema);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn java_to_string_of_collections_structs_and_logical_values() {
        use crate::data::{SchemaBuilder, Struct};
        assert_eq!(
            java(
                Value::Array(vec![Value::Int32(1), Value::Null, Value::from("a")]),
                None
            ),
            "[1, null, a]"
        );
        assert_eq!(
            java(
                Value::Map(vec![
                    (Value::from("k"), Value::Float64(1.0e7)),
                    (Value::from("j"), Value::Boolean(true))
                ]),
                None
            ),
            "{k=1.0E7, j=true}"
        );
        let schema = SchemaBuilder::struct_()
            .field("a", crate::data::Schema::int32())
            .field("b", crate::data::Schema::optional_string())
            .field("c", crate::data::Schema::optional_float32())
            .build();
        let st = Struct::new(schema)
            .with("a", 1i32)
            .unwrap()
            .with("c", 0.5f32)
            .unwrap();
        assert_eq!(java(Value::Struct(st), None), "Struct{a=1,c=0.5}");
        assert_eq!(
            java(Value::Int32(19782), Some(&logical::date_schema())),
            "Thu Feb 29 00:00:00 UTC 2024"
        );
        assert_eq!(
            java(Value::Int64(-1), Some(&logical::timestamp_schema())),
            "Wed Dec 31 23:59:59 UTC 1969"
        );
        assert_eq!(
            java(
                logical::Decimal::new(-5, 9).to_value(),
                Some(&logical::decimal_schema(9))
            ),
            "-5E-9"
        );
        assert_eq!(java(Value::Bytes(b"hi".to_vec()), None), "aGk=");
    }

    #[test]
    fn json_string_escapes_like_jackson() {
        let mut out = Vec::new();
        write_json_string(&mut out, "a\"b\\c/d\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}é☃");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c/d\\n\\r\\t\\b\\f\\u0000\\u001F\u{7f}é☃\""
        );
    }
}
