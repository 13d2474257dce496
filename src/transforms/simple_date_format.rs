//! A subset of Java's `SimpleDateFormat`, always in UTC, for
//! `TimestampConverter`'s `format` and `TimestampRouter`'s
//! `timestamp.format`.
//!
//! Pattern letters: `y` (year; `yy` two digits), `M` (month; `MMM` short
//! name, `MMMM` full name), `d`, `D` (day of year), `E` (day name), `a`
//! (AM/PM), `H` (0-23), `k` (1-24), `K` (0-11), `h` (1-12), `m`, `s`, `S`
//! (milliseconds), `Z` (`+0000`), `X` (`Z`), `z` (`UTC`). Text in single
//! quotes is literal (`'T'`), `''` is a quote, and any other non-letter is
//! literal. Other letters are refused when the pattern is compiled.
//!
//! Parsing reads numbers greedily, or exactly as many digits as the letter
//! is repeated when another number follows directly (`yyyyMMdd`); zone
//! offsets (`Z`, `+01:00`, `+0100`, `UTC`, `GMT`) are applied. As with
//! Java's `DateFormat.parse`, text after the pattern is ignored. Unlike
//! Java's lenient default, out-of-range fields (month 13) are errors.
//!
//! ```
//! use timely_connect::transforms::simple_date_format::SimpleDateFormat;
//! let f = SimpleDateFormat::new("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").unwrap();
//! assert_eq!(f.format(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
//! assert_eq!(f.parse("2023-11-14T22:13:20.123Z").unwrap(), 1_700_000_000_123);
//! ```

use crate::data::logical::{civil_from_days, days_from_civil};

const MILLIS_PER_DAY: i64 = 86_400_000;
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

#[derive(Clone, Debug, PartialEq)]
enum Item {
    Literal(String),
    Field(char, usize),
}

/// A compiled pattern; see the module documentation for what it supports.
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleDateFormat {
    pattern: String,
    items: Vec<Item>,
}

fn is_numeric(letter: char, count: usize) -> bool {
    match letter {
        'M' => count <= 2,
        'y' | 'd' | 'D' | 'H' | 'k' | 'K' | 'h' | 'm' | 's' | 'S' => true,
        _ => false,
    }
}

fn pad(out: &mut String, n: i64, width: usize) {
    let digits = n.unsigned_abs().to_string();
    if n < 0 {
        out.push('-');
    }
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

impl SimpleDateFormat {
    /// Compiles `pattern`; an unsupported letter or an unclosed quote is
    /// an error naming it.
    pub fn new(pattern: &str) -> Result<SimpleDateFormat, String> {
        let mut items: Vec<Item> = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    literal.push('\'');
                    i += 2;
                    continue;
                }
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!("unterminated quote in date pattern `{pattern}`"))
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            literal.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&q) => {
                            literal.push(q);
                            i += 1;
                        }
                    }
                }
            } else if c.is_ascii_alphabetic() {
                if !"yMdDEaHkKhmsSZXz".contains(c) {
                    return Err(format!(
                        "unsupported pattern letter `{c}` in date pattern `{pattern}` (supported: \
                         y M d D E a H k K h m s S Z X z)"
                    ));
                }
                let mut count = 1;
                while chars.get(i + count) == Some(&c) {
                    count += 1;
                }
                if !literal.is_empty() {
                    items.push(Item::Literal(std::mem::take(&mut literal)));
                }
                items.push(Item::Field(c, count));
                i += count;
            } else {
                literal.push(c);
                i += 1;
            }
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        Ok(SimpleDateFormat {
            pattern: pattern.to_owned(),
            items,
        })
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Formats milliseconds since the epoch, in UTC.
    pub fn format(&self, millis: i64) -> String {
        let days = millis.div_euclid(MILLIS_PER_DAY);
        let ms_of_day = millis.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let hour = ms_of_day / 3_600_000;
        let minute = ms_of_day / 60_000 % 60;
        let second = ms_of_day / 1000 % 60;
        let milli = ms_of_day % 1000;
        let mut out = String::with_capacity(self.pattern.len() + 8);
        for item in &self.items {
            match item {
                Item::Literal(l) => out.push_str(l),
                Item::Field(c, n) => {
                    let n = *n;
                    match c {
                        'y' if n == 2 => pad(&mut out, year.rem_euclid(100), 2),
                        'y' => pad(&mut out, year, n),
                        'M' if n >= 4 => out.push_str(MONTHS[month as usize - 1]),
                        'M' if n == 3 => out.push_str(&MONTHS[month as usize - 1][..3]),
                        'M' => pad(&mut out, i64::from(month), n),
                        'd' => pad(&mut out, i64::from(day), n),
                        'D' => pad(&mut out, days - days_from_civil(year, 1, 1) + 1, n),
                        'E' => {
                            let name = DAYS[days.rem_euclid(7) as usize];
                            out.push_str(if n >= 4 { name } else { &name[..3] });
                        }
                        'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
                        'H' => pad(&mut out, hour, n),
                        'k' => pad(&mut out, if hour == 0 { 24 } else { hour }, n),
                        'K' => pad(&mut out, hour % 12, n),
                        'h' => pad(&mut out, if hour % 12 == 0 { 12 } else { hour % 12 }, n),
                        'm' => pad(&mut out, minute, n),
                        's' => pad(&mut out, second, n),
                        'S' => pad(&mut out, milli, n),
                        'Z' => out.push_str("+0000"),
                        'X' => out.push('Z'),
                        _ => out.push_str("UTC"), // 'z'
                    }
                }
            }
        }
        out
    }

    /// Parses `text` into milliseconds since the epoch (UTC unless the
    /// text carries a zone offset).
    pub fn parse(&self, text: &str) -> Result<i64, String> {
        let err = |what: &str| {
            format!(
                "could not parse `{text}` with pattern `{}`: {what}",
                self.pattern
            )
        };
        let bytes = text.as_bytes();
        let mut pos = 0usize;
        let (mut year, mut month, mut day) = (1970i64, 1i64, 1i64);
        let (mut hour, mut minute, mut second, mut milli) = (0i64, 0i64, 0i64, 0i64);
        let mut pm: Option<bool> = None;
        let mut twelve_hour = false;
        let mut offset_minutes = 0i64;
        let mut two_digit_year = false;
        for (idx, item) in self.items.iter().enumerate() {
            match item {
                Item::Literal(l) => {
                    if !text[pos..].starts_with(l.as_str()) {
                        return Err(err(&format!("expected `{l}` at position {pos}")));
                    }
                    pos += l.len();
                }
                Item::Field(c, n) => {
                    let (c, n) = (*c, *n);
                    if is_numeric(c, n) {
                        let fixed = matches!(self.items.get(idx + 1), Some(Item::Field(c2, n2)) if is_numeric(*c2, *n2));
                        let start = pos;
                        let limit = if fixed {
                            (pos + n).min(bytes.len())
                        } else {
                            bytes.len()
                        };
                        while pos < limit && bytes[pos].is_ascii_digit() {
                            pos += 1;
                        }
                        if pos == start {
                            return Err(err(&format!(
                                "expected a number for `{c}` at position {start}"
                            )));
                        }
                        let v: i64 = text[start..pos]
                            .parse()
                            .map_err(|_| err(&format!("number too large at position {start}")))?;
                        match c {
                            'y' => {
                                year = v;
                                two_digit_year = n <= 2 && pos - start == 2;
                            }
                            'M' => month = v,
                            'd' => day = v,
                            'D' => {
                                month = 1;
                                day = v;
                            }
                            'H' => hour = v,
                            'k' => hour = if v == 24 { 0 } else { v },
                            'K' => {
                                hour = v;
                                twelve_hour = true;
                            }
                            'h' => {
                                hour = if v == 12 { 0 } else { v };
                                twelve_hour = true;
                            }
                            'm' => minute = v,
                            's' => second = v,
                            _ => milli = v, // 'S'
                        }
                    } else {
                        let rest = &text[pos..];
                        match c {
                            'M' => {
                                let found = MONTHS.iter().enumerate().find_map(|(i, m)| {
                                    let name = if n >= 4 { *m } else { &m[..3] };
                                    starts_with_ci(rest, name).then_some((i, name.len()))
                                });
                                let (i, len) = found.ok_or_else(|| err("expected a month name"))?;
                                month = i as i64 + 1;
                                pos += len;
                            }
                            'E' => {
                                let len = DAYS
                                    .iter()
                                    .map(|d| if n >= 4 { *d } else { &d[..3] })
                                    .find(|d| starts_with_ci(rest, d))
                                    .map(str::len)
                                    .ok_or_else(|| err("expected a day name"))?;
                                pos += len;
                            }
                            'a' => {
                                if starts_with_ci(rest, "AM") {
                                    pm = Some(false);
                                } else if starts_with_ci(rest, "PM") {
                                    pm = Some(true);
                                } else {
                                    return Err(err("expected AM or PM"));
                                }
                                pos += 2;
                            }
                            _ => {
                                // 'Z', 'X', 'z': a zone.
                                let (minutes, len) = parse_zone(rest)
                                    .ok_or_else(|| err("expected a zone offset"))?;
                                offset_minutes = minutes;
                                pos += len;
                            }
                        }
                    }
                }
            }
        }
        if two_digit_year {
            // Java puts two-digit years within 80 years before and 20 after now.
            let now_year = civil_from_days(now_millis().div_euclid(MILLIS_PER_DAY)).0;
            let candidate = now_year - now_year.rem_euclid(100) + year;
            year = if candidate > now_year + 20 {
                candidate - 100
            } else if candidate <= now_year - 80 {
                candidate + 100
            } else {
                candidate
            };
        }
        if let Some(pm) = pm {
            if twelve_hour && pm {
                hour += 12;
            }
        }
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            _ => return Err(err(&format!("month {month} is out of range"))),
        };
        let day_limit = if self.items.iter().any(|i| matches!(i, Item::Field('D', _))) {
            366
        } else {
            days_in_month
        };
        if !(1..=day_limit).contains(&day) {
            return Err(err(&format!("day {day} is out of range")));
        }
        if hour > 23 || minute > 59 || second > 59 || milli > 999 {
            return Err(err("time of day is out of range"));
        }
        let days = days_from_civil(year, month as u32, 1) + day - 1;
        let ms = hour * 3_600_000 + minute * 60_000 + second * 1000 + milli;
        days.checked_mul(MILLIS_PER_DAY)
            .and_then(|d| d.checked_add(ms))
            .and_then(|t| t.checked_sub(offset_minutes * 60_000))
            .ok_or_else(|| err("out of range"))
    }
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A zone at the start of `text`: `Z`, `UTC`, `GMT`, `+hh`, `+hhmm`,
/// `+hh:mm` (optionally after `GMT`/`UTC`). Offset in minutes and length.
fn parse_zone(text: &str) -> Option<(i64, usize)> {
    let b = text.as_bytes();
    if b.first() == Some(&b'Z') {
        return Some((0, 1));
    }
    let mut pos = 0;
    for name in ["UTC", "GMT"] {
        if starts_with_ci(text, name) {
            pos = 3;
            if !matches!(b.get(3), Some(b'+' | b'-')) {
                return Some((0, 3));
            }
        }
    }
    let sign = match b.get(pos) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    pos += 1;
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let hours = digit(pos)? * 10 + digit(pos + 1)?;
    pos += 2;
    let mut minutes = 0;
    if b.get(pos) == Some(&b':') {
        minutes = digit(pos + 1)? * 10 + digit(pos + 2)?;
        pos += 3;
    } else if let (Some(m1), Some(m2)) = (digit(pos), digit(pos + 1)) {
        minutes = m1 * 10 + m2;
        pos += 2;
    }
    Some((sign * (hours * 60 + minutes), pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_common_patterns_in_utc() {
        let t = 1_700_000_000_123; // 2023-11-14T22:13:20.123Z, a Tuesday
        let f = |p: &str| SimpleDateFormat::new(p).unwrap().format(t);
        assert_eq!(f("yyyyMMdd"), "20231114");
        assert_eq!(f("yyyy-MM-dd HH:mm:ss.SSS"), "2023-11-14 22:13:20.123");
        assert_eq!(f("yy/M/d h:mm a"), "23/11/14 10:13 PM");
        assert_eq!(
            f("EEE, d MMM yyyy HH:mm:ss Z"),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
        assert_eq!(f("EEEE MMMM D z"), "Tuesday November 318 UTC");
        assert_eq!(f("'at' HH 'o''clock'"), "at 22 o'clock");
        assert_eq!(
            SimpleDateFormat::new("yyyy-MM-dd").unwrap().format(-1),
            "1969-12-31"
        );
    }

    #[test]
    fn parses_what_it_formats_and_applies_offsets() {
        for p in [
            "yyyyMMddHHmmssSSS",
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            "dd MMM yyyy HH:mm:ss.SSS Z",
        ] {
            let f = SimpleDateFormat::new(p).unwrap();
            assert_eq!(
                f.parse(&f.format(1_700_000_000_123)).unwrap(),
                1_700_000_000_123,
                "{p}"
            );
        }
        let f = SimpleDateFormat::new("yyyy-MM-dd'T'HH:mm:ssXXX").unwrap();
        assert_eq!(f.parse("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert_eq!(f.parse("1970-01-01T00:00:00-0030").unwrap(), 1_800_000);
        let f = SimpleDateFormat::new("h:mm a").unwrap();
        assert_eq!(f.parse("12:30 AM").unwrap(), 30 * 60_000);
        assert_eq!(f.parse("1:00 PM").unwrap(), 13 * 3_600_000);
    }

    #[test]
    fn rejects_bad_patterns_and_bad_text() {
        assert!(SimpleDateFormat::new("yyyy-ww")
            .unwrap_err()
            .contains("`w`"));
        assert!(SimpleDateFormat::new("'open").is_err());
        let f = SimpleDateFormat::new("yyyy-MM-dd").unwrap();
        assert!(f.parse("2023-13-01").unwrap_err().contains("month 13"));
        assert!(f.parse("2023-02-29").is_err());
        assert!(f.parse("hello").unwrap_err().contains("expected a number"));
        // Trailing text is ignored, as Java's DateFormat.parse does.
        assert_eq!(f.parse("1970-01-02T10:00").unwrap(), MILLIS_PER_DAY);
    }
}
