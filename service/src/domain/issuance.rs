//! Issuing credentials: identity enrollment, licences, identity reissue, and
//! the identity view, with the two rules that make issuance trustworthy:
//!
//! - **Record before sign.** The serial (and a licence's number) is reserved
//!   in an issuance intent, in the same transaction that claims the person's
//!   dedup slot, before the HSM is asked. The signed certificate is stored in
//!   the transaction that completes the intent. If signing or storing fails,
//!   the intent is resolved as abandoned (and an enrollment's identity with
//!   it) before the error is returned, so the client never gets a
//!   certificate the database does not hold, and nothing is half-written.
//!   Intents a crash left pending are resolved at start-up
//!   ([`Issuer::resolve_unfinished`]).
//! - **Lint before sign** lives in `certs`: a TBS that breaks its profile is
//!   never handed to the HSM.
//!
//! Uniqueness of a person is decided by the database's partial unique index
//! on the HSM-made HMAC of the normalised national ID, so concurrent
//! enrollments of one person (on any number of instances) give one identity.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use certs::catalog::Catalog;
use certs::holder::{
    self, BirthDate, Endpoints, HolderSubject, IdentityRequest, LicenceInfo, LicenceRequest,
};
use certs::{Certificate, SerialNumber, SubjectPublicKeyInfoOwned};
use ledger::entry::Entry;
use pkcs11_bridge::{Hsm, HsmSigner};
use schema::credentials::{self, Credential, CredentialKind, CredentialStatus, NewCredential};
use schema::identities::{self, Identity, IdentityStatus, NewIdentity};
use schema::intents::{self, IntentState, NewIssuanceIntent};
use schema::keys::{self, Key, KeyPurpose, KeyState};
use schema::staff::{Staff, StaffRole};
use schema::{Database, IdentityId, KeyId, Serial, StorageError, write_transaction};
use sha2::{Digest as _, Sha256};

use super::national_id::NationalId;
use super::{DomainError, rfc3339, unix};

/// Identity certificates live this long (the holder re-enrolls a device key
/// with `/reissue` long before).
const IDENTITY_VALIDITY: Duration = Duration::from_secs(5 * 365 * 86_400);
/// Certificates start slightly in the past for relying parties whose clock
/// lags ours.
const BACKDATE: Duration = Duration::from_secs(60);
/// Pending intents younger than this belong to a request still in flight
/// (possibly on another instance) and are left alone at start-up.
pub const INTENT_GRACE: Duration = Duration::from_secs(120);
/// Bounds on free-text fields (RFC 5280 ub-common-name is 64).
const MAX_NAME_CHARS: usize = 64;
const MAX_ADDRESS_CHARS: usize = 256;
const MAX_ATTRIBUTE_CHARS: usize = 256;
/// How many licence numbers to try before giving up (a collision needs two
/// equal 10-digit random numbers in one type and year).
const LICENCE_NUMBER_ATTEMPTS: usize = 4;

/// What an officer submits to enroll a person. `Debug` shows no personal data.
pub struct EnrollRequest {
    /// As typed; normalised before use, never stored.
    pub national_id: NationalId,
    /// Full name for the certificate subject.
    pub full_name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Postal address (stored, not in the certificate).
    pub address: String,
    /// PKCS#10 CSR, PEM or base64 DER.
    pub csr: String,
}

impl std::fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("csr_len", &self.csr.len())
            .finish_non_exhaustive()
    }
}

/// What an officer submits to issue a licence.
#[derive(Debug)]
pub struct LicenceOrder {
    /// Licence type id from the catalog.
    pub license_type: String,
    /// Attribute values by name.
    pub attributes: BTreeMap<String, String>,
    /// Validity in days; the type's default when absent.
    pub valid_days: Option<u32>,
}

/// A freshly issued credential.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The holder's identity.
    pub identity_id: String,
    /// Certificate serial, hex.
    pub serial: String,
    /// Licence number (licences only).
    pub license_number: Option<String>,
    /// The certificate, DER.
    pub certificate: Vec<u8>,
    /// Issuing CA then root, DER.
    pub chain: Vec<Vec<u8>>,
    /// Leaf hash of the issuance entry queued on the ledger with it.
    pub leaf_hash: ledger::Hash,
}

/// An identity and its credentials, for officers.
#[derive(Debug, Clone)]
pub struct IdentityView {
    /// The identity row.
    pub identity: Identity,
    /// Its credentials, oldest first.
    pub credentials: Vec<Credential>,
}

/// An active issuing CA: its record, certificate, signer and chain.
struct ActiveCa {
    key_id: KeyId,
    cert: Certificate,
    signer: HsmSigner,
    chain: Vec<Vec<u8>>,
}

/// The issuing service. Cheap to share (`Arc`); every method blocks.
pub struct Issuer {
    hsm: Arc<Hsm>,
    db: Database,
    catalog: Arc<Catalog>,
    public_url: String,
    /// Signers by label: building one asks the token for the public key, which
    /// need not happen per request.
    signers: Mutex<HashMap<String, HsmSigner>>,
    /// The keys table, re-read at most every [`KEYS_TTL`] and at once when
    /// an issuance finds its CA retired (a rotation on any instance).
    keys: Snapshot<Vec<Key>>,
    /// Verification anchors, kept like `keys`.
    pub(crate) anchors: Snapshot<Vec<certs::presentation::TrustAnchor>>,
    /// The last checkpoint whose signature was checked: (note, size, root).
    pub(crate) checkpoint: Mutex<Option<(String, u64, ledger::Hash)>>,
    /// Certificate signatures already verified (presentations).
    pub(crate) signatures: certs::presentation::SignatureCache,
    /// Unix second of the last purge of expired challenges.
    pub(crate) last_purge: AtomicI64,
    /// Committed upper ledger nodes (inclusion checks of presentations).
    pub(crate) nodes: super::ledger::NodeCache,
    /// Challenge nonce keys, one per hour, derived in the HSM.
    pub(crate) nonce_keys: super::nonce::EpochKeys,
}

/// How long a snapshot of the keys table (and the anchors made from it) is
/// used before it is read again. A rotation elsewhere is noticed within
/// this time, or at once by an issuance whose CA it retired.
pub(crate) const KEYS_TTL: Duration = Duration::from_secs(1);

/// A value read from the database and used for at most [`KEYS_TTL`].
#[derive(Debug)]
pub(crate) struct Snapshot<T>(Mutex<Option<(Instant, Arc<T>)>>);

impl<T> Default for Snapshot<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T> Snapshot<T> {
    /// The value, from the snapshot unless it is older than [`KEYS_TTL`] or
    /// `fresh` is asked; `load` reads it. Also says whether it came from
    /// the snapshot.
    pub(crate) fn get<E>(
        &self,
        fresh: bool,
        load: impl FnOnce() -> Result<T, E>,
    ) -> Result<(Arc<T>, bool), E> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !fresh
            && let Some((at, value)) = held.as_ref()
            && at.elapsed() < KEYS_TTL
        {
            return Ok((Arc::clone(value), true));
        }
        let value = Arc::new(load()?);
        *held = Some((Instant::now(), Arc::clone(&value)));
        Ok((value, false))
    }

    /// Forgets the value: the next [`Snapshot::get`] reads it.
    pub(crate) fn clear(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Verified certificate links remembered for presentations (about 100 bytes
/// each).
const SIGNATURE_CACHE: usize = 100_000;

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer over these backends; `public_url` goes into CRL and OCSP URLs.
    pub fn new(hsm: Arc<Hsm>, db: Database, catalog: Arc<Catalog>, public_url: &str) -> Self {
        Self {
            hsm,
            db,
            catalog,
            public_url: public_url.trim_end_matches('/').to_owned(),
            signers: Mutex::new(HashMap::new()),
            keys: Snapshot::default(),
            anchors: Snapshot::default(),
            checkpoint: Mutex::new(None),
            signatures: certs::presentation::SignatureCache::new(SIGNATURE_CACHE),
            last_purge: AtomicI64::new(0),
            nonce_keys: super::nonce::EpochKeys::default(),
            nodes: super::ledger::NodeCache::default(),
        }
    }

    /// The keys table, from a snapshot at most [`KEYS_TTL`] old.
    pub(crate) fn keys_snapshot(&self) -> Result<Arc<Vec<Key>>, DomainError> {
        Ok(self
            .keys
            .get(false, || {
                Ok::<_, DomainError>(keys::list_all(&mut *self.db.conn()?)?)
            })?
            .0)
    }

    /// [`Issuer::keys_snapshot`], reading through `conn` when the snapshot
    /// is stale (for a caller that already holds a pooled connection).
    pub(crate) fn keys_snapshot_on(
        &self,
        conn: &mut schema::DbConnection,
    ) -> Result<Arc<Vec<Key>>, DomainError> {
        Ok(self
            .keys
            .get(false, || Ok::<_, DomainError>(keys::list_all(conn)?))?
            .0)
    }

    /// Drops the key and anchor snapshots (a key was rotated).
    pub(crate) fn forget_keys(&self) {
        self.keys.clear();
        self.anchors.clear();
    }

    /// The licence catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The database.
    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    /// The HSM.
    pub(crate) fn hsm(&self) -> &Hsm {
        &self.hsm
    }

    /// A (cached) HSM signer for the key labelled `label`.
    pub(crate) fn signer_for(&self, label: &str) -> Result<HsmSigner, DomainError> {
        self.signer(label)
    }

    fn signer(&self, label: &str) -> Result<HsmSigner, DomainError> {
        if let Some(s) = self
            .signers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(label)
        {
            return Ok(s.clone());
        }
        let s = self.hsm.signer(label)?;
        self.signers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(label.to_owned(), s.clone());
        Ok(s)
    }

    pub(crate) fn active_key(&self, purpose: KeyPurpose) -> Result<Key, DomainError> {
        self.keys_snapshot()?
            .iter()
            .find(|k| k.purpose == purpose && k.state == KeyState::Active)
            .cloned()
            .ok_or_else(|| {
                DomainError::Inconsistent(format!("no active {purpose} key; run walletctl init"))
            })
    }

    fn active_ca(&self, purpose: KeyPurpose) -> Result<ActiveCa, DomainError> {
        // One read for the CA and its root: a root rollover may commit
        // between two reads, and the chain must be the one that certified
        // this very CA certificate.
        let all = self.keys_snapshot()?;
        let key = all
            .iter()
            .find(|k| k.purpose == purpose && k.state == KeyState::Active)
            .ok_or_else(|| {
                DomainError::Inconsistent(format!("no active {purpose} key; run walletctl init"))
            })?;
        let der = key.certificate.clone().ok_or_else(|| {
            DomainError::Inconsistent(format!("{} has no certificate", key.label))
        })?;
        let cert = certs::from_der(&der)?;
        let root_der = super::trust::issuing_root(&all, &cert)
            .and_then(|root| root.certificate.clone())
            .ok_or_else(|| DomainError::Inconsistent(format!("no root certified {}", key.label)))?;
        Ok(ActiveCa {
            key_id: key.key_id.clone(),
            cert,
            signer: self.signer(&key.label)?,
            chain: vec![der, root_der],
        })
    }

    fn endpoints(&self, issuer_key_id: &KeyId) -> Endpoints {
        Endpoints {
            crl_url: format!("{}/v1/crl/{issuer_key_id}", self.public_url),
            ocsp_url: format!("{}/ocsp", self.public_url),
        }
    }

    fn dedup_hmac(&self, national_id: &NationalId) -> Result<Vec<u8>, DomainError> {
        let key = self.active_key(KeyPurpose::DedupHmac)?;
        Ok(self
            .hsm
            .hmac_sha256(&key.label, national_id.as_bytes())?
            .to_vec())
    }

    /// Enrolls a person: one active identity per person, decided by the
    /// database; the first identity certificate for the CSR's key.
    pub fn enroll(
        &self,
        officer: &Staff,
        req: &EnrollRequest,
        now: SystemTime,
    ) -> Result<Issued, DomainError> {
        self.retry_rotated(|| self.enroll_once(officer, req, now))
    }

    fn enroll_once(
        &self,
        officer: &Staff,
        req: &EnrollRequest,
        now: SystemTime,
    ) -> Result<Issued, DomainError> {
        require_officer(officer)?;
        let full_name = clean_text("full_name", &req.full_name, MAX_NAME_CHARS)?;
        let address = clean_text("address", &req.address, MAX_ADDRESS_CHARS)?;
        let birth_date = parse_birth_date(&req.birth_date, now)?;
        let holder_spki = verify_csr(&req.csr)?;
        let dedup_hmac = self.dedup_hmac(&req.national_id)?;
        let ca = self.active_ca(KeyPurpose::IdentityCa)?;

        let identity_id = new_identity_id()?;
        let (serial, serial_hex) = new_serial()?;

        // Claim the person and reserve the serial, together (in a group
        // commit with other requests' writes).
        let identity = NewIdentity {
            id: identity_id.clone(),
            dedup_hmac: dedup_hmac.clone(),
            full_name: full_name.clone(),
            birth_date: format!(
                "{:04}-{:02}-{:02}",
                birth_date.year, birth_date.month, birth_date.day
            ),
            address,
            created_at: unix(now),
            created_by: officer.id,
        };
        let intent = self.intent(
            &serial_hex,
            &identity_id,
            CredentialKind::Identity,
            None,
            &ca.key_id,
            officer,
            now,
        );
        // The partial unique index identities_one_active_per_person is the
        // check: no read of our own inside the single writer's batch.
        let claimed = self.db.group_write(move |c| -> Result<(), StorageError> {
            identities::insert(c, &identity)?;
            intents::insert(c, &intent)?;
            Ok(())
        });
        let existing = match claimed {
            Ok(()) => None,
            // Enrolled before, or a concurrent enrollment of the same person
            // committed first.
            Err(StorageError::UniqueViolation { constraint, .. })
                if constraint == "identities_one_active_per_person" =>
            {
                // The winner may have been abandoned since: then there is
                // nobody to name, and a retry will succeed.
                let existing =
                    identities::active_by_dedup_hmac(&mut *self.db.conn()?, &dedup_hmac)?
                        .ok_or_else(|| {
                            DomainError::Unavailable(
                                "a concurrent enrollment of this person was abandoned".into(),
                            )
                        })?;
                Some(existing.id.to_string())
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(existing) = existing {
            return Err(DomainError::Conflict {
                kind: "identity-exists",
                detail: format!("this person already has an active identity ({existing})"),
                identity_id: Some(existing),
            });
        }

        let subject = HolderSubject {
            full_name,
            identity_id: identity_id.to_string(),
        };
        let signed = self.sign_identity(&ca, subject, birth_date, holder_spki, serial, now);
        self.complete(
            signed,
            &ca,
            &serial_hex,
            &identity_id,
            CredentialKind::Identity,
            None,
            officer,
            now,
            Abandon::Identity,
            None,
        )
    }

    /// Issues a licence of a catalog type to an enrolled person, for their
    /// current identity key and subject.
    pub fn issue_licence(
        &self,
        officer: &Staff,
        identity_id: &str,
        order: &LicenceOrder,
        now: SystemTime,
    ) -> Result<Issued, DomainError> {
        self.retry_rotated(|| self.issue_licence_once(officer, identity_id, order, now))
    }

    fn issue_licence_once(
        &self,
        officer: &Staff,
        identity_id: &str,
        order: &LicenceOrder,
        now: SystemTime,
    ) -> Result<Issued, DomainError> {
        require_officer(officer)?;
        let ty = self
            .catalog
            .licence_type(&order.license_type)
            .ok_or_else(|| {
                DomainError::not_found(
                    "unknown-license-type",
                    format!("no licence type {:?} in the catalog", order.license_type),
                )
            })?;
        if officer.department.as_deref() != Some(ty.department.as_str()) {
            return Err(DomainError::Forbidden(format!(
                "licence type {} belongs to department {}",
                ty.id, ty.department
            )));
        }
        let attributes = check_attributes(&ty.required_attributes, &order.attributes)?;
        let days = order.valid_days.unwrap_or(ty.validity_days);
        if days == 0 || days > ty.max_validity_days {
            return Err(DomainError::invalid(
                "invalid-validity",
                format!(
                    "valid_days must be 1 to {} for {}",
                    ty.max_validity_days, ty.id
                ),
            ));
        }
        let identity = self.active_identity(identity_id)?;
        let (subject, holder_spki) = self.current_holder(&identity)?;
        let ca = self.active_ca(KeyPurpose::LicenseCa)?;
        let year = &rfc3339(unix(now))[..4];

        let mut reserved = None;
        for _ in 0..LICENCE_NUMBER_ATTEMPTS {
            let (serial, serial_hex) = new_serial()?;
            let number = format!(
                "{}-{year}-{:010}",
                ty.number_prefix,
                u64::from_be_bytes(crate::random::bytes::<8>()?) % 10_000_000_000
            );
            let intent = self.intent(
                &serial_hex,
                &identity.id,
                CredentialKind::License,
                Some((&ty.id, &number)),
                &ca.key_id,
                officer,
                now,
            );
            match self.db.group_write(move |c| intents::insert(c, &intent)) {
                Ok(_) => {
                    reserved = Some((serial, serial_hex, number));
                    break;
                }
                Err(StorageError::UniqueViolation { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let (serial, serial_hex, number) = reserved.ok_or_else(|| {
            DomainError::Inconsistent("could not reserve a unique licence number".into())
        })?;

        let request = LicenceRequest {
            subject,
            holder_spki,
            serial,
            not_before: now.checked_sub(BACKDATE).unwrap_or(now),
            not_after: now + Duration::from_secs(u64::from(days) * 86_400),
            endpoints: self.endpoints(&ca.key_id),
            info: LicenceInfo {
                licence_type: ty.id.clone(),
                licence_number: number.clone(),
                department: ty.department.clone(),
                attributes,
            },
        };
        let signed =
            holder::build_licence_cert(&ca.signer, &ca.cert, &request).map_err(DomainError::from);
        self.complete(
            signed,
            &ca,
            &serial_hex,
            &identity.id,
            CredentialKind::License,
            Some((ty.id.clone(), number)),
            officer,
            now,
            Abandon::IntentOnly,
            None,
        )
    }

    /// A new identity certificate for a new device key; the holder's current
    /// identity certificates are revoked as superseded in the same
    /// transaction that stores the new one.
    pub fn reissue(
        &self,
        officer: &Staff,
        identity_id: &str,
        csr: &str,
        now: SystemTime,
    ) -> Result<Issued, DomainError> {
        self.retry_rotated(|| self.reissue_once(officer, identity_id, csr, now))
    }

    fn reissue_once(
        &self,
        officer: &Staff,
        identity_id: &str,
        csr: &str,
        now: SystemTime,
    ) -> Result<Issued, DomainError> {
        require_officer(officer)?;
        let holder_spki = verify_csr(csr)?;
        let identity = self.active_identity(identity_id)?;
        let (subject, _) = self.current_holder(&identity)?;
        let birth_date = BirthDate::parse(&identity.birth_date)?;
        let ca = self.active_ca(KeyPurpose::IdentityCa)?;
        let (serial, serial_hex) = new_serial()?;
        let intent = self.intent(
            &serial_hex,
            &identity.id,
            CredentialKind::Identity,
            None,
            &ca.key_id,
            officer,
            now,
        );
        self.db.group_write(move |c| intents::insert(c, &intent))?;
        let signed = self.sign_identity(&ca, subject, birth_date, holder_spki, serial, now);
        self.complete(
            signed,
            &ca,
            &serial_hex,
            &identity.id,
            CredentialKind::Identity,
            None,
            officer,
            now,
            Abandon::IntentOnly,
            Some("superseded"),
        )
    }

    /// Runs an issuance again, with fresh keys, when the issuing key was
    /// rotated under it (at most a few times: rotations are rare and each
    /// takes a moment).
    fn retry_rotated<T>(
        &self,
        mut issue: impl FnMut() -> Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        let mut attempts = 0;
        loop {
            match issue() {
                Err(DomainError::IssuerRotated) if attempts < 3 => {
                    attempts += 1;
                    self.forget_keys();
                }
                other => return other,
            }
        }
    }

    /// The identity and its credentials.
    pub fn identity(&self, identity_id: &str) -> Result<IdentityView, DomainError> {
        let id = parse_identity_id(identity_id)?;
        let mut conn = self.db.conn()?;
        let identity = identities::by_id(&mut conn, &id)?
            .filter(|i| i.status != IdentityStatus::Abandoned)
            .ok_or_else(|| {
                DomainError::not_found("identity-not-found", format!("no identity {identity_id}"))
            })?;
        let credentials = credentials::for_identity(&mut conn, &id)?;
        Ok(IdentityView {
            identity,
            credentials,
        })
    }

    /// Resolves intents left pending by a crash (older than `grace`) as
    /// abandoned, and frees the dedup slot of enrollments that never got a
    /// certificate. Returns how many intents were resolved.
    pub fn resolve_unfinished(
        &self,
        now: SystemTime,
        grace: Duration,
    ) -> Result<usize, DomainError> {
        let cutoff = unix(now.checked_sub(grace).unwrap_or(now));
        let mut conn = self.db.conn()?;
        let stale: Vec<_> = intents::pending(&mut conn)?
            .into_iter()
            .filter(|i| i.created_at <= cutoff)
            .collect();
        let mut resolved = 0;
        for intent in stale {
            let done = write_transaction(&mut conn, |c| -> Result<bool, StorageError> {
                let changed =
                    intents::resolve(c, &intent.serial, IntentState::Abandoned, unix(now))?;
                if changed && intent.kind == CredentialKind::Identity {
                    identities::abandon(c, &intent.identity_id)?;
                }
                Ok(changed)
            })?;
            if done {
                tracing::warn!(serial = %intent.serial, kind = %intent.kind, "unfinished issuance intent resolved as abandoned");
                resolved += 1;
            }
        }
        Ok(resolved)
    }

    /// Builds, lints and has the HSM sign an identity certificate.
    fn sign_identity(
        &self,
        ca: &ActiveCa,
        subject: HolderSubject,
        birth_date: BirthDate,
        holder_spki: SubjectPublicKeyInfoOwned,
        serial: SerialNumber,
        now: SystemTime,
    ) -> Result<Certificate, DomainError> {
        let request = IdentityRequest {
            subject,
            birth_date,
            holder_spki,
            serial,
            not_before: now.checked_sub(BACKDATE).unwrap_or(now),
            not_after: now + IDENTITY_VALIDITY,
            endpoints: self.endpoints(&ca.key_id),
        };
        Ok(holder::build_identity_cert(&ca.signer, &ca.cert, &request)?)
    }

    #[expect(clippy::too_many_arguments, reason = "one intent row, named fields")]
    fn intent(
        &self,
        serial: &Serial,
        identity_id: &IdentityId,
        kind: CredentialKind,
        licence: Option<(&str, &str)>,
        issuer_key_id: &KeyId,
        officer: &Staff,
        now: SystemTime,
    ) -> NewIssuanceIntent {
        NewIssuanceIntent {
            serial: serial.clone(),
            identity_id: identity_id.clone(),
            kind,
            license_type: licence.map(|(t, _)| t.to_owned()),
            license_number: licence.map(|(_, n)| n.to_owned()),
            issuer_key_id: issuer_key_id.clone(),
            created_at: unix(now),
            created_by: officer.id,
        }
    }

    /// Stores a signed certificate and completes its intent in one
    /// transaction; on any failure (signing or storing) resolves the intent
    /// as abandoned first and then returns the error.
    #[expect(clippy::too_many_arguments, reason = "the parts of one issuance")]
    fn complete(
        &self,
        signed: Result<Certificate, DomainError>,
        ca: &ActiveCa,
        serial: &Serial,
        identity_id: &IdentityId,
        kind: CredentialKind,
        licence: Option<(String, String)>,
        officer: &Staff,
        now: SystemTime,
        abandon: Abandon,
        supersede: Option<&str>,
    ) -> Result<Issued, DomainError> {
        let stored = signed.and_then(|cert| {
            let der = certs::to_der(&cert)?;
            let (not_before, not_after) = certs::validity_unix(&cert);
            let cert_sha256 = hex::encode(Sha256::digest(&der));
            let entry = Entry::Issuance {
                at: unix(now),
                cert_sha256: cert_sha256.clone(),
                issuer_key_id: ca.key_id.to_string(),
                kind: kind.to_string(),
                serial: serial.to_string(),
            };
            let row = NewCredential {
                serial: serial.clone(),
                identity_id: identity_id.clone(),
                kind,
                license_type: licence.as_ref().map(|(t, _)| t.clone()),
                license_number: licence.as_ref().map(|(_, n)| n.clone()),
                issuer_key_id: ca.key_id.clone(),
                cert_sha256,
                certificate: der.clone(),
                not_before,
                not_after,
                created_at: unix(now),
                created_by: officer.id,
            };
            let supersede = supersede.map(str::to_owned);
            let completed =
                self.db
                    .group_write(move |c| -> Result<Option<ledger::Hash>, DomainError> {
                        // A certificate of a key retired meanwhile is never
                        // stored or handed out: the caller retries with the new
                        // key. Read under a lock the retirement waits for, so
                        // every certificate of a key is stored before its
                        // retirement commits or not at all.
                        if !keys::is_active_locked(c, &row.issuer_key_id)? {
                            return Err(DomainError::IssuerRotated);
                        }
                        // First, so a certificate whose intent was already resolved
                        // elsewhere (start-up resolution on another instance) writes
                        // nothing and is never handed out.
                        if !intents::resolve(c, &row.serial, IntentState::Completed, unix(now))? {
                            return Ok(None);
                        }
                        if let Some(reason) = supersede {
                            // Serialise concurrent reissues of one person: the
                            // second then sees (and supersedes) the first's
                            // certificate instead of both staying good.
                            identities::lock(c, &row.identity_id)?;
                            for old in credentials::for_identity(c, &row.identity_id)? {
                                if old.kind == CredentialKind::Identity
                                    && old.status == CredentialStatus::Good
                                    && credentials::revoke(
                                        c,
                                        &old.serial,
                                        Some(&reason),
                                        unix(now),
                                    )?
                                {
                                    super::ledger::enqueue(
                                        c,
                                        &Entry::Revocation {
                                            at: unix(now),
                                            reason: reason.clone(),
                                            serial: old.serial.to_string(),
                                        },
                                        now,
                                    )?;
                                }
                            }
                        }
                        credentials::insert(c, &row)?;
                        Ok(Some(super::ledger::enqueue(c, &entry, now)?))
                    })?;
            let Some(leaf_hash) = completed else {
                return Err(DomainError::Inconsistent(format!(
                    "intent {serial} was resolved while signing"
                )));
            };
            Ok((der, leaf_hash))
        });
        match stored {
            Ok((der, leaf_hash)) => Ok(Issued {
                leaf_hash,
                identity_id: identity_id.to_string(),
                serial: serial.to_string(),
                license_number: licence.map(|(_, n)| n),
                certificate: der,
                chain: ca.chain.clone(),
            }),
            Err(e) => {
                if matches!(e, DomainError::IssuerRotated) {
                    tracing::info!(serial = %serial, "issuing key rotated while signing; abandoning the intent and retrying");
                } else {
                    tracing::error!(serial = %serial, error = %e, "issuance failed; abandoning its intent");
                }
                if let Err(undo) = self.abandon(serial, identity_id, abandon, now) {
                    // Start-up resolution will finish what this could not.
                    tracing::error!(serial = %serial, error = %undo, "could not resolve the intent now");
                }
                Err(e)
            }
        }
    }

    fn abandon(
        &self,
        serial: &Serial,
        identity_id: &IdentityId,
        what: Abandon,
        now: SystemTime,
    ) -> Result<(), DomainError> {
        self.db.write(|c| -> Result<(), StorageError> {
            intents::resolve(c, serial, IntentState::Abandoned, unix(now))?;
            if what == Abandon::Identity {
                identities::abandon(c, identity_id)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn active_identity(&self, identity_id: &str) -> Result<Identity, DomainError> {
        let id = parse_identity_id(identity_id)?;
        let mut conn = self.db.conn()?;
        let identity = identities::by_id(&mut conn, &id)?
            .filter(|i| i.status != IdentityStatus::Abandoned)
            .ok_or_else(|| {
                DomainError::not_found("identity-not-found", format!("no identity {identity_id}"))
            })?;
        if identity.status != IdentityStatus::Active {
            return Err(DomainError::Conflict {
                kind: "identity-not-active",
                detail: format!("identity {identity_id} is {}", identity.status),
                identity_id: Some(identity_id.to_owned()),
            });
        }
        Ok(identity)
    }

    /// Subject and key of the holder's newest good identity certificate.
    fn current_holder(
        &self,
        identity: &Identity,
    ) -> Result<(HolderSubject, SubjectPublicKeyInfoOwned), DomainError> {
        let mut conn = self.db.conn()?;
        let current = credentials::for_identity(&mut conn, &identity.id)?
            .into_iter()
            .filter(|c| c.kind == CredentialKind::Identity && c.status == CredentialStatus::Good)
            .max_by_key(|c| (c.created_at, c.not_after))
            .ok_or_else(|| DomainError::Conflict {
                kind: "identity-not-active",
                detail: format!("identity {} has no valid identity certificate", identity.id),
                identity_id: Some(identity.id.to_string()),
            })?;
        let cert = certs::from_der(&current.certificate)?;
        let subject = holder::holder_subject(&cert)?;
        Ok((
            subject,
            cert.tbs_certificate().subject_public_key_info().clone(),
        ))
    }
}

/// What to undo when an issuance fails after its intent was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Abandon {
    /// The intent only (licence, reissue).
    IntentOnly,
    /// The intent and the identity it created (enrollment).
    Identity,
}

fn require_officer(staff: &Staff) -> Result<(), DomainError> {
    if staff.role == StaffRole::Officer {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "issuing credentials needs the officer role".into(),
        ))
    }
}

/// A fresh certificate serial (16 CSPRNG bytes, top bit cleared) and its
/// database form.
fn new_serial() -> Result<(SerialNumber, Serial), DomainError> {
    let serial = certs::random_serial(crate::random::bytes::<16>()?)?;
    let hex = Serial::parse(&certs::serial_hex(&serial))
        .map_err(|e| DomainError::Inconsistent(e.to_string()))?;
    Ok((serial, hex))
}

fn new_identity_id() -> Result<IdentityId, DomainError> {
    let uuid = uuid::Builder::from_random_bytes(crate::random::bytes::<16>()?).into_uuid();
    IdentityId::parse(&uuid.hyphenated().to_string())
        .map_err(|e| DomainError::Inconsistent(e.to_string()))
}

fn parse_identity_id(text: &str) -> Result<IdentityId, DomainError> {
    IdentityId::parse(text)
        .map_err(|_| DomainError::not_found("identity-not-found", format!("no identity {text:?}")))
}

fn verify_csr(csr: &str) -> Result<SubjectPublicKeyInfoOwned, DomainError> {
    use certs::csr::CsrError;
    certs::csr::verify_csr(csr.as_bytes())
        .map(|v| v.spki)
        .map_err(|e| match e {
            CsrError::TooLarge => DomainError::Malformed {
                kind: "malformed-csr",
                detail: "the CSR is larger than 16 KiB".into(),
            },
            CsrError::Malformed(d) => DomainError::Malformed {
                kind: "malformed-csr",
                detail: format!("malformed CSR: {d}"),
            },
            CsrError::UnsupportedKey(d) => DomainError::invalid(
                "unsupported-key",
                format!("only P-256 (prime256v1) keys are accepted: {d}"),
            ),
            CsrError::BadSignature => DomainError::invalid(
                "csr-signature-invalid",
                "the CSR signature does not verify with its own key (no proof of possession)",
            ),
            other => DomainError::Malformed {
                kind: "malformed-csr",
                detail: other.to_string(),
            },
        })
}

/// Trims and bounds a free-text field; control characters are refused.
fn clean_text(field: &'static str, value: &str, max_chars: usize) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::invalid(
            "invalid-field",
            format!("{field} is empty"),
        ));
    }
    if v.chars().count() > max_chars {
        return Err(DomainError::invalid(
            "invalid-field",
            format!("{field} is longer than {max_chars} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "invalid-field",
            format!("{field} contains control characters"),
        ));
    }
    Ok(v.to_owned())
}

fn parse_birth_date(text: &str, now: SystemTime) -> Result<BirthDate, DomainError> {
    let bad = || {
        DomainError::invalid(
            "invalid-birth-date",
            "birth_date must be a real date YYYY-MM-DD, not in the future",
        )
    };
    let date = BirthDate::parse(text.trim()).map_err(|_| bad())?;
    let today = rfc3339(unix(now));
    let part = |r: std::ops::Range<usize>| {
        today
            .get(r)
            .and_then(|t| t.parse::<u16>().ok())
            .unwrap_or(0)
    };
    let today = (part(0..4), part(5..7), part(8..10));
    if date.year < 1900 || (date.year, u16::from(date.month), u16::from(date.day)) > today {
        return Err(bad());
    }
    Ok(date)
}

/// Exactly the catalog's attributes, each a non-empty bounded value; sorted
/// by name (the order inside the certificate).
fn check_attributes(
    required: &[String],
    given: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, DomainError> {
    let missing: Vec<&str> = required
        .iter()
        .filter(|r| !given.contains_key(*r))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(DomainError::invalid(
            "missing-attributes",
            format!("missing attributes: {}", missing.join(", ")),
        ));
    }
    let unknown: Vec<&str> = given
        .keys()
        .filter(|k| !required.contains(k))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(DomainError::invalid(
            "unknown-attributes",
            format!("unknown attributes: {}", unknown.join(", ")),
        ));
    }
    given
        .iter()
        .map(|(k, v)| clean_text("attribute value", v, MAX_ATTRIBUTE_CHARS).map(|v| (k.clone(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn attributes_must_match_the_catalog_exactly() {
        let required = vec!["premises".to_owned(), "inspector".to_owned()];
        let mut given = BTreeMap::new();
        given.insert("premises".to_owned(), " 1 Main St ".to_owned());
        let e = check_attributes(&required, &given).unwrap_err();
        assert!(
            matches!(
                e,
                DomainError::Invalid {
                    kind: "missing-attributes",
                    ..
                }
            ),
            "{e}"
        );
        given.insert("inspector".to_owned(), "Li".to_owned());
        assert_eq!(
            check_attributes(&required, &given).unwrap(),
            vec![
                ("inspector".to_owned(), "Li".to_owned()),
                ("premises".to_owned(), "1 Main St".to_owned())
            ]
        );
        given.insert("colour".to_owned(), "red".to_owned());
        let e = check_attributes(&required, &given).unwrap_err();
        assert!(
            matches!(
                e,
                DomainError::Invalid {
                    kind: "unknown-attributes",
                    ..
                }
            ),
            "{e}"
        );
        given.remove("colour");
        given.insert("inspector".to_owned(), "  ".to_owned());
        assert!(check_attributes(&required, &given).is_err());
    }

    #[test]
    fn birth_dates_are_real_and_past() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000); // 2026-11-18
        assert!(parse_birth_date("1990-02-28", now).is_ok());
        for bad in [
            "1990-02-30",
            "2027-01-01",
            "1899-12-31",
            "90-1-1",
            "",
            "1990-13-01",
        ] {
            assert!(parse_birth_date(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn free_text_is_bounded() {
        assert_eq!(clean_text("f", "  Ada  ", 64).unwrap(), "Ada");
        assert!(clean_text("f", "", 64).is_err());
        assert!(clean_text("f", "a\u{0007}b", 64).is_err());
        assert!(clean_text("f", &"x".repeat(65), 64).is_err());
        assert!(clean_text("f", &"é".repeat(64), 64).is_ok());
    }
}
