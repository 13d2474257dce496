//! The Decimal logical type: an unscaled big-endian two's-complement
//! integer and a scale, and its exact text.

use super::*;

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
pub(super) fn bytes_to_i128(bytes: &[u8]) -> Option<i128> {
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
pub(crate) fn u128_digits(v: u128, buf: &mut [u8; 40]) -> &[u8] {
    const TEN_POW_19: u128 = 10_000_000_000_000_000_000;
    let mut i = buf.len();
    // A u128 division is a library call: above u64, split off 19 digits
    // at a time and do the rest in u64 arithmetic.
    let mut v = v;
    while v > u128::from(u64::MAX) {
        // Below 10^19, so it fits in a u64.
        let mut chunk = (v % TEN_POW_19) as u64;
        v /= TEN_POW_19;
        for _ in 0..19 {
            i -= 1;
            buf[i] = b'0' + (chunk % 10) as u8;
            chunk /= 10;
        }
    }
    let mut w = v as u64;
    loop {
        i -= 1;
        // `w % 10` is below 10, so the cast cannot truncate.
        buf[i] = b'0' + (w % 10) as u8;
        w /= 10;
        if w == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The longest run of zeros written out before switching to exponent form.
pub(super) const MAX_PLAIN_ZEROS: i64 = 32;

/// Writes `±digits × 10^-scale` exactly, as a JSON-compatible number:
/// `12.30`, `-0.05`, `1200`; exponent form (`5E-40`) only when plain form
/// would need more than 32 padding zeros.
pub(super) fn write_scaled<W: fmt::Write>(
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

#[cfg(test)]
mod tests {
    use super::u128_digits;

    #[test]
    fn digits_match_display_across_the_u64_boundary() {
        let edges = [
            0u128,
            9,
            10,
            u128::from(u64::MAX) - 1,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            10_000_000_000_000_000_000,
            10_000_000_000_000_000_000 * 10_000_000_000_000_000_000,
            u128::MAX,
        ];
        let mut buf = [0u8; 40];
        for v in edges {
            assert_eq!(u128_digits(v, &mut buf), v.to_string().as_bytes(), "{v}");
        }
    }
}
