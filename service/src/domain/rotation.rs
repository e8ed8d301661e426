//! Key rotation without downtime: a new key generated in the HSM, certified
//! (root for issuing CAs, issuing CAs for the OCSP responder, old root by
//! cross-certificate for a new root), then activated while the old key is
//! retired, in one transaction that also puts every key event on the
//! ledger. Also the two-person rule for root rotations asked for over the
//! API, and the key listing for ops.
//!
//! Everything the running service does reads the active key per request,
//! so a rotation committed by any process (walletd or walletctl) takes
//! effect for the next request. What was issued under a retired key keeps
//! verifying: its certificates stay in the trust document.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use ledger::entry::Entry;
use pkcs11_bridge::Hsm;
use schema::keys::{self, Key, KeyPurpose, KeyState};
use schema::rotation::{
    self as store, KeyCertificateKind, NewKeyCertificate, NewRotationRequest, RequestState,
    RotationRequest,
};
use schema::{Database, KeyId, StorageError, write_transaction};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::ceremony;
use super::{DomainError, rfc3339, unix};

/// The purposes a rotation accepts. `dedup-hmac` is not among them: its
/// MACs are what makes one person one identity, and a new key would let
/// everyone enrol again.
pub const ROTATABLE: [KeyPurpose; 5] = [
    KeyPurpose::Root,
    KeyPurpose::IdentityCa,
    KeyPurpose::LicenseCa,
    KeyPurpose::Ocsp,
    KeyPurpose::Ledger,
];

/// Default time a second ops user has to approve a root rotation.
pub const DEFAULT_REQUEST_TTL: Duration = Duration::from_secs(3600);

/// CA certificates start slightly in the past (as in the ceremony).
const BACKDATE: Duration = Duration::from_secs(300);

/// One rotation at a time in this process: two would both generate the
/// next generation's key under one label before either records it.
static ROTATING: Mutex<()> = Mutex::new(());

/// A key as ops see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// `root`, `identity-ca`, `license-ca`, `ocsp`, `ledger`, `dedup-hmac`.
    pub purpose: String,
    /// Key id, lowercase hex (SKI; the check value for the HMAC key).
    pub key_id: String,
    /// Token label.
    pub label: String,
    /// `pending`, `active`, `retired` or `destroyed`.
    pub state: String,
    /// When the key was generated, RFC 3339.
    pub created_at: String,
    /// When it became active (started signing), RFC 3339.
    pub activated_at: Option<String>,
    /// When it was retired (stopped signing), RFC 3339.
    pub retired_at: Option<String>,
    /// Certificate notBefore, RFC 3339.
    pub not_before: Option<String>,
    /// Certificate notAfter, RFC 3339.
    pub not_after: Option<String>,
    /// SHA-256 of the current certificate, lowercase hex.
    pub certificate_sha256: Option<String>,
    /// The current certificate, PEM.
    pub certificate_pem: Option<String>,
    /// Whether the token holds the key (checked when listing keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_token: Option<bool>,
}

impl KeyView {
    fn of(key: &Key) -> Result<Self, DomainError> {
        let pem = match key.certificate.as_deref() {
            Some(der) => Some(certs::to_pem(&certs::from_der(der)?)?),
            None => None,
        };
        Ok(Self {
            purpose: key.purpose.to_string(),
            key_id: key.key_id.to_string(),
            label: key.label.clone(),
            state: key.state.to_string(),
            created_at: rfc3339(key.created_at),
            activated_at: key.activated_at.map(rfc3339),
            retired_at: key.retired_at.map(rfc3339),
            not_before: key.not_before.map(rfc3339),
            not_after: key.not_after.map(rfc3339),
            certificate_sha256: key.certificate.as_deref().map(certs::sha256_fingerprint),
            certificate_pem: pem,
            on_token: None,
        })
    }
}

/// A certificate a rotation made besides the new key's own.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertifiedView {
    /// `cross` (old root certifies the new root), `recertified` (an
    /// issuing CA under the new root) or `ocsp-responder`.
    pub kind: String,
    /// The certified key.
    pub key_id: String,
    /// The signing key.
    pub issuer_key_id: String,
    /// SHA-256 of the certificate, lowercase hex.
    pub certificate_sha256: String,
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RotationOutcome {
    /// The purpose rotated.
    pub purpose: String,
    /// The key that no longer signs.
    pub retired: KeyView,
    /// The key that signs from now on.
    pub activated: KeyView,
    /// Other certificates made.
    pub certified: Vec<CertifiedView>,
}

/// A two-person rotation request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// Request id (UUID).
    pub request_id: String,
    /// The purpose to rotate.
    pub purpose: String,
    /// `pending`, `approved`, `completed` or `expired`.
    pub state: String,
    /// Staff id of the requester.
    pub requested_by: i64,
    /// RFC 3339.
    pub requested_at: String,
    /// Approval deadline, RFC 3339.
    pub expires_at: String,
    /// Staff id of the approver.
    pub approved_by: Option<i64>,
    /// RFC 3339.
    pub approved_at: Option<String>,
    /// The key the rotation activated.
    pub new_key_id: Option<String>,
}

impl RequestView {
    fn of(r: &RotationRequest) -> Self {
        Self {
            request_id: r.id.clone(),
            purpose: r.purpose.to_string(),
            state: r.state.to_string(),
            requested_by: r.requested_by.0,
            requested_at: rfc3339(r.requested_at),
            expires_at: rfc3339(r.expires_at),
            approved_by: r.approved_by.map(|s| s.0),
            approved_at: r.approved_at.map(rfc3339),
            new_key_id: r.new_key_id.as_ref().map(ToString::to_string),
        }
    }
}

/// Reads a purpose a caller asked to rotate.
pub fn parse_purpose(text: &str) -> Result<KeyPurpose, DomainError> {
    let purpose: KeyPurpose = text.parse().map_err(|_| {
        DomainError::invalid(
            "unknown-purpose",
            format!(
                "no key purpose {text:?}; rotatable: {}",
                ROTATABLE.map(KeyPurpose::as_str).join(", ")
            ),
        )
    })?;
    if !ROTATABLE.contains(&purpose) {
        return Err(DomainError::invalid(
            "purpose-not-rotatable",
            format!(
                "{purpose} keys are not rotated{}",
                if purpose == KeyPurpose::DedupHmac {
                    ": identity deduplication depends on the one HMAC key"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(purpose)
}

/// Every key with its state and certificate, and whether the token holds it.
pub fn list(hsm: &Hsm, db: &Database) -> Result<Vec<KeyView>, DomainError> {
    let all = keys::list_all(&mut *db.conn()?)?;
    let on_token: Vec<String> = hsm.list_keys()?.into_iter().map(|k| k.label).collect();
    all.iter()
        .map(|k| {
            let mut view = KeyView::of(k)?;
            view.on_token = Some(on_token.contains(&k.label));
            Ok(view)
        })
        .collect()
}

/// Rotates `purpose` at `now`: new key in the HSM, certified, activated;
/// the old key retired. Resumes a rotation a crash interrupted (a
/// `pending` key of the purpose). `serial_bytes` gives 16 CSPRNG bytes per
/// certificate.
pub fn rotate(
    hsm: &Arc<Hsm>,
    db: &Database,
    purpose: KeyPurpose,
    now: SystemTime,
    serial_bytes: &mut dyn FnMut() -> Result<[u8; 16], DomainError>,
) -> Result<RotationOutcome, DomainError> {
    parse_purpose(purpose.as_str())?;
    let _one_at_a_time = ROTATING.lock().unwrap_or_else(PoisonError::into_inner);
    let old = keys::active(&mut *db.conn()?, purpose)?.ok_or_else(|| {
        DomainError::Inconsistent(format!("no active {purpose} key; run walletctl init"))
    })?;
    let (new, info) = ceremony::pending_key(hsm, db, purpose, now)?;
    let not_before = now.checked_sub(BACKDATE).unwrap_or(now);

    // Certificates first, outside the transaction (HSM work); nothing
    // becomes visible until the transaction below activates the key.
    let mut extra: Vec<NewKeyCertificate> = Vec::new();
    let mut recertified: Vec<(Key, Vec<u8>)> = Vec::new();
    let mut certified: Vec<CertifiedView> = Vec::new();
    let own_cert = match purpose {
        KeyPurpose::IdentityCa | KeyPurpose::LicenseCa => {
            ceremony::certify(hsm, db, purpose, &info, now, serial_bytes)?
        }
        KeyPurpose::Root => {
            let (root_der, nb, na) = ceremony::certify(hsm, db, purpose, &info, now, serial_bytes)?
                .ok_or_else(|| {
                    DomainError::Inconsistent("the new root got no certificate".into())
                })?;
            let new_root = certs::from_der(&root_der)?;
            let old_root = certs::from_der(old.certificate.as_deref().ok_or_else(|| {
                DomainError::Inconsistent("the active root has no certificate".into())
            })?)?;
            let cross = certs::build_cross_certificate(
                &hsm.signer(&old.label)?,
                &old_root,
                &new_root,
                certs::random_serial(serial_bytes()?)?,
                not_before,
                SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(na).unwrap_or(0)),
            )?;
            extra.push(key_certificate(
                &new.key_id,
                &old.key_id,
                KeyCertificateKind::Cross,
                &cross,
                now,
            )?);
            let new_root_signer = hsm.signer(&new.label)?;
            let mut conn = db.conn()?;
            for ca_purpose in [KeyPurpose::IdentityCa, KeyPurpose::LicenseCa] {
                let Some(ca) = keys::active(&mut conn, ca_purpose)? else {
                    continue;
                };
                let current_der = ca.certificate.clone().ok_or_else(|| {
                    DomainError::Inconsistent(format!("{} has no certificate", ca.label))
                })?;
                let current = certs::from_der(&current_der)?;
                let tbs = current.tbs_certificate();
                // Same name, same key, same end of life: only the issuer changes.
                let again = certs::build_issuing_ca(
                    &new_root_signer,
                    &new_root,
                    tbs.subject(),
                    tbs.subject_public_key_info().clone(),
                    certs::random_serial(serial_bytes()?)?,
                    not_before,
                    SystemTime::UNIX_EPOCH
                        + Duration::from_secs(
                            u64::try_from(ca.not_after.unwrap_or(0)).unwrap_or(0),
                        ),
                )?;
                extra.push(key_certificate(
                    &ca.key_id,
                    &old.key_id,
                    KeyCertificateKind::Previous,
                    &current,
                    now,
                )?);
                recertified.push((ca, certs::to_der(&again)?));
            }
            Some((root_der, nb, na))
        }
        KeyPurpose::Ocsp => {
            // The new responder needs a certificate from every active CA
            // before it answers for them.
            let mut conn = db.conn()?;
            for ca_purpose in [KeyPurpose::IdentityCa, KeyPurpose::LicenseCa] {
                if let Some(ca) = keys::active(&mut conn, ca_purpose)? {
                    ceremony::certify_responder(hsm, &mut conn, &ca, &new, now, serial_bytes)?;
                    certified.push(responder_view(&mut conn, &ca, &new)?);
                }
            }
            None
        }
        _ => None,
    };
    if matches!(purpose, KeyPurpose::IdentityCa | KeyPurpose::LicenseCa) {
        // The new CA certifies the current responder before it issues
        // anything, so OCSP answers for its first certificate.
        let mut conn = db.conn()?;
        if let Some(responder) = keys::active(&mut conn, KeyPurpose::Ocsp)? {
            let mut ca = new.clone();
            if let Some((der, nb, na)) = &own_cert {
                ca.certificate = Some(der.clone());
                ca.not_before = Some(*nb);
                ca.not_after = Some(*na);
            }
            ceremony::certify_responder(hsm, &mut conn, &ca, &responder, now, serial_bytes)?;
            certified.push(responder_view(&mut conn, &ca, &responder)?);
        }
    }

    for x in extra.iter().filter(|x| x.kind == KeyCertificateKind::Cross) {
        certified.push(CertifiedView {
            kind: "cross".into(),
            key_id: x.key_id.to_string(),
            issuer_key_id: x.issuer_key_id.to_string(),
            certificate_sha256: x.cert_sha256.clone(),
        });
    }
    for (ca, der) in &recertified {
        certified.push(CertifiedView {
            kind: "recertified".into(),
            key_id: ca.key_id.to_string(),
            issuer_key_id: new.key_id.to_string(),
            certificate_sha256: hex::encode(Sha256::digest(der)),
        });
    }

    let at = unix(now);
    let mut conn = db.conn()?;
    write_transaction(&mut conn, |c| -> Result<(), DomainError> {
        if purpose == KeyPurpose::Ledger {
            // The sequencer signs under this lock with the key it reads
            // inside it: no checkpoint is signed by the old key after this
            // commits.
            schema::ledger::lock_sequencer(c)?;
        }
        if !keys::set_state(c, old.id, KeyState::Retired, at)? {
            return Err(DomainError::conflict(
                "rotation-in-progress",
                format!(
                    "{} is no longer active: another rotation finished first",
                    old.label
                ),
            ));
        }
        if let Some((der, nb, na)) = &own_cert {
            keys::set_certificate(c, new.id, der, *nb, *na)?;
        }
        if !keys::set_state(c, new.id, KeyState::Active, at)? {
            return Err(DomainError::conflict(
                "rotation-in-progress",
                format!("{} is no longer pending", new.label),
            ));
        }
        let enqueue = |c: &mut schema::DbConnection, entry: Entry| {
            super::ledger::enqueue(c, &entry, now).map(|_| ())
        };
        enqueue(
            c,
            key_entry(
                at,
                own_cert.as_ref().map(|(d, _, _)| d.as_slice()),
                "activated",
                &new,
            ),
        )?;
        for x in &extra {
            store::insert_certificate(c, x)?;
            if x.kind == KeyCertificateKind::Cross {
                enqueue(c, certified_entry(at, &x.certificate, &new.key_id, purpose))?;
            }
        }
        for (ca, der) in &recertified {
            let (nb, na) = certs::validity_unix(&certs::from_der(der)?);
            keys::set_certificate(c, ca.id, der, nb, na)?;
            enqueue(c, certified_entry(at, der, &ca.key_id, ca.purpose))?;
        }
        enqueue(
            c,
            key_entry(at, old.certificate.as_deref(), "retired", &old),
        )?;
        Ok(())
    })?;

    let mut conn = db.conn()?;
    let reread = |conn: &mut schema::DbConnection, k: &Key| -> Result<Key, DomainError> {
        keys::by_label(conn, &k.label)?
            .ok_or_else(|| DomainError::Inconsistent(format!("key {} vanished", k.label)))
    };
    let retired = reread(&mut conn, &old)?;
    let activated = reread(&mut conn, &new)?;
    tracing::info!(purpose = %purpose, retired = %retired.label, activated = %activated.label, key_id = %activated.key_id, "key rotated");
    Ok(RotationOutcome {
        purpose: purpose.to_string(),
        retired: KeyView::of(&retired)?,
        activated: KeyView::of(&activated)?,
        certified,
    })
}

fn key_certificate(
    key_id: &KeyId,
    issuer_key_id: &KeyId,
    kind: KeyCertificateKind,
    cert: &certs::Certificate,
    now: SystemTime,
) -> Result<NewKeyCertificate, DomainError> {
    let der = certs::to_der(cert)?;
    let (not_before, not_after) = certs::validity_unix(cert);
    Ok(NewKeyCertificate {
        key_id: key_id.clone(),
        issuer_key_id: issuer_key_id.clone(),
        kind,
        cert_sha256: hex::encode(Sha256::digest(&der)),
        certificate: der,
        not_before,
        not_after,
        created_at: unix(now),
    })
}

fn responder_view(
    conn: &mut schema::DbConnection,
    ca: &Key,
    responder: &Key,
) -> Result<CertifiedView, DomainError> {
    let row = schema::ocsp::find(conn, &ca.key_id, &responder.key_id)?.ok_or_else(|| {
        DomainError::Inconsistent(format!("no responder certificate from {}", ca.label))
    })?;
    Ok(CertifiedView {
        kind: "ocsp-responder".into(),
        key_id: responder.key_id.to_string(),
        issuer_key_id: ca.key_id.to_string(),
        certificate_sha256: hex::encode(Sha256::digest(&row.certificate)),
    })
}

fn key_entry(at: i64, cert: Option<&[u8]>, event: &str, key: &Key) -> Entry {
    Entry::Key {
        at,
        cert_sha256: cert
            .map(|d| hex::encode(Sha256::digest(d)))
            .unwrap_or_default(),
        event: event.into(),
        key_id: key.key_id.to_string(),
        purpose: key.purpose.to_string(),
    }
}

fn certified_entry(at: i64, der: &[u8], key_id: &KeyId, purpose: KeyPurpose) -> Entry {
    Entry::Key {
        at,
        cert_sha256: hex::encode(Sha256::digest(der)),
        event: "certified".into(),
        key_id: key_id.to_string(),
        purpose: purpose.to_string(),
    }
}

/// Records a request by ops user `staff` to rotate `purpose`; a different
/// ops user must approve it within `ttl`. The request goes on the ledger.
pub fn request(
    db: &Database,
    staff: &schema::staff::Staff,
    purpose: KeyPurpose,
    ttl: Duration,
    now: SystemTime,
) -> Result<(RequestView, ledger::Hash), DomainError> {
    require_ops(staff)?;
    let id = uuid::Builder::from_random_bytes(crate::random::bytes::<16>()?)
        .into_uuid()
        .hyphenated()
        .to_string();
    let at = unix(now);
    let expires_at = unix(now + ttl.max(Duration::from_secs(1)));
    let mut conn = db.conn()?;
    let result = write_transaction(&mut conn, |c| -> Result<ledger::Hash, DomainError> {
        store::expire_requests(c, at)?;
        store::insert_request(
            c,
            &NewRotationRequest {
                id: id.clone(),
                purpose,
                state: RequestState::Pending,
                requested_by: staff.id,
                requested_at: at,
                expires_at,
            },
        )?;
        super::ledger::enqueue(
            c,
            &Entry::KeyRequest {
                at,
                event: "requested".into(),
                purpose: purpose.to_string(),
                request_id: id.clone(),
                staff_id: staff.id.0,
            },
            now,
        )
    });
    let leaf = match result {
        Ok(leaf) => leaf,
        Err(DomainError::Storage(StorageError::UniqueViolation { .. })) => {
            return Err(DomainError::conflict(
                "rotation-request-open",
                format!(
                    "a {purpose} rotation request is already open; approve it or let it expire"
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    let row = store::request(&mut conn, &id)?
        .ok_or_else(|| DomainError::Inconsistent(format!("request {id} vanished")))?;
    Ok((RequestView::of(&row), leaf))
}

/// The request `id`.
pub fn show_request(db: &Database, id: &str) -> Result<RequestView, DomainError> {
    let row =
        store::request(&mut *db.conn()?, &id.to_ascii_lowercase())?.ok_or_else(|| not_found(id))?;
    Ok(RequestView::of(&row))
}

fn not_found(id: &str) -> DomainError {
    DomainError::not_found(
        "rotation-request-not-found",
        format!("no rotation request {id:?}"),
    )
}

/// A second ops user approves request `id`; the rotation then runs. An
/// approved request whose rotation failed (HSM outage) runs again when it
/// is approved again. The approval goes on the ledger.
pub fn approve(
    hsm: &Arc<Hsm>,
    db: &Database,
    staff: &schema::staff::Staff,
    id: &str,
    now: SystemTime,
    serial_bytes: &mut dyn FnMut() -> Result<[u8; 16], DomainError>,
) -> Result<(RequestView, RotationOutcome), DomainError> {
    require_ops(staff)?;
    let id = id.to_ascii_lowercase();
    let at = unix(now);
    let mut conn = db.conn()?;
    let row = store::request(&mut conn, &id)?.ok_or_else(|| not_found(&id))?;
    if row.requested_by == staff.id {
        return Err(DomainError::Forbidden(
            "two-person rule: the ops user who asked for a rotation cannot approve it".into(),
        ));
    }
    match row.state {
        RequestState::Pending if row.expires_at <= at => {
            store::expire_requests(&mut conn, at)?;
            return Err(expired(&row));
        }
        RequestState::Pending => {
            let approved = write_transaction(&mut conn, |c| -> Result<bool, DomainError> {
                if !store::approve(c, &id, staff.id, at)? {
                    return Ok(false);
                }
                super::ledger::enqueue(
                    c,
                    &Entry::KeyRequest {
                        at,
                        event: "approved".into(),
                        purpose: row.purpose.to_string(),
                        request_id: id.clone(),
                        staff_id: staff.id.0,
                    },
                    now,
                )?;
                Ok(true)
            })?;
            if !approved {
                // Expired or approved by someone else meanwhile.
                let again = store::request(&mut conn, &id)?.ok_or_else(|| not_found(&id))?;
                if again.state != RequestState::Approved {
                    return Err(expired(&again));
                }
            }
        }
        RequestState::Approved if row.approved_by != Some(staff.id) => {
            return Err(DomainError::Forbidden(
                "this request was approved by another ops user; only they may resume it".into(),
            ));
        }
        RequestState::Approved => {}
        RequestState::Completed => {
            return Err(DomainError::conflict(
                "rotation-request-completed",
                format!("request {id} has already run"),
            ));
        }
        _ => return Err(expired(&row)),
    }
    drop(conn);
    let outcome = rotate(hsm, db, row.purpose, now, serial_bytes)?;
    let new_key_id = KeyId::parse(&outcome.activated.key_id)
        .map_err(|e| DomainError::Inconsistent(e.to_string()))?;
    let mut conn = db.conn()?;
    store::complete(&mut conn, &id, &new_key_id, at)?;
    let row = store::request(&mut conn, &id)?.ok_or_else(|| not_found(&id))?;
    Ok((RequestView::of(&row), outcome))
}

fn expired(row: &RotationRequest) -> DomainError {
    DomainError::conflict(
        "rotation-request-expired",
        format!(
            "request {} expired at {} without approval; ask again",
            row.id,
            rfc3339(row.expires_at)
        ),
    )
}

fn require_ops(staff: &schema::staff::Staff) -> Result<(), DomainError> {
    if staff.role == schema::staff::StaffRole::Ops {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "key rotation needs the ops role".into(),
        ))
    }
}

/// Removes retired key `label` from the token once nothing needs it: every
/// certificate it signed has expired at `now` (CAs: the credentials they
/// issued, so no CRL or OCSP answer is needed any more; the root: every CA
/// and cross-certificate it signed; the OCSP key: its responder
/// certificates), or for a ledger key once a newer key has signed a
/// checkpoint. The row stays (`destroyed`), with its public key and
/// certificate, so what the key signed still verifies. Repeating a
/// destruction that stopped half-way finishes it.
pub fn destroy(
    hsm: &Hsm,
    db: &Database,
    label: &str,
    now: SystemTime,
) -> Result<KeyView, DomainError> {
    let at = unix(now);
    let mut conn = db.conn()?;
    let key = keys::by_label(&mut conn, label)?
        .ok_or_else(|| DomainError::not_found("key-not-found", format!("no key {label:?}")))?;
    let refuse = |why: String| DomainError::conflict("key-still-needed", why);
    match key.state {
        KeyState::Retired => {}
        KeyState::Destroyed => {
            // The token part may not have happened yet.
            hsm.destroy_key(&key.label)?;
            return KeyView::of(&key);
        }
        other => {
            return Err(refuse(format!(
                "{label} is {other}; only a retired key can be destroyed"
            )));
        }
    }
    let still_valid = |latest: Option<i64>, what: &str| -> Result<(), DomainError> {
        match latest {
            Some(t) if t > at => Err(refuse(format!(
                "{label} is still needed: {what} valid until {}",
                rfc3339(t)
            ))),
            _ => Ok(()),
        }
    };
    match key.purpose {
        KeyPurpose::IdentityCa | KeyPurpose::LicenseCa => still_valid(
            schema::credentials::latest_not_after_by_issuer(&mut conn, &key.key_id)?,
            "a credential it issued is",
        )?,
        KeyPurpose::Ocsp => still_valid(
            schema::ocsp::latest_not_after_for_responder(&mut conn, &key.key_id)?,
            "a responder certificate of it is",
        )?,
        KeyPurpose::Root => {
            let root = certs::from_der(key.certificate.as_deref().ok_or_else(|| {
                DomainError::Inconsistent(format!("{label} has no certificate"))
            })?)?;
            let mut signed: Vec<Vec<u8>> = keys::list_all(&mut conn)?
                .into_iter()
                .filter(|k| k.purpose != KeyPurpose::Root)
                .filter_map(|k| k.certificate)
                .collect();
            signed.extend(
                store::certificates(&mut conn)?
                    .into_iter()
                    .map(|c| c.certificate),
            );
            let mut latest = None;
            for der in signed {
                let cert = certs::from_der(&der)?;
                if certs::verify_signed_by(&cert, &root).is_ok() {
                    let (_, not_after) = certs::validity_unix(&cert);
                    latest = latest.max(Some(not_after));
                }
            }
            still_valid(latest, "a CA certificate it signed is")?;
        }
        KeyPurpose::Ledger => {
            let newer = schema::ledger::latest_checkpoint(&mut conn)?
                .is_some_and(|cp| cp.key_id != key.key_id);
            if !newer {
                return Err(refuse(format!(
                    "{label} signed the latest checkpoint; wait until the new ledger key has signed one"
                )));
            }
        }
        _ => {
            return Err(refuse(format!("{} keys are never destroyed", key.purpose)));
        }
    }
    write_transaction(&mut conn, |c| -> Result<(), DomainError> {
        if !keys::set_state(c, key.id, KeyState::Destroyed, at)? {
            return Err(refuse(format!("{label} changed state meanwhile")));
        }
        super::ledger::enqueue(
            c,
            &key_entry(at, key.certificate.as_deref(), "destroyed", &key),
            now,
        )?;
        Ok(())
    })?;
    // After the commit: a crash here leaves the row destroyed and the key on
    // the token, which `keys list` shows and a repeat finishes.
    hsm.destroy_key(&key.label)?;
    tracing::warn!(label = %key.label, key_id = %key.key_id, "key destroyed");
    let key = keys::by_label(&mut conn, label)?
        .ok_or_else(|| DomainError::Inconsistent(format!("key {label} vanished")))?;
    KeyView::of(&key)
}
