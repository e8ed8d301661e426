//! Revocation: officers revoke credentials (RFC 5280 reason names; the
//! revocation and its ledger entry commit together; repeating it changes
//! nothing), anyone asks a credential's status, and each issuing CA's CRL is
//! signed in the HSM on demand: regenerated after a revocation and before it
//! grows stale, with a CRL number that only goes up.

use std::time::{Duration, SystemTime};

use certs::crl::{self, RevocationReason, RevokedEntry};
use ledger::entry::Entry;
use schema::credentials::{self, Credential, CredentialKind, CredentialStatus};
use schema::crls::{self, Crl};
use schema::keys::{self, KeyPurpose};
use schema::staff::{Staff, StaffRole};
use schema::{KeyId, Serial, StorageError, write_transaction};

use super::issuance::Issuer;
use super::{DomainError, unix};

/// A CRL is valid for this long after its thisUpdate...
const CRL_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// ...and is replaced once it is this old, well before nextUpdate.
const CRL_REFRESH: Duration = Duration::from_secs(12 * 3600);

/// The stored CRL of `key_id` when it is still current: it lists every
/// revocation (they are never undone, so counting is exact where one-second
/// timestamps are not) and is younger than the refresh age.
fn current_crl(
    conn: &mut schema::DbConnection,
    key_id: &KeyId,
    now: SystemTime,
) -> Result<Option<Vec<u8>>, DomainError> {
    let Some(current) = crls::latest(conn, key_id)? else {
        return Ok(None);
    };
    let revoked = credentials::revoked_by_issuer(conn, key_id)?.len();
    let listed = crl::crl_from_der(&current.der)?
        .tbs_cert_list
        .revoked_certificates
        .map_or(0, |r| r.len());
    let fresh =
        unix(now) < current.this_update + i64::try_from(CRL_REFRESH.as_secs()).unwrap_or(i64::MAX);
    Ok((fresh && listed == revoked).then_some(current.der))
}

/// A credential's revocation status.
#[derive(Debug, Clone)]
pub enum Status {
    /// The serial is not one of ours.
    Unknown,
    /// Ours, with its status.
    Known(Box<Credential>),
}

/// The result of a revocation request.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// The credential as it now is.
    pub credential: Credential,
    /// Leaf hash of the revocation entry when this request revoked it;
    /// `None` when it was already revoked (nothing changed).
    pub leaf_hash: Option<ledger::Hash>,
}

fn parse_serial(text: &str) -> Result<Serial, DomainError> {
    Serial::parse(text).map_err(|_| DomainError::Malformed {
        kind: "invalid-serial",
        detail: "a serial is lowercase hex, as issued".into(),
    })
}

impl Issuer {
    /// Revokes the credential `serial` for `reason` (an RFC 5280 reason name,
    /// e.g. `keyCompromise`). Licences can be revoked by officers of the
    /// licence type's department; identity certificates by any officer (the
    /// enrolling side is not departmental).
    pub fn revoke(
        &self,
        officer: &Staff,
        serial: &str,
        reason: &str,
        now: SystemTime,
    ) -> Result<Revoked, DomainError> {
        if officer.role != StaffRole::Officer {
            return Err(DomainError::Forbidden(
                "revoking needs the officer role".into(),
            ));
        }
        let serial = parse_serial(serial)?;
        let reason = RevocationReason::from_name(reason).ok_or_else(|| {
            DomainError::invalid(
                "invalid-reason",
                "reason must be an RFC 5280 reason name: unspecified, keyCompromise, cACompromise, \
                 affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise",
            )
        })?;
        let mut conn = self.db().conn()?;
        let credential = credentials::by_serial(&mut conn, &serial)?.ok_or_else(|| {
            DomainError::not_found("credential-not-found", format!("no credential {serial}"))
        })?;
        if credential.kind == CredentialKind::License {
            let owner = credential
                .license_type
                .as_deref()
                .and_then(|t| self.catalog().licence_type(t))
                .map(|t| t.department.clone());
            if owner.is_none() || officer.department != owner {
                return Err(DomainError::Forbidden(format!(
                    "only officers of {} may revoke this licence",
                    owner.unwrap_or_else(|| "its department".into())
                )));
            }
        }
        if credential.status == CredentialStatus::Revoked {
            return Ok(Revoked {
                credential,
                leaf_hash: None,
            });
        }
        let leaf = write_transaction(
            &mut conn,
            |c| -> Result<Option<ledger::Hash>, DomainError> {
                if !credentials::revoke(c, &serial, Some(reason.name()), unix(now))? {
                    // Revoked concurrently: that request recorded it.
                    return Ok(None);
                }
                let entry = Entry::Revocation {
                    at: unix(now),
                    reason: reason.name().to_owned(),
                    serial: serial.to_string(),
                };
                let leaf = super::ledger::enqueue(c, &entry, now)?;
                // An identity certificate revoked for anything but a
                // reissue takes the licences bound to the same key with it,
                // so CRLs, OCSP and offline verifiers agree with online
                // verification.
                if credential.kind == CredentialKind::Identity
                    && reason != RevocationReason::Superseded
                {
                    let key = certs::from_der(&credential.certificate)?
                        .tbs_certificate()
                        .subject_public_key_info()
                        .clone();
                    for lic in credentials::for_identity(c, &credential.identity_id)? {
                        if lic.kind != CredentialKind::License
                            || lic.status != CredentialStatus::Good
                        {
                            continue;
                        }
                        let same_key = certs::from_der(&lic.certificate)?
                            .tbs_certificate()
                            .subject_public_key_info()
                            == &key;
                        if same_key
                            && credentials::revoke(c, &lic.serial, Some(reason.name()), unix(now))?
                        {
                            super::ledger::enqueue(
                                c,
                                &Entry::Revocation {
                                    at: unix(now),
                                    reason: reason.name().to_owned(),
                                    serial: lic.serial.to_string(),
                                },
                                now,
                            )?;
                        }
                    }
                }
                Ok(Some(leaf))
            },
        )?;
        let credential = credentials::by_serial(&mut conn, &serial)?
            .ok_or_else(|| DomainError::Inconsistent(format!("credential {serial} vanished")))?;
        Ok(Revoked {
            credential,
            leaf_hash: leaf,
        })
    }

    /// The revocation status of `serial`.
    pub fn status(&self, serial: &str) -> Result<Status, DomainError> {
        let serial = parse_serial(serial)?;
        let mut conn = self.db().conn()?;
        Ok(credentials::by_serial(&mut conn, &serial)?
            .map_or(Status::Unknown, |c| Status::Known(Box::new(c))))
    }

    /// The current CRL (DER) of the issuing CA whose key id is
    /// `issuer_key_id`, active or retired; a new one is signed when there is
    /// none, when a revocation happened since, or when it is half-way to its
    /// nextUpdate.
    pub fn crl(&self, issuer_key_id: &str, now: SystemTime) -> Result<Vec<u8>, DomainError> {
        let unknown = || {
            DomainError::not_found(
                "unknown-issuer",
                format!("no issuing CA with key id {issuer_key_id}"),
            )
        };
        let key_id = KeyId::parse(issuer_key_id).map_err(|_| unknown())?;
        let mut conn = self.db().conn()?;
        let key = keys::by_key_id(&mut conn, &key_id)?
            .filter(|k| matches!(k.purpose, KeyPurpose::IdentityCa | KeyPurpose::LicenseCa))
            .ok_or_else(unknown)?;
        // Fast path, no lock: the stored CRL is current.
        if let Some(der) = current_crl(&mut conn, &key_id, now)? {
            return Ok(der);
        }
        let der_cert = key.certificate.as_deref().ok_or_else(|| {
            DomainError::Inconsistent(format!("{} has no certificate", key.label))
        })?;
        let issuer_cert = certs::from_der(der_cert)?;
        let signer = self.signer_for(&key.label)?;
        // Slow path: under the issuer's lock, re-read and (re)sign, so CRL
        // numbers and contents only ever grow.
        write_transaction(&mut conn, |c| -> Result<Vec<u8>, DomainError> {
            crls::lock_issuer(c, &key_id)?;
            if let Some(der) = current_crl(c, &key_id, now)? {
                return Ok(der);
            }
            let revoked = credentials::revoked_by_issuer(c, &key_id)?;
            let latest = crls::latest(c, &key_id)?;
            // thisUpdate never goes backwards, whatever the callers' clocks.
            let this_update = latest.as_ref().map_or(now, |l| {
                now.max(
                    SystemTime::UNIX_EPOCH
                        + Duration::from_secs(u64::try_from(l.this_update).unwrap_or(0)),
                )
            });
            let entries = revoked
                .iter()
                .map(|c| {
                    let bytes = hex::decode(c.serial.as_str())
                        .map_err(|e| DomainError::Inconsistent(e.to_string()))?;
                    let serial = certs::SerialNumber::new(&bytes)
                        .map_err(|e| DomainError::Inconsistent(e.to_string()))?;
                    // RFC 5280: no revocationDate after thisUpdate.
                    let at = (SystemTime::UNIX_EPOCH
                        + Duration::from_secs(
                            u64::try_from(c.revoked_at.unwrap_or(0)).unwrap_or(0),
                        ))
                    .min(this_update);
                    let reason = c
                        .revocation_reason
                        .as_deref()
                        .and_then(RevocationReason::from_name)
                        .unwrap_or(RevocationReason::Unspecified);
                    Ok(RevokedEntry {
                        serial,
                        revoked_at: at,
                        reason,
                    })
                })
                .collect::<Result<Vec<_>, DomainError>>()?;
            let number = latest.as_ref().map_or(1, |l| l.crl_number + 1);
            let list = crl::build_crl(
                &signer,
                &issuer_cert,
                u64::try_from(number).unwrap_or(1),
                this_update,
                this_update + CRL_VALIDITY,
                &entries,
            )?;
            let der = crl::crl_to_der(&list)?;
            crls::insert(
                c,
                &Crl {
                    issuer_key_id: key_id.clone(),
                    crl_number: number,
                    this_update: unix(this_update),
                    next_update: unix(this_update + CRL_VALIDITY),
                    der: der.clone(),
                },
            )?;
            Ok(der)
        })
    }
}

impl Issuer {
    /// Answers a DER OCSP request (RFC 6960) with a DER OCSP response, signed
    /// by the delegated responder the request's issuing CA certified. Never
    /// an error for the caller's mistakes: a malformed request gets a
    /// `malformedRequest` response, a CA we do not run `unauthorized`, and an
    /// outage `tryLater`.
    pub fn ocsp(&self, request: &[u8], now: SystemTime) -> Vec<u8> {
        use certs::ocsp::{self, OcspResponseStatus};
        match self.ocsp_inner(request, now) {
            Ok(der) => der,
            Err(OcspFailure::Malformed) => {
                ocsp::error_response(OcspResponseStatus::MalformedRequest)
            }
            Err(OcspFailure::Unauthorized) => {
                ocsp::error_response(OcspResponseStatus::Unauthorized)
            }
            Err(OcspFailure::Domain(DomainError::Unavailable(e))) => {
                tracing::warn!(error = %e, "OCSP: backend unavailable");
                ocsp::error_response(OcspResponseStatus::TryLater)
            }
            Err(OcspFailure::Domain(e)) => {
                tracing::error!(error = %e, "OCSP: internal error");
                ocsp::error_response(OcspResponseStatus::InternalError)
            }
        }
    }

    fn ocsp_inner(&self, request: &[u8], now: SystemTime) -> Result<Vec<u8>, OcspFailure> {
        use certs::ocsp::{self, CertStatus, SingleAnswer};
        let parsed = ocsp::parse_request(request).map_err(|_| OcspFailure::Malformed)?;
        let first = parsed.ids.first().ok_or(OcspFailure::Malformed)?;
        let mut conn = self.db().conn()?;
        // The CA the request is about (active or retired).
        let all = keys::list_all(&mut conn)?;
        let responder_key = all
            .iter()
            .find(|k| k.purpose == KeyPurpose::Ocsp && k.state == keys::KeyState::Active)
            .cloned();
        let (ca_key, ca_cert) = all
            .into_iter()
            .filter(|k| matches!(k.purpose, KeyPurpose::IdentityCa | KeyPurpose::LicenseCa))
            .filter_map(|k| {
                let cert = certs::from_der(k.certificate.as_deref()?).ok()?;
                Some((k, cert))
            })
            .find(|(_, cert)| ocsp::matches_issuer(first, cert))
            .ok_or(OcspFailure::Unauthorized)?;
        // The active responder key answers when this CA certified it and
        // that certificate is valid; otherwise (a CA retired before the
        // responder key was rotated certifies no new responder) the CA
        // signs the answer itself, as RFC 6960 allows.
        let at = unix(now);
        let delegated = match responder_key {
            Some(responder_key) => {
                schema::ocsp::find(&mut conn, &ca_key.key_id, &responder_key.key_id)?
                    .filter(|r| r.not_before <= at && at < r.not_after)
                    .map(|r| (responder_key, r))
            }
            None => None,
        };
        let mut answers = Vec::with_capacity(parsed.ids.len());
        for id in &parsed.ids {
            let status = if ocsp::matches_issuer(id, &ca_cert) {
                let serial = Serial::parse(&certs::serial_hex(&id.serial)).ok();
                let row = match serial {
                    Some(s) => credentials::by_serial(&mut conn, &s)?,
                    None => None,
                };
                match row.filter(|c| c.issuer_key_id == ca_key.key_id) {
                    None => CertStatus::Unknown,
                    Some(c) if c.status == CredentialStatus::Revoked => CertStatus::Revoked {
                        // A revocation that committed while this request
                        // waited is after `now`; RFC 6960 wants it no later
                        // than thisUpdate.
                        at: (SystemTime::UNIX_EPOCH
                            + Duration::from_secs(
                                u64::try_from(c.revoked_at.unwrap_or(0)).unwrap_or(0),
                            ))
                        .min(now),
                        reason: c
                            .revocation_reason
                            .as_deref()
                            .and_then(RevocationReason::from_name),
                    },
                    Some(_) => CertStatus::Good,
                }
            } else {
                // One responder answers for one CA.
                CertStatus::Unknown
            };
            answers.push(SingleAnswer {
                id: id.clone(),
                status,
                this_update: now,
                next_update: now + OCSP_VALIDITY,
            });
        }
        Ok(match delegated {
            Some((responder_key, responder)) => ocsp::build_response(
                &self.signer_for(&responder_key.label)?,
                &certs::from_der(&responder.certificate)?,
                &answers,
                parsed.nonce.as_deref(),
                now,
            )?,
            None => ocsp::build_response_by_ca(
                &self.signer_for(&ca_key.label)?,
                &ca_cert,
                &answers,
                parsed.nonce.as_deref(),
                now,
            )?,
        })
    }
}

/// How long an OCSP answer may be relied on.
const OCSP_VALIDITY: Duration = Duration::from_secs(3600);

enum OcspFailure {
    Malformed,
    Unauthorized,
    Domain(DomainError),
}

impl From<DomainError> for OcspFailure {
    fn from(e: DomainError) -> Self {
        OcspFailure::Domain(e)
    }
}

impl From<StorageError> for OcspFailure {
    fn from(e: StorageError) -> Self {
        OcspFailure::Domain(e.into())
    }
}

impl From<certs::CertError> for OcspFailure {
    fn from(e: certs::CertError) -> Self {
        OcspFailure::Domain(e.into())
    }
}
