//! A schema's parameters: a small map that keeps insertion order, as
//! Kafka's `LinkedHashMap` does.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A schema's parameters, in the order they were added (Kafka's
/// `SchemaBuilder.parameter` keeps a `LinkedHashMap`, and its JSON
/// converter writes them in that order). Adding a key again replaces its
/// value in place. Equality ignores the order, as Java's map equality
/// does. Schemas have a handful of parameters at most, so lookups scan.
///
/// ```
/// use timely_connect::data::Parameters;
/// let mut p = Parameters::new();
/// p.insert("zeta".into(), "1".into());
/// p.insert("alpha".into(), "2".into());
/// p.insert("zeta".into(), "3".into());
/// let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
/// assert_eq!(keys, ["zeta", "alpha"]);
/// assert_eq!(p.get("zeta").map(String::as_str), Some("3"));
/// ```
#[derive(Clone, Default)]
pub struct Parameters(Vec<(String, String)>);

impl Parameters {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`: in place if the key is there, else last.
    /// Returns the value it replaced.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys and values, in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for Parameters {
    fn eq(&self, other: &Self) -> bool {
        // The same order (the usual case) compares element by element.
        self.0 == other.0
            || (self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v)))
    }
}

impl fmt::Debug for Parameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl std::ops::Index<&str> for Parameters {
    type Output = String;
    /// The value of `key`; panics if it is not set (as a map's index does).
    fn index(&self, key: &str) -> &String {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no schema parameter `{key}`"),
        }
    }
}

impl<'a> IntoIterator for &'a Parameters {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl FromIterator<(String, String)> for Parameters {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut p = Parameters::new();
        for (k, v) in iter {
            p.insert(k, v);
        }
        p
    }
}

impl Serialize for Parameters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Parameters;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of string parameters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Parameters, A::Error> {
                let mut p = Parameters::new();
                while let Some((k, v)) = access.next_entry::<String, String>()? {
                    p.insert(k, v);
                }
                Ok(p)
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_kept_equality_ignores_it_and_bincode_round_trips() {
        let a: Parameters = [("b", "1"), ("a", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let b: Parameters = [("a", "2"), ("b", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a.iter().next(), b.iter().next());
        let bytes = bincode::serialize(&a).unwrap();
        let back: Parameters = bincode::deserialize(&bytes).unwrap();
        let keys: Vec<&String> = back.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(a["a"], "2");
    }
}
