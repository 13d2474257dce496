//! Unit tests of the logical types.

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
