//! The counter's transaction: challenges, presentation verification and
//! one-visit service checks. The pure checks (chain, validity, same holder,
//! holder signature) are `certs::presentation`, shared with the offline
//! verifier; this module adds what needs the database: revocation status,
//! the holder identity's status, ledger inclusion against the latest signed
//! checkpoint, and the single-use, audience-bound nonce.

use std::time::{Duration, SystemTime};

use certs::presentation::{self, CredentialKind as PresentedKind};
use ledger::checkpoint::{Checkpoint as NoteBody, SignedNote};
use ledger::entry::Entry;
use schema::challenges::{self, Consumed, NewChallenge};
use schema::credentials::{self, CredentialStatus};
use schema::identities::{self, IdentityStatus};
use schema::keys::{self, KeyPurpose};
use schema::ledger as store;
use schema::staff::{Staff, StaffRole};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::issuance::Issuer;
use super::nonce;
use super::{DomainError, rfc3339, unix};

/// How long a challenge nonce lives.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// How far another instance's clock may run ahead of this one's: a nonce
/// expiring later than now + TTL + this was not made by any of them.
const CLOCK_SKEW_SECS: i64 = 60;
/// Most credentials in one presentation.
const MAX_AUDIENCE_CHARS: usize = 128;

/// A challenge for a counter.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Challenge {
    /// Opaque to the holder, who signs it as given: base64url (no padding)
    /// of the counter, expiry and audience digest under the service's MAC.
    pub nonce: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// A presentation as the holder sends it (already base64-decoded).
#[derive(Debug, Clone)]
pub struct Presentation {
    /// Credentials, DER.
    pub credentials: Vec<Vec<u8>>,
    /// The counter the proof is for.
    pub audience: String,
    /// The challenge nonce.
    pub nonce: String,
    /// RFC 3339 UTC, as signed.
    pub issued_at: String,
    /// DER ECDSA signature by the holder key.
    pub signature: Vec<u8>,
}

/// One credential in a verification result.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CredentialResult {
    /// Serial, lowercase hex.
    pub serial: String,
    /// `identity` or `license`.
    pub kind: String,
    /// Licence type (licences).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_type: Option<String>,
    /// `good`, `revoked` or `unknown` (not issued here).
    pub status: String,
    /// Whether the issuance entry is on the ledger and its proof verifies.
    pub ledger: LedgerResult,
    /// Problems with this credential (stable codes).
    pub errors: Vec<String>,
}

/// Ledger inclusion of one credential.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LedgerResult {
    /// Leaf index of the issuance entry, when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_index: Option<u64>,
    /// Whether its inclusion proof verifies against the latest signed checkpoint.
    pub verified: bool,
}

/// The verdict of `POST /v1/presentations/verify`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VerifyResult {
    /// `valid` or `invalid`.
    pub verdict: String,
    /// The audience the holder signed for: an anonymous caller must check it
    /// names them (a counter's service check only accepts its own nonces).
    pub audience: String,
    /// The holder's identity id, when the credentials agree on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Per credential.
    pub credentials: Vec<CredentialResult>,
    /// Every check by name, true when it passed.
    pub checks: std::collections::BTreeMap<String, bool>,
    /// Why it is invalid (stable codes).
    pub errors: Vec<String>,
}

/// A holder identity met in a presentation (usually one: a presentation is
/// one holder's), so each is read once however many credentials name it.
struct Person {
    id: schema::IdentityId,
    /// Its record is active.
    active: bool,
    /// Its identity certificates revoked for a reason other than
    /// `superseded`, read at its first licence.
    revoked: Option<Vec<Vec<u8>>>,
}

/// What [`Issuer::verify`] learns from the database, before the nonce.
struct StoredChecks {
    pure: presentation::PresentationCheck,
    results: Vec<CredentialResult>,
    /// No credential unknown or revoked.
    all_good: bool,
    /// Every credential's inclusion verified against the signed checkpoint.
    all_logged: bool,
    /// Every holder identity active and no licence's key revoked with it.
    identity_ok: bool,
}

impl VerifyResult {
    /// True when the presentation is valid.
    pub fn is_valid(&self) -> bool {
        self.verdict == "valid"
    }
}

impl Issuer {
    /// A fresh, single-use nonce for `audience` (counters only). Writes
    /// nothing; may derive this hour's nonce key in the HSM (blocking).
    pub fn challenge(
        &self,
        counter: &Staff,
        audience: &str,
        now: SystemTime,
    ) -> Result<Challenge, DomainError> {
        let audience = challenge_audience(counter, audience)?;
        let expires = unix(now + CHALLENGE_TTL);
        let key = self.nonce_key(nonce::epoch_of(expires))?;
        mint_challenge(&key, counter, audience, expires)
    }

    /// [`Issuer::challenge`] when its nonce key is in memory, so it never
    /// blocks and may run on an async worker; `None` when the key must be
    /// derived first.
    pub fn challenge_from_memory(
        &self,
        counter: &Staff,
        audience: &str,
        now: SystemTime,
    ) -> Result<Option<Challenge>, DomainError> {
        let audience = challenge_audience(counter, audience)?;
        let expires = unix(now + CHALLENGE_TTL);
        match self.nonce_keys.get(nonce::epoch_of(expires)) {
            Some(key) => mint_challenge(&key, counter, audience, expires).map(Some),
            None => Ok(None),
        }
    }

    /// The nonce key of `epoch`: from memory, or derived in the HSM from the
    /// `dedup-hmac` key (the one secret key every instance shares; never
    /// rotated) and kept.
    fn nonce_key(&self, epoch: i64) -> Result<nonce::EpochKey, DomainError> {
        if let Some(key) = self.nonce_keys.get(epoch) {
            return Ok(key);
        }
        let label = self.active_key(KeyPurpose::DedupHmac)?.label;
        let key = Zeroizing::new(
            self.hsm()
                .hmac_sha256(&label, &nonce::derivation_input(epoch))?,
        );
        self.nonce_keys.put(epoch, key.clone());
        Ok(key)
    }

    /// Checks `p`'s nonce and, when it is authentic, fresh and for this
    /// audience (and `counter`, when set), records its use: the one write of
    /// a verification's nonce. A nonce of the previous format (stored when
    /// it was handed out) is consumed as it was then, so presentations
    /// begun before an upgrade still verify.
    fn consume_nonce(
        &self,
        p: &Presentation,
        counter: Option<schema::StaffId>,
        now: SystemTime,
    ) -> Result<Consumed, DomainError> {
        let at = now;
        let now = unix(now);
        let Some(claims) = nonce::parse(&p.nonce) else {
            let (n, a) = (p.nonce.clone(), p.audience.clone());
            return self.write_nonce(at, move |c| challenges::consume(c, &n, &a, counter, now));
        };
        let ttl = CHALLENGE_TTL.as_secs().cast_signed();
        let epoch = match nonce::window(claims.expires_at, now, ttl, CLOCK_SKEW_SECS) {
            nonce::Window::Open(epoch) => epoch,
            nonce::Window::Expired => return Ok(Consumed::Expired),
            nonce::Window::TooLate => return Ok(Consumed::Unknown),
        };
        if !claims.authentic(&self.nonce_key(epoch)?) {
            return Ok(Consumed::Unknown);
        }
        if !claims.is_for(&p.audience) || counter.is_some_and(|c| c.0 != claims.counter) {
            return Ok(Consumed::WrongAudience);
        }
        let used = NewChallenge {
            nonce: p.nonce.clone(),
            audience: p.audience.clone(),
            created_by: schema::StaffId(claims.counter),
            created_at: claims.expires_at - ttl,
            expires_at: claims.expires_at,
            used_at: Some(now),
        };
        self.write_nonce(at, move |c| {
            Ok(if challenges::record_use(c, &used)? {
                Consumed::Fresh
            } else {
                Consumed::Used
            })
        })
    }

    /// Runs a nonce's one write in the group commit, with the expired
    /// challenges' purge when it is due (once a minute per process).
    fn write_nonce(
        &self,
        now: SystemTime,
        write: impl FnOnce(&mut schema::DbConnection) -> Result<Consumed, schema::StorageError>
        + Send
        + 'static,
    ) -> Result<Consumed, DomainError> {
        let purge = self.purge_due(now);
        let now = unix(now);
        let written = self.db().group_write(move |c| {
            let consumed = write(c)?;
            if purge {
                // In its own savepoint: a failed purge must not undo or fail
                // the nonce's write.
                let _ =
                    schema::write_transaction(c, |c| challenges::purge_expired(c, now - 86_400));
            }
            Ok(consumed)
        });
        match written {
            // Authentic, but its counter is not in this database: another
            // deployment on a copy of this token made it. Its write was
            // rolled back with its savepoint.
            Err(schema::StorageError::ConstraintViolation(e)) => {
                tracing::warn!(error = %e, "an authentic nonce names an unknown counter");
                Ok(Consumed::Unknown)
            }
            other => Ok(other?),
        }
    }

    /// Runs every check on a presentation and reports each one.
    /// `counter` is the counter asking (service checks): then only a nonce
    /// that counter obtained is accepted.
    pub fn verify(
        &self,
        p: &Presentation,
        counter: Option<schema::StaffId>,
        now: SystemTime,
    ) -> Result<VerifyResult, DomainError> {
        let mut pooled = self.db().conn()?;
        // On SQLite, all the reads in one read transaction: one snapshot and
        // one warm page cache.
        let StoredChecks {
            pure,
            results,
            all_good,
            all_logged,
            identity_ok,
        } = schema::read_snapshot(&mut pooled, |conn| self.check_stored(conn, p, now))?;
        let mut errors = pure.errors.clone();
        // The committer needs a pooled connection: never wait for it
        // while holding one.
        drop(pooled);
        // The nonce last, consumed atomically so a replay is refused; and
        // only by a presentation whose holder signature (which covers the
        // nonce) verifies, so a bystander who saw the nonce cannot burn it.
        let (nonce_ok, audience_ok) = if pure.holder_signature && pure.same_holder {
            let nonce = self.consume_nonce(p, counter, now)?;
            if !matches!(nonce, Consumed::Fresh | Consumed::WrongAudience) {
                errors.push(format!("nonce-{}", format!("{nonce:?}").to_lowercase()));
            }
            match nonce {
                Consumed::Fresh => (true, true),
                Consumed::WrongAudience => (false, false),
                Consumed::Unknown | Consumed::Expired | Consumed::Used => (false, true),
            }
        } else {
            errors.push("nonce-not-consumed".into());
            (false, true)
        };
        if !audience_ok {
            errors.push("audience-mismatch".into());
        }

        let chain = pure.credentials.iter().all(|c| c.chain_ok);
        let validity = pure.credentials.iter().all(|c| c.valid_now);
        // Well formed: every credential could be read and the proof is
        // readable; whether it verifies is the other checks' business.
        let well_formed = !pure.credentials.is_empty()
            && pure
                .credentials
                .iter()
                .all(|c| c.kind != PresentedKind::Unknown)
            && !pure.errors.iter().any(|e| {
                matches!(
                    e.as_str(),
                    "no-credentials"
                        | "too-many-credentials"
                        | "malformed-proof"
                        | "malformed-holder-signature"
                )
            });
        let mut checks = std::collections::BTreeMap::new();
        checks.insert("well_formed".to_owned(), well_formed);
        checks.insert("chain".to_owned(), chain);
        checks.insert("validity".to_owned(), validity);
        checks.insert("revocation".to_owned(), all_good);
        checks.insert("identity_active".to_owned(), identity_ok);
        checks.insert("ledger".to_owned(), all_logged);
        checks.insert("same_holder".to_owned(), pure.same_holder);
        checks.insert("holder_signature".to_owned(), pure.holder_signature);
        checks.insert("audience".to_owned(), audience_ok);
        checks.insert("nonce".to_owned(), nonce_ok);
        let valid = checks.values().all(|ok| *ok);
        for r in &results {
            errors.extend(r.errors.iter().map(|e| format!("{}: {e}", r.serial)));
        }
        Ok(VerifyResult {
            audience: p.audience.clone(),
            verdict: if valid {
                "valid".into()
            } else {
                "invalid".into()
            },
            holder: pure.identity_id.clone(),
            credentials: results,
            checks,
            errors,
        })
    }

    /// Every check a presentation's stored state decides: the pure
    /// certificate checks against the trust anchors, then each credential's
    /// revocation, holder identity and ledger inclusion.
    fn check_stored(
        &self,
        conn: &mut schema::DbConnection,
        p: &Presentation,
        now: SystemTime,
    ) -> Result<StoredChecks, DomainError> {
        let rows = self.issued_rows(conn, &p.credentials)?;
        let check = |anchors: &[presentation::TrustAnchor]| {
            presentation::check_presentation_cached(
                anchors,
                Some(&self.signatures),
                &p.credentials,
                &p.audience,
                &p.nonce,
                &p.issued_at,
                &p.signature,
                now,
            )
        };
        let (anchors, cached) = self.anchors(conn, false)?;
        let mut pure = check(&anchors);
        // A CA certified since the snapshot (a rotation on another
        // instance) is not in it yet: look again before saying no.
        if cached && !pure.credentials.iter().all(|c| c.chain_ok) {
            pure = check(&self.anchors(conn, true)?.0);
        }
        let latest = self.latest_verified_checkpoint(conn)?;

        let mut results = Vec::with_capacity(pure.credentials.len());
        let (mut all_good, mut all_logged, mut identity_ok) = (true, true, true);
        let mut people: Vec<Person> = Vec::with_capacity(1);
        for c in &pure.credentials {
            let mut errs = c.errors.clone();
            // Every credential the pure checks read has its row looked up
            // already (with too many, neither reads any).
            let row = rows
                .iter()
                .find(|(h, _)| *h == c.cert_sha256)
                .and_then(|(_, row)| row.clone());
            let status = match &row {
                None => "unknown",
                Some(r) if r.status == CredentialStatus::Revoked => "revoked",
                Some(_) => "good",
            };
            if status != "good" {
                all_good = false;
                errs.push(format!("credential-{status}"));
            }
            if let Some(r) = &row {
                // A licence is only as good as its holder's identity: the
                // person's record must be active (read once per presentation,
                // which is one holder's), and the identity certificate for
                // this same holder key must not have been revoked (except as
                // superseded by a reissue): a key that lost its identity, say
                // to keyCompromise, loses its licences with it.
                let i = match people.iter().position(|p| p.id == r.identity_id) {
                    Some(i) => i,
                    None => {
                        let active = identities::by_id(conn, &r.identity_id)?
                            .is_none_or(|i| i.status == IdentityStatus::Active);
                        people.push(Person {
                            id: r.identity_id.clone(),
                            active,
                            revoked: None,
                        });
                        people.len() - 1
                    }
                };
                let person = &mut people[i];
                let key_revoked = if r.kind == schema::credentials::CredentialKind::License {
                    let revoked = match &mut person.revoked {
                        Some(revoked) => revoked,
                        slot @ None => slot.insert(credentials::revoked_identity_certificates(
                            conn,
                            &r.identity_id,
                        )?),
                    };
                    identity_key_revoked(revoked, r)?
                } else {
                    false
                };
                let active = person.active;
                if !active || key_revoked {
                    identity_ok = false;
                    errs.push("identity-revoked".into());
                }
            }
            let ledger = match (&row, &latest) {
                (Some(r), Some((size, root))) => {
                    let entry = Entry::Issuance {
                        at: r.created_at,
                        cert_sha256: r.cert_sha256.clone(),
                        issuer_key_id: r.issuer_key_id.to_string(),
                        kind: r.kind.to_string(),
                        serial: r.serial.to_string(),
                    };
                    self.inclusion(conn, &entry.leaf_hash(), *size, root)?
                }
                _ => LedgerResult {
                    leaf_index: None,
                    verified: false,
                },
            };
            if !ledger.verified {
                all_logged = false;
                errs.push("not-on-ledger".into());
            }
            results.push(CredentialResult {
                serial: c.serial.clone(),
                kind: c.kind.as_str().to_owned(),
                license_type: c.license_type.clone(),
                status: status.into(),
                ledger,
                errors: errs,
            });
        }
        Ok(StoredChecks {
            pure,
            results,
            all_good,
            all_logged,
            identity_ok,
        })
    }

    /// The stored credential row of each presented certificate (by the
    /// SHA-256 of its DER, lowercase hex), read before the chain checks so
    /// that the signature of a certificate this service issued is vouched
    /// for instead of verified again: its very bytes were signed by the
    /// row's CA key and that signature checked before the row was stored
    /// (`certs::signer`). A presentation with more credentials than allowed
    /// is refused by the pure checks; nothing is read for it.
    fn issued_rows(
        &self,
        conn: &mut schema::DbConnection,
        presented: &[Vec<u8>],
    ) -> Result<Vec<(String, Option<credentials::Credential>)>, DomainError> {
        if presented.len() > presentation::MAX_CREDENTIALS {
            return Ok(Vec::new());
        }
        let mut rows = Vec::with_capacity(presented.len());
        let mut keys = None;
        for der in presented {
            let hash: [u8; 32] = Sha256::digest(der).into();
            let hex = hex::encode(hash);
            let row = credentials::by_cert_sha256(conn, &hex)?;
            if let Some(r) = &row {
                if keys.is_none() {
                    keys = Some(self.keys_snapshot_on(conn)?);
                }
                if let Some(spki) = keys
                    .iter()
                    .flat_map(|k| k.iter())
                    .find(|k| k.key_id == r.issuer_key_id)
                    .and_then(|k| k.spki.as_deref())
                {
                    self.signatures.vouch(&hash, spki);
                }
            }
            rows.push((hex, row));
        }
        Ok(rows)
    }

    /// Verification anchors from a snapshot at most `KEYS_TTL` old (or
    /// fresh), and whether they came from the snapshot.
    fn anchors(
        &self,
        conn: &mut schema::DbConnection,
        fresh: bool,
    ) -> Result<(std::sync::Arc<Vec<presentation::TrustAnchor>>, bool), DomainError> {
        self.anchors.get(fresh, || super::trust::anchors(conn))
    }

    /// Whether expired challenges are due to be purged (once a minute).
    fn purge_due(&self, now: SystemTime) -> bool {
        use std::sync::atomic::Ordering;
        let now = unix(now);
        let last = self.last_purge.load(Ordering::Relaxed);
        now - last >= 60
            && self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// The latest checkpoint's size and root, after checking its signature
    /// with a ledger key: a proof is only worth a checkpoint we can vouch for.
    /// The signature of a checkpoint already checked is not checked again.
    fn latest_verified_checkpoint(
        &self,
        conn: &mut schema::DbConnection,
    ) -> Result<Option<(u64, ledger::Hash)>, DomainError> {
        let Some(cp) = store::latest_checkpoint(conn)? else {
            return Ok(None);
        };
        if let Some((note, size, root)) = self
            .checkpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            && *note == cp.note
        {
            return Ok(Some((*size, *root)));
        }
        let note = SignedNote::parse(&cp.note)
            .map_err(|e| DomainError::Inconsistent(format!("stored checkpoint: {e}")))?;
        let body = NoteBody::parse_body(&note.text)
            .map_err(|e| DomainError::Inconsistent(format!("stored checkpoint: {e}")))?;
        let signed = keys::list_all(conn)?
            .into_iter()
            .filter(|k| k.purpose == KeyPurpose::Ledger)
            .filter_map(|k| k.spki)
            .any(|spki| note.verify(&body.origin, &spki).is_ok());
        if !signed {
            return Err(DomainError::Inconsistent(
                "the latest checkpoint is not signed by a ledger key".into(),
            ));
        }
        *self
            .checkpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((cp.note, body.size, body.root));
        Ok(Some((body.size, body.root)))
    }

    fn inclusion(
        &self,
        conn: &mut schema::DbConnection,
        leaf_hash: &ledger::Hash,
        size: u64,
        root: &ledger::Hash,
    ) -> Result<LedgerResult, DomainError> {
        let Some(leaf_index) = store::leaf_index_by_hash(conn, leaf_hash)? else {
            return Ok(LedgerResult {
                leaf_index: None,
                verified: false,
            });
        };
        let index = u64::try_from(leaf_index).unwrap_or(u64::MAX);
        if index >= size {
            return Ok(LedgerResult {
                leaf_index: Some(index),
                verified: false,
            });
        }
        let proof = {
            let s = super::ledger::DbNodes::new(&mut *conn, &self.nodes);
            ledger::tree::inclusion_proof(&s, index, size)
                .map_err(|e| DomainError::Inconsistent(format!("ledger proof: {e}")))?
        };
        let verified = ledger::tree::verify_inclusion(leaf_hash, index, size, &proof, root).is_ok();
        Ok(LedgerResult {
            leaf_index: Some(index),
            verified,
        })
    }
}

/// The audience of a challenge request, trimmed, once the caller is known
/// to be a counter and the audience is printable and not too long.
fn challenge_audience<'a>(counter: &Staff, audience: &'a str) -> Result<&'a str, DomainError> {
    if counter.role != StaffRole::Counter {
        return Err(DomainError::Forbidden(
            "challenges are for the counter role".into(),
        ));
    }
    let audience = audience.trim();
    if audience.is_empty()
        || audience.chars().count() > MAX_AUDIENCE_CHARS
        || audience.chars().any(char::is_control)
    {
        return Err(DomainError::invalid(
            "invalid-audience",
            "audience must be 1 to 128 printable characters",
        ));
    }
    Ok(audience)
}

fn mint_challenge(
    key: &nonce::EpochKey,
    counter: &Staff,
    audience: &str,
    expires: i64,
) -> Result<Challenge, DomainError> {
    let random = crate::random::bytes::<16>()?;
    Ok(Challenge {
        nonce: nonce::mint(key, random, counter.id.0, audience, expires),
        expires_at: rfc3339(expires),
    })
}

/// Whether the holder's identity certificate for the licence's key was
/// revoked for a reason other than `superseded`.
/// `revoked`: the holder's identity certificates revoked for such a reason.
fn identity_key_revoked(
    revoked: &[Vec<u8>],
    licence: &schema::credentials::Credential,
) -> Result<bool, DomainError> {
    // Usually none: then neither certificate is parsed.
    if revoked.is_empty() {
        return Ok(false);
    }
    let key = certs::from_der(&licence.certificate)?
        .tbs_certificate()
        .subject_public_key_info()
        .clone();
    for der in revoked {
        if certs::from_der(der)?
            .tbs_certificate()
            .subject_public_key_info()
            == &key
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Which requirements of a one-visit service a verification meets.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Requirement {
    /// `identity` or a licence type id.
    pub id: String,
    /// Met by a valid credential of the presentation.
    pub met: bool,
}

/// Requirements of `service_id` against a verification result: met only by
/// credentials of a valid presentation.
pub fn requirements(
    catalog: &certs::catalog::Catalog,
    service_id: &str,
    result: &VerifyResult,
) -> Result<Vec<Requirement>, DomainError> {
    let service = catalog.service(service_id).ok_or_else(|| {
        DomainError::not_found(
            "unknown-service",
            format!("no one-visit service {service_id:?}"),
        )
    })?;
    Ok(service
        .requires
        .iter()
        .map(|need| {
            let met = result.is_valid()
                && result.credentials.iter().any(|c| {
                    c.errors.is_empty()
                        && if need == "identity" {
                            c.kind == "identity"
                        } else {
                            c.license_type.as_deref() == Some(need)
                        }
                });
            Requirement {
                id: need.clone(),
                met,
            }
        })
        .collect())
}
