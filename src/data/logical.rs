//! Kafka Connect's logical types: Decimal, Date, Time, Timestamp.
//!
//! A logical type is a primitive schema with a well-known name; the value
//! travels in the primitive's encoding, exactly as in Kafka Connect, so a
//! Kafka Connect user (and its converters) read them the same way:
//!
//! | Logical type | Schema name                                 | Encoding                                               |
//! |--------------|---------------------------------------------|--------------------------------------------------------|
//! | Decimal      | `org.apache.kafka.connect.data.Decimal`     | BYTES: big-endian two's-complement unscaled value; the schema parameter `scale` holds the scale |
//! | Date         | `org.apache.kafka.connect.data.Date`        | INT32: days since 1970-01-01                           |
//! | Time         | `org.apache.kafka.connect.data.Time`        | INT32: milliseconds since midnight, `0..86_400_000`    |
//! | Timestamp    | `org.apache.kafka.connect.data.Timestamp`   | INT64: milliseconds since 1970-01-01T00:00:00Z         |
//!
//! Each type has a builder (`decimal_builder`, …) and a finished schema
//! (`decimal_schema`, …) carrying the name and version 1, and a friendly Rust
//! form ([`Decimal`], [`Date`], [`Time`], [`Timestamp`]) that converts to
//! and from the encoded [`Value`]. Dates use the proleptic Gregorian
//! calendar, computed here without external crates.
//!
//! ```
//! use timely_connect::data::logical::{self, Date, Decimal};
//! use timely_connect::data::Value;
//!
//! let price = Decimal::new(12345, 2);
//! let schema = logical::decimal_schema(2);
//! let v = price.to_value_for(&schema)?;
//! assert_eq!(v, Value::Bytes(vec![0x30, 0x39]));
//! assert_eq!(Decimal::from_value(&v, &schema)?.to_string(), "123.45");
//!
//! let d = Date::new(2024, 2, 29)?;
//! assert_eq!(d.to_value()?, Value::Int32(19782));
//! assert_eq!(Date::from_value(&Value::Int32(19782))?.to_string(), "2024-02-29");
//! # Ok::<(), timely_connect::data::DataError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use super::schema::{Schema, SchemaBuilder, SchemaRef, SchemaType};
use super::value::{DataError, Value};

/// Schema name of the Decimal logical type.
pub const DECIMAL_NAME: &str = "org.apache.kafka.connect.data.Decimal";
/// The Decimal schema parameter that holds the scale.
pub const DECIMAL_SCALE: &str = "scale";
/// Schema name of the Date logical type.
pub const DATE_NAME: &str = "org.apache.kafka.connect.data.Date";
/// Schema name of the Time logical type.
pub const TIME_NAME: &str = "org.apache.kafka.connect.data.Time";
/// Schema name of the Timestamp logical type.
pub const TIMESTAMP_NAME: &str = "org.apache.kafka.connect.data.Timestamp";

const MILLIS_PER_DAY: i64 = 86_400_000;

/// One of Kafka Connect's four logical types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogicalType {
    /// Arbitrary-precision decimal with a fixed scale.
    Decimal,
    /// Calendar date.
    Date,
    /// Time of day.
    Time,
    /// Instant in UTC.
    Timestamp,
}

impl LogicalType {
    /// The logical type with this schema name, if any.
    pub fn from_name(name: &str) -> Option<LogicalType> {
        match name {
            DECIMAL_NAME => Some(LogicalType::Decimal),
            DATE_NAME => Some(LogicalType::Date),
            TIME_NAME => Some(LogicalType::Time),
            TIMESTAMP_NAME => Some(LogicalType::Timestamp),
            _ => None,
        }
    }

    /// The logical type `schema` is named for, if any.
    pub fn of(schema: &Schema) -> Option<LogicalType> {
        schema.name.as_deref().and_then(LogicalType::from_name)
    }

    /// Kafka's schema name (`org.apache.kafka.connect.data.Decimal`, …).
    pub fn name(self) -> &'static str {
        match self {
            LogicalType::Decimal => DECIMAL_NAME,
            LogicalType::Date => DATE_NAME,
            LogicalType::Time => TIME_NAME,
            LogicalType::Timestamp => TIMESTAMP_NAME,
        }
    }

    /// The short name (`Decimal`, `Date`, `Time`, `Timestamp`).
    pub fn short_name(self) -> &'static str {
        match self {
            LogicalType::Decimal => "Decimal",
            LogicalType::Date => "Date",
            LogicalType::Time => "Time",
            LogicalType::Timestamp => "Timestamp",
        }
    }

    /// The primitive type that carries it.
    pub fn schema_type(self) -> SchemaType {
        match self {
            LogicalType::Decimal => SchemaType::Bytes,
            LogicalType::Date | LogicalType::Time => SchemaType::Int32,
            LogicalType::Timestamp => SchemaType::Int64,
        }
    }

    /// Checks a value whose primitive type already matches `schema`.
    pub(crate) fn check_value(self, schema: &Schema, value: &Value) -> Result<(), String> {
        self.check_schema_type(schema)?;
        match (self, value) {
            (LogicalType::Decimal, Value::Bytes(b)) => {
                scale_parameter(schema)?;
                if b.is_empty() {
                    return Err("Decimal value has no bytes".to_owned());
                }
            }
            (LogicalType::Time, Value::Int32(ms))
                if !(0..MILLIS_PER_DAY).contains(&i64::from(*ms)) =>
            {
                return Err(format!(
                    "Time value {ms} is not within a day (0..86400000 ms)"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn check_schema_type(self, schema: &Schema) -> Result<(), String> {
        if schema.schema_type != self.schema_type() {
            return Err(format!(
                "logical type {} needs a {} schema, not {}",
                self.short_name(),
                self.schema_type(),
                schema.schema_type
            ));
        }
        Ok(())
    }
}

/// Checks a schema named for a logical type (used by `SchemaBuilder::try_build`).
pub(crate) fn check_schema(schema: &Schema) -> Result<(), DataError> {
    let Some(logical) = LogicalType::of(schema) else {
        return Ok(());
    };
    let res = logical
        .check_schema_type(schema)
        .and_then(|()| match logical {
            LogicalType::Decimal => scale_parameter(schema).map(|_| ()),
            _ => Ok(()),
        });
    res.map_err(|message| DataError::InvalidSchema {
        schema: logical.name().to_owned(),
        message,
    })
}

fn scale_parameter(schema: &Schema) -> Result<i32, String> {
    match schema.parameters.get(DECIMAL_SCALE) {
        Some(s) => s
            .trim()
            .parse::<i32>()
            .map_err(|_| format!("Decimal schema parameter `scale` is not an integer: {s:?}")),
        None => Err("Decimal schema has no `scale` parameter".to_owned()),
    }
}

fn logical_err(logical: LogicalType, message: impl Into<String>) -> DataError {
    DataError::Logical {
        logical: logical.short_name(),
        message: message.into(),
    }
}

/// The scale of a Decimal schema (its `scale` parameter).
pub fn decimal_scale(schema: &Schema) -> Result<i32, DataError> {
    if LogicalType::of(schema) != Some(LogicalType::Decimal) {
        return Err(logical_err(
            LogicalType::Decimal,
            format!("schema {schema} is not a Decimal schema"),
        ));
    }
    scale_parameter(schema).map_err(|m| logical_err(LogicalType::Decimal, m))
}

/// A builder for a Decimal schema of `scale` (Kafka's `Decimal.builder`).
pub fn decimal_builder(scale: i32) -> SchemaBuilder {
    SchemaBuilder::bytes()
        .name(DECIMAL_NAME)
        .parameter(DECIMAL_SCALE, &scale.to_string())
        .version(1)
}

/// A required Decimal schema of `scale` (Kafka's `Decimal.schema`).
pub fn decimal_schema(scale: i32) -> SchemaRef {
    decimal_builder(scale).build()
}

/// A builder for a Date schema (Kafka's `Date.builder`).
pub fn date_builder() -> SchemaBuilder {
    SchemaBuilder::int32().name(DATE_NAME).version(1)
}

/// A required Date schema (Kafka's `Date.SCHEMA`).
pub fn date_schema() -> SchemaRef {
    date_builder().build()
}

/// A builder for a Time schema (Kafka's `Time.builder`).
pub fn time_builder() -> SchemaBuilder {
    SchemaBuilder::int32().name(TIME_NAME).version(1)
}

/// A required Time schema (Kafka's `Time.SCHEMA`).
pub fn time_schema() -> SchemaRef {
    time_builder().build()
}

/// A builder for a Timestamp schema (Kafka's `Timestamp.builder`).
pub fn timestamp_builder() -> SchemaBuilder {
    SchemaBuilder::int64().name(TIMESTAMP_NAME).version(1)
}

/// A required Timestamp schema (Kafka's `Timestamp.SCHEMA`).
pub fn timestamp_schema() -> SchemaRef {
    timestamp_builder().build()
}

// ---------------------------------------------------------------- Decimal

/// A decimal number `unscaled × 10^-scale`, the Rust form of Kafka's
/// Decimal (a `BigDecimal`), limited to 128-bit unscaled values (38 digits).
///
/// ```
/// use timely_connect::data::logical::Decimal;
/// let d: Decimal = "-0.05".parse()?;
/// assert_eq!(d, Decimal::new(-5, 2));
/// assert_eq!(d.to_bytes(), vec![0xfb]);
/// assert_eq!(Decimal::new(1230, 2).to_string(), "12.30");
/// # Ok::<(), timely_connect::data::DataError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The unscaled value.
    pub unscaled: i128,
    /// Digits after the decimal point (negative: trailing zeros before it).
    pub scale: i32,
}

impl Decimal {
    /// `unscaled × 10^-scale`.
    pub fn new(unscaled: i128, scale: i32) -> Decimal {
        Decimal { unscaled, scale }
    }

    /// The unscaled value as big-endian two's complement in the fewest
    /// bytes (what Java's `BigInteger.toByteArray` gives).
    pub fn to_bytes(&self) -> Vec<u8> {
        let all = self.unscaled.to_be_bytes();
        let mut start = 0;
        while start + 1 < all.len() {
            let redundant = (all[start] == 0x00 && all[start + 1] & 0x80 == 0)
                || (all[start] == 0xff && all[start + 1] & 0x80 != 0);
            if !redundant {
                break;
            }
            start += 1;
        }
        all[start..].to_vec()
    }

    /// Reads a big-endian two's-complement unscaled value.
    pub fn from_bytes(bytes: &[u8], scale: i32) -> Result<Decimal, DataError> {
        let unscaled = bytes_to_i128(bytes).ok_or_else(|| {
            logical_err(
                LogicalType::Decimal,
                if bytes.is_empty() {
                    "no bytes".to_owned()
                } else {
                    format!(
                        "unscaled value of {} bytes does not fit 128 bits",
                        bytes.len()
                    )
                },
            )
        })?;
        Ok(Decimal { unscaled, scale })
    }

    /// The encoded value (BYTES), without checking any schema.
    pub fn to_value(&self) -> Value {
        Value::Bytes(self.to_bytes())
    }

    /// The encoded value for `schema`, which must be a Decimal schema of
    /// the same scale (as Kafka's `Decimal.fromLogical` insists).
    pub fn to_value_for(&self, schema: &Schema) -> Result<Value, DataError> {
        let scale = decimal_scale(schema)?;
        if scale != self.scale {
            return Err(logical_err(
                LogicalType::Decimal,
                format!(
                    "value has scale {} but the schema has scale {scale}",
                    self.scale
                ),
            ));
        }
        Ok(self.to_value())
    }

    /// Decodes a BYTES value with the scale of Decimal `schema`.
    pub fn from_value(value: &Value, schema: &Schema) -> Result<Decimal, DataError> {
        let scale = decimal_scale(schema)?;
        match value {
            Value::Bytes(b) => Decimal::from_bytes(b, scale),
            other => Err(logical_err(
                LogicalType::Decimal,
                format!("expected BYTES, got {}", other.type_name()),
            )),
        }
    }
}

/// Sign-extends big-endian two's-complement bytes into an `i128`.
fn bytes_to_i128(bytes: &[u8]) -> Option<i128> {
    let first = *bytes.first()?;
    let fill = if first & 0x80 != 0 { 0xff } else { 0x00 };
    let mut bytes = bytes;
    // Leading sign-extension bytes carry no information.
    while bytes.len() > 16 && bytes[0] == fill && bytes[1] & 0x80 == fill & 0x80 {
        bytes = &bytes[1..];
    }
    if bytes.len() > 16 {
        return None;
    }
    let mut buf = [fill; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(buf))
}

/// Writes decimal digits of `v` into the end of `buf`; returns them.
pub(crate) fn u128_digits(mut v: u128, buf: &mut [u8; 40]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        // `v % 10` is below 10, so the cast cannot truncate.
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The longest run of zeros written out before switching to exponent form.
const MAX_PLAIN_ZEROS: i64 = 32;

/// Writes `±digits × 10^-scale` exactly, as a JSON-compatible number:
/// `12.30`, `-0.05`, `1200`; exponent form (`5E-40`) only when plain form
/// would need more than 32 padding zeros.
fn write_scaled<W: fmt::Write>(
    w: &mut W,
    negative: bool,
    digits: &[u8],
    scale: i32,
) -> fmt::Result {
    // `digits` are ASCII digits by construction.
    let text = std::str::from_utf8(digits).map_err(|_| fmt::Error)?;
    let is_zero = digits.iter().all(|&d| d == b'0');
    if negative && !is_zero {
        w.write_char('-')?;
    }
    let scale = i64::from(scale);
    let len = i64::try_from(digits.len()).map_err(|_| fmt::Error)?;
    if scale <= 0 {
        w.write_str(text)?;
        if is_zero || scale == 0 {
            return Ok(());
        }
        if -scale > MAX_PLAIN_ZEROS {
            return write!(w, "E+{}", -scale);
        }
        for _ in 0..-scale {
            w.write_char('0')?;
        }
        return Ok(());
    }
    if scale < len {
        let point = digits.len() - usize::try_from(scale).map_err(|_| fmt::Error)?;
        w.write_str(&text[..point])?;
        w.write_char('.')?;
        return w.write_str(&text[point..]);
    }
    if scale - len > MAX_PLAIN_ZEROS {
        return write!(w, "{text}E-{scale}");
    }
    w.write_str("0.")?;
    for _ in 0..scale - len {
        w.write_char('0')?;
    }
    w.write_str(text)
}

/// Writes the exact decimal text of big-endian two's-complement `bytes`
/// with `scale`; any length (beyond 128 bits too). Empty bytes write `0`.
pub(crate) fn write_decimal_bytes<W: fmt::Write>(
    w: &mut W,
    bytes: &[u8],
    scale: i32,
) -> fmt::Result {
    if let Some(v) = bytes_to_i128(bytes) {
        let mut buf = [0u8; 40];
        let digits = u128_digits(v.unsigned_abs(), &mut buf);
        return write_scaled(w, v < 0, digits, scale);
    }
    if bytes.is_empty() {
        return w.write_char('0');
    }
    // A value wider than 128 bits.
    let value = num_bigint::BigInt::from_signed_bytes_be(bytes);
    let digits = value.magnitude().to_str_radix(10);
    write_scaled(
        w,
        value.sign() == num_bigint::Sign::Minus,
        digits.as_bytes(),
        scale,
    )
}

impl fmt::Display for Decimal {
    /// Plain decimal text with exactly `scale` fraction digits: `123.45`,
    /// `-0.05`, `12.30`, `1200` (scale -2).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 40];
        let digits = u128_digits(self.unscaled.unsigned_abs(), &mut buf);
        write_scaled(f, self.unscaled < 0, digits, self.scale)
    }
}

impl FromStr for Decimal {
    type Err = DataError;

    /// Parses `[+-]digits[.digits]`; the scale is the number of fraction
    /// digits (`"12.30"` → unscaled 1230, scale 2).
    fn from_str(s: &str) -> Result<Decimal, DataError> {
        let bad = || logical_err(LogicalType::Decimal, format!("not a decimal number: {s:?}"));
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let mut unscaled: i128 = 0;
        for c in int.bytes().chain(frac.bytes()) {
            if !c.is_ascii_digit() {
                return Err(bad());
            }
            let d = i128::from(c - b'0');
            unscaled = unscaled
                .checked_mul(10)
                .and_then(|u| {
                    if negative {
                        u.checked_sub(d)
                    } else {
                        u.checked_add(d)
                    }
                })
                .ok_or_else(|| {
                    logical_err(LogicalType::Decimal, format!("{s:?} does not fit 128 bits"))
                })?;
        }
        let scale = i32::try_from(frac.len()).map_err(|_| bad())?;
        Ok(Decimal { unscaled, scale })
    }
}

// ---------------------------------------------------------------- calendar

/// Days since 1970-01-01 of a proleptic-Gregorian date. Does not check
/// that `month` and `day` exist; see [`Date::new`] for that.
///
/// ```
/// use timely_connect::data::logical::days_from_civil;
/// assert_eq!(days_from_civil(1970, 1, 1), 0);
/// assert_eq!(days_from_civil(2000, 3, 1), 11017);
/// assert_eq!(days_from_civil(1969, 12, 31), -1);
/// ```
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Count years from March, so the leap day ends the year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days separate 0000-03-01 from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic-Gregorian `(year, month, day)` of a day count since
/// 1970-01-01; the inverse of [`days_from_civil`].
///
/// ```
/// use timely_connect::data::logical::civil_from_days;
/// assert_eq!(civil_from_days(0), (1970, 1, 1));
/// assert_eq!(civil_from_days(19782), (2024, 2, 29));
/// assert_eq!(civil_from_days(-1), (1969, 12, 31));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    // `month` is in 1..=12 and `day` in 1..=31 by construction.
    (year, month as u32, day as u32)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Writes a year as ISO 8601 does: four digits, or a sign and more.
fn write_year<W: fmt::Write>(w: &mut W, year: i64) -> fmt::Result {
    if (0..=9999).contains(&year) {
        write!(w, "{year:04}")
    } else if year > 9999 {
        write!(w, "+{year}")
    } else {
        write!(w, "-{:04}", year.unsigned_abs())
    }
}

/// Writes `YYYY-MM-DD` for a day count since the epoch.
pub(crate) fn write_date<W: fmt::Write>(w: &mut W, days: i64) -> fmt::Result {
    let (y, m, d) = civil_from_days(days);
    write_year(w, y)?;
    write!(w, "-{m:02}-{d:02}")
}

/// Writes `HH:MM:SS.mmm` for milliseconds since midnight (`0..86_400_000`).
pub(crate) fn write_time<W: fmt::Write>(w: &mut W, millis_of_day: i64) -> fmt::Result {
    let ms = millis_of_day % 1000;
    let s = millis_of_day / 1000 % 60;
    let m = millis_of_day / 60_000 % 60;
    let h = millis_of_day / 3_600_000;
    write!(w, "{h:02}:{m:02}:{s:02}.{ms:03}")
}

/// Writes `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the epoch.
pub(crate) fn write_timestamp<W: fmt::Write>(w: &mut W, millis: i64) -> fmt::Result {
    write_date(w, millis.div_euclid(MILLIS_PER_DAY))?;
    w.write_char('T')?;
    write_time(w, millis.rem_euclid(MILLIS_PER_DAY))?;
    w.write_char('Z')
}

/// A tiny cursor for the ISO-8601 parsers.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            s: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }

    /// Exactly `n` digits.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.s.get(self.pos..end)?;
        let mut v = 0i64;
        for &b in bytes {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(b - b'0');
        }
        self.pos = end;
        Some(v)
    }

    /// A year: optional sign, at least four digits, at most nine.
    fn year(&mut self) -> Option<i64> {
        let negative = if self.eat(b'-') {
            true
        } else {
            self.eat(b'+');
            false
        };
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) && self.pos - start < 9 {
            self.pos += 1;
        }
        let len = self.pos - start;
        if len < 4 {
            return None;
        }
        self.pos = start;
        let y = self.digits(len)?;
        Some(if negative { -y } else { y })
    }

    /// Milliseconds from an optional `.fraction` of 1–9 digits (truncated).
    fn fraction_millis(&mut self) -> Option<i64> {
        if !self.eat(b'.') {
            return Some(0);
        }
        let start = self.pos;
        let mut ms = 0i64;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            let k = self.pos - start;
            if k >= 9 {
                return None;
            }
            if k < 3 {
                ms = ms * 10 + i64::from(b - b'0');
            }
            self.pos += 1;
        }
        let k = self.pos - start;
        if k == 0 {
            return None;
        }
        for _ in k..3 {
            ms *= 10;
        }
        Some(ms)
    }

    fn done(&self) -> bool {
        self.pos == self.s.len()
    }

    /// `YYYY-MM-DD`, checked.
    fn date(&mut self) -> Option<Date> {
        let y = self.year()?;
        self.expect(b'-')?;
        let m = self.digits(2)?;
        self.expect(b'-')?;
        let d = self.digits(2)?;
        Date::new(
            i32::try_from(y).ok()?,
            u32::try_from(m).ok()?,
            u32::try_from(d).ok()?,
        )
        .ok()
    }

    /// `HH:MM[:SS[.fff]]`, checked.
    fn time(&mut self) -> Option<Time> {
        let h = self.digits(2)?;
        self.expect(b':')?;
        let m = self.digits(2)?;
        let (s, ms) = if self.eat(b':') {
            (self.digits(2)?, self.fraction_millis()?)
        } else {
            (0, 0)
        };
        let part = |v: i64| u32::try_from(v).ok();
        Time::new(part(h)?, part(m)?, part(s)?, part(ms)?).ok()
    }
}

// ---------------------------------------------------------------- Date

/// A calendar date (proleptic Gregorian), the Rust form of Kafka's Date.
///
/// ```
/// use timely_connect::data::logical::Date;
/// use timely_connect::data::Value;
/// let d: Date = "1999-12-31".parse()?;
/// assert_eq!(d.to_days()?, 10956);
/// assert_eq!(Date::from_days(10957).to_string(), "2000-01-01");
/// assert!(Date::new(2023, 2, 29).is_err());
/// assert!(Date::from_value(&Value::Int64(1)).is_err());
/// # Ok::<(), timely_connect::data::DataError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year (astronomical: 0 is 1 BC).
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of month, 1–31.
    pub day: u32,
}

impl Date {
    /// The date, if it exists.
    pub fn new(year: i32, month: u32, day: u32) -> Result<Date, DataError> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year.into(), month) {
            return Err(logical_err(
                LogicalType::Date,
                format!("no such date: {year}-{month:02}-{day:02}"),
            ));
        }
        Ok(Date { year, month, day })
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i32) -> Date {
        let (y, month, day) = civil_from_days(days.into());
        // An i32 day count spans about ±5.9 million years: the year fits.
        Date {
            year: y as i32,
            month,
            day,
        }
    }

    /// Days since 1970-01-01 (the INT32 encoding); fails for a date that
    /// does not exist or lies outside the INT32 range.
    pub fn to_days(&self) -> Result<i32, DataError> {
        let d = Date::new(self.year, self.month, self.day)?;
        let days = days_from_civil(d.year.into(), d.month, d.day);
        i32::try_from(days).map_err(|_| {
            logical_err(
                LogicalType::Date,
                format!("{self} is outside the INT32 range"),
            )
        })
    }

    /// The encoded value (INT32 days).
    pub fn to_value(&self) -> Result<Value, DataError> {
        self.to_days().map(Value::Int32)
    }

    /// Decodes an INT32 value.
    pub fn from_value(value: &Value) -> Result<Date, DataError> {
        match value {
            Value::Int32(days) => Ok(Date::from_days(*days)),
            other => Err(logical_err(
                LogicalType::Date,
                format!("expected INT32, got {}", other.type_name()),
            )),
        }
    }
}

impl fmt::Display for Date {
    /// `YYYY-MM-DD` (years outside 0–9999 with a sign, as ISO 8601 allows).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_year(f, self.year.into())?;
        write!(f, "-{:02}-{:02}", self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = DataError;

    /// Parses `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Date, DataError> {
        let mut c = Cursor::new(s);
        match c.date() {
            Some(d) if c.done() => Ok(d),
            _ => Err(logical_err(
                LogicalType::Date,
                format!("not a date (YYYY-MM-DD): {s:?}"),
            )),
        }
    }
}

// ---------------------------------------------------------------- Time

/// A time of day with millisecond precision, the Rust form of Kafka's Time.
///
/// ```
/// use timely_connect::data::logical::Time;
/// let t = Time::new(13, 5, 9, 42)?;
/// assert_eq!(t.to_millis_of_day()?, 47_109_042);
/// assert_eq!(t.to_string(), "13:05:09.042");
/// assert_eq!("13:05:09.042".parse::<Time>()?, t);
/// # Ok::<(), timely_connect::data::DataError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Time {
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
    /// Millisecond, 0–999.
    pub millis: u32,
}

impl Time {
    /// The time, if every part is in range.
    pub fn new(hour: u32, minute: u32, second: u32, millis: u32) -> Result<Time, DataError> {
        if hour > 23 || minute > 59 || second > 59 || millis > 999 {
            return Err(logical_err(
                LogicalType::Time,
                format!("no such time: {hour:02}:{minute:02}:{second:02}.{millis:03}"),
            ));
        }
        Ok(Time {
            hour,
            minute,
            second,
            millis,
        })
    }

    /// The time `millis` after midnight (`0..86_400_000`).
    pub fn from_millis_of_day(millis: i32) -> Result<Time, DataError> {
        let ms = u32::try_from(millis)
            .ok()
            .filter(|&ms| i64::from(ms) < MILLIS_PER_DAY)
            .ok_or_else(|| {
                logical_err(
                    LogicalType::Time,
                    format!("{millis} ms is not within a day"),
                )
            })?;
        Ok(Time {
            hour: ms / 3_600_000,
            minute: ms / 60_000 % 60,
            second: ms / 1000 % 60,
            millis: ms % 1000,
        })
    }

    /// Milliseconds since midnight (the INT32 encoding).
    pub fn to_millis_of_day(&self) -> Result<i32, DataError> {
        let t = Time::new(self.hour, self.minute, self.second, self.millis)?;
        let ms = ((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.millis;
        // Below 86_400_000 after the check above.
        Ok(ms as i32)
    }

    /// The encoded value (INT32 milliseconds).
    pub fn to_value(&self) -> Result<Value, DataError> {
        self.to_millis_of_day().map(Value::Int32)
    }

    /// Decodes an INT32 value.
    pub fn from_value(value: &Value) -> Result<Time, DataError> {
        match value {
            Value::Int32(ms) => Time::from_millis_of_day(*ms),
            other => Err(logical_err(
                LogicalType::Time,
                format!("expected INT32, got {}", other.type_name()),
            )),
        }
    }
}

impl fmt::Display for Time {
    /// `HH:MM:SS.mmm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}:{:02}.{:03}",
            self.hour, self.minute, self.second, self.millis
        )
    }
}

impl FromStr for Time {
    type Err = DataError;

    /// Parses `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f` (1–9 fraction digits,
    /// truncated to milliseconds).
    fn from_str(s: &str) -> Result<Time, DataError> {
        let mut c = Cursor::new(s);
        match c.time() {
            Some(t) if c.done() => Ok(t),
            _ => Err(logical_err(
                LogicalType::Time,
                format!("not a time (HH:MM:SS.mmm): {s:?}"),
            )),
        }
    }
}

// ---------------------------------------------------------------- Timestamp

/// An instant as milliseconds since 1970-01-01T00:00:00Z, the Rust form of
/// Kafka's Timestamp; displays and parses as ISO 8601.
///
/// ```
/// use timely_connect::data::logical::Timestamp;
/// let t = Timestamp::from_millis(1_700_000_000_123);
/// assert_eq!(t.to_string(), "2023-11-14T22:13:20.123Z");
/// assert_eq!("2023-11-14T23:13:20.123+01:00".parse::<Timestamp>()?, t);
/// # Ok::<(), timely_connect::data::DataError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    /// Milliseconds since the epoch (negative before 1970).
    pub millis: i64,
}

impl Timestamp {
    /// The instant `millis` after the epoch.
    pub fn from_millis(millis: i64) -> Timestamp {
        Timestamp { millis }
    }

    /// The instant at `time` on `date`, UTC.
    pub fn from_date_time(date: Date, time: Time) -> Result<Timestamp, DataError> {
        Timestamp::from_parts(date, time, 0)
    }

    /// The instant at `time` on `date` in a zone `offset_ms` east of UTC.
    fn from_parts(date: Date, time: Time, offset_ms: i64) -> Result<Timestamp, DataError> {
        let date = Date::new(date.year, date.month, date.day)?;
        let days = days_from_civil(date.year.into(), date.month, date.day);
        let ms = i64::from(time.to_millis_of_day()?);
        let millis =
            i128::from(days) * i128::from(MILLIS_PER_DAY) + i128::from(ms) - i128::from(offset_ms);
        i64::try_from(millis)
            .map(Timestamp::from_millis)
            .map_err(|_| {
                logical_err(
                    LogicalType::Timestamp,
                    format!("{date}T{time} is outside the INT64 range"),
                )
            })
    }

    /// The UTC date.
    pub fn date(&self) -> Date {
        let (y, month, day) = civil_from_days(self.millis.div_euclid(MILLIS_PER_DAY));
        // i64 milliseconds span about ±292 million years: the year fits.
        Date {
            year: y as i32,
            month,
            day,
        }
    }

    /// The UTC time of day.
    pub fn time(&self) -> Time {
        let ms = self.millis.rem_euclid(MILLIS_PER_DAY);
        // In 0..86_400_000, so the conversion cannot fail.
        let ms = u32::try_from(ms).unwrap_or(0);
        Time {
            hour: ms / 3_600_000,
            minute: ms / 60_000 % 60,
            second: ms / 1000 % 60,
            millis: ms % 1000,
        }
    }

    /// The encoded value (INT64 milliseconds).
    pub fn to_value(&self) -> Value {
        Value::Int64(self.millis)
    }

    /// Decodes an INT64 value.
    pub fn from_value(value: &Value) -> Result<Timestamp, DataError> {
        match value {
            Value::Int64(ms) => Ok(Timestamp { millis: *ms }),
            other => Err(logical_err(
                LogicalType::Timestamp,
                format!("expected INT64, got {}", other.type_name()),
            )),
        }
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_timestamp(f, self.millis)
    }
}

impl FromStr for Timestamp {
    type Err = DataError;

    /// Parses `YYYY-MM-DDTHH:MM[:SS[.f]]` followed by `Z` or an offset
    /// `±HH:MM` (a space may stand for `T`).
    fn from_str(s: &str) -> Result<Timestamp, DataError> {
        let bad = || {
            logical_err(
                LogicalType::Timestamp,
                format!("not an ISO-8601 timestamp (YYYY-MM-DDTHH:MM:SS.mmmZ): {s:?}"),
            )
        };
        let mut c = Cursor::new(s);
        let date = c.date().ok_or_else(bad)?;
        if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
            return Err(bad());
        }
        let time = c.time().ok_or_else(bad)?;
        let offset_ms = if c.eat(b'Z') || c.eat(b'z') {
            0
        } else {
            let sign = if c.eat(b'+') {
                1
            } else if c.eat(b'-') {
                -1
            } else {
                return Err(bad());
            };
            let h = c.digits(2).filter(|h| *h <= 23).ok_or_else(bad)?;
            c.eat(b':');
            let m = c.digits(2).filter(|m| *m <= 59).ok_or_else(bad)?;
            sign * (h * 3_600_000 + m * 60_000)
        };
        if !c.done() {
            return Err(bad());
        }
        Timestamp::from_parts(date, time, offset_ms).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<F: Fn(&mut String) -> fmt::Result>(f: F) -> String {
        let mut s = String::new();
        f(&mut s).unwrap();
        s
    }

    #[test]
    fn decimal_schema_has_kafka_name_scale_and_version() {
        let s = decimal_schema(3);
        assert_eq!(
            s.name.as_deref(),
            Some("org.apache.kafka.connect.data.Decimal")
        );
        assert_eq!(s.parameters.get("scale").map(String::as_str), Some("3"));
        assert_eq!(s.schema_type, SchemaType::Bytes);
        assert_eq!(s.version, Some(1));
        assert_eq!(decimal_scale(&s), Ok(3));
        assert_eq!(date_schema().schema_type, SchemaType::Int32);
        assert_eq!(time_schema().name.as_deref(), Some(TIME_NAME));
        assert_eq!(timestamp_schema().schema_type, SchemaType::Int64);
        assert_eq!(
            LogicalType::of(&timestamp_schema()),
            Some(LogicalType::Timestamp)
        );
    }

    #[test]
    fn decimal_bytes_match_java_big_integer() {
        // Java: new BigInteger("12345").toByteArray() == {0x30, 0x39}.
        assert_eq!(Decimal::new(12345, 2).to_bytes(), vec![0x30, 0x39]);
        assert_eq!(Decimal::new(0, 0).to_bytes(), vec![0x00]);
        assert_eq!(Decimal::new(127, 0).to_bytes(), vec![0x7f]);
        assert_eq!(Decimal::new(128, 0).to_bytes(), vec![0x00, 0x80]);
        assert_eq!(Decimal::new(-1, 0).to_bytes(), vec![0xff]);
        assert_eq!(Decimal::new(-128, 0).to_bytes(), vec![0x80]);
        assert_eq!(Decimal::new(-129, 0).to_bytes(), vec![0xff, 0x7f]);
    }

    #[test]
    fn decimal_round_trips_negative_values() {
        let schema = decimal_schema(4);
        for unscaled in [
            -1,
            -128,
            -129,
            -32_768,
            -1_234_567_890_123,
            i128::MIN,
            i128::MAX,
            0,
            255,
        ] {
            let d = Decimal::new(unscaled, 4);
            let v = d.to_value_for(&schema).unwrap();
            assert_eq!(Decimal::from_value(&v, &schema).unwrap(), d, "{unscaled}");
        }
    }

    #[test]
    fn decimal_with_other_scale_than_schema_is_rejected() {
        let err = Decimal::new(1, 3)
            .to_value_for(&decimal_schema(2))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Decimal: value has scale 3 but the schema has scale 2"
        );
        assert!(Decimal::new(1, 2).to_value_for(&date_schema()).is_err());
        assert!(Decimal::from_value(&Value::Int32(1), &decimal_schema(2)).is_err());
    }

    #[test]
    fn decimal_from_bytes_accepts_sign_extension_but_not_overflow() {
        let mut wide = vec![0xff; 20];
        wide[19] = 0xfe;
        assert_eq!(Decimal::from_bytes(&wide, 0).unwrap().unscaled, -2);
        let mut big = vec![0x00; 20];
        big[2] = 1;
        assert!(Decimal::from_bytes(&big, 0).is_err());
        assert!(Decimal::from_bytes(&[], 0).is_err());
    }

    #[test]
    fn decimal_displays_exact_digits() {
        assert_eq!(Decimal::new(12345, 2).to_string(), "123.45");
        assert_eq!(Decimal::new(1230, 2).to_string(), "12.30");
        assert_eq!(Decimal::new(-5, 2).to_string(), "-0.05");
        assert_eq!(Decimal::new(5, 0).to_string(), "5");
        assert_eq!(Decimal::new(12, -2).to_string(), "1200");
        assert_eq!(Decimal::new(0, 3).to_string(), "0.000");
        assert_eq!(Decimal::new(-7, 40).to_string(), "-7E-40");
        assert_eq!(
            Decimal::new(i128::MIN, 0).to_string(),
            i128::MIN.to_string()
        );
    }

    #[test]
    fn decimal_parses_its_own_display() {
        for s in ["123.45", "12.30", "-0.05", "0", "-17", "0.000"] {
            assert_eq!(s.parse::<Decimal>().unwrap().to_string(), s);
        }
        assert!("1.2.3".parse::<Decimal>().is_err());
        assert!("".parse::<Decimal>().is_err());
        assert!("-".parse::<Decimal>().is_err());
        assert!("1e5".parse::<Decimal>().is_err());
        assert!("999999999999999999999999999999999999999999"
            .parse::<Decimal>()
            .is_err());
    }

    #[test]
    fn wide_decimal_bytes_render_exactly() {
        // 2^128 = 340282366920938463463374607431768211456, as 17 bytes.
        let mut b = vec![0u8; 17];
        b[0] = 1;
        let mut with_sign = vec![0u8];
        with_sign.extend_from_slice(&b);
        assert_eq!(
            text(|s| write_decimal_bytes(s, &with_sign, 2)),
            "3402823669209384634633746074317682114.56"
        );
        // -(2^128) in two's complement: 0xff 0x00 ... 0x00 (17 bytes).
        let mut neg = vec![0u8; 17];
        neg[0] = 0xff;
        assert_eq!(
            text(|s| write_decimal_bytes(s, &neg, 0)),
            "-340282366920938463463374607431768211456"
        );
    }

    #[test]
    fn date_from_civil_matches_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 1, 1), 10_957);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(1900, 3, 1), -25_508);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
    }

    #[test]
    fn civil_round_trips_every_day_of_four_centuries() {
        let start = days_from_civil(1800, 1, 1);
        let mut expected = (1800, 1, 1);
        for days in start..start + 146_097 {
            let got = civil_from_days(days);
            assert_eq!(got, expected, "{days}");
            assert_eq!(days_from_civil(got.0, got.1, got.2), days);
            let (y, m, d) = expected;
            expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn date_rejects_impossible_dates() {
        assert!(Date::new(2023, 2, 29).is_err());
        assert!(Date::new(1900, 2, 29).is_err());
        assert!(Date::new(2000, 2, 29).is_ok());
        assert!(Date::new(2024, 13, 1).is_err());
        assert!(Date::new(2024, 4, 31).is_err());
        assert!(Date::new(2024, 1, 0).is_err());
        assert!("2024-02-30".parse::<Date>().is_err());
        assert!("2024-2-3".parse::<Date>().is_err());
    }

    #[test]
    fn date_value_that_is_not_int32_is_rejected() {
        let err = Date::from_value(&Value::Int64(0)).unwrap_err();
        assert_eq!(err.to_string(), "Date: expected INT32, got INT64");
    }

    #[test]
    fn date_handles_extreme_days_and_years() {
        for days in [i32::MIN, -1, 0, i32::MAX] {
            let d = Date::from_days(days);
            assert_eq!(d.to_days().unwrap(), days);
            assert_eq!(d.to_string().parse::<Date>().unwrap(), d);
        }
        assert_eq!(Date::new(-1, 1, 1).unwrap().to_string(), "-0001-01-01");
        assert_eq!(Date::new(12345, 1, 1).unwrap().to_string(), "+12345-01-01");
        assert!(Date {
            year: i32::MAX,
            month: 1,
            day: 1
        }
        .to_days()
        .is_err());
    }

    #[test]
    fn time_round_trips_through_millis() {
        let t = Time::new(23, 59, 59, 999).unwrap();
        assert_eq!(t.to_millis_of_day().unwrap(), 86_399_999);
        assert_eq!(Time::from_value(&t.to_value().unwrap()).unwrap(), t);
        assert_eq!(
            Time::from_millis_of_day(0).unwrap().to_string(),
            "00:00:00.000"
        );
        assert!(Time::from_millis_of_day(86_400_000).is_err());
        assert!(Time::from_millis_of_day(-1).is_err());
        assert!(Time::new(24, 0, 0, 0).is_err());
        assert!(Time {
            hour: 99,
            minute: 0,
            second: 0,
            millis: 0
        }
        .to_value()
        .is_err());
    }

    #[test]
    fn time_parses_common_forms() {
        assert_eq!(
            "08:30".parse::<Time>().unwrap(),
            Time::new(8, 30, 0, 0).unwrap()
        );
        assert_eq!(
            "08:30:05.1".parse::<Time>().unwrap(),
            Time::new(8, 30, 5, 100).unwrap()
        );
        assert_eq!(
            "08:30:05.123456789".parse::<Time>().unwrap(),
            Time::new(8, 30, 5, 123).unwrap()
        );
        assert!("08:30:05.".parse::<Time>().is_err());
        assert!("8:30".parse::<Time>().is_err());
        assert!("08:60".parse::<Time>().is_err());
    }

    #[test]
    fn timestamp_formats_iso_8601_utc() {
        assert_eq!(
            Timestamp::from_millis(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(-1).to_string(),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp::from_millis(951_782_400_000).to_string(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn timestamp_round_trips_through_text() {
        for ms in [
            0,
            -1,
            1_700_000_000_123,
            -62_135_596_800_000,
            253_402_300_799_999,
            i64::MAX,
            i64::MIN,
        ] {
            let t = Timestamp::from_millis(ms);
            assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t, "{t}");
            assert_eq!(Timestamp::from_value(&t.to_value()).unwrap(), t);
        }
    }

    #[test]
    fn timestamp_parse_applies_offsets_and_rejects_junk() {
        let utc: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            "2024-01-01T05:30:00+05:30".parse::<Timestamp>().unwrap(),
            utc
        );
        assert_eq!("2023-12-31 19:00-05:00".parse::<Timestamp>().unwrap(), utc);
        assert!("2024-01-01T00:00:00".parse::<Timestamp>().is_err());
        assert!("2024-01-01T00:00:00Zjunk".parse::<Timestamp>().is_err());
        assert!("2024-01-01".parse::<Timestamp>().is_err());
        assert!(Timestamp::from_value(&Value::Int32(1)).is_err());
    }

    #[test]
    fn timestamp_splits_into_date_and_time() {
        let t = Timestamp::from_millis(-1);
        assert_eq!(t.date(), Date::new(1969, 12, 31).unwrap());
        assert_eq!(t.time(), Time::new(23, 59, 59, 999).unwrap());
        assert_eq!(Timestamp::from_date_time(t.date(), t.time()).unwrap(), t);
    }
}
