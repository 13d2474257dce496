//! The Date, Time and Timestamp logical types.

use super::*;

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
