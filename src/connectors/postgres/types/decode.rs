//! PostgreSQL's text format to Connect values: numbers, numeric, bytea, dates, times, timestamps, intervals, arrays.

use super::*;

/// Decodes PostgreSQL's text output of a non-null value of kind `kind`.
///
/// Special values are explicit: `NaN`/`Infinity` of `real`/`double` become
/// the float values; `NaN`/`±Infinity` of `numeric` become `Value::Null`
/// (Debezium's precise mode has no encoding for them); `±infinity`
/// timestamps become Debezium's sentinels, dates `i32::MAX`/`i32::MIN`,
/// and `timestamptz` the strings `infinity`/`-infinity`.
pub fn decode(kind: &Kind, text: &str) -> Result<Value, DecodeError> {
    decode_as(kind, text, false)
}

/// [`decode`], with structs built for the optional (`optional`) or
/// required schema of `kind`.
pub fn decode_as(kind: &Kind, text: &str, optional: bool) -> Result<Value, DecodeError> {
    Ok(match kind {
        Kind::Int16 => Value::Int16(text.parse().map_err(|_| bad(text, "smallint"))?),
        Kind::Int32 => Value::Int32(text.parse().map_err(|_| bad(text, "integer"))?),
        Kind::Int64 => Value::Int64(text.parse().map_err(|_| bad(text, "bigint"))?),
        Kind::Float32 => Value::Float32(parse_float(text).ok_or_else(|| bad(text, "real"))? as f32),
        Kind::Float64 => Value::Float64(parse_float(text).ok_or_else(|| bad(text, "double"))?),
        Kind::Boolean => match text {
            "t" | "true" | "1" => Value::Boolean(true),
            "f" | "false" | "0" => Value::Boolean(false),
            _ => return Err(bad(text, "boolean")),
        },
        Kind::Text
        | Kind::Fallback { .. }
        | Kind::Uuid
        | Kind::Json
        | Kind::Xml
        | Kind::Enum { .. } => Value::String(text.to_owned()),
        Kind::Bytes => Value::Bytes(decode_bytea(text).ok_or_else(|| bad(text, "bytea"))?),
        Kind::Decimal { scale, .. } => match small_decimal(text, *scale) {
            Some(bytes) => Value::Bytes(bytes),
            None => match parse_numeric(text) {
                Some(Numeric::Special) => Value::Null,
                Some(Numeric::Finite(n)) => {
                    Value::Bytes(n.rescale(*scale).ok_or_else(|| bad(text, "numeric"))?)
                }
                None => return Err(bad(text, "numeric")),
            },
        },
        Kind::Money => {
            let cleaned: String = text
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
                .collect();
            let negative = text.contains('-') || text.starts_with('(');
            let cleaned = cleaned.trim_start_matches('-');
            let signed = if negative {
                format!("-{cleaned}")
            } else {
                cleaned.to_owned()
            };
            match parse_numeric(&signed) {
                Some(Numeric::Finite(n)) => {
                    Value::Bytes(n.rescale(2).ok_or_else(|| bad(text, "money"))?)
                }
                _ => return Err(bad(text, "money")),
            }
        }
        Kind::VariableDecimal => match parse_numeric(text) {
            Some(Numeric::Special) => Value::Null,
            Some(Numeric::Finite(n)) => {
                let (digits, scale) = n.stripped();
                let schema = schema_of(kind, optional);
                let s = Struct::new(schema)
                    .with("scale", Value::Int32(scale))
                    .and_then(|s| {
                        s.with(
                            "value",
                            Value::Bytes(to_twos_complement(n.negative, &digits)),
                        )
                    })
                    .map_err(|_| bad(text, "numeric"))?;
                Value::Struct(s)
            }
            None => return Err(bad(text, "numeric")),
        },
        Kind::Date => match text {
            "infinity" => Value::Int32(i32::MAX),
            "-infinity" => Value::Int32(i32::MIN),
            _ => {
                let (days, rest) = parse_date(text).ok_or_else(|| bad(text, "ISO date"))?;
                if !rest.is_empty() {
                    return Err(bad(text, "ISO date"));
                }
                Value::Int32(i32::try_from(days).map_err(|_| bad(text, "date in range"))?)
            }
        },
        Kind::Time { precision } => {
            let micros = parse_time(text).ok_or_else(|| bad(text, "time"))?;
            if *precision <= 3 {
                Value::Int32((micros / 1000) as i32)
            } else {
                Value::Int64(micros)
            }
        }
        Kind::Timestamp { precision } => {
            let micros = match text {
                "infinity" => TIMESTAMP_POS_INFINITY_MICROS,
                "-infinity" => TIMESTAMP_NEG_INFINITY_MICROS,
                _ => parse_timestamp(text)
                    .filter(|(_, offset)| offset.is_none())
                    .map(|(m, _)| m)
                    .ok_or_else(|| bad(text, "ISO timestamp"))?,
            };
            if *precision <= 3 {
                Value::Int64(micros.div_euclid(1000))
            } else {
                Value::Int64(micros)
            }
        }
        Kind::TimestampTz { precision } => match text {
            "infinity" | "-infinity" => Value::String(text.to_owned()),
            _ if let Some(zoned) = zoned_from_utc_text(text, *precision) => Value::String(zoned),
            _ => {
                let (local, offset) = parse_timestamp(text)
                    .ok_or_else(|| bad(text, "ISO timestamp with time zone"))?;
                let offset = offset.ok_or_else(|| bad(text, "timestamp with a UTC offset"))?;
                let utc = local - i64::from(offset) * 1_000_000;
                Value::String(format_zoned_timestamp(utc, *precision))
            }
        },
        Kind::TimeTz => {
            let (time, offset) = split_time_offset(text).ok_or_else(|| bad(text, "timetz"))?;
            let micros = parse_time(time).ok_or_else(|| bad(text, "timetz"))?;
            let utc = (micros - i64::from(offset) * 1_000_000).rem_euclid(86_400_000_000);
            Value::String(format!("{}Z", format_time_of_day(utc, None)))
        }
        Kind::Interval => Value::Int64(parse_interval(text).ok_or_else(|| bad(text, "interval"))?),
        Kind::Bits { .. } => {
            if !text.bytes().all(|b| b == b'0' || b == b'1') {
                return Err(bad(text, "bit string"));
            }
            let n = text.len();
            let mut bytes = vec![0u8; n.div_ceil(8)];
            for (i, b) in text.bytes().rev().enumerate() {
                if b == b'1' {
                    bytes[i / 8] |= 1 << (i % 8);
                }
            }
            Value::Bytes(bytes)
        }
        Kind::Array(elem) => {
            let items = parse_array(text).ok_or_else(|| bad(text, "one-dimensional array"))?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(match item {
                    None => Value::Null,
                    Some(t) => decode_as(elem, &t, true)?,
                });
            }
            Value::Array(out)
        }
    })
}

pub(super) fn parse_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text.parse::<f64>().ok().filter(|f| f.is_finite()),
    }
}

/// `\x` hex (PostgreSQL's default `bytea_output`) or the escape format.
pub(super) fn decode_bytea(text: &str) -> Option<Vec<u8>> {
    if let Some(hex) = text.strip_prefix("\\x") {
        if hex.len() % 2 != 0 {
            return None;
        }
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else {
                let oct = text.get(i + 1..i + 4)?;
                out.push(u8::from_str_radix(oct, 8).ok()?);
                i += 4;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A parsed `numeric`.
pub(super) enum Numeric {
    /// `NaN`, `Infinity`, `-Infinity`.
    Special,
    Finite(FiniteNumeric),
}

/// Decimal digits with a scale.
pub(super) struct FiniteNumeric {
    pub(super) negative: bool,
    /// All digits, integer part then fraction, as ASCII.
    pub(super) digits: Vec<u8>,
    pub(super) scale: i32,
}

impl FiniteNumeric {
    /// Unscaled bytes at `scale` (fraction digits padded; never rounded).
    pub(super) fn rescale(&self, scale: i32) -> Option<Vec<u8>> {
        let mut digits = self.digits.clone();
        if scale >= self.scale {
            digits.extend(std::iter::repeat_n(b'0', (scale - self.scale) as usize));
        } else {
            let drop = (self.scale - scale) as usize;
            let keep = digits.len().checked_sub(drop)?;
            if digits[keep..].iter().any(|d| *d != b'0') {
                return None;
            }
            digits.truncate(keep);
        }
        Some(to_twos_complement(self.negative, &digits))
    }

    /// Digits and scale with trailing fraction zeros removed (scale ≥ 0).
    pub(super) fn stripped(&self) -> (Vec<u8>, i32) {
        let mut digits = self.digits.clone();
        let mut scale = self.scale;
        while scale > 0 && digits.last() == Some(&b'0') {
            digits.pop();
            scale -= 1;
        }
        (digits, scale)
    }
}

/// The unscaled bytes of a plain decimal `text` (`-12.30`) at `scale`, as
/// [`FiniteNumeric::rescale`] gives them, for values that fit 128 bits at
/// that scale: parsed by [`Decimal`](crate::data::Decimal)'s parser into an
/// `i128`, without the digit strings between. `None` takes the general
/// path (which also reports what is wrong with bad text).
pub(super) fn small_decimal(text: &str, scale: i32) -> Option<Vec<u8>> {
    let d: crate::data::Decimal = text.parse().ok()?;
    let unscaled = match scale.checked_sub(d.scale)? {
        up @ 0.. => d
            .unscaled
            .checked_mul(10i128.checked_pow(up.unsigned_abs())?)?,
        down => {
            // Fewer fraction digits: only zeros may be dropped.
            let p = 10i128.checked_pow(down.unsigned_abs())?;
            (d.unscaled % p == 0).then(|| d.unscaled / p)?
        }
    };
    Some(crate::data::Decimal::new(unscaled, 0).to_bytes())
}

pub(super) fn parse_numeric(text: &str) -> Option<Numeric> {
    if matches!(text, "NaN" | "Infinity" | "-Infinity") {
        return Some(Numeric::Special);
    }
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    if digits.is_empty() {
        digits.push(b'0');
    }
    Some(Numeric::Finite(FiniteNumeric {
        negative,
        digits,
        scale: i32::try_from(frac.len()).ok()?,
    }))
}

/// Java's `BigInteger.toByteArray()` of the decimal digits: minimal
/// big-endian two's complement.
pub fn to_twos_complement(negative: bool, digits: &[u8]) -> Vec<u8> {
    // Up to 38 digits fit in an i128: the common case, without a bignum.
    if digits.len() <= 38 {
        let magnitude = digits
            .iter()
            .fold(0i128, |acc, d| acc * 10 + i128::from(d.wrapping_sub(b'0')));
        let value = if negative { -magnitude } else { magnitude };
        return crate::data::Decimal::new(value, 0).to_bytes();
    }
    let magnitude = num_bigint::BigInt::parse_bytes(digits, 10).unwrap_or_default();
    let value = if negative { -magnitude } else { magnitude };
    value.to_signed_bytes_be()
}

/// `YYYY-MM-DD[ BC]` at the start of `text`: days since the epoch and the rest.
pub(super) fn parse_date(text: &str) -> Option<(i64, &str)> {
    let (ymd, rest) = match text.find([' ', 'T']) {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let mut parts = ymd.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (year, rest) = match rest.strip_suffix(" BC") {
        Some(r) => (1 - year, r),
        None => (year, rest),
    };
    Some((days_from_civil(year, month, day), rest))
}

/// `HH:MM:SS[.ffffff]` (hour up to 24) → microseconds past midnight.
pub(super) fn parse_time(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec = parts.next()?;
    let (s, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let s: i64 = s.parse().ok()?;
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || !(0..=60).contains(&s) {
        return None;
    }
    Some(((h * 60 + m) * 60 + s) * 1_000_000 + parse_fraction_micros(frac)?)
}

pub(super) fn parse_fraction_micros(frac: &str) -> Option<i64> {
    if frac.is_empty() {
        return Some(0);
    }
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{frac:0<6}");
    padded.parse().ok()
}

/// Splits `12:00:00+05:30` into the time and the offset in seconds.
pub(super) fn split_time_offset(text: &str) -> Option<(&str, i32)> {
    let i = text.rfind(['+', '-'])?;
    let (time, off) = text.split_at(i);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let mut parts = off[1..].split(':');
    let h: i32 = parts.next()?.parse().ok()?;
    let m: i32 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let s: i32 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((time, sign * (h * 3600 + m * 60 + s)))
}

/// `YYYY-MM-DD HH:MM:SS[.f][±HH[:MM[:SS]]][ BC]` → local microseconds since
/// the epoch and the offset in seconds, if any.
pub(super) fn parse_timestamp(text: &str) -> Option<(i64, Option<i32>)> {
    let (text, bc) = match text.strip_suffix(" BC") {
        Some(t) => (t, true),
        None => (text, false),
    };
    let (date, time) = text.split_once([' ', 'T'])?;
    let (days, _) = parse_date(date)?;
    let days = if bc {
        // parse_date did not see the suffix; redo the year.
        let (y, rest) = date.split_once('-')?;
        let year: i64 = y.parse().ok()?;
        let (m, d) = rest.split_once('-')?;
        days_from_civil(1 - year, m.parse().ok()?, d.parse().ok()?)
    } else {
        days
    };
    let (time, offset) = match time.rfind(['+', '-']) {
        Some(_) => {
            let (t, o) = split_time_offset(time)?;
            (t, Some(o))
        }
        None => (time, None),
    };
    let micros = parse_time(time)?;
    Some((
        days.checked_mul(86_400_000_000)?.checked_add(micros)?,
        offset,
    ))
}

/// `HH:MM:SS` plus `.` and exactly `width` fraction digits, or (with
/// `None`) the fewest digits that keep the value (none for whole seconds),
/// as Java's ISO formatter prints.
pub(super) fn format_time_of_day(micros: i64, width: Option<i32>) -> String {
    let mut out = String::with_capacity(18);
    push_time_of_day(&mut out, micros, width);
    out
}

/// Appends `n` (0..=99) as two digits.
fn push_2(out: &mut String, n: i64) {
    let n = n.rem_euclid(100) as u8;
    out.push(char::from(b'0' + n / 10));
    out.push(char::from(b'0' + n % 10));
}

/// [`format_time_of_day`] appended to `out`, with no allocation of its own.
fn push_time_of_day(out: &mut String, micros: i64, width: Option<i32>) {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let hours = secs / 3600;
    if (0..100).contains(&hours) {
        push_2(out, hours);
    } else {
        out.push_str(&hours.to_string());
    }
    out.push(':');
    push_2(out, (secs / 60) % 60);
    out.push(':');
    push_2(out, secs % 60);
    // The six digits of the fraction, then three zeros (nanoseconds).
    let mut digits = [b'0'; 9];
    let mut f = frac.unsigned_abs();
    for d in digits[..6].iter_mut().rev() {
        *d = b'0' + (f % 10) as u8;
        f /= 10;
    }
    let shown = match width {
        Some(w) if w > 0 => w.min(9) as usize,
        _ if frac == 0 => 0,
        _ => 6 - digits[..6].iter().rev().take_while(|d| **d == b'0').count(),
    };
    if shown > 0 {
        out.push('.');
        for d in &digits[..shown] {
            out.push(char::from(*d));
        }
    }
}

/// Debezium's ZonedTimestamp text straight from PostgreSQL's output of a
/// `timestamptz` in UTC (the sessions' time zone), `YYYY-MM-DD
/// HH:MM:SS[.f{1,6}]+00`, without parsing it: the same text as
/// [`format_zoned_timestamp`] of its instant. `None` for any other shape
/// (years beyond four digits, BC, another offset), which takes the parser.
pub fn zoned_from_utc_text(text: &str, precision: i32) -> Option<String> {
    let b = text.as_bytes();
    let body = b.strip_suffix(b"+00")?;
    if body.len() < 19 {
        return None;
    }
    let (stamp, frac) = body.split_at(19);
    let shape_ok = stamp.iter().enumerate().all(|(i, &c)| match i {
        4 | 7 => c == b'-',
        10 => c == b' ',
        13 | 16 => c == b':',
        _ => c.is_ascii_digit(),
    });
    let digits = match frac {
        [] => &[][..],
        [b'.', d @ ..] if (1..=6).contains(&d.len()) && d.iter().all(u8::is_ascii_digit) => d,
        _ => return None,
    };
    if !shape_ok {
        return None;
    }
    // As `push_time_of_day`: exactly `precision` digits, else the fewest.
    let shown: &[u8] = if precision > 0 {
        if digits.len() > precision as usize {
            return None;
        }
        digits
    } else {
        let trimmed = digits.iter().rposition(|&d| d != b'0').map_or(0, |p| p + 1);
        &digits[..trimmed]
    };
    let width = if precision > 0 {
        precision.min(9) as usize
    } else {
        shown.len()
    };
    let mut out = String::with_capacity(21 + width + 1);
    out.push_str(&text[..10]);
    out.push('T');
    out.push_str(&text[11..19]);
    if width > 0 {
        out.push('.');
        // Only ASCII digits were matched above.
        out.extend(shown.iter().map(|&d| char::from(d)));
        out.extend(std::iter::repeat_n('0', width - shown.len()));
    }
    out.push('Z');
    Some(out)
}

/// Debezium's ZonedTimestamp text of `utc_micros`: ISO-8601 in UTC with
/// exactly `precision` fraction digits (1–6), or the fewest needed when the
/// precision is 0.
pub fn format_zoned_timestamp(utc_micros: i64, precision: i32) -> String {
    let days = utc_micros.div_euclid(86_400_000_000);
    let tod = utc_micros.rem_euclid(86_400_000_000);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::with_capacity(32);
    if (0..=9999).contains(&y) {
        push_2(&mut out, y / 100);
        push_2(&mut out, y % 100);
    } else if y > 9999 {
        out.push('+');
        out.push_str(&y.to_string());
    } else {
        out.push_str(&format!("-{:04}", -y));
    }
    out.push('-');
    push_2(&mut out, i64::from(m));
    out.push('-');
    push_2(&mut out, i64::from(d));
    out.push('T');
    push_time_of_day(&mut out, tod, (precision > 0).then_some(precision));
    out.push('Z');
    out
}

/// PostgreSQL's `postgres` IntervalStyle (`1 year 2 mons -3 days 04:05:06.5`)
/// → microseconds, months counted as 365.25 / 12 days (Debezium's MicroDuration).
pub(super) fn parse_interval(text: &str) -> Option<i64> {
    let mut months = 0f64;
    let mut days = 0f64;
    let mut micros = 0f64;
    let mut tokens = text.split_whitespace().peekable();
    let mut ago = false;
    while let Some(tok) = tokens.next() {
        if tok == "ago" {
            ago = true;
            continue;
        }
        if tok.contains(':') {
            let (neg, t) = match tok.strip_prefix('-') {
                Some(t) => (true, t),
                None => (false, tok.strip_prefix('+').unwrap_or(tok)),
            };
            let mut parts = t.splitn(3, ':');
            let h: f64 = parts.next()?.parse().ok()?;
            let m: f64 = parts.next()?.parse().ok()?;
            let s: f64 = parts.next().map_or(Some(0.0), |p| p.parse().ok())?;
            let v = ((h * 60.0 + m) * 60.0 + s) * 1e6;
            micros += if neg { -v } else { v };
            continue;
        }
        let n: f64 = tok.parse().ok()?;
        let unit = tokens.next()?;
        match unit.trim_end_matches('s') {
            "year" => months += n * 12.0,
            "mon" => months += n,
            "day" => days += n,
            "hour" => micros += n * 3_600e6,
            "min" => micros += n * 60e6,
            "sec" => micros += n * 1e6,
            _ => return None,
        }
    }
    let total = (months * (365.25 / 12.0) + days) * 86_400e6 + micros;
    let total = if ago { -total } else { total };
    Some(total.round() as i64)
}

/// A one-dimensional array literal `{a,"b c",NULL}` → its items (`None` for NULL).
pub(super) fn parse_array(text: &str) -> Option<Vec<Option<String>>> {
    // A leading dimension decoration `[0:1]=` is allowed.
    let text = match text.find('=') {
        Some(i) if text.starts_with('[') => &text[i + 1..],
        _ => text,
    };
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    if inner.is_empty() {
        return Some(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        match chars.peek() {
            Some('{') => return None, // more than one dimension
            Some('"') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '\\' => s.push(chars.next()?),
                        '"' => break,
                        c => s.push(c),
                    }
                }
                items.push(Some(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                let s = s.trim().to_owned();
                items.push(if s.eq_ignore_ascii_case("NULL") {
                    None
                } else {
                    Some(s)
                });
            }
        }
        match chars.next() {
            None => return Some(items),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}
