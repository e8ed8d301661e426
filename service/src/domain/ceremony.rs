//! The key ceremony (`walletctl init`): creates the root, issuing CA, ledger
//! and dedup HMAC keys inside the token, self-signs the root, certifies the
//! issuing CAs with it and records every key in the database.
//!
//! Idempotent and resumable. Each key goes `pending` (generated, recorded)
//! then `active` (certified). A run that finds an active key leaves it alone;
//! a run that finds a key on the token without a row, or a `pending` row,
//! finishes that key instead of making another, so a crash half-way through
//! never leaves an orphan key or a second root.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pkcs11_bridge::{Hsm, KeyInfo, KeyKind, KeyLabel};
use schema::keys::{self, Key, KeyPurpose, KeyState, NewKey};
use schema::{Database, KeyId, write_transaction};

use ledger::entry::Entry;
use sha2::{Digest as _, Sha256};

use super::{DomainError, unix};

/// Organisation written into CA subjects.
pub const ORGANIZATION: &str = "OneVisit Wallet";
/// Root certificate lifetime.
const ROOT_LIFETIME: Duration = Duration::from_secs(20 * 365 * 86_400);
/// Issuing CA certificate lifetime (inside the root's).
const ISSUING_CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Delegated OCSP responder certificates are short-lived: with
/// id-pkix-ocsp-nocheck they cannot be revoked, so they must expire soon;
/// walletd renews them at start-up once less than RESPONDER_RENEWAL is left.
const RESPONDER_LIFETIME: Duration = Duration::from_secs(365 * 86_400);
const RESPONDER_RENEWAL: Duration = Duration::from_secs(30 * 86_400);
/// CA certificates start slightly in the past so relying parties with a
/// clock a little behind ours accept them at once.
const BACKDATE: Duration = Duration::from_secs(300);

/// The ceremony's keys, in the order they are made (the root first: it
/// certifies the issuing CAs).
pub const CEREMONY_PURPOSES: [KeyPurpose; 6] = [
    KeyPurpose::Root,
    KeyPurpose::IdentityCa,
    KeyPurpose::LicenseCa,
    KeyPurpose::Ocsp,
    KeyPurpose::Ledger,
    KeyPurpose::DedupHmac,
];

/// What the ceremony did with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOutcome {
    /// Key purpose.
    pub purpose: KeyPurpose,
    /// Token label.
    pub label: String,
    /// Key id (hex SKI, or the HMAC key's check value).
    pub key_id: String,
    /// SHA-256 fingerprint of the key's certificate, if it has one.
    pub certificate_sha256: Option<String>,
    /// True when this run created or finished the key; false when it was
    /// already active.
    pub changed: bool,
}

/// Runs the ceremony at time `now`. `serial_bytes` supplies 16 CSPRNG bytes
/// per certificate (a parameter so tests can pin it).
pub fn run(
    hsm: &Arc<Hsm>,
    db: &Database,
    now: SystemTime,
    serial_bytes: &mut dyn FnMut() -> Result<[u8; 16], DomainError>,
) -> Result<Vec<KeyOutcome>, DomainError> {
    let mut outcomes = Vec::with_capacity(CEREMONY_PURPOSES.len());
    for purpose in CEREMONY_PURPOSES {
        outcomes.push(ensure_key(hsm, db, purpose, now, serial_bytes)?);
    }
    ensure_responders(hsm, db, now, serial_bytes)?;
    Ok(outcomes)
}

/// Gives the active `ocsp` key a delegated responder certificate from each
/// active issuing CA that has not given it one yet (RFC 6960 4.2.2.2: the
/// CA whose certificates it answers for certifies it). Returns how many
/// were made.
pub fn ensure_responders(
    hsm: &Arc<Hsm>,
    db: &Database,
    now: SystemTime,
    serial_bytes: &mut dyn FnMut() -> Result<[u8; 16], DomainError>,
) -> Result<usize, DomainError> {
    let mut conn = db.conn()?;
    let responder = keys::active(&mut conn, KeyPurpose::Ocsp)?
        .ok_or_else(|| DomainError::Inconsistent("no active ocsp key".into()))?;
    let mut made = 0;
    for purpose in [KeyPurpose::IdentityCa, KeyPurpose::LicenseCa] {
        let Some(ca) = keys::active(&mut conn, purpose)? else {
            continue;
        };
        if certify_responder(hsm, &mut conn, &ca, &responder, now, serial_bytes)? {
            made += 1;
        }
    }
    Ok(made)
}

/// Has issuing CA `ca` certify `responder` as its delegated OCSP responder,
/// unless it already did and that certificate is not due for renewal.
/// Returns whether a certificate was made.
pub(crate) fn certify_responder(
    hsm: &Arc<Hsm>,
    conn: &mut schema::DbConnection,
    ca: &Key,
    responder: &Key,
    now: SystemTime,
    serial_bytes: &mut dyn FnMut() -> Result<[u8; 16], DomainError>,
) -> Result<bool, DomainError> {
    let spki_der = responder
        .spki
        .as_deref()
        .ok_or_else(|| DomainError::Inconsistent("the ocsp key has no public key".into()))?;
    let existing = schema::ocsp::find(conn, &ca.key_id, &responder.key_id)?;
    if existing
        .as_ref()
        .is_some_and(|r| r.not_after > unix(now + RESPONDER_RENEWAL))
    {
        return Ok(false);
    }
    let ca_der = ca
        .certificate
        .as_deref()
        .ok_or_else(|| DomainError::Inconsistent(format!("{} has no certificate", ca.label)))?;
    let ca_cert = certs::from_der(ca_der)?;
    let signer = hsm.signer(&ca.label)?;
    let cert = certs::ocsp::build_responder_cert(
        &signer,
        &ca_cert,
        &certs::ca_name("OneVisit OCSP Responder", ORGANIZATION)?,
        certs::spki_from_der(spki_der)?,
        certs::random_serial(serial_bytes()?)?,
        now.checked_sub(BACKDATE).unwrap_or(now),
        now + RESPONDER_LIFETIME,
    )?;
    let (not_before, not_after) = certs::validity_unix(&cert);
    let row = schema::ocsp::Responder {
        issuer_key_id: ca.key_id.clone(),
        responder_key_id: responder.key_id.clone(),
        certificate: certs::to_der(&cert)?,
        not_before,
        not_after,
        created_at: unix(now),
    };
    if existing.is_some() {
        schema::ocsp::replace(conn, &row)?;
    } else {
        match schema::ocsp::insert(conn, &row) {
            Ok(()) => {}
            // Another instance starting at the same moment stored its
            // certificate first; use that one.
            Err(schema::StorageError::UniqueViolation { .. }) => {
                tracing::info!(issuer = %ca.label, "another instance issued the OCSP responder certificate");
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(issuer = %ca.label, responder = %responder.label, "OCSP responder certificate issued");
    Ok(true)
}

fn ensure_key(
    hsm: &Arc<Hsm>,
    db: &Database,
    purpose: KeyPurpose,
    now: SystemTime,
    serial_bytes: &mut dyn FnMut() -> Result<[u8; 16], DomainError>,
) -> Result<KeyOutcome, DomainError> {
    let mut conn = db.conn()?;
    if let Some(active) = keys::active(&mut conn, purpose)? {
        // Trust the row only if the token still has that very key.
        let on_token = hsm.find_key(&active.label)?;
        match on_token {
            Some(k) if k.id_hex() == active.key_id.as_str() => return Ok(outcome(&active, false)),
            Some(_) => {
                return Err(DomainError::Inconsistent(format!(
                    "key {} on the token does not match the database record",
                    active.label
                )));
            }
            None => {
                return Err(DomainError::Inconsistent(format!(
                    "the database has active key {} but the token does not; restore the token (see deploy/runbooks)",
                    active.label
                )));
            }
        }
    }

    drop(conn);
    let (row, info) = pending_key(hsm, db, purpose, now)?;

    let certificate = certify(hsm, db, purpose, &info, now, serial_bytes)?;
    let mut conn = db.conn()?;
    let activated = write_transaction(&mut conn, |c| -> Result<Option<Key>, DomainError> {
        if let Some((der, not_before, not_after)) = &certificate {
            keys::set_certificate(c, row.id, der, *not_before, *not_after)?;
        }
        keys::set_state(c, row.id, KeyState::Active, unix(now))?;
        // The key event goes on the ledger with the activation itself. Keys
        // without a certificate (ledger, dedup HMAC) record an empty
        // cert_sha256.
        let entry = Entry::Key {
            at: unix(now),
            cert_sha256: certificate
                .as_ref()
                .map(|(der, _, _)| hex::encode(Sha256::digest(der)))
                .unwrap_or_default(),
            event: "activated".into(),
            key_id: row.key_id.to_string(),
            purpose: purpose.as_str().to_owned(),
        };
        super::ledger::enqueue(c, &entry, now)?;
        Ok(keys::by_label(c, &row.label)?)
    })?
    .ok_or_else(|| {
        DomainError::Inconsistent(format!("key {} vanished while activating", row.label))
    })?;
    tracing::info!(purpose = %purpose, label = %activated.label, key_id = %activated.key_id, "key activated");
    Ok(outcome(&activated, true))
}

/// The `pending` key of `purpose`: the one a crash left behind (adopted only
/// if the token holds it with the attributes we give keys), else a new
/// generation generated in the token and recorded as pending. Used by the
/// ceremony and by rotation, so both resume the same way.
pub(crate) fn pending_key(
    hsm: &Hsm,
    db: &Database,
    purpose: KeyPurpose,
    now: SystemTime,
) -> Result<(Key, KeyInfo), DomainError> {
    let mut conn = db.conn()?;
    // Resume a pending key, else make the next generation.
    let pending = keys::list_all(&mut conn)?
        .into_iter()
        .find(|k| k.purpose == purpose && k.state == KeyState::Pending);
    let generation = match &pending {
        Some(k) => k.generation,
        None => keys::latest_generation(&mut conn, purpose)?.unwrap_or(0) + 1,
    };
    let label = purpose.label(generation);
    let generation_u32 = u32::try_from(generation)
        .map_err(|_| DomainError::Inconsistent(format!("generation {generation}")))?;
    let info = match hsm.find_key(&label)? {
        // A key already under our label (a ceremony interrupted after
        // generating it) is adopted only if it was made the way we make
        // keys: never a planted or imported, extractable one.
        Some(existing) => {
            let a = hsm.key_attributes(&label)?;
            let safe = a.token
                && a.private
                && a.sensitive
                && a.always_sensitive
                && !a.extractable
                && a.never_extractable
                && a.local
                && a.sign
                && !a.decrypt
                && !a.unwrap
                && !a.derive;
            if !safe || existing.id.is_empty() {
                return Err(DomainError::Inconsistent(format!(
                    "the token already holds {label} but it is not a key this ceremony would make \
                     (attributes {a:?}, id {}); remove it or restore the token",
                    existing.id_hex()
                )));
            }
            existing
        }
        None => generate(
            hsm,
            purpose,
            &KeyLabel::new(purpose.as_str(), generation_u32),
        )?,
    };
    let key_id =
        KeyId::from_bytes(&info.id).map_err(|e| DomainError::Inconsistent(e.to_string()))?;
    let row = match pending {
        Some(row) if row.key_id == key_id => row,
        Some(row) => {
            return Err(DomainError::Inconsistent(format!(
                "pending key {} has id {} in the database but {} on the token",
                row.label, row.key_id, key_id
            )));
        }
        None => keys::insert(
            &mut conn,
            &NewKey {
                purpose,
                generation,
                key_id,
                label: label.clone(),
                state: KeyState::Pending,
                spki: match &info.kind {
                    KeyKind::EcP256 { spki_der } => Some(spki_der.clone()),
                    _ => None,
                },
                certificate: None,
                not_before: None,
                not_after: None,
                created_at: unix(now),
                activated_at: None,
            },
        )?,
    };
    Ok((row, info))
}

fn generate(hsm: &Hsm, purpose: KeyPurpose, label: &KeyLabel) -> Result<KeyInfo, DomainError> {
    Ok(match purpose {
        KeyPurpose::DedupHmac => hsm.generate_hmac_key(label)?,
        _ => hsm.generate_ec_key(label)?,
    })
}

/// Certificate (DER, notBefore, notAfter) for a new key, or `None` for keys
/// that have no certificate (ledger key: published as SPKI; HMAC key).
pub(crate) fn certify(
    hsm: &Arc<Hsm>,
    db: &Database,
    purpose: KeyPurpose,
    info: &KeyInfo,
    now: SystemTime,
    serial_bytes: &mut dyn FnMut() -> Result<[u8; 16], DomainError>,
) -> Result<Option<(Vec<u8>, i64, i64)>, DomainError> {
    let not_before = now.checked_sub(BACKDATE).unwrap_or(now);
    let generation = KeyLabel::parse(&info.label).map_or(1, |l| l.generation());
    let cert = match purpose {
        KeyPurpose::Root => {
            let signer = hsm.signer(&info.label)?;
            let subject = certs::ca_name(&ca_common_name(purpose, generation), ORGANIZATION)?;
            certs::build_root(
                &signer,
                &subject,
                certs::random_serial(serial_bytes()?)?,
                not_before,
                now + ROOT_LIFETIME,
            )?
        }
        KeyPurpose::IdentityCa | KeyPurpose::LicenseCa => {
            let mut conn = db.conn()?;
            let root = keys::active(&mut conn, KeyPurpose::Root)?
                .ok_or_else(|| DomainError::Inconsistent("no active root key".into()))?;
            let root_der = root.certificate.as_deref().ok_or_else(|| {
                DomainError::Inconsistent("the active root has no certificate".into())
            })?;
            let root_cert = certs::from_der(root_der)?;
            let signer = hsm.signer(&root.label)?;
            let spki_der = match &info.kind {
                KeyKind::EcP256 { spki_der } => spki_der,
                _ => {
                    return Err(DomainError::Inconsistent(format!(
                        "{} is not a key pair",
                        info.label
                    )));
                }
            };
            let spki = certs::spki_from_der(spki_der)?;
            certs::build_issuing_ca(
                &signer,
                &root_cert,
                &certs::ca_name(&ca_common_name(purpose, generation), ORGANIZATION)?,
                spki,
                certs::random_serial(serial_bytes()?)?,
                not_before,
                now + ISSUING_CA_LIFETIME,
            )?
        }
        _ => return Ok(None),
    };
    let (nb, na) = certs::validity_unix(&cert);
    Ok(Some((certs::to_der(&cert)?, nb, na)))
}

/// The common name of generation `generation` of a CA: the first keeps the
/// plain name, later ones add `G<n>` (as public CAs do), so every tool can
/// tell a rotated CA from its predecessor by name, not only by key id.
pub(crate) fn ca_common_name(purpose: KeyPurpose, generation: u32) -> String {
    let base = match purpose {
        KeyPurpose::Root => "OneVisit Root CA",
        KeyPurpose::IdentityCa => "OneVisit Identity CA",
        KeyPurpose::LicenseCa => "OneVisit Licence CA",
        _ => "OneVisit CA",
    };
    if generation <= 1 {
        base.to_owned()
    } else {
        format!("{base} G{generation}")
    }
}

fn outcome(key: &Key, changed: bool) -> KeyOutcome {
    KeyOutcome {
        purpose: key.purpose,
        label: key.label.clone(),
        key_id: key.key_id.to_string(),
        certificate_sha256: key.certificate.as_deref().map(certs::sha256_fingerprint),
        changed,
    }
}
