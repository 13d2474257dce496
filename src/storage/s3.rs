//! An S3-compatible object store as [`Storage`], through `object_store`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use super::{check_name, Listing, Storage, StorageError, S3_SCHEME};

/// The job properties an S3 location reads, each overriding the `AWS_*`
/// environment variable named beside it:
///
/// | property | environment | meaning |
/// |---|---|---|
/// | `snapshot.s3.endpoint` | `AWS_ENDPOINT_URL` | the server (default: AWS) |
/// | `snapshot.s3.region` | `AWS_REGION` | the region (default `us-east-1`) |
/// | `snapshot.s3.access.key.id` | `AWS_ACCESS_KEY_ID` | credentials |
/// | `snapshot.s3.secret.access.key` | `AWS_SECRET_ACCESS_KEY` | credentials |
/// | `snapshot.s3.session.token` | `AWS_SESSION_TOKEN` | temporary credentials |
/// | `snapshot.s3.allow.http` | `AWS_ALLOW_HTTP` | plain http to a non-loopback endpoint |
/// | `snapshot.s3.conditional.put` | `AWS_CONDITIONAL_PUT` | `etag` (default) or `disabled` |
/// | `snapshot.s3.retry.max` | | retries per request (default 5) |
/// | `snapshot.s3.retry.timeout.ms` | | give a request up after this long (default 30000) |
/// | `snapshot.s3.request.timeout.ms` | | one attempt's timeout (default 30000) |
///
/// Values may come from config providers (`${file:…}`, `${env:…}`).
pub const S3_OPTION_KEYS: &[&str] = &[
    "snapshot.s3.endpoint",
    "snapshot.s3.region",
    "snapshot.s3.access.key.id",
    "snapshot.s3.secret.access.key",
    "snapshot.s3.session.token",
    "snapshot.s3.allow.http",
    "snapshot.s3.conditional.put",
    "snapshot.s3.retry.max",
    "snapshot.s3.retry.timeout.ms",
    "snapshot.s3.request.timeout.ms",
];

/// A bucket and prefix of an S3-compatible object store.
///
/// Every object is written with one PUT, which S3 makes visible whole or
/// not at all. [`Storage::create`] is a conditional PUT (`If-None-Match:
/// *`, AWS S3 since 2024, MinIO, R2, Ceph); where a server ignores the
/// condition, the snapshot store's rule holds instead: one checkpoint
/// coordinator writes a prefix, and it lists before it writes, so it never
/// writes an epoch that exists. Requests that fail with a server error, a
/// throttling answer or a broken connection are retried with exponential
/// backoff (100 ms doubling up to 5 s, at most `snapshot.s3.retry.max`
/// times and `snapshot.s3.retry.timeout.ms` in all).
///
/// The client runs on a small Tokio runtime of its own; its methods block.
#[derive(Debug)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    runtime: tokio::runtime::Runtime,
    prefix: String,
    root: PathBuf,
}

fn config_err(bucket: &str, prefix: &str, reason: impl Into<String>) -> StorageError {
    StorageError::Config {
        location: format!("{S3_SCHEME}{bucket}/{prefix}"),
        reason: reason.into(),
    }
}

/// True for `http://localhost…`, `http://127.…` and `http://[::1]…`.
fn is_loopback_http(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl S3Storage {
    /// Opens `s3://bucket/prefix` with the `AWS_*` environment variables
    /// overridden by `options` (see [`S3_OPTION_KEYS`]). Nothing is sent
    /// to the server until the first operation.
    pub fn open(
        bucket: &str,
        prefix: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<S3Storage, StorageError> {
        if bucket.is_empty() {
            return Err(config_err(
                bucket,
                prefix,
                "the URL names no bucket (s3://BUCKET/PREFIX)",
            ));
        }
        let option = |key: &str| options.get(key).map(|v| v.trim().to_owned());
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        let number = |key: &str, default: u64| -> Result<u64, StorageError> {
            match option(key) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| {
                    config_err(
                        bucket,
                        prefix,
                        format!("`{key}` must be a whole number, not `{v}`"),
                    )
                }),
            }
        };
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, config) in [
            ("snapshot.s3.endpoint", AmazonS3ConfigKey::Endpoint),
            ("snapshot.s3.region", AmazonS3ConfigKey::Region),
            ("snapshot.s3.access.key.id", AmazonS3ConfigKey::AccessKeyId),
            (
                "snapshot.s3.secret.access.key",
                AmazonS3ConfigKey::SecretAccessKey,
            ),
            ("snapshot.s3.session.token", AmazonS3ConfigKey::Token),
            (
                "snapshot.s3.conditional.put",
                AmazonS3ConfigKey::ConditionalPut,
            ),
        ] {
            if let Some(value) = option(key) {
                builder = builder.with_config(config, value);
            }
        }
        let endpoint = option("snapshot.s3.endpoint")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .or_else(|| env("AWS_ENDPOINT"));
        let allow_http = option("snapshot.s3.allow.http")
            .or_else(|| env("AWS_ALLOW_HTTP"))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if let Some(endpoint) = &endpoint {
            if endpoint.starts_with("http://") {
                if !allow_http && !is_loopback_http(endpoint) {
                    return Err(config_err(
                        bucket,
                        prefix,
                        format!(
                            "endpoint {endpoint} is plain http and not on this machine's loopback; \
                             use https, or set snapshot.s3.allow.http=true (or AWS_ALLOW_HTTP=true)"
                        ),
                    ));
                }
                builder = builder.with_allow_http(true);
            }
        }
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: number("snapshot.s3.retry.max", 5)? as usize,
            retry_timeout: Duration::from_millis(number("snapshot.s3.retry.timeout.ms", 30_000)?),
        };
        let request_timeout =
            Duration::from_millis(number("snapshot.s3.request.timeout.ms", 30_000)?);
        builder = builder.with_retry(retry).with_client_options(
            ClientOptions::new()
                .with_allow_http(allow_http || endpoint.as_deref().is_some_and(is_loopback_http))
                .with_timeout(request_timeout)
                .with_connect_timeout(Duration::from_secs(5)),
        );
        let store = builder
            .build()
            .map_err(|e| config_err(bucket, prefix, e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("s3-snapshots")
            .enable_all()
            .build()
            .map_err(|e| {
                config_err(
                    bucket,
                    prefix,
                    format!("cannot start its client runtime: {e}"),
                )
            })?;
        let prefix = prefix.trim_matches('/').to_owned();
        let root = if prefix.is_empty() {
            PathBuf::from(format!("{S3_SCHEME}{bucket}"))
        } else {
            PathBuf::from(format!("{S3_SCHEME}{bucket}/{prefix}"))
        };
        Ok(S3Storage {
            store: Arc::new(store),
            runtime,
            prefix,
            root,
        })
    }

    fn key(&self, name: &str) -> Result<ObjectPath, StorageError> {
        check_name(&self.root, name)?;
        let key = if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        };
        ObjectPath::parse(&key).map_err(|e| StorageError::Io {
            op: "name",
            location: self.location(name),
            source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
        })
    }

    fn error(&self, op: &'static str, name: &str, e: object_store::Error) -> StorageError {
        let location = self.location(name);
        match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound { location },
            object_store::Error::AlreadyExists { .. } => StorageError::AlreadyExists { location },
            other => StorageError::Io {
                op,
                location,
                source: io::Error::other(other.to_string()),
            },
        }
    }

    fn put_mode(&self, name: &str, bytes: &[u8], mode: PutMode) -> Result<(), StorageError> {
        let key = self.key(name)?;
        let payload = PutPayload::from(bytes.to_vec());
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        self.runtime
            .block_on(self.store.put_opts(&key, payload, options))
            .map(|_| ())
            .map_err(|e| self.error("write", name, e))
    }
}

impl Storage for S3Storage {
    fn root(&self) -> &Path {
        &self.root
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn create(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        match self.put_mode(name, bytes, PutMode::Create) {
            // A retried request whose first attempt landed finds its own
            // object: the same bytes are a success.
            Err(StorageError::AlreadyExists { location }) => {
                match self.read(name, bytes.len() as u64) {
                    Ok(there) if there == bytes => Ok(()),
                    _ => Err(StorageError::AlreadyExists { location }),
                }
            }
            other => other,
        }
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.put_mode(name, bytes, PutMode::Overwrite)
    }

    fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, StorageError> {
        let key = self.key(name)?;
        self.runtime.block_on(async {
            let got = self
                .store
                .get(&key)
                .await
                .map_err(|e| self.error("read", name, e))?;
            if got.meta.size > limit {
                return Err(StorageError::TooLarge {
                    location: self.location(name),
                    size: got.meta.size,
                    limit,
                });
            }
            let bytes = got.bytes().await.map_err(|e| self.error("read", name, e))?;
            Ok(bytes.to_vec())
        })
    }

    fn size(&self, name: &str) -> Result<u64, StorageError> {
        let key = self.key(name)?;
        self.runtime
            .block_on(self.store.head(&key))
            .map(|meta| meta.size)
            .map_err(|e| self.error("read", name, e))
    }

    fn list(&self, dir: &str) -> Result<Listing, StorageError> {
        let prefix = match (dir.is_empty(), self.prefix.is_empty()) {
            (true, true) => None,
            (true, false) => Some(self.prefix.clone()),
            (false, _) => {
                check_name(&self.root, dir)?;
                Some(if self.prefix.is_empty() {
                    dir.to_owned()
                } else {
                    format!("{}/{dir}", self.prefix)
                })
            }
        };
        let prefix = prefix
            .map(|p| ObjectPath::parse(&p))
            .transpose()
            .map_err(|e| StorageError::Io {
                op: "list",
                location: self.location(dir),
                source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            })?;
        let listed = self
            .runtime
            .block_on(self.store.list_with_delimiter(prefix.as_ref()))
            .map_err(|e| self.error("list", dir, e))?;
        let mut listing = Listing::default();
        for meta in listed.objects {
            if let Some(file) = meta.location.filename() {
                listing.files.push((file.to_owned(), meta.size));
            }
        }
        for p in listed.common_prefixes {
            if let Some(d) = p.filename() {
                listing.dirs.push(d.to_owned());
            }
        }
        listing.files.sort();
        listing.dirs.sort();
        Ok(listing)
    }

    fn delete(&self, name: &str) -> Result<(), StorageError> {
        let key = self.key(name)?;
        match self.runtime.block_on(self.store.delete(&key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("delete", name, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_http;

    #[test]
    fn loopback_endpoints_are_told_apart() {
        for yes in [
            "http://127.0.0.1:9000",
            "http://localhost:9000/",
            "http://[::1]:9000",
            "http://127.8.9.10",
        ] {
            assert!(is_loopback_http(yes), "{yes}");
        }
        for no in [
            "https://127.0.0.1:9000",
            "http://10.0.0.1:9000",
            "http://s3.example.com",
            "http://localhost.example.com:9000",
        ] {
            assert!(!is_loopback_http(no), "{no}");
        }
    }
}
