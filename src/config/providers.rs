//! Config providers, as Kafka has them: values such as `${env:DB_PASSWORD}`,
//! `${file:/etc/secrets.properties:password}` or
//! `${directory:/run/secrets:db-password}` are resolved when a job starts,
//! so secrets stay out of the connector's `.properties` file — and out of
//! everything the job prints or stores.
//!
//! Kafka declares providers in the Connect worker's configuration
//! (`config.providers=file,env` and `config.providers.file.class=…`).
//! There is no worker here, so the declaration may go into the connector's
//! file; without one, the three providers Kafka ships are available under
//! their usual names `env`, `file` and `directory`. With one, only the
//! declared names resolve, each mapped by its `.class` to Kafka's
//! `EnvVarConfigProvider`, `FileConfigProvider` or
//! `DirectoryConfigProvider`.

use std::collections::BTreeMap;
use std::path::Path;

use super::{parse_properties, ConfigIssue, Properties};

/// `config.providers`: the declared provider names.
pub const CONFIG_PROVIDERS: &str = "config.providers";

const ENV_CLASS: &str = "org.apache.kafka.common.config.provider.EnvVarConfigProvider";
const FILE_CLASS: &str = "org.apache.kafka.common.config.provider.FileConfigProvider";
const DIRECTORY_CLASS: &str = "org.apache.kafka.common.config.provider.DirectoryConfigProvider";

/// The largest file a provider reads (a secret, not a data set).
const MAX_PROVIDED_FILE_BYTES: u64 = 1 << 20;

/// What a provider name resolves with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Env,
    File,
    Directory,
}

/// Properties with every `${provider:[path:]key}` reference resolved, and
/// the unresolved text of each value that had one (to show and store
/// instead of the secret).
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// The properties the connector sees.
    pub props: Properties,
    /// Key → the value as written, for every key whose value held a
    /// reference.
    pub unresolved: BTreeMap<String, String>,
}

impl Resolved {
    /// `props` with the values that came from providers put back as they
    /// were written: what may be printed or stored.
    pub fn hide(&self, props: &Properties) -> Properties {
        let mut shown = props.clone();
        for (key, raw) in &self.unresolved {
            if shown.contains_key(key) {
                shown.insert(key.clone(), raw.clone());
            }
        }
        shown
    }

    /// `text` with every provided value replaced by the reference it came
    /// from (for error messages that quote values).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (key, raw) in &self.unresolved {
            if let Some(value) = self.props.get(key) {
                if !value.is_empty() {
                    out = out.replace(value.as_str(), raw);
                }
            }
        }
        out
    }
}

/// Resolves the provider references in `props`' values; every problem at
/// once, each naming the key and the reference (never a resolved value).
///
/// ```
/// use timely_connect::config::{resolve_providers, Properties};
///
/// std::env::set_var("TC_DOC_TOPIC", "orders");
/// let mut props = Properties::new();
/// props.insert("topic".into(), "${env:TC_DOC_TOPIC}".into());
/// let resolved = resolve_providers(&props).unwrap();
/// assert_eq!(resolved.props["topic"], "orders");
/// assert_eq!(resolved.hide(&resolved.props)["topic"], "${env:TC_DOC_TOPIC}");
/// ```
pub fn resolve_providers(props: &Properties) -> Result<Resolved, Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    let providers = match declared_providers(props) {
        Ok(p) => p,
        Err(mut e) => {
            issues.append(&mut e);
            BTreeMap::new()
        }
    };
    let mut resolved = Resolved {
        props: props.clone(),
        unresolved: BTreeMap::new(),
    };
    for (key, value) in props {
        if key == CONFIG_PROVIDERS || key.starts_with("config.providers.") || !value.contains("${")
        {
            continue;
        }
        match substitute(value, &providers) {
            Ok(Some(new)) => {
                resolved.props.insert(key.clone(), new);
                resolved.unresolved.insert(key.clone(), value.clone());
            }
            Ok(None) => {}
            Err(message) => issues.push(ConfigIssue::new(key, message)),
        }
    }
    if issues.is_empty() {
        Ok(resolved)
    } else {
        Err(issues)
    }
}

/// The provider names in force: the declared ones, or the three defaults.
fn declared_providers(props: &Properties) -> Result<BTreeMap<String, Kind>, Vec<ConfigIssue>> {
    let Some(list) = props.get(CONFIG_PROVIDERS) else {
        return Ok([
            ("env".to_owned(), Kind::Env),
            ("file".to_owned(), Kind::File),
            ("directory".to_owned(), Kind::Directory),
        ]
        .into_iter()
        .collect());
    };
    let mut providers = BTreeMap::new();
    let mut issues = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let class_key = format!("config.providers.{name}.class");
        match props.get(&class_key).map(String::as_str) {
            Some(ENV_CLASS) => {
                providers.insert(name.to_owned(), Kind::Env);
            }
            Some(FILE_CLASS) => {
                providers.insert(name.to_owned(), Kind::File);
            }
            Some(DIRECTORY_CLASS) => {
                providers.insert(name.to_owned(), Kind::Directory);
            }
            Some(other) => issues.push(ConfigIssue::new(
                &class_key,
                format!(
                    "unsupported config provider class `{other}`; supported: {ENV_CLASS}, \
                     {FILE_CLASS}, {DIRECTORY_CLASS}"
                ),
            )),
            None => issues.push(ConfigIssue::new(
                &class_key,
                format!(
                    "config provider `{name}` is declared in {CONFIG_PROVIDERS} without a class"
                ),
            )),
        }
    }
    if issues.is_empty() {
        Ok(providers)
    } else {
        Err(issues)
    }
}

/// `value` with its references resolved; `None` if it has none.
fn substitute(value: &str, providers: &BTreeMap<String, Kind>) -> Result<Option<String>, String> {
    let mut out = String::new();
    let mut rest = value;
    let mut any = false;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break; // no closing brace: not a reference, as in Kafka
        };
        let reference = &rest[start + 2..start + len];
        let Some((provider, tail)) = reference.split_once(':') else {
            // `${name}` without a provider is left alone, as in Kafka.
            out.push_str(&rest[..start + len + 1]);
            rest = &rest[start + len + 1..];
            continue;
        };
        let (path, key) = match tail.split_once(':') {
            Some((path, key)) => (Some(path), key),
            None => (None, tail),
        };
        let kind = providers.get(provider).ok_or_else(|| {
            format!(
                "unknown config provider `{provider}` in `${{{reference}}}`; known: {}",
                providers.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        out.push_str(&rest[..start]);
        out.push_str(&lookup(*kind, path, key, reference)?);
        rest = &rest[start + len + 1..];
        any = true;
    }
    out.push_str(rest);
    Ok(any.then_some(out))
}

fn lookup(kind: Kind, path: Option<&str>, key: &str, reference: &str) -> Result<String, String> {
    let at = format!("`${{{reference}}}`");
    match kind {
        Kind::Env => {
            if path.is_some() {
                return Err(format!(
                    "{at}: the env provider takes no path (`${{env:VAR}}`)"
                ));
            }
            std::env::var(key).map_err(|_| format!("{at}: environment variable `{key}` is not set"))
        }
        Kind::File => {
            let path =
                path.ok_or_else(|| format!("{at}: the file provider needs `${{file:PATH:KEY}}`"))?;
            let text = read_small(Path::new(path)).map_err(|e| format!("{at}: {e}"))?;
            let props = parse_properties(&text, path).map_err(|e| format!("{at}: {e}"))?;
            props
                .get(key)
                .cloned()
                .ok_or_else(|| format!("{at}: file `{path}` has no key `{key}`"))
        }
        Kind::Directory => {
            let dir = path.ok_or_else(|| {
                format!("{at}: the directory provider needs `${{directory:DIR:FILE}}`")
            })?;
            if key.contains('/') || key == ".." || key == "." {
                return Err(format!("{at}: `{key}` must be a file name inside `{dir}`"));
            }
            read_small(&Path::new(dir).join(key)).map_err(|e| format!("{at}: {e}"))
        }
    }
}

/// Reads a small regular file as text.
fn read_small(path: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("`{}` is not a regular file", path.display()));
    }
    if meta.len() > MAX_PROVIDED_FILE_BYTES {
        return Err(format!(
            "`{}` is {} bytes, more than a provider reads ({MAX_PROVIDED_FILE_BYTES})",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(entries: &[(&str, &str)]) -> Properties {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn env_file_and_directory_references_resolve_and_hide() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.properties");
        std::fs::write(&file, "db.password=hunter2\n").unwrap();
        std::fs::write(dir.path().join("user"), "admin").unwrap();
        std::env::set_var("TC_TEST_HOST", "db.internal");
        let p = props(&[
            ("database.hostname", "${env:TC_TEST_HOST}"),
            (
                "database.password",
                &format!("${{file:{}:db.password}}", file.display()),
            ),
            (
                "database.user",
                &format!("${{directory:{}:user}}", dir.path().display()),
            ),
            ("database.url", "jdbc://${env:TC_TEST_HOST}:5432/x"),
            ("plain", "${not-a-reference}"),
        ]);
        let r = resolve_providers(&p).unwrap();
        assert_eq!(r.props["database.hostname"], "db.internal");
        assert_eq!(r.props["database.password"], "hunter2");
        assert_eq!(r.props["database.user"], "admin");
        assert_eq!(r.props["database.url"], "jdbc://db.internal:5432/x");
        assert_eq!(r.props["plain"], "${not-a-reference}");
        let shown = r.hide(&r.props);
        assert_eq!(shown, p);
        assert_eq!(
            r.scrub("password hunter2 was refused"),
            format!(
                "password ${{file:{}:db.password}} was refused",
                file.display()
            )
        );
    }

    #[test]
    fn missing_variables_files_keys_and_providers_are_issues_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.properties");
        std::fs::write(&file, "a=1\n").unwrap();
        let p = props(&[
            ("one", "${env:TC_TEST_SURELY_UNSET}"),
            ("two", &format!("${{file:{}:b}}", file.display())),
            ("three", "${file:/no/such/file:a}"),
            ("four", "${vault:secret/db:pw}"),
            (
                "five",
                &format!("${{directory:{}:../etc}}", dir.path().display()),
            ),
        ]);
        let issues = resolve_providers(&p).unwrap_err();
        let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert_eq!(issues.len(), 5, "{text:?}");
        assert!(text[0].contains("five") && text[0].contains("file name inside"));
        assert!(text[1].contains("four") && text[1].contains("unknown config provider `vault`"));
        assert!(text[2].contains("one") && text[2].contains("TC_TEST_SURELY_UNSET"));
        assert!(text[3].contains("three") && text[3].contains("/no/such/file"));
        assert!(text[4].contains("two") && text[4].contains("has no key `b`"));
    }

    #[test]
    fn declared_providers_replace_the_defaults_and_take_kafka_class_names() {
        std::env::set_var("TC_TEST_DECLARED", "x");
        let p = props(&[
            ("config.providers", "vars"),
            ("config.providers.vars.class", ENV_CLASS),
            ("a", "${vars:TC_TEST_DECLARED}"),
        ]);
        assert_eq!(resolve_providers(&p).unwrap().props["a"], "x");
        let p = props(&[
            ("config.providers", "vars"),
            ("config.providers.vars.class", ENV_CLASS),
            ("a", "${env:TC_TEST_DECLARED}"),
        ]);
        assert!(resolve_providers(&p).unwrap_err()[0]
            .to_string()
            .contains("unknown config provider `env`"));
        let p = props(&[
            ("config.providers", "v"),
            ("config.providers.v.class", "com.example.Vault"),
        ]);
        assert!(resolve_providers(&p).unwrap_err()[0]
            .to_string()
            .contains("unsupported config provider class"));
    }
}
