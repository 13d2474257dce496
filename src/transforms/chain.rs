//! `TransformChain`: a connector's transforms in order, each optionally
//! guarded by a predicate, built from Kafka Connect's `transforms.*` and
//! `predicates.*` keys.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::{ConfigIssue, ConfigType, ConfigValue, Properties};
use crate::data::SourceRecord;

use super::registry::TransformRegistry;
use super::{Predicate, TransformError, Transformation};

/// A transform in a chain failed on a record. Carries what a dead-letter
/// report needs: Kafka's stage (`TRANSFORMATION`), the transform's alias
/// and class, and the error with its exception class.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("transform `{alias}` ({class}) failed: {error}")]
pub struct ChainError {
    /// The transform's alias in `transforms=…`.
    pub alias: String,
    /// The transform's class name as registered.
    pub class: String,
    /// What went wrong.
    #[source]
    pub error: TransformError,
}

impl ChainError {
    /// Kafka's error-context stage for a failing transform.
    pub fn stage(&self) -> &'static str {
        "TRANSFORMATION"
    }

    /// The Java exception class Kafka would report.
    pub fn exception_class(&self) -> &'static str {
        self.error.exception_class()
    }
}

/// A predicate guarding one stage, with its alias and `negate`.
pub struct StagePredicate {
    /// The predicate's alias in `predicates=…`.
    pub alias: String,
    /// The configured predicate.
    pub predicate: Box<dyn Predicate>,
    /// Apply the transform when the predicate is false instead.
    pub negate: bool,
}

/// One transform of a chain: alias, class, the configured transform and
/// an optional predicate.
pub struct TransformStage {
    /// The alias in `transforms=…`.
    pub alias: String,
    /// The class name (reported in [`ChainError`]).
    pub class: String,
    /// The configured transform.
    pub transform: Box<dyn Transformation>,
    /// When set, the transform applies only to records for which the
    /// predicate's result differs from `negate`.
    pub predicate: Option<StagePredicate>,
}

impl TransformStage {
    /// A stage that applies `transform` to every record.
    pub fn new(alias: &str, class: &str, transform: Box<dyn Transformation>) -> Self {
        TransformStage {
            alias: alias.to_owned(),
            class: class.to_owned(),
            transform,
            predicate: None,
        }
    }

    /// Guards the stage with a predicate: the transform applies where
    /// `predicate.test(record) != negate`.
    pub fn with_predicate(
        mut self,
        alias: &str,
        predicate: Box<dyn Predicate>,
        negate: bool,
    ) -> Self {
        self.predicate = Some(StagePredicate {
            alias: alias.to_owned(),
            predicate,
            negate,
        });
        self
    }
}

impl fmt::Debug for TransformStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TransformStage");
        d.field("alias", &self.alias).field("class", &self.class);
        if let Some(p) = &self.predicate {
            d.field("predicate", &p.alias).field("negate", &p.negate);
        }
        d.finish()
    }
}

/// A connector's transforms, applied in order to each record.
///
/// Built from Kafka Connect's keys with [`TransformChain::from_config`]:
/// `transforms=a,b`, `transforms.<a>.type` (a class name or alias in the
/// [`TransformRegistry`]), `transforms.<a>.<key>` for the transform's own
/// keys, `transforms.<a>.predicate` and `transforms.<a>.negate`, and
/// `predicates=p`, `predicates.<p>.type`, `predicates.<p>.<key>`. Every
/// problem is reported at once, each naming its full key.
///
/// ```
/// use std::sync::Arc;
/// use timely_connect::config::Properties;
/// use timely_connect::data::{SourceOffset, SourcePartition, SourceRecord, Value};
/// use timely_connect::transforms::{TransformChain, TransformRegistry};
///
/// let mut props = Properties::new();
/// for (k, v) in [
///     ("transforms", "MakeMap,InsertSource,DropFoo"),
///     ("transforms.MakeMap.type", "org.apache.kafka.connect.transforms.HoistField$Value"),
///     ("transforms.MakeMap.field", "line"),
///     ("transforms.InsertSource.type", "org.apache.kafka.connect.transforms.InsertField$Value"),
///     ("transforms.InsertSource.static.field", "data_source"),
///     ("transforms.InsertSource.static.value", "test-file-source"),
///     ("transforms.DropFoo.type", "Filter"),
///     ("transforms.DropFoo.predicate", "IsFoo"),
///     ("predicates", "IsFoo"),
///     ("predicates.IsFoo.type", "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"),
///     ("predicates.IsFoo.pattern", "foo"),
/// ] {
///     props.insert(k.into(), v.into());
/// }
/// let mut chain = TransformChain::from_config(&props, &TransformRegistry::builtin()).unwrap();
///
/// let record = |topic: &str| SourceRecord::new(
///     SourcePartition::single("filename", "in.txt"),
///     SourceOffset::int(&SourceOffset::key("position"), 0),
///     Arc::from(topic),
///     None,
///     Value::from("hello"),
/// );
/// let out = chain.apply(record("lines")).unwrap().unwrap();
/// assert_eq!(out.value, Value::Map(vec![
///     (Value::from("line"), Value::from("hello")),
///     (Value::from("data_source"), Value::from("test-file-source")),
/// ]));
/// assert_eq!(chain.apply(record("foo")).unwrap(), None);
///
/// // Every problem at once, by full key.
/// props.insert("transforms.MakeMap.type".into(), "com.example.Nope".into());
/// props.remove("predicates.IsFoo.pattern");
/// let issues = TransformChain::from_config(&props, &TransformRegistry::builtin()).unwrap_err();
/// let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
/// assert_eq!(keys, ["predicates.IsFoo.pattern", "transforms.MakeMap.type"]);
/// ```
#[derive(Debug, Default)]
pub struct TransformChain {
    stages: Vec<TransformStage>,
}

/// The keys of `props` under `prefix`, with the prefix removed.
fn sub_properties(props: &Properties, prefix: &str) -> Properties {
    props
        .range(prefix.to_owned()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k[prefix.len()..].to_owned(), v.clone()))
        .collect()
}

/// The aliases listed in `key`, with issues for empty or repeated ones.
fn aliases(props: &Properties, key: &str, issues: &mut Vec<ConfigIssue>) -> Vec<String> {
    let Some(text) = props.get(key) else {
        return Vec::new();
    };
    let Some(ConfigValue::List(items)) = ConfigType::List.parse(text) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if item.is_empty() {
            issues.push(ConfigIssue::new(key, format!("empty alias in `{text}`")));
        } else if out.contains(&item) {
            issues.push(ConfigIssue::new(key, format!("duplicate alias `{item}`")));
        } else {
            out.push(item);
        }
    }
    out
}

/// Prefixes each issue's key.
fn prefixed(prefix: &str, issues: Vec<ConfigIssue>) -> impl Iterator<Item = ConfigIssue> + '_ {
    issues.into_iter().map(move |mut i| {
        i.key = format!("{prefix}{}", i.key);
        i
    })
}

/// The `type` of a transform or predicate alias: its class and factory.
fn plugin_type<'r, F>(
    props: &Properties,
    key: &str,
    kind: &str,
    find: impl Fn(&str) -> Option<(&'r str, &'r F)>,
    issues: &mut Vec<ConfigIssue>,
) -> Option<(&'r str, &'r F)> {
    match props.get(key).map(|v| v.trim()) {
        None | Some("") => {
            issues.push(ConfigIssue::new(
                key,
                format!("missing required configuration: the {kind} class name"),
            ));
            None
        }
        Some(name) => {
            let found = find(name);
            if found.is_none() {
                issues.push(ConfigIssue::new(
                    key,
                    format!(
                        "unknown {kind} class `{name}` (not built in and not registered in the \
                         TransformRegistry)"
                    ),
                ));
            }
            found
        }
    }
}

impl TransformChain {
    /// A chain of the given stages, applied in order (for users who build
    /// transforms in code).
    pub fn new(stages: Vec<TransformStage>) -> Self {
        TransformChain { stages }
    }

    /// Builds the chain a connector's properties describe, with the
    /// classes of `registry`. Returns every problem at once: a missing or
    /// unknown `type`, a `predicate` not listed in `predicates`, `negate`
    /// without a `predicate` (or not a boolean), repeated aliases, and each
    /// transform's and predicate's own issues, all under their full keys
    /// (`transforms.mask.fields`). No `transforms` key: an empty chain.
    pub fn from_config(
        props: &Properties,
        registry: &TransformRegistry,
    ) -> Result<TransformChain, Vec<ConfigIssue>> {
        let mut issues = Vec::new();

        // Predicates first: each is configured once to report its issues;
        // every transform that names it gets its own configured instance.
        let mut predicate_props: BTreeMap<String, Option<(Properties, super::PredicateFactory)>> =
            BTreeMap::new();
        for alias in aliases(props, "predicates", &mut issues) {
            let prefix = format!("predicates.{alias}.");
            let found = plugin_type(
                props,
                &format!("{prefix}type"),
                "predicate",
                |n| registry.find_predicate(n),
                &mut issues,
            );
            let mut entry = None;
            if let Some((_, factory)) = found {
                let mut own = sub_properties(props, &prefix);
                own.remove("type");
                match factory().configure(&own) {
                    Ok(()) => entry = Some((own, factory.clone())),
                    Err(problems) => issues.extend(prefixed(&prefix, problems)),
                }
            }
            predicate_props.insert(alias, entry);
        }

        let mut stages = Vec::new();
        for alias in aliases(props, "transforms", &mut issues) {
            let prefix = format!("transforms.{alias}.");
            let found = plugin_type(
                props,
                &format!("{prefix}type"),
                "transformation",
                |n| registry.find_transform(n),
                &mut issues,
            );

            let predicate_key = format!("{prefix}predicate");
            let negate_key = format!("{prefix}negate");
            let predicate_alias = props.get(&predicate_key).map(|p| p.trim().to_owned());
            let mut negate = false;
            if let Some(text) = props.get(&negate_key) {
                match ConfigType::Boolean.parse(text) {
                    Some(ConfigValue::Boolean(b)) => negate = b,
                    _ => issues.push(ConfigIssue::new(
                        &negate_key,
                        format!("expected BOOLEAN, got `{text}`"),
                    )),
                }
                if predicate_alias.is_none() {
                    issues.push(ConfigIssue::new(
                        &negate_key,
                        format!("negate is set but `{predicate_key}` is not"),
                    ));
                }
            }
            let mut predicate = None;
            if let Some(p) = &predicate_alias {
                match predicate_props.get(p) {
                    None => issues.push(ConfigIssue::new(
                        &predicate_key,
                        format!("predicate `{p}` is not defined in `predicates`"),
                    )),
                    Some(None) => {} // Its own issues are reported already.
                    Some(Some((own, factory))) => {
                        let mut instance = factory();
                        match instance.configure(own) {
                            Ok(()) => predicate = Some(instance),
                            Err(problems) => {
                                issues.extend(prefixed(&format!("predicates.{p}."), problems))
                            }
                        }
                    }
                }
            }

            let Some((class, factory)) = found else {
                continue;
            };
            let mut own = sub_properties(props, &prefix);
            for implicit in ["type", "predicate", "negate"] {
                own.remove(implicit);
            }
            let mut transform = factory();
            if let Err(problems) = transform.configure(&own) {
                issues.extend(prefixed(&prefix, problems));
                continue;
            }
            let mut stage = TransformStage::new(&alias, class, transform);
            if let (Some(p), Some(instance)) = (&predicate_alias, predicate) {
                stage = stage.with_predicate(p, instance, negate);
            }
            stages.push(stage);
        }

        if issues.is_empty() {
            Ok(TransformChain { stages })
        } else {
            Err(issues)
        }
    }

    /// Applies the stages in order. A stage whose predicate (xor `negate`)
    /// says no is skipped; a stage that drops the record ends the chain
    /// with `Ok(None)`; a failing stage ends it with a [`ChainError`]
    /// naming the stage (the record is consumed: clone it first if a
    /// dead-letter report needs the original).
    pub fn apply(&mut self, record: SourceRecord) -> Result<Option<SourceRecord>, ChainError> {
        let mut record = record;
        for stage in &mut self.stages {
            if let Some(p) = &stage.predicate {
                if p.predicate.test(&record) == p.negate {
                    continue;
                }
            }
            match stage.transform.apply(record) {
                Ok(Some(next)) => record = next,
                Ok(None) => return Ok(None),
                Err(error) => {
                    return Err(ChainError {
                        alias: stage.alias.clone(),
                        class: stage.class.clone(),
                        error,
                    })
                }
            }
        }
        Ok(Some(record))
    }

    /// True when the chain has no stages (records pass unchanged).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// The stages, in order.
    pub fn stages(&self) -> &[TransformStage] {
        &self.stages
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::ConfigDef;
    use crate::data::{Schema, SchemaBuilder, Struct, Value};
    use crate::transforms::test_util::{issue_texts, map, props, record};

    fn chain(pairs: &[(&str, &str)]) -> TransformChain {
        TransformChain::from_config(&props(pairs), &TransformRegistry::builtin()).unwrap()
    }

    fn chain_issues(pairs: &[(&str, &str)]) -> Vec<String> {
        issue_texts(
            &TransformChain::from_config(&props(pairs), &TransformRegistry::builtin()).unwrap_err(),
        )
    }

    #[test]
    fn no_transforms_key_gives_an_empty_chain() {
        let mut c = chain(&[]);
        assert!(c.is_empty());
        let r = record("t", None, Value::from("x"));
        assert_eq!(c.apply(r.clone()).unwrap(), Some(r));
    }

    #[test]
    fn chain_applies_transforms_in_order() {
        // Hoist, then insert into the hoisted map: order matters.
        let mut c = chain(&[
            ("transforms", "hoist,insert"),
            ("transforms.hoist.type", "HoistField$Value"),
            ("transforms.hoist.field", "line"),
            ("transforms.insert.type", "InsertField$Value"),
            ("transforms.insert.topic.field", "topic"),
        ]);
        assert_eq!(c.len(), 2);
        let out = c
            .apply(record("t", None, Value::from("x")))
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value,
            map(vec![
                ("line", Value::from("x")),
                ("topic", Value::from("t"))
            ])
        );
        // Reversed, the insert fails on a string value.
        let mut reversed = chain(&[
            ("transforms", "insert,hoist"),
            ("transforms.hoist.type", "HoistField$Value"),
            ("transforms.hoist.field", "line"),
            ("transforms.insert.type", "InsertField$Value"),
            ("transforms.insert.topic.field", "topic"),
        ]);
        let err = reversed
            .apply(record("t", None, Value::from("x")))
            .unwrap_err();
        assert_eq!(err.alias, "insert");
        assert_eq!(
            err.class,
            "org.apache.kafka.connect.transforms.InsertField$Value"
        );
        assert_eq!(err.stage(), "TRANSFORMATION");
        assert_eq!(
            err.exception_class(),
            "org.apache.kafka.connect.errors.DataException"
        );
    }

    /// Kafka's documented predicate example: drop topic `foo`, extract
    /// `other_field` from the key on every topic but `bar`.
    #[test]
    fn kafka_docs_predicate_example_filters_and_negates() {
        let mut c = chain(&[
            ("transforms", "Filter,Extract"),
            (
                "transforms.Filter.type",
                "org.apache.kafka.connect.transforms.Filter",
            ),
            ("transforms.Filter.predicate", "IsFoo"),
            (
                "transforms.Extract.type",
                "org.apache.kafka.connect.transforms.ExtractField$Key",
            ),
            ("transforms.Extract.field", "other_field"),
            ("transforms.Extract.predicate", "IsBar"),
            ("transforms.Extract.negate", "true"),
            ("predicates", "IsFoo,IsBar"),
            (
                "predicates.IsFoo.type",
                "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            ),
            ("predicates.IsFoo.pattern", "foo"),
            (
                "predicates.IsBar.type",
                "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            ),
            ("predicates.IsBar.pattern", "bar"),
        ]);
        let keyed = |topic: &str| {
            record(topic, None, Value::from("v"))
                .with_key(None, map(vec![("other_field", Value::Int32(7))]))
        };
        assert_eq!(c.apply(keyed("foo")).unwrap(), None);
        let bar = c.apply(keyed("bar")).unwrap().unwrap();
        assert_eq!(bar.key, map(vec![("other_field", Value::Int32(7))]));
        let baz = c.apply(keyed("baz")).unwrap().unwrap();
        assert_eq!(baz.key, Value::Int32(7));
    }

    #[test]
    fn drop_stops_the_chain() {
        // The second transform would fail on every record; it never runs.
        let mut c = chain(&[
            ("transforms", "drop,fail"),
            ("transforms.drop.type", "Filter"),
            ("transforms.fail.type", "ExtractField$Value"),
            ("transforms.fail.field", "x"),
        ]);
        assert_eq!(c.apply(record("t", None, Value::Int32(1))).unwrap(), None);
    }

    #[test]
    fn from_config_reports_every_issue_at_once_with_full_keys() {
        let issues = chain_issues(&[
            ("transforms", "mask,nope,notype,pred,neg,dup,dup"),
            ("transforms.mask.type", "MaskField$Value"),
            ("transforms.nope.type", "com.example.Nope"),
            ("transforms.pred.type", "Filter"),
            ("transforms.pred.predicate", "Undefined"),
            ("transforms.neg.type", "Filter"),
            ("transforms.neg.negate", "true"),
            ("transforms.dup.type", "Filter"),
            ("predicates", "bad"),
            ("predicates.bad.type", "TopicNameMatches"),
            ("predicates.bad.pattern", "("),
        ]);
        assert_eq!(issues.len(), 7, "{issues:#?}");
        let has = |key: &str, text: &str| {
            assert!(
                issues
                    .iter()
                    .any(|i| i.starts_with(&format!("{key}: ")) && i.contains(text)),
                "no `{key}` issue containing `{text}` in {issues:#?}"
            )
        };
        has("predicates.bad.pattern", "invalid regular expression");
        has("transforms", "duplicate alias `dup`");
        has("transforms.mask.fields", "missing required configuration");
        has(
            "transforms.nope.type",
            "unknown transformation class `com.example.Nope`",
        );
        has("transforms.notype.type", "missing required configuration");
        has(
            "transforms.pred.predicate",
            "predicate `Undefined` is not defined",
        );
        has(
            "transforms.neg.negate",
            "negate is set but `transforms.neg.predicate` is not",
        );
    }

    #[test]
    fn from_config_rejects_unknown_predicate_class_and_bad_negate() {
        let issues = chain_issues(&[
            ("transforms", "f"),
            ("transforms.f.type", "Filter"),
            ("transforms.f.predicate", "p"),
            ("transforms.f.negate", "maybe"),
            ("predicates", "p"),
            ("predicates.p.type", "com.example.IsWeekend"),
        ]);
        assert_eq!(
            issues,
            [
                "predicates.p.type: unknown predicate class `com.example.IsWeekend` (not built \
                 in and not registered in the TransformRegistry)",
                "transforms.f.negate: expected BOOLEAN, got `maybe`",
            ]
        );
    }

    /// A user transform: appends a suffix to the topic.
    struct Suffix(String);

    impl Transformation for Suffix {
        fn config_def(&self) -> ConfigDef {
            ConfigDef::new().define(crate::config::ConfigKey::new(
                "suffix",
                ConfigType::String,
                crate::config::Importance::High,
                "Suffix.",
            ))
        }
        fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
            let parsed = self.config_def().parse(configs)?;
            self.0 = parsed.string("suffix").unwrap_or_default().to_owned();
            Ok(())
        }
        fn apply(&mut self, mut r: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
            r.topic = format!("{}{}", r.topic, self.0).into();
            Ok(Some(r))
        }
    }

    #[test]
    fn user_registered_transform_is_found_configured_and_applied() {
        let mut registry = TransformRegistry::builtin();
        registry.register_transform(
            "com.example.Suffix",
            &["Suffix"],
            Arc::new(|| Box::new(Suffix(String::new()))),
        );
        let p = props(&[
            ("transforms", "s"),
            ("transforms.s.type", "com.example.Suffix"),
            ("transforms.s.suffix", "-v2"),
        ]);
        let mut c = TransformChain::from_config(&p, &registry).unwrap();
        let out = c
            .apply(record("orders", None, Value::Null))
            .unwrap()
            .unwrap();
        assert_eq!(&*out.topic, "orders-v2");

        let mut bad = p.clone();
        bad.remove("transforms.s.suffix");
        let issues = TransformChain::from_config(&bad, &registry).unwrap_err();
        assert_eq!(issues[0].key, "transforms.s.suffix");
    }

    #[test]
    fn chain_from_parts_applies_predicate_and_negate() {
        let mut is_foo = super::super::TopicNameMatches::new();
        is_foo.configure(&props(&[("pattern", "foo")])).unwrap();
        let mut c = TransformChain::new(vec![TransformStage::new(
            "drop-others",
            "Filter",
            Box::new(super::super::Filter::new()),
        )
        .with_predicate("IsFoo", Box::new(is_foo), true)]);
        assert!(c.apply(record("foo", None, Value::Null)).unwrap().is_some());
        assert!(c.apply(record("bar", None, Value::Null)).unwrap().is_none());
    }

    #[test]
    fn chain_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<TransformChain>();
    }

    #[test]
    fn three_transform_chain_on_structs_keeps_schemas_cached() {
        let schema = SchemaBuilder::struct_()
            .name("row")
            .field("id", Schema::int64())
            .field("ssn", Schema::string())
            .build();
        let mut c = chain(&[
            ("transforms", "ins,ren,mask"),
            ("transforms.ins.type", "InsertField$Value"),
            ("transforms.ins.static.field", "src"),
            ("transforms.ins.static.value", "db"),
            ("transforms.ren.type", "ReplaceField$Value"),
            ("transforms.ren.renames", "id:key"),
            ("transforms.mask.type", "MaskField$Value"),
            ("transforms.mask.fields", "ssn"),
        ]);
        let mut first_schema = None;
        for i in 0..3i64 {
            let v = Struct::new(schema.clone())
                .with("id", i)
                .unwrap()
                .with("ssn", "123-45-6789")
                .unwrap();
            let out = c
                .apply(record("t", Some(schema.clone()), Value::Struct(v)))
                .unwrap()
                .unwrap();
            out.validate().unwrap();
            let s = out.value.as_struct().unwrap();
            assert_eq!(s.get("key"), Some(&Value::Int64(i)));
            assert_eq!(s.get("ssn"), Some(&Value::from("")));
            assert_eq!(s.get("src"), Some(&Value::from("db")));
            let out_schema = out.value_schema.unwrap();
            match &first_schema {
                None => first_schema = Some(out_schema),
                Some(f) => assert!(Arc::ptr_eq(f, &out_schema)),
            }
        }
    }
}
