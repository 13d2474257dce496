//! Unit tests.

use super::*;
use crate::data::Decimal;

fn k(oid: u32, typmod: i32) -> Kind {
    kind_of(oid, typmod, &TypeRegistry::new())
}

fn dec(kind: &Kind, text: &str) -> Value {
    decode(kind, text).unwrap()
}

#[test]
fn pg_integers_and_floats() {
    assert_eq!(dec(&k(oid::INT2, -1), "-32768"), Value::Int16(-32768));
    assert_eq!(dec(&k(oid::INT4, -1), "42"), Value::Int32(42));
    assert_eq!(
        dec(&k(oid::INT8, -1), "9223372036854775807"),
        Value::Int64(i64::MAX)
    );
    assert_eq!(dec(&k(oid::FLOAT4, -1), "1.5"), Value::Float32(1.5));
    assert!(matches!(dec(&k(oid::FLOAT8, -1), "NaN"), Value::Float64(f) if f.is_nan()));
    assert_eq!(
        dec(&k(oid::FLOAT8, -1), "-Infinity"),
        Value::Float64(f64::NEG_INFINITY)
    );
    assert!(decode(&k(oid::INT4, -1), "4x").is_err());
    assert_eq!(dec(&k(oid::BOOL, -1), "t"), Value::Boolean(true));
}

#[test]
fn pg_numeric_with_scale_is_kafka_decimal() {
    // numeric(10,2): typmod = (10 << 16 | 2) + 4
    let kind = k(oid::NUMERIC, (10 << 16 | 2) + 4);
    assert_eq!(
        kind,
        Kind::Decimal {
            precision: 10,
            scale: 2
        }
    );
    let schema = schema_of(&kind, true);
    assert_eq!(schema.name.as_deref(), Some(DECIMAL_NAME));
    assert_eq!(schema.parameters["scale"], "2");
    assert_eq!(schema.parameters[DECIMAL_PRECISION], "10");
    let v = dec(&kind, "-1234.50");
    assert_eq!(
        Decimal::from_bytes(v.as_bytes().unwrap(), 2).unwrap(),
        Decimal::new(-123450, 2)
    );
    assert_eq!(dec(&kind, "NaN"), Value::Null);
}

#[test]
fn pg_numeric_bytes_match_java_biginteger() {
    assert_eq!(to_twos_complement(false, b"0"), vec![0]);
    assert_eq!(to_twos_complement(false, b"127"), vec![0x7f]);
    assert_eq!(to_twos_complement(false, b"128"), vec![0x00, 0x80]);
    assert_eq!(to_twos_complement(true, b"128"), vec![0x80]);
    assert_eq!(to_twos_complement(true, b"129"), vec![0xff, 0x7f]);
    assert_eq!(to_twos_complement(true, b"1"), vec![0xff]);
    assert_eq!(to_twos_complement(false, b"65535"), vec![0x00, 0xff, 0xff]);
    // Beyond i128: 10^40.
    let big = format!("1{}", "0".repeat(40));
    let bytes = to_twos_complement(false, big.as_bytes());
    assert_eq!(bytes.len(), 17);
    let negative = to_twos_complement(true, big.as_bytes());
    let back = num_bigint::BigInt::from_signed_bytes_be(&negative);
    assert_eq!(back.to_string(), format!("-{big}"));
    // The widest i128 case and the first bignum one agree on the method.
    let nines = "9".repeat(38);
    let fast = to_twos_complement(true, nines.as_bytes());
    let slow: num_bigint::BigInt = format!("-{nines}").parse().unwrap();
    assert_eq!(fast, slow.to_signed_bytes_be());
}

/// The shortcut for decimals that fit 128 bits gives the general path's
/// bytes, at positive and negative scales, and leaves to it what it cannot
/// take (too many digits, a dropped non-zero digit, bad text).
#[test]
fn pg_small_decimals_take_the_shortcut_with_the_same_bytes() {
    let general = |text: &str, scale: i32| match parse_numeric(text) {
        Some(Numeric::Finite(n)) => n.rescale(scale),
        _ => None,
    };
    let nines = "9".repeat(36);
    let cases = [
        "0",
        "-0",
        "-0.00",
        "1",
        "-1",
        "127",
        "128",
        "-128",
        "-129",
        "12.3",
        "12.30",
        "-1234.50",
        "0.05",
        "+7.1",
        ".5",
        "5.",
        "1.000",
        "99999999.99",
        &nines,
    ];
    for scale in [-1, 0, 2, 3] {
        for text in cases {
            let expected = general(text, scale);
            let fast = small_decimal(text, scale);
            if let Some(bytes) = &fast {
                assert_eq!(Some(bytes), expected.as_ref(), "{text} at scale {scale}");
            }
            let kind = Kind::Decimal {
                precision: 38,
                scale,
            };
            assert_eq!(
                decode(&kind, text).ok(),
                expected.map(Value::Bytes),
                "{text} at scale {scale}"
            );
        }
    }
    assert!(
        small_decimal("12.30", 2).is_some(),
        "the common case is short-cut"
    );
    assert_eq!(
        small_decimal("1.25", 1),
        None,
        "a non-zero digit would be dropped"
    );
    assert_eq!(small_decimal("1x", 0), None);
    assert_eq!(small_decimal("", 0), None);
    assert_eq!(small_decimal(".", 0), None);
    assert_eq!(small_decimal("-", 0), None);
    assert_eq!(small_decimal("1", -2), None);
    assert_eq!(
        small_decimal(&"9".repeat(37), 2),
        None,
        "39 digits at scale 2"
    );
    assert!(decode(
        &Kind::Decimal {
            precision: 5,
            scale: 1
        },
        "1.25"
    )
    .is_err());
    assert!(decode(
        &Kind::Decimal {
            precision: 5,
            scale: 1
        },
        "1.2.5"
    )
    .is_err());
}

#[test]
fn pg_numeric_without_scale_is_variable_scale_decimal() {
    let kind = k(oid::NUMERIC, -1);
    let v = dec(&kind, "12.3400");
    let s = v.as_struct().unwrap();
    assert_eq!(s.get("scale"), Some(&Value::Int32(2)));
    assert_eq!(s.get("value"), Some(&Value::Bytes(vec![0x04, 0xd2])));
    let v = dec(&kind, "100");
    assert_eq!(v.as_struct().unwrap().get("scale"), Some(&Value::Int32(0)));
    assert_eq!(dec(&kind, "Infinity"), Value::Null);
    let schema = schema_of(&kind, true);
    assert_eq!(schema.name.as_deref(), Some(VARIABLE_SCALE_DECIMAL));
    assert!(schema.optional);
}

#[test]
fn pg_temporal_types_follow_adaptive_mode() {
    assert_eq!(dec(&k(oid::DATE, -1), "2024-02-29"), Value::Int32(19782));
    assert_eq!(dec(&k(oid::DATE, -1), "infinity"), Value::Int32(i32::MAX));
    assert_eq!(
        dec(&k(oid::DATE, -1), "0001-01-01 BC"),
        Value::Int32(days_from_civil(0, 1, 1) as i32)
    );
    let t6 = k(oid::TIME, -1);
    assert_eq!(schema_of(&t6, false).name.as_deref(), Some(MICRO_TIME));
    assert_eq!(dec(&t6, "13:45:00.25"), Value::Int64(49_500_250_000));
    assert_eq!(dec(&t6, "24:00:00"), Value::Int64(86_400_000_000));
    let t3 = k(oid::TIME, 3);
    assert_eq!(schema_of(&t3, false).name.as_deref(), Some(TIME));
    assert_eq!(dec(&t3, "00:00:01.5"), Value::Int32(1500));
    let ts = k(oid::TIMESTAMP, -1);
    assert_eq!(schema_of(&ts, false).name.as_deref(), Some(MICRO_TIMESTAMP));
    assert_eq!(
        dec(&ts, "1970-01-02 00:00:00.000001"),
        Value::Int64(86_400_000_001)
    );
    assert_eq!(
        dec(&ts, "infinity"),
        Value::Int64(TIMESTAMP_POS_INFINITY_MICROS)
    );
    let ts3 = k(oid::TIMESTAMP, 3);
    assert_eq!(schema_of(&ts3, false).name.as_deref(), Some(TIMESTAMP));
    assert_eq!(dec(&ts3, "1970-01-01 00:00:01.5"), Value::Int64(1500));
}

#[test]
fn pg_timestamptz_is_utc_iso_with_column_precision() {
    let tz = k(oid::TIMESTAMPTZ, -1);
    assert_eq!(
        dec(&tz, "2024-01-31 15:45:00.25+02"),
        Value::String("2024-01-31T13:45:00.250000Z".into())
    );
    assert_eq!(
        dec(&tz, "2024-01-01 00:30:00-05:30"),
        Value::String("2024-01-01T06:00:00.000000Z".into())
    );
    let tz0 = k(oid::TIMESTAMPTZ, 0);
    assert_eq!(
        dec(&tz0, "2024-01-31 13:45:00+00"),
        Value::String("2024-01-31T13:45:00Z".into())
    );
    assert_eq!(dec(&tz, "-infinity"), Value::String("-infinity".into()));
    assert_eq!(
        dec(&k(oid::TIMETZ, -1), "10:15:30.5+01"),
        Value::String("09:15:30.5Z".into())
    );
}

#[test]
fn pg_strings_uuid_json_enum_bytes_bits() {
    let u = k(oid::UUID, -1);
    assert_eq!(schema_of(&u, false).name.as_deref(), Some(UUID));
    assert_eq!(
        schema_of(&k(oid::JSONB, -1), false).name.as_deref(),
        Some(JSON)
    );
    assert_eq!(
        dec(&k(oid::BYTEA, -1), "\\x00ff10"),
        Value::Bytes(vec![0, 255, 16])
    );
    assert_eq!(
        dec(&k(oid::BYTEA, -1), "a\\\\b\\001"),
        Value::Bytes(vec![b'a', b'\\', b'b', 1])
    );
    assert_eq!(k(oid::BIT, 1), Kind::Boolean);
    assert_eq!(
        dec(&k(oid::BIT, 10), "1000000001"),
        Value::Bytes(vec![1, 2])
    );
    let mut reg = TypeRegistry::new();
    reg.insert(
        90001,
        TypeInfo {
            name: "mood".into(),
            typtype: 'e',
            elem: 0,
            base: 0,
            base_typmod: -1,
            category: 'E',
            labels: vec!["sad".into(), "ok".into(), "happy".into()],
        },
    );
    let e = kind_of(90001, -1, &reg);
    let schema = schema_of(&e, true);
    assert_eq!(schema.name.as_deref(), Some(ENUM));
    assert_eq!(schema.parameters["allowed"], "sad,ok,happy");
    assert_eq!(
        kind_of(90002, -1, &reg),
        Kind::Fallback {
            type_name: "oid 90002".into()
        }
    );
}

#[test]
fn pg_arrays_and_interval() {
    let a = k(1007, -1);
    assert_eq!(
        dec(&a, "{1,NULL,3}"),
        Value::Array(vec![Value::Int32(1), Value::Null, Value::Int32(3)])
    );
    assert_eq!(
        dec(&k(1009, -1), r#"{plain,"with \"quote\"","a,b"}"#),
        Value::Array(vec![
            Value::String("plain".into()),
            Value::String("with \"quote\"".into()),
            Value::String("a,b".into())
        ])
    );
    assert_eq!(dec(&a, "{}"), Value::Array(vec![]));
    assert!(decode(&a, "{{1,2},{3,4}}").is_err());
    let i = k(oid::INTERVAL, -1);
    assert_eq!(dec(&i, "01:00:00"), Value::Int64(3_600_000_000));
    assert_eq!(dec(&i, "1 day -00:00:01"), Value::Int64(86_399_000_000));
    assert_eq!(
        dec(&i, "1 mon"),
        Value::Int64((30.4375f64 * 86_400e6).round() as i64)
    );
}

/// `HH:MM:SS` and exactly `width` fraction digits, or the fewest (none
/// for whole seconds), with `format!`: the reference for the formatters.
fn time_ref(micros: i64, width: Option<i32>) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let mut out = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    match width {
        Some(w) if w > 0 => {
            out.push('.');
            out.push_str(&format!("{frac:06}000")[..w.min(9) as usize]);
        }
        _ if frac != 0 => {
            out.push('.');
            out.push_str(format!("{frac:06}").trim_end_matches('0'));
        }
        _ => {}
    }
    out
}

/// The allocation-free timestamp formatter against the plain `format!`
/// one it replaced, over years before 1 AD and after 9999, every precision
/// and fractions with trailing zeros.
#[test]
fn pg_zoned_timestamp_formatting_matches_the_reference() {
    fn zoned_ref(utc: i64, precision: i32) -> String {
        let days = utc.div_euclid(86_400_000_000);
        let tod = utc.rem_euclid(86_400_000_000);
        let (y, m, d) = crate::data::logical::civil_from_days(days);
        let year = if (0..=9999).contains(&y) {
            format!("{y:04}")
        } else if y > 9999 {
            format!("+{y}")
        } else {
            format!("-{:04}", -y)
        };
        let width = (precision > 0).then_some(precision);
        format!("{year}-{m:02}-{d:02}T{}Z", time_ref(tod, width))
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // From about 290,000 BC to 290,000 AD, with whole seconds and
        // round fractions often.
        let mut utc = (x as i64) % 9_000_000_000_000_000;
        match i % 4 {
            0 => utc -= utc.rem_euclid(1_000_000),
            1 => utc -= utc.rem_euclid(1000),
            _ => {}
        }
        for precision in 0..=6 {
            assert_eq!(
                super::decode::format_zoned_timestamp(utc, precision),
                zoned_ref(utc, precision),
                "{utc} at precision {precision}"
            );
        }
    }
}

/// PostgreSQL's text of timestamps in UTC, as the sessions receive them,
/// turned into Debezium's text without parsing, agree with parsing and
/// formatting, for every precision; other shapes are left to the parser.
#[test]
fn zoned_timestamps_from_utc_text_agree_with_the_parser() {
    use super::decode::{format_zoned_timestamp, parse_timestamp, zoned_from_utc_text};
    // PostgreSQL's output: ISO date, space, time, the fraction rounded to
    // the column's precision with trailing zeros dropped, `+00`.
    fn pg_text(utc: i64) -> String {
        let days = utc.div_euclid(86_400_000_000);
        let tod = utc.rem_euclid(86_400_000_000);
        let (y, m, d) = crate::data::logical::civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02} {}+00", time_ref(tod, None))
    }
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut fast = 0;
    for i in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Years 1 to 9999 (four digits, AD), round fractions often.
        let mut utc = (x % 315_537_897_600_000_000) as i64 - 62_135_596_800_000_000;
        match i % 4 {
            0 => utc -= utc.rem_euclid(1_000_000),
            1 => utc -= utc.rem_euclid(1000),
            _ => {}
        }
        for precision in 0..=6 {
            // A value of a column of this precision.
            let unit = if precision == 0 {
                1
            } else {
                10i64.pow(6 - precision as u32)
            };
            let v = utc - utc.rem_euclid(unit);
            let text = pg_text(v);
            let (local, offset) = parse_timestamp(&text).expect("parses");
            assert_eq!(offset, Some(0), "{text}");
            let want = format_zoned_timestamp(local, precision);
            assert_eq!(
                zoned_from_utc_text(&text, precision).as_deref(),
                Some(want.as_str()),
                "{text} at precision {precision}"
            );
            fast += 1;
        }
    }
    assert_eq!(fast, 140_000);
    for other in [
        "2024-01-02 03:04:05+01",
        "2024-01-02 03:04:05.5-07:30",
        "12024-01-02 03:04:05+00",
        "0044-03-15 12:00:00+00 BC",
        "2024-01-02T03:04:05+00",
        "2024-01-02 03:04:05.+00",
        "2024-01-02 03:04:05.1234567+00",
        "2024-1-02 03:04:05+00",
    ] {
        assert_eq!(zoned_from_utc_text(other, 0), None, "{other}");
    }
    // More digits than the column's precision: the parser's rounding.
    assert_eq!(zoned_from_utc_text("2024-01-02 03:04:05.1234+00", 3), None);
}
