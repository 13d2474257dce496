//! Proleptic Gregorian calendar arithmetic and the ISO-8601 text of dates,
//! times and timestamps (parsing and writing), without a date library.

use super::*;

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

pub(super) fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub(super) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Writes a year as ISO 8601 does: four digits, or a sign and more.
pub(super) fn write_year<W: fmt::Write>(w: &mut W, year: i64) -> fmt::Result {
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
pub(super) struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(s: &'a str) -> Self {
        Cursor {
            s: s.as_bytes(),
            pos: 0,
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub(super) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }

    /// Exactly `n` digits.
    pub(super) fn digits(&mut self, n: usize) -> Option<i64> {
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
    pub(super) fn year(&mut self) -> Option<i64> {
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
    pub(super) fn fraction_millis(&mut self) -> Option<i64> {
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

    pub(super) fn done(&self) -> bool {
        self.pos == self.s.len()
    }

    /// `YYYY-MM-DD`, checked.
    pub(super) fn date(&mut self) -> Option<Date> {
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
    pub(super) fn time(&mut self) -> Option<Time> {
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
