//! The quickstarts: each a key schema, a value schema and a generator that
//! makes record `seq` of partition `p` from `(seed, quickstart, p, seq)` alone.

use crate::data::logical::{date_schema, decimal_schema, timestamp_schema};
use crate::data::{
    DataError, Date, Decimal, SchemaBuilder, SchemaRef, SchemaType, Struct, Timestamp, Value,
};

use super::rng::RecordRng;

/// 2024-01-01T00:00:00Z in milliseconds since the epoch: where generated
/// timestamps start.
const BASE_TIME_MS: i64 = 1_704_067_200_000;
/// 2024-01-01 in days since the epoch.
const BASE_DAY: i32 = 19_723;
/// Generated time advances by about this much per record of the job.
const MS_PER_RECORD: i64 = 1_000;

const STATUSES: &[&str] = &["PLACED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"];
const COUPONS: &[&str] = &["WELCOME10", "SPRING5", "FREESHIP", "VIP20"];
const FIRST_NAMES: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
    "Radia", "John", "Leslie", "Shafi", "Tony", "Niklaus",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Backus",
    "Lamport",
    "Goldwasser",
    "Hoare",
    "Wirth",
];
const REGIONS: &[&str] = &[
    "eu-west",
    "eu-central",
    "us-east",
    "us-west",
    "ap-south",
    "ap-northeast",
    "sa-east",
];

/// A datagen quickstart: what the generated records look like.
///
/// Every value struct starts with `partition` (INT32) and `seq` (INT64), the
/// record's datagen partition and its sequence number in it; the key is a
/// STRING holding the record's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quickstart {
    /// Orders, key `order_id` as text. Value `timely_connect.datagen.Order`:
    /// `partition`, `seq`, `order_id` (INT64, unique across the job),
    /// `customer_id` (INT32), `item_id` (STRING), `quantity` (INT32),
    /// `unit_price` and `amount` (Decimal, scale 2), `status` (STRING),
    /// `order_time` (Timestamp), `coupon` (optional STRING).
    Orders,
    /// Users, key `user_id`. Value `timely_connect.datagen.User`:
    /// `partition`, `seq`, `user_id` (STRING, unique across the job), `name`,
    /// `email`, `region` (STRING), `age` (INT32), `registered_date` (Date),
    /// `last_login` (Timestamp), `loyalty_points` (INT64), `premium`
    /// (BOOLEAN), `referrer` (optional STRING).
    Users,
}

impl Quickstart {
    /// Every quickstart.
    pub const ALL: [Quickstart; 2] = [Quickstart::Orders, Quickstart::Users];

    /// Its name in the `quickstart` key (and the default topic).
    pub fn name(self) -> &'static str {
        match self {
            Quickstart::Orders => "orders",
            Quickstart::Users => "users",
        }
    }

    /// The quickstart called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Quickstart> {
        Quickstart::ALL
            .into_iter()
            .find(|q| q.name().eq_ignore_ascii_case(name.trim()))
    }

    /// A number that separates the random streams of the quickstarts.
    fn stream_id(self) -> u64 {
        match self {
            Quickstart::Orders => 1,
            Quickstart::Users => 2,
        }
    }

    /// The key schema: STRING.
    pub fn key_schema(self) -> SchemaRef {
        SchemaBuilder::new(SchemaType::String).build()
    }

    /// The value schema (a STRUCT; see the variant's documentation).
    pub fn value_schema(self) -> SchemaRef {
        let common = SchemaBuilder::new(SchemaType::Struct)
            .field("partition", primitive(SchemaType::Int32))
            .field("seq", primitive(SchemaType::Int64));
        match self {
            Quickstart::Orders => common
                .name("timely_connect.datagen.Order")
                .field("order_id", primitive(SchemaType::Int64))
                .field("customer_id", primitive(SchemaType::Int32))
                .field("item_id", primitive(SchemaType::String))
                .field("quantity", primitive(SchemaType::Int32))
                .field("unit_price", decimal_schema(2))
                .field("amount", decimal_schema(2))
                .field("status", primitive(SchemaType::String))
                .field("order_time", timestamp_schema())
                .field(
                    "coupon",
                    SchemaBuilder::new(SchemaType::String).optional().build(),
                )
                .build(),
            Quickstart::Users => common
                .name("timely_connect.datagen.User")
                .field("user_id", primitive(SchemaType::String))
                .field("name", primitive(SchemaType::String))
                .field("email", primitive(SchemaType::String))
                .field("region", primitive(SchemaType::String))
                .field("age", primitive(SchemaType::Int32))
                .field("registered_date", date_schema())
                .field("last_login", timestamp_schema())
                .field("loyalty_points", primitive(SchemaType::Int64))
                .field("premium", primitive(SchemaType::Boolean))
                .field(
                    "referrer",
                    SchemaBuilder::new(SchemaType::String).optional().build(),
                )
                .build(),
        }
    }
}

/// One generated record's key, value and timestamp.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Generated {
    pub(crate) key: Value,
    pub(crate) value: Value,
    pub(crate) timestamp: i64,
}

/// Makes records of one quickstart; schemas are built once and shared.
#[derive(Clone, Debug)]
pub(crate) struct Generator {
    quickstart: Quickstart,
    seed: i64,
    partitions: u64,
    pub(crate) key_schema: SchemaRef,
    pub(crate) value_schema: SchemaRef,
}

impl Generator {
    /// A generator for `quickstart` with `seed` over `partitions` partitions.
    pub(crate) fn new(quickstart: Quickstart, seed: i64, partitions: u32) -> Self {
        Generator {
            quickstart,
            seed,
            partitions: u64::from(partitions.max(1)),
            key_schema: quickstart.key_schema(),
            value_schema: quickstart.value_schema(),
        }
    }

    /// Record `seq` of `partition`: a pure function of the seed, the
    /// quickstart, the partition count, `partition` and `seq`.
    pub(crate) fn generate(&self, partition: u32, seq: u64) -> Result<Generated, DataError> {
        let mut rng = RecordRng::for_record(self.seed, self.quickstart.stream_id(), partition, seq);
        // The record's index in the whole job; ids and times follow it.
        let global = seq
            .saturating_mul(self.partitions)
            .saturating_add(u64::from(partition));
        let global_i64 = i64::try_from(global).unwrap_or(i64::MAX);
        let time = BASE_TIME_MS
            .saturating_add(global_i64.saturating_mul(MS_PER_RECORD))
            .saturating_add(rng.below(MS_PER_RECORD as u64) as i64);
        let seq_i64 = i64::try_from(seq).unwrap_or(i64::MAX);

        // Values in the schema's field order (see `value_schema`), put
        // together without a per-field lookup or check: the generator
        // makes them of the schema it owns (a test validates them).
        let mut values = Vec::with_capacity(12);
        values.push(Value::Int32(partition as i32));
        values.push(Value::Int64(seq_i64));
        let key = match self.quickstart {
            Quickstart::Orders => {
                let quantity = rng.between(1, 20);
                let unit_price = rng.between(99, 99_999);
                let coupon = rng.chance(20).then(|| rng.pick(COUPONS));
                values.push(Value::Int64(global_i64));
                values.push(Value::Int32(rng.between(1, 10_000) as i32));
                values.push(Value::String(format!("Item_{}", rng.between(1, 1_000))));
                values.push(Value::Int32(quantity as i32));
                values.push(Decimal::new(i128::from(unit_price), 2).to_value());
                values.push(Decimal::new(i128::from(unit_price * quantity), 2).to_value());
                values.push(Value::String(rng.pick(STATUSES).to_owned()));
                values.push(Timestamp::from_millis(time).to_value());
                values.push(coupon.map_or(Value::Null, |c| Value::String(c.to_owned())));
                global.to_string()
            }
            Quickstart::Users => {
                let user_id = format!("User_{global}");
                let first = rng.pick(FIRST_NAMES);
                let last = rng.pick(LAST_NAMES);
                let registered = BASE_DAY - rng.below(3_650) as i32;
                let referrer = rng
                    .chance(30)
                    .then(|| format!("User_{}", rng.below(global.max(1))));
                values.push(Value::String(user_id.clone()));
                values.push(Value::String(format!("{first} {last}")));
                values.push(Value::String(format!(
                    "{}.{}{global}@example.com",
                    first.to_ascii_lowercase(),
                    last.to_ascii_lowercase()
                )));
                values.push(Value::String(rng.pick(REGIONS).to_owned()));
                values.push(Value::Int32(rng.between(18, 90) as i32));
                values.push(Date::from_days(registered).to_value()?);
                values.push(Timestamp::from_millis(time).to_value());
                values.push(Value::Int64(rng.between(0, 50_000)));
                values.push(Value::Boolean(rng.chance(15)));
                values.push(referrer.map_or(Value::Null, Value::String));
                user_id
            }
        };
        let s = Struct::from_parts(self.value_schema.clone(), values)?;
        Ok(Generated {
            key: Value::String(key),
            value: Value::Struct(s),
            timestamp: time,
        })
    }
}

fn primitive(schema_type: SchemaType) -> SchemaRef {
    SchemaBuilder::new(schema_type).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quickstart_names_round_trip() {
        for q in Quickstart::ALL {
            assert_eq!(Quickstart::from_name(q.name()), Some(q));
        }
        assert_eq!(Quickstart::from_name("ORDERS"), Some(Quickstart::Orders));
        assert_eq!(Quickstart::from_name("pageviews"), None);
    }

    /// The generator builds its values without checks: every value must
    /// still be valid for the schema, in every field, nulls included.
    #[test]
    fn generated_values_are_valid_for_their_schema() {
        for q in Quickstart::ALL {
            let g = Generator::new(q, 7, 3);
            let mut nulls = 0;
            for seq in 0..2_000 {
                let r = g.generate((seq % 3) as u32, seq).unwrap();
                let Value::Struct(s) = &r.value else {
                    panic!("{q:?}: not a struct: {:?}", r.value)
                };
                s.validate()
                    .unwrap_or_else(|e| panic!("{q:?} record {seq}: {e}"));
                g.key_schema.validate_value(&r.key, "key").unwrap();
                nulls += s
                    .values()
                    .iter()
                    .filter(|v| matches!(v, Value::Null))
                    .count();
            }
            assert!(nulls > 0, "{q:?}: the optional field is sometimes null");
        }
    }
}
