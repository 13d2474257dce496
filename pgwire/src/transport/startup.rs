//! Startup and authentication (cleartext, MD5, SCRAM-SHA-256).

use super::*;

impl Wire {
    pub(super) fn startup(
        &mut self,
        cfg: &PgConfig,
        replication: bool,
        deadline: Instant,
    ) -> Result<(), PgError> {
        let mut params: Vec<(&str, &str)> = vec![
            ("user", cfg.user.as_str()),
            ("database", cfg.dbname.as_str()),
            ("application_name", cfg.application_name.as_str()),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("TimeZone", "UTC"),
            ("IntervalStyle", "postgres"),
            ("extra_float_digits", "3"),
        ];
        if replication {
            params.push(("replication", "database"));
        }
        for (k, v) in &cfg.extra_params {
            params.retain(|(name, _)| name != k);
            params.push((k.as_str(), v.as_str()));
        }
        frontend::startup_message(params.iter().copied(), &mut self.wbuf)
            .map_err(|e| PgError::Config(format!("startup parameters: {e}")))?;
        self.flush()?;

        let user = cfg.user.as_str();
        let auth_err = |message: String| PgError::Auth {
            user: user.to_string(),
            message,
        };
        let password = || {
            cfg.password.as_deref().ok_or_else(|| {
                auth_err(format!(
                    "the server requires a password for user \"{user}\", but none is configured"
                ))
            })
        };
        let mut scram: Option<sasl::ScramSha256> = None;
        loop {
            let msg = match self.next_until(Some(deadline)) {
                Ok(Some(m)) => m,
                Ok(None) => {
                    self.broken = true;
                    return Err(PgError::Timeout);
                }
                Err(e) => return Err(e),
            };
            let msg = match msg {
                Backend::Msg(m) => m,
                Backend::Error(e) => {
                    self.broken = true;
                    return Err(e);
                }
                Backend::CopyBoth => {
                    self.broken = true;
                    return Err(PgError::Protocol(
                        "unexpected CopyBothResponse during startup".into(),
                    ));
                }
                Backend::Skipped => continue,
            };
            match msg {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?.as_bytes(), &mut self.wbuf)
                        .map_err(|e| PgError::Config(format!("password: {e}")))?;
                    self.flush()?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(user.as_bytes(), password()?.as_bytes(), body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf)
                        .map_err(|e| PgError::Config(format!("password: {e}")))?;
                    self.flush()?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut offered = Vec::new();
                    let mut mechanisms = body.mechanisms();
                    while let Some(m) = mechanisms
                        .next()
                        .map_err(|e| proto("SASL mechanism list", e))?
                    {
                        offered.push(m.to_string());
                    }
                    if !offered.iter().any(|m| m == sasl::SCRAM_SHA_256) {
                        return Err(auth_err(format!(
                            "the server offers SASL mechanisms {offered:?} for user \"{user}\"; \
                             this client supports only {}",
                            sasl::SCRAM_SHA_256
                        )));
                    }
                    let s = sasl::ScramSha256::new(
                        password()?.as_bytes(),
                        sasl::ChannelBinding::unsupported(),
                    );
                    frontend::sasl_initial_response(
                        sasl::SCRAM_SHA_256,
                        s.message(),
                        &mut self.wbuf,
                    )
                    .map_err(|e| proto("SASL initial response", e))?;
                    self.flush()?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram.as_mut().ok_or_else(|| {
                        PgError::Protocol("SASL continue without a SASL exchange".into())
                    })?;
                    s.update(body.data()).map_err(|e| {
                        auth_err(format!(
                            "SCRAM-SHA-256 exchange for user \"{user}\" failed: {e}"
                        ))
                    })?;
                    frontend::sasl_response(s.message(), &mut self.wbuf)
                        .map_err(|e| proto("SASL response", e))?;
                    self.flush()?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s = scram.as_mut().ok_or_else(|| {
                        PgError::Protocol("SASL final without a SASL exchange".into())
                    })?;
                    s.finish(body.data()).map_err(|e| {
                        auth_err(format!(
                            "the server's SCRAM-SHA-256 signature for user \"{user}\" \
                             did not verify: {e}"
                        ))
                    })?;
                }
                Message::AuthenticationKerberosV5
                | Message::AuthenticationScmCredential
                | Message::AuthenticationGss
                | Message::AuthenticationGssContinue(_)
                | Message::AuthenticationSspi => {
                    self.broken = true;
                    return Err(auth_err(format!(
                        "the server asks user \"{user}\" for an authentication method this \
                         client does not support (Kerberos/GSSAPI/SSPI/SCM); use password, \
                         md5 or scram-sha-256 in pg_hba.conf"
                    )));
                }
                Message::BackendKeyData(body) => {
                    self.backend_key = Some((body.process_id(), body.secret_key()));
                }
                Message::ReadyForQuery(body) => {
                    self.tx_status = body.status();
                    return Ok(());
                }
                other => {
                    self.broken = true;
                    return Err(PgError::Protocol(format!(
                        "unexpected {} during startup",
                        message_name(&other)
                    )));
                }
            }
        }
    }
}

/// A server error during startup about credentials (class 28) becomes
/// [`PgError::Auth`], naming the user.
pub(super) fn auth_error(err: PgError, user: &str) -> PgError {
    match err {
        PgError::Server { code, message, .. } if code.starts_with("28") => {
            let message = if message.contains(user) {
                message
            } else {
                format!("{message} (user \"{user}\")")
            };
            PgError::Auth {
                user: user.to_string(),
                message,
            }
        }
        other => other,
    }
}
