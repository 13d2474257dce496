//! `TransformRegistry`: the transform and predicate classes a chain can
//! name, by Java class name or short alias.

use std::fmt;
use std::sync::Arc;

use super::util::Side;
use super::*;

/// Kafka's package of the built-in transforms.
const TRANSFORMS_PACKAGE: &str = "org.apache.kafka.connect.transforms";
/// Kafka's package of the built-in predicates.
const PREDICATES_PACKAGE: &str = "org.apache.kafka.connect.transforms.predicates";

/// A registered class: its name, its aliases and a factory.
#[derive(Clone)]
struct Entry<F> {
    class: String,
    aliases: Vec<String>,
    factory: F,
}

/// A registered class as listed for documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// The class name (`org.apache.kafka.connect.transforms.Cast$Value`).
    pub class: String,
    /// Other names that find it (`Cast$Value`).
    pub aliases: Vec<String>,
}

/// The transform and predicate classes a [`super::TransformChain`] may
/// name in `transforms.<name>.type` and `predicates.<name>.type`.
///
/// [`TransformRegistry::builtin`] holds Kafka's built-in transforms and
/// predicates under their Java class names (so a Kafka Connect
/// `.properties` file works unchanged) and under short aliases (the class
/// name without its package: `Cast$Value`, `Filter`, `TopicNameMatches`).
/// Users add their own with [`TransformRegistry::register_transform`] and
/// [`TransformRegistry::register_predicate`]; a later registration of a
/// name wins.
///
/// ```
/// use std::sync::Arc;
/// use timely_connect::config::{ConfigDef, ConfigIssue, Properties};
/// use timely_connect::data::SourceRecord;
/// use timely_connect::transforms::{TransformError, TransformRegistry, Transformation};
///
/// /// Upper-cases the topic name.
/// struct UpperTopic;
/// impl Transformation for UpperTopic {
///     fn config_def(&self) -> ConfigDef { ConfigDef::new() }
///     fn configure(&mut self, _: &Properties) -> Result<(), Vec<ConfigIssue>> { Ok(()) }
///     fn apply(&mut self, mut r: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
///         r.topic = r.topic.to_uppercase().into();
///         Ok(Some(r))
///     }
/// }
///
/// let mut registry = TransformRegistry::builtin();
/// assert!(registry.find_transform("org.apache.kafka.connect.transforms.Cast$Value").is_some());
/// assert!(registry.find_transform("Cast$Value").is_some());
/// assert!(registry.find_predicate("TopicNameMatches").is_some());
/// assert!(registry.find_transform("com.example.UpperTopic").is_none());
///
/// registry.register_transform("com.example.UpperTopic", &["UpperTopic"], Arc::new(|| Box::new(UpperTopic)));
/// let (class, factory) = registry.find_transform("UpperTopic").unwrap();
/// assert_eq!(class, "com.example.UpperTopic");
/// let _fresh = factory();
/// assert!(registry.transforms().any(|p| p.class == "com.example.UpperTopic"));
/// ```
#[derive(Clone, Default)]
pub struct TransformRegistry {
    transforms: Vec<Entry<TransformFactory>>,
    predicates: Vec<Entry<PredicateFactory>>,
}

impl fmt::Debug for TransformRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransformRegistry")
            .field("transforms", &self.transforms().collect::<Vec<_>>())
            .field("predicates", &self.predicates().collect::<Vec<_>>())
            .finish()
    }
}

/// Makes the `$Key` or `$Value` variant of a transform.
type SidedMaker = fn(Side) -> Box<dyn Transformation>;

/// Wraps a constructor as a [`TransformFactory`].
fn transform<T: Transformation + 'static>(make: fn() -> T) -> TransformFactory {
    Arc::new(move || Box::new(make()))
}

/// Wraps a constructor as a [`PredicateFactory`].
fn predicate<P: Predicate + 'static>(make: fn() -> P) -> PredicateFactory {
    Arc::new(move || Box::new(make()))
}

impl TransformRegistry {
    /// A registry with no classes at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Kafka's built-in transforms and predicates, under their Java class
    /// names and their short aliases.
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        // Transforms with a `$Key` and a `$Value` variant.
        let sided: Vec<(&str, SidedMaker)> = vec![
            ("Cast", |s| Box::new(Cast::new(s))),
            ("ExtractField", |s| Box::new(ExtractField::new(s))),
            ("Flatten", |s| Box::new(Flatten::new(s))),
            ("HeaderFrom", |s| Box::new(HeaderFrom::new(s))),
            ("HoistField", |s| Box::new(HoistField::new(s))),
            ("InsertField", |s| Box::new(InsertField::new(s))),
            ("MaskField", |s| Box::new(MaskField::new(s))),
            ("ReplaceField", |s| Box::new(ReplaceField::new(s))),
            ("SetSchemaMetadata", |s| Box::new(SetSchemaMetadata::new(s))),
            ("TimestampConverter", |s| {
                Box::new(TimestampConverter::new(s))
            }),
        ];
        for (name, make) in sided {
            for side in [Side::Key, Side::Value] {
                let short = format!("{name}${}", side.suffix());
                let class = format!("{TRANSFORMS_PACKAGE}.{short}");
                r.register_transform(&class, &[&short], Arc::new(move || make(side)));
            }
        }
        let single: Vec<(&str, TransformFactory)> = vec![
            ("DropHeaders", transform(DropHeaders::new)),
            ("Filter", transform(Filter::new)),
            ("InsertHeader", transform(InsertHeader::new)),
            ("RegexRouter", transform(RegexRouter::new)),
            ("TimestampRouter", transform(TimestampRouter::new)),
            ("ValueToKey", transform(ValueToKey::new)),
        ];
        for (name, factory) in single {
            r.register_transform(&format!("{TRANSFORMS_PACKAGE}.{name}"), &[name], factory);
        }
        let predicates: Vec<(&str, PredicateFactory)> = vec![
            ("HasHeaderKey", predicate(HasHeaderKey::new)),
            ("RecordIsTombstone", predicate(RecordIsTombstone::new)),
            ("TopicNameMatches", predicate(TopicNameMatches::new)),
        ];
        for (name, factory) in predicates {
            r.register_predicate(&format!("{PREDICATES_PACKAGE}.{name}"), &[name], factory);
        }
        r
    }

    /// Registers a transform class under `class` and `aliases`. A name
    /// registered before (as class or alias) now finds this one.
    pub fn register_transform(
        &mut self,
        class: &str,
        aliases: &[&str],
        factory: TransformFactory,
    ) -> &mut Self {
        register(&mut self.transforms, class, aliases, factory);
        self
    }

    /// Registers a predicate class under `class` and `aliases`. A name
    /// registered before (as class or alias) now finds this one.
    pub fn register_predicate(
        &mut self,
        class: &str,
        aliases: &[&str],
        factory: PredicateFactory,
    ) -> &mut Self {
        register(&mut self.predicates, class, aliases, factory);
        self
    }

    /// The transform registered as `name` (class name or alias): its class
    /// name and factory.
    pub fn find_transform(&self, name: &str) -> Option<(&str, &TransformFactory)> {
        find(&self.transforms, name)
    }

    /// The predicate registered as `name` (class name or alias): its class
    /// name and factory.
    pub fn find_predicate(&self, name: &str) -> Option<(&str, &PredicateFactory)> {
        find(&self.predicates, name)
    }

    /// The registered transform classes, in registration order.
    pub fn transforms(&self) -> impl Iterator<Item = PluginInfo> + '_ {
        self.transforms.iter().map(info)
    }

    /// The registered predicate classes, in registration order.
    pub fn predicates(&self) -> impl Iterator<Item = PluginInfo> + '_ {
        self.predicates.iter().map(info)
    }

    /// A Markdown reference of every registered class with its keys.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("## Transforms\n\n");
        for e in &self.transforms {
            section(&mut out, e, (e.factory)().config_def().to_markdown());
        }
        out.push_str("## Predicates\n\n");
        for e in &self.predicates {
            section(&mut out, e, (e.factory)().config_def().to_markdown());
        }
        out
    }
}

fn section<F>(out: &mut String, e: &Entry<F>, keys: String) {
    out.push_str(&format!("### `{}`\n\n", e.class));
    if !e.aliases.is_empty() {
        let aliases: Vec<String> = e.aliases.iter().map(|a| format!("`{a}`")).collect();
        out.push_str(&format!("Aliases: {}\n\n", aliases.join(", ")));
    }
    if keys.is_empty() {
        out.push_str("No configuration keys.\n\n");
    } else {
        out.push_str(&keys);
    }
}

fn info<F>(e: &Entry<F>) -> PluginInfo {
    PluginInfo {
        class: e.class.clone(),
        aliases: e.aliases.clone(),
    }
}

fn register<F>(entries: &mut Vec<Entry<F>>, class: &str, aliases: &[&str], factory: F) {
    entries.retain(|e| e.class != class);
    entries.push(Entry {
        class: class.to_owned(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        factory,
    });
}

fn find<'a, F>(entries: &'a [Entry<F>], name: &str) -> Option<(&'a str, &'a F)> {
    let name = name.trim();
    entries
        .iter()
        .rev()
        .find(|e| e.class == name)
        .or_else(|| {
            entries
                .iter()
                .rev()
                .find(|e| e.aliases.iter().any(|a| a == name))
        })
        .map(|e| (e.class.as_str(), &e.factory))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_every_kafka_class_and_alias() {
        let r = TransformRegistry::builtin();
        for name in [
            "Cast",
            "ExtractField",
            "Flatten",
            "HeaderFrom",
            "HoistField",
            "InsertField",
            "MaskField",
            "ReplaceField",
            "SetSchemaMetadata",
            "TimestampConverter",
        ] {
            for side in ["Key", "Value"] {
                let class = format!("org.apache.kafka.connect.transforms.{name}${side}");
                assert_eq!(r.find_transform(&class).map(|f| f.0), Some(class.as_str()));
                let alias = format!("{name}${side}");
                assert_eq!(r.find_transform(&alias).map(|f| f.0), Some(class.as_str()));
            }
        }
        for name in [
            "DropHeaders",
            "Filter",
            "InsertHeader",
            "RegexRouter",
            "TimestampRouter",
            "ValueToKey",
        ] {
            assert!(r.find_transform(name).is_some(), "{name}");
            assert!(r
                .find_transform(&format!("org.apache.kafka.connect.transforms.{name}"))
                .is_some());
        }
        for name in ["HasHeaderKey", "RecordIsTombstone", "TopicNameMatches"] {
            assert!(r.find_predicate(name).is_some(), "{name}");
            assert!(r
                .find_predicate(&format!(
                    "org.apache.kafka.connect.transforms.predicates.{name}"
                ))
                .is_some());
        }
        assert_eq!(r.transforms().count(), 26);
        assert_eq!(r.predicates().count(), 3);
        assert!(r.find_transform("Cast").is_none());
    }

    #[test]
    fn later_registration_of_a_name_wins() {
        let mut r = TransformRegistry::builtin();
        r.register_transform("com.example.MyFilter", &["Filter"], transform(Filter::new));
        assert_eq!(
            r.find_transform("Filter").map(|f| f.0),
            Some("com.example.MyFilter")
        );
        assert_eq!(
            r.find_transform("org.apache.kafka.connect.transforms.Filter")
                .map(|f| f.0),
            Some("org.apache.kafka.connect.transforms.Filter")
        );
    }

    #[test]
    fn markdown_lists_classes_and_keys() {
        let md = TransformRegistry::builtin().to_markdown();
        assert!(md.contains("### `org.apache.kafka.connect.transforms.MaskField$Value`"));
        assert!(md.contains("`replacement`"));
        assert!(
            md.contains("### `org.apache.kafka.connect.transforms.predicates.TopicNameMatches`")
        );
    }
}
