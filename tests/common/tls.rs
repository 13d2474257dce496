//! Certificates for TLS tests, made fresh by each test with `rcgen`, and a
//! cluster builder set up to serve them.

#![allow(dead_code)]

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::pg::PgClusterBuilder;

/// The certificates of one test: a CA that signs the server's and a
/// client's certificate, and an unrelated CA.
pub struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    server_crt: String,
    server_key: String,
}

impl Pki {
    /// A file of this PKI: `root.crt` (the CA), `wrong-root.crt` (another
    /// CA), `client.crt`/`client.key` (CN `certuser`, signed by the CA),
    /// `stranger.crt`/`stranger.key` (CN `certuser`, signed by neither).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    params.key_usages.push(KeyUsagePurpose::DigitalSignature);
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("self-sign the CA");
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages.push(KeyUsagePurpose::DigitalSignature);
    params.extended_key_usages.push(usage);
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("sign a leaf");
    (cert.pem(), key.serialize_pem())
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_pem, ca) = new_ca("timely-connect test CA");
    let (wrong_ca_pem, _) = new_ca("some other CA");
    // The server's certificate names `localhost` only: connecting to
    // 127.0.0.1 reaches the same server under a name it does not carry.
    let (server_crt, server_key) = leaf(
        &ca,
        "localhost",
        &["localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    // `pg_hba.conf` method `cert` logs in the role named by the CN.
    let (client_crt, client_key) = leaf(&ca, "certuser", &[], ExtendedKeyUsagePurpose::ClientAuth);
    let (stranger_crt, stranger_key) = {
        let (_, other) = new_ca("an untrusted client CA");
        leaf(&other, "certuser", &[], ExtendedKeyUsagePurpose::ClientAuth)
    };
    for (name, text) in [
        ("root.crt", &ca_pem),
        ("wrong-root.crt", &wrong_ca_pem),
        ("client.crt", &client_crt),
        ("client.key", &client_key),
        ("stranger.crt", &stranger_crt),
        ("stranger.key", &stranger_key),
    ] {
        std::fs::write(dir.path().join(name), text).expect("write a certificate");
    }
    Pki {
        dir,
        ca_pem,
        server_crt,
        server_key,
    }
}

impl Pki {
    /// `builder` with `ssl=on`, the server's certificate (it names
    /// `localhost` only, so 127.0.0.1 is a wrong host name for it) and the
    /// CA that client certificates must chain to.
    pub fn server(&self, builder: PgClusterBuilder) -> PgClusterBuilder {
        builder
            .data_file("server.crt", &self.server_crt)
            .data_file("server.key", &self.server_key)
            .data_file("root.crt", &self.ca_pem)
            .setting("ssl", "on")
            .setting("ssl_cert_file", "'server.crt'")
            .setting("ssl_key_file", "'server.key'")
            .setting("ssl_ca_file", "'root.crt'")
    }
}
