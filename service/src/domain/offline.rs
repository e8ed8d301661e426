//! Presentations without the service: the holder's side (a P-256 key of
//! their own, a PKCS#10 request for enrollment, signed presentations and
//! credential bundles) and the counter's side when it has no network
//! (`walletctl verify --offline`).
//!
//! Trusts only the saved trust document (`GET /v1/trust`): its root and
//! issuing CA certificates, in any state (a retired CA still vouches for
//! what it issued), its ledger keys and its origin; and a CRL once its
//! signature verifies under an issuing CA of that document. Everything in a
//! presentation or bundle is untrusted input, checked with the code the
//! service runs: [`certs::presentation::check_presentation`] for chain,
//! validity, one holder and the holder's signature; the `ledger` crate for
//! checkpoint signatures, canonical entries and inclusion proofs. A
//! bundle's `chain` is carried for other verifiers (OpenSSL) and never
//! trusted here.
//!
//! No I/O and no clock: `walletctl` reads the files and passes the time.
//!
//! # Bundle format
//!
//! A presentation (DESIGN.md "Presentation") plus, for offline use,
//! `"chain"` (the distinct CA certificates of the credentials' chains,
//! base64 DER) and `"receipts"` (one per credential, in the same order):
//! the issuance receipt `{leaf_index, tree_size, inclusion_proof,
//! checkpoint}` and `"entry"`, the canonical issuance entry JSON that the
//! receipt proves. The entry is needed because a receipt proves a leaf
//! hash, and the entry's `at` and `issuer_key_id` cannot be recomputed from
//! the certificate. The service accepts and ignores both fields.
//!
//! # Verdicts
//!
//! - `valid`: every check that can be made offline passed, and every
//!   credential's revocation status was established from a current,
//!   authentic CRL.
//! - `valid-unchecked-revocation`: as `valid`, except that the revocation
//!   status of at least one credential is unknown (no CRL of its issuer
//!   given, or only an out-of-date one). Never reported as plain `valid`.
//! - `invalid`: a check failed, or the ledger could not be checked (a
//!   presentation without receipts cannot prove its credentials were
//!   logged).
//!
//! Never checked offline, whatever the verdict: nonce freshness and single
//! use (the challenge store is the service's), and whether the holder's
//! identity record is still active. `audience` and `nonce` are compared
//! only when the caller says what to expect ([`Expectations`]).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use certs::crl::CertificateList;
use certs::presentation::{self, CredentialCheck, CredentialKind, MAX_CREDENTIALS, TrustAnchor};
use certs::{Certificate, SubjectPublicKeyInfoOwned};
use const_oid::AssociatedOid as _;
use const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
use der::asn1::BitString;
use der::pem::LineEnding;
use der::referenced::OwnedToRef as _;
use der::{Decode as _, DecodePem as _, Encode as _, EncodePem as _};
use ledger::entry::Entry;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use serde::{Deserialize, Serialize};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::request::{CertReq, CertReqInfo};
use zeroize::Zeroizing;

use super::rfc3339;

/// The stable codes of offline verification that the service's own
/// verification does not report (those of [`certs::presentation::codes`]
/// are passed on unchanged).
pub mod codes {
    /// The presentation carries no receipts: ledger inclusion not checked.
    pub const LEDGER_NOT_CHECKED: &str = "ledger-not-checked";
    /// The number of receipts differs from the number of credentials.
    pub const RECEIPTS_MISMATCH: &str = "receipts-mismatch";
    /// A receipt without its issuance entry.
    pub const LEDGER_ENTRY_MISSING: &str = "ledger-entry-missing";
    /// The entry is not a canonical ledger entry.
    pub const MALFORMED_LEDGER_ENTRY: &str = "malformed-ledger-entry";
    /// The entry is not the issuance of this credential (type, SHA-256,
    /// serial, kind or issuer key id differ).
    pub const LEDGER_ENTRY_MISMATCH: &str = "ledger-entry-mismatch";
    /// The receipt's checkpoint is not a signed note.
    pub const MALFORMED_CHECKPOINT: &str = "malformed-checkpoint";
    /// The checkpoint is not signed by a ledger key of the trust document
    /// for its origin.
    pub const CHECKPOINT_UNTRUSTED: &str = "checkpoint-untrusted";
    /// The receipt's proof hashes are not base64 SHA-256 hashes, or its
    /// tree size is not the checkpoint's.
    pub const MALFORMED_RECEIPT: &str = "malformed-receipt";
    /// The inclusion proof does not lead to the checkpoint's root.
    pub const INCLUSION_PROOF_FAILED: &str = "inclusion-proof-failed";
    /// An authentic CRL of the credential's issuer lists it.
    pub const CREDENTIAL_REVOKED: &str = "credential-revoked";
    /// The audience differs from the one the verifier expects.
    pub const AUDIENCE_MISMATCH: &str = "audience-mismatch";
    /// The nonce differs from the one the verifier expects.
    pub const NONCE_MISMATCH: &str = "nonce-mismatch";

    // Why a CRL was not used (in the report's `crls`).

    /// No issuing CA of the trust document has the CRL's issuer name and,
    /// as its SKI, the CRL's AKI key identifier.
    pub const CRL_UNTRUSTED_ISSUER: &str = "crl-untrusted-issuer";
    /// The CRL's issuer may not sign CRLs (CA:TRUE and cRLSign).
    pub const CRL_ISSUER_NOT_CA: &str = "crl-issuer-not-ca";
    /// Signed with anything but ecdsa-with-SHA256.
    pub const CRL_UNSUPPORTED_ALGORITHM: &str = "crl-unsupported-algorithm";
    /// The CRL's signature does not verify under its issuer's key.
    pub const CRL_BAD_SIGNATURE: &str = "crl-bad-signature";
    /// A critical extension (delta CRL, indirect entries, ...) this
    /// verifier does not implement, or a malformed extension.
    pub const CRL_UNSUPPORTED_EXTENSION: &str = "crl-unsupported-extension";
}

/// Why a holder operation or offline verification could not be done at
/// all. A presentation that can be read but fails a check is never an
/// error: it is an `invalid` [`OfflineReport`].
///
/// Policy: messages describe the input and never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// 32 random bytes that are not a valid P-256 scalar (zero or above the
    /// group order, about one in 2^32); draw new ones.
    #[error("random bytes are not a valid P-256 private key; draw again")]
    InvalidScalar,
    /// The holder key cannot be read or encoded.
    #[error("holder key: {0}")]
    Key(String),
    /// An issued credential (the `index`-th, from 0) cannot be used.
    #[error("credential {}: {detail}", index + 1)]
    Credential {
        /// Position among the credentials given, from 0.
        index: usize,
        /// What is wrong.
        detail: String,
    },
    /// The `index`-th credential (from 0) is bound to another key.
    #[error(
        "credential {} is bound to another key (its public key SHA-256 {credential_key}, \
         the holder key's {holder_key})",
        index + 1
    )]
    KeyMismatch {
        /// Position among the credentials given, from 0.
        index: usize,
        /// SHA-256 of the credential's DER SubjectPublicKeyInfo.
        credential_key: String,
        /// SHA-256 of the holder key's DER SubjectPublicKeyInfo.
        holder_key: String,
    },
    /// A presentation parameter is unusable (empty, control characters,
    /// too many credentials).
    #[error("{field}: {detail}")]
    Parameter {
        /// The parameter.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The trust document is unreadable or inconsistent.
    #[error("trust document: {0}")]
    Trust(String),
    /// The presentation cannot be read (not JSON of the right shape,
    /// unsupported version, bad base64).
    #[error("presentation: {0}")]
    Presentation(String),
    /// A CRL is not one DER v2 CRL.
    #[error("CRL: {0}")]
    Crl(String),
}

impl OfflineError {
    /// The position (from 0) of the credential the error is about, if any.
    pub fn credential_index(&self) -> Option<usize> {
        match self {
            Self::Credential { index, .. } | Self::KeyMismatch { index, .. } => Some(*index),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Wire formats.

/// A presentation (DESIGN.md "Presentation"), optionally a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresentationDoc {
    /// Must be 1.
    pub version: u32,
    /// Base64 DER certificates.
    pub credentials: Vec<String>,
    /// The holder's proof.
    pub proof: ProofDoc,
    /// Bundle: the distinct CA certificates of the credentials' chains,
    /// base64 DER (for other verifiers; never trusted here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Vec<String>>,
    /// Bundle: one receipt per credential, in the same order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts: Option<Vec<Receipt>>,
}

/// The holder's proof of a presentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofDoc {
    /// The counter the proof is for.
    pub audience: String,
    /// The counter's challenge.
    pub nonce: String,
    /// RFC 3339 UTC, exactly as signed.
    pub issued_at: String,
    /// Base64 DER ECDSA P-256/SHA-256 over
    /// [`certs::presentation::signing_input`].
    pub signature: String,
}

/// A ledger receipt (DESIGN.md "Ledger"), with the entry it proves in a
/// bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Index of the entry's leaf.
    pub leaf_index: u64,
    /// Size of the tree the proof is against.
    pub tree_size: u64,
    /// RFC 9162 inclusion proof, base64 hashes.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint (C2SP signed note) of that tree size.
    pub checkpoint: String,
    /// The canonical issuance entry JSON the receipt proves (bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
}

/// An issuance response (`POST /v1/identities`, `.../licenses`) as the
/// holder saved it; other fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct IssuedCredential {
    /// Base64 DER certificate.
    pub certificate: String,
    /// Base64 DER issuing CA and root.
    #[serde(default)]
    pub chain: Vec<String>,
    /// The issuance receipt.
    #[serde(default)]
    pub receipt: Option<Receipt>,
}

/// A `GET /v1/ledger/entries` response.
#[derive(Debug, Clone, Deserialize)]
pub struct LedgerEntries {
    /// The entries, in leaf order.
    pub entries: Vec<LedgerEntry>,
}

/// One entry of [`LedgerEntries`]; its `leaf_hash` is not needed.
#[derive(Debug, Clone, Deserialize)]
pub struct LedgerEntry {
    /// Leaf index.
    pub leaf_index: u64,
    /// The canonical entry JSON.
    pub entry: String,
}

// ---------------------------------------------------------------------------
// The holder's side.

/// The holder's P-256 private key. Held as a `SecretKey`, which zeroizes on
/// drop; `Debug` shows only the public key's fingerprint.
pub struct HolderKey {
    secret: p256::SecretKey,
}

impl fmt::Debug for HolderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HolderKey")
            .field(
                "public_key_sha256",
                &self.fingerprint().unwrap_or_else(|_| "?".into()),
            )
            .finish_non_exhaustive()
    }
}

impl HolderKey {
    /// The key whose scalar is `bytes` (big-endian), from a CSPRNG.
    ///
    /// # Errors
    /// [`OfflineError::InvalidScalar`] for zero or a value not below the
    /// group order; the caller draws new bytes.
    pub fn from_scalar(bytes: &[u8; 32]) -> Result<Self, OfflineError> {
        p256::SecretKey::from_slice(bytes)
            .map(|secret| Self { secret })
            .map_err(|_| OfflineError::InvalidScalar)
    }

    /// Reads a PKCS#8 PEM (`PRIVATE KEY`) P-256 key, as written by
    /// [`Self::to_pkcs8_pem`] or `openssl genpkey`.
    ///
    /// # Errors
    /// [`OfflineError::Key`] for anything else (the text is not repeated).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, OfflineError> {
        p256::SecretKey::from_pkcs8_pem(pem)
            .map(|secret| Self { secret })
            .map_err(|_| OfflineError::Key("not a PKCS#8 PEM P-256 private key".into()))
    }

    /// The key as PKCS#8 PEM (`PRIVATE KEY`, LF line endings), in a buffer
    /// zeroized on drop.
    ///
    /// # Errors
    /// [`OfflineError::Key`] if it cannot be encoded.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, OfflineError> {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| OfflineError::Key(format!("cannot encode: {e}")))
    }

    fn signing_key(&self) -> SigningKey {
        SigningKey::from(&self.secret)
    }

    fn verifying_key(&self) -> VerifyingKey {
        *self.signing_key().verifying_key()
    }

    /// The public key as DER SubjectPublicKeyInfo (named curve,
    /// uncompressed point: the form certificates carry).
    ///
    /// # Errors
    /// [`OfflineError::Key`] if it cannot be encoded.
    pub fn spki_der(&self) -> Result<Vec<u8>, OfflineError> {
        self.verifying_key()
            .to_public_key_der()
            .map(|doc| doc.as_bytes().to_vec())
            .map_err(|e| OfflineError::Key(format!("cannot encode public key: {e}")))
    }

    /// Lowercase hex SHA-256 of [`Self::spki_der`]: what
    /// `openssl pkey -pubout -outform DER | sha256sum` prints.
    ///
    /// # Errors
    /// As [`Self::spki_der`].
    pub fn fingerprint(&self) -> Result<String, OfflineError> {
        Ok(certs::sha256_fingerprint(&self.spki_der()?))
    }

    /// A PKCS#10 request (PEM `CERTIFICATE REQUEST`) for this key, subject
    /// `CN=holder` and no attributes, signed with it (the proof of
    /// possession the CA checks; the CA ignores the subject).
    ///
    /// # Errors
    /// [`OfflineError::Key`] if the request cannot be encoded.
    pub fn csr_pem(&self) -> Result<String, OfflineError> {
        let encode = |e: der::Error| OfflineError::Key(format!("cannot encode the request: {e}"));
        let subject = "CN=holder"
            .parse()
            .map_err(|e: der::Error| OfflineError::Key(format!("subject: {e}")))?;
        let spki_der = self.spki_der()?;
        let info = CertReqInfo {
            version: x509_cert::request::Version::V1,
            subject,
            public_key: SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(encode)?,
            attributes: Default::default(),
        };
        let signature: DerSignature = self.signing_key().sign(&info.to_der().map_err(encode)?);
        let request = CertReq {
            info,
            algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA_256,
                parameters: None,
            },
            signature: BitString::from_bytes(signature.as_bytes()).map_err(encode)?,
        };
        request.to_pem(LineEnding::LF).map_err(encode)
    }
}

/// What to present and to whom.
#[derive(Debug, Clone, Copy)]
pub struct PresentRequest<'a> {
    /// The counter's id.
    pub audience: &'a str,
    /// The counter's challenge.
    pub nonce: &'a str,
    /// RFC 3339 UTC, the time of signing.
    pub issued_at: &'a str,
    /// Add `chain` and `receipts` for offline verification.
    pub bundle: bool,
    /// Where to find issuance entries a saved receipt lacks (bundles).
    pub entries: Option<&'a LedgerEntries>,
}

/// Signs a presentation of `held` with `key`: DESIGN.md's signing input
/// ([`certs::presentation::signing_input`]), DER ECDSA. With
/// `request.bundle`, adds the distinct chain certificates and each
/// credential's receipt with its issuance entry, taken from the receipt if
/// it has one, else from `request.entries` at the receipt's leaf index.
///
/// # Errors
/// [`OfflineError::Parameter`] for no or too many credentials, or an empty
/// audience or nonce or one with control characters;
/// [`OfflineError::Credential`] for a credential that is not base64 DER, a
/// bundle without receipt or entry, or an entry that is not this
/// credential's issuance; [`OfflineError::KeyMismatch`] for a credential
/// of another key.
pub fn present(
    key: &HolderKey,
    held: &[IssuedCredential],
    request: &PresentRequest<'_>,
) -> Result<PresentationDoc, OfflineError> {
    if held.is_empty() || held.len() > MAX_CREDENTIALS {
        return Err(OfflineError::Parameter {
            field: "credentials",
            detail: format!("a presentation carries 1 to {MAX_CREDENTIALS} credentials"),
        });
    }
    for (field, value) in [
        ("audience", request.audience),
        ("nonce", request.nonce),
        ("issued_at", request.issued_at),
    ] {
        if value.is_empty() || value.chars().any(char::is_control) {
            return Err(OfflineError::Parameter {
                field,
                detail: "must be non-empty, without control characters".into(),
            });
        }
    }

    let holder_key = key.verifying_key();
    let mut credentials_der = Vec::with_capacity(held.len());
    for (index, credential) in held.iter().enumerate() {
        let bad = |detail: String| OfflineError::Credential { index, detail };
        let der = B64
            .decode(credential.certificate.trim())
            .map_err(|_| bad("`certificate` is not base64".into()))?;
        let cert = Certificate::from_der(&der)
            .map_err(|e| bad(format!("`certificate` is not a DER certificate: {e}")))?;
        let spki = cert.tbs_certificate().subject_public_key_info();
        if VerifyingKey::try_from(spki.owned_to_ref()).ok() != Some(holder_key) {
            return Err(OfflineError::KeyMismatch {
                index,
                credential_key: spki
                    .to_der()
                    .map(|d| certs::sha256_fingerprint(&d))
                    .unwrap_or_default(),
                holder_key: key.fingerprint()?,
            });
        }
        credentials_der.push((der, cert));
    }

    let ders: Vec<Vec<u8>> = credentials_der.iter().map(|(d, _)| d.clone()).collect();
    let input =
        presentation::signing_input(request.audience, request.nonce, request.issued_at, &ders);
    let signature: DerSignature = key.signing_key().sign(&input);

    let mut doc = PresentationDoc {
        version: 1,
        credentials: held
            .iter()
            .map(|c| c.certificate.trim().to_owned())
            .collect(),
        proof: ProofDoc {
            audience: request.audience.to_owned(),
            nonce: request.nonce.to_owned(),
            issued_at: request.issued_at.to_owned(),
            signature: B64.encode(signature.as_bytes()),
        },
        chain: None,
        receipts: None,
    };
    if request.bundle {
        let mut chain: Vec<String> = Vec::new();
        for c in held.iter().flat_map(|c| &c.chain) {
            let c = c.trim();
            if !chain.iter().any(|have| have == c) {
                chain.push(c.to_owned());
            }
        }
        let receipts = held
            .iter()
            .zip(&credentials_der)
            .enumerate()
            .map(|(index, (credential, (der, cert)))| {
                bundle_receipt(index, credential, der, cert, request.entries)
            })
            .collect::<Result<Vec<_>, _>>()?;
        doc.chain = Some(chain);
        doc.receipts = Some(receipts);
    }
    Ok(doc)
}

/// The receipt of one credential with its issuance entry, checked to be
/// this credential's.
fn bundle_receipt(
    index: usize,
    credential: &IssuedCredential,
    der: &[u8],
    cert: &Certificate,
    entries: Option<&LedgerEntries>,
) -> Result<Receipt, OfflineError> {
    let bad = |detail: String| OfflineError::Credential { index, detail };
    let mut receipt = credential
        .receipt
        .clone()
        .ok_or_else(|| bad("no `receipt` to bundle".into()))?;
    if receipt.entry.is_none() {
        let found = entries
            .into_iter()
            .flat_map(|e| &e.entries)
            .find(|e| e.leaf_index == receipt.leaf_index)
            .ok_or_else(|| {
                bad(format!(
                    "the receipt has no `entry` and no ledger entries were given for leaf {} \
                     (save GET /v1/ledger/entries?start={}&end={} and pass it with --entries)",
                    receipt.leaf_index,
                    receipt.leaf_index,
                    receipt.leaf_index.saturating_add(1)
                ))
            })?;
        receipt.entry = Some(found.entry.clone());
    }
    let entry = receipt.entry.as_deref().unwrap_or_default();
    let parsed = Entry::parse(entry).map_err(|e| {
        bad(format!(
            "leaf {}: not a ledger entry: {e}",
            receipt.leaf_index
        ))
    })?;
    let ours = matches!(
        &parsed,
        Entry::Issuance { cert_sha256, serial, .. }
            if *cert_sha256 == certs::sha256_fingerprint(der)
                && *serial == certs::serial_hex(cert.tbs_certificate().serial_number())
    );
    if !ours {
        return Err(bad(format!(
            "leaf {} is not the issuance of this certificate (wrong ledger entries?)",
            receipt.leaf_index
        )));
    }
    Ok(receipt)
}

// ---------------------------------------------------------------------------
// The counter's side.

/// An issuing CA of the trust document.
#[derive(Debug, Clone)]
struct IssuingCa {
    certificate: Certificate,
    /// Its SKI: what the AKI of its certificates and CRLs carries.
    key_id: Vec<u8>,
}

/// What the trust document says to trust.
#[derive(Debug, Clone)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor>,
    issuing: Vec<IssuingCa>,
    ledger_keys: Vec<Vec<u8>>,
    origin: String,
}

#[derive(Deserialize)]
struct TrustJson {
    ledger_origin: String,
    roots: Vec<CaJson>,
    issuing_cas: Vec<CaJson>,
    ledger_keys: Vec<LedgerKeyJson>,
}

#[derive(Deserialize)]
struct CaJson {
    certificate_pem: String,
    #[serde(default)]
    key_id: Option<String>,
}

#[derive(Deserialize)]
struct LedgerKeyJson {
    public_key_pem: String,
}

impl TrustStore {
    /// Reads a `GET /v1/trust` document. Every root and issuing CA is
    /// trusted whatever its `state`; unknown fields are ignored.
    ///
    /// # Errors
    /// [`OfflineError::Trust`] for JSON of another shape, a certificate or
    /// key that does not parse, a `key_id` that is not the certificate's
    /// SKI, an invalid origin, or no root or no ledger key.
    pub fn from_json(text: &str) -> Result<Self, OfflineError> {
        let bad = |detail: String| OfflineError::Trust(detail);
        let doc: TrustJson =
            serde_json::from_str(text).map_err(|e| bad(format!("not a trust document: {e}")))?;
        if !ledger::checkpoint::is_valid_key_name(&doc.ledger_origin) {
            return Err(bad("`ledger_origin` is not a valid origin".into()));
        }
        if doc.roots.is_empty() {
            return Err(bad("no root certificate".into()));
        }
        if doc.ledger_keys.is_empty() {
            return Err(bad("no ledger key".into()));
        }
        let read_ca = |what: &str, n: usize, ca: &CaJson| -> Result<IssuingCa, OfflineError> {
            let certificate = certs::from_pem(&ca.certificate_pem)
                .map_err(|e| bad(format!("{what}[{n}].certificate_pem: {e}")))?;
            let key_id = certs::lint::issuer_key_id(&certificate)
                .map_err(|e| bad(format!("{what}[{n}]: {e}")))?;
            if ca
                .key_id
                .as_ref()
                .is_some_and(|k| *k != hex::encode(&key_id))
            {
                return Err(bad(format!(
                    "{what}[{n}].key_id is not the certificate's key identifier"
                )));
            }
            Ok(IssuingCa {
                certificate,
                key_id,
            })
        };
        let mut anchors = Vec::new();
        for (n, ca) in doc.roots.iter().enumerate() {
            anchors.push(TrustAnchor {
                certificate: read_ca("roots", n, ca)?.certificate,
                is_root: true,
            });
        }
        let mut issuing = Vec::new();
        for (n, ca) in doc.issuing_cas.iter().enumerate() {
            let ca = read_ca("issuing_cas", n, ca)?;
            anchors.push(TrustAnchor {
                certificate: ca.certificate.clone(),
                is_root: false,
            });
            issuing.push(ca);
        }
        let ledger_keys = doc
            .ledger_keys
            .iter()
            .enumerate()
            .map(|(n, k)| {
                SubjectPublicKeyInfoOwned::from_pem(&k.public_key_pem)
                    .and_then(|spki| spki.to_der())
                    .map_err(|e| bad(format!("ledger_keys[{n}].public_key_pem: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            anchors,
            issuing,
            ledger_keys,
            origin: doc.ledger_origin,
        })
    }

    /// The ledger origin the checkpoints must carry.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Reads a presentation or bundle (JSON).
///
/// # Errors
/// [`OfflineError::Presentation`] for JSON of another shape (unknown fields
/// are refused, as by the service).
pub fn parse_presentation(text: &str) -> Result<PresentationDoc, OfflineError> {
    serde_json::from_str(text)
        .map_err(|e| OfflineError::Presentation(format!("not a presentation: {e}")))
}

/// Parses one DER CRL (`GET /v1/crl/{issuer_key_id}`); its signature is
/// checked by [`verify_offline`].
///
/// # Errors
/// [`OfflineError::Crl`] for anything but exactly one DER v2 CRL.
pub fn parse_crl(der: &[u8]) -> Result<CertificateList, OfflineError> {
    certs::crl::crl_from_der(der).map_err(|e| OfflineError::Crl(format!("not a DER CRL: {e}")))
}

/// What the verifier knows to expect, when it does.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// This counter's id: the proof's audience must be it.
    pub audience: Option<String>,
    /// The nonce this counter gave the holder. Equality is all that is
    /// checked: freshness and single use stay the counter's business.
    pub nonce: Option<String>,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// Checked and passed.
    Passed,
    /// Checked and failed.
    Failed,
    /// Not checked (offline verification cannot, or was not given what it
    /// needs); see the report's `notes`.
    NotChecked,
}

impl Outcome {
    fn of(passed: bool) -> Self {
        if passed { Self::Passed } else { Self::Failed }
    }
}

/// The verdict of offline verification (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// Every offline check passed, revocation included.
    Valid,
    /// Every offline check passed, but revocation was not established for
    /// every credential.
    ValidUncheckedRevocation,
    /// A check failed, or the ledger could not be checked.
    Invalid,
}

/// A credential's revocation status as far as the CRLs given tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RevocationStatus {
    /// Not on a current, authentic CRL of its issuer.
    Good,
    /// On an authentic CRL of its issuer.
    Revoked,
    /// No current, authentic CRL of its issuer was given.
    NotChecked,
}

/// The report of `walletctl verify --offline`, shaped like the service's
/// verification result, with three-valued checks.
#[derive(Debug, Clone, Serialize)]
pub struct OfflineReport {
    /// See the module doc.
    pub verdict: Verdict,
    /// Always `offline`.
    pub mode: &'static str,
    /// The holder's identity id, when the credentials agree on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// The proof's fields as presented, for the counter to compare.
    pub proof: ProofSummary,
    /// Per credential, in the order presented.
    pub credentials: Vec<OfflineCredential>,
    /// Every check by the service's names: `passed`, `failed` or
    /// `not-checked`.
    pub checks: BTreeMap<&'static str, Outcome>,
    /// Why it is invalid (stable codes, per credential as `serial: code`).
    pub errors: Vec<String>,
    /// What was not checked and why, in words.
    pub notes: Vec<String>,
    /// The CRLs given, in order, and whether each was used.
    pub crls: Vec<CrlSummary>,
    /// The time validity was judged at, RFC 3339.
    pub checked_at: String,
}

impl OfflineReport {
    /// `walletctl verify`'s exit status: 0 `valid`, 1 `invalid`, 3
    /// `valid-unchecked-revocation` (2 is for unreadable input).
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::ValidUncheckedRevocation => 3,
        }
    }
}

/// The proof's fields, as presented.
#[derive(Debug, Clone, Serialize)]
pub struct ProofSummary {
    /// The audience the holder signed for.
    pub audience: String,
    /// The nonce the holder signed.
    pub nonce: String,
    /// When the holder says it signed.
    pub issued_at: String,
}

/// One credential in an offline report.
#[derive(Debug, Clone, Serialize)]
pub struct OfflineCredential {
    /// Serial, lowercase hex; empty if unreadable.
    pub serial: String,
    /// `identity`, `license` or `unknown`.
    pub kind: &'static str,
    /// Licence type (licences).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_type: Option<String>,
    /// SHA-256 of the DER as presented.
    pub cert_sha256: String,
    /// From the CRLs given.
    pub status: RevocationStatus,
    /// When and why, for a revoked credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationDetail>,
    /// Ledger inclusion, from the bundle's receipt.
    pub ledger: OfflineLedger,
    /// Problems with this credential (stable codes).
    pub errors: Vec<String>,
}

/// A revocation found on a CRL.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationDetail {
    /// RFC 3339.
    pub revoked_at: String,
    /// RFC 5280 reason name; `unspecified` when the entry has none.
    pub reason: String,
    /// The number of the CRL that lists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl_number: Option<u64>,
}

/// Ledger inclusion of one credential.
#[derive(Debug, Clone, Serialize)]
pub struct OfflineLedger {
    /// The receipt's leaf index, when there is a receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_index: Option<u64>,
    /// The receipt's tree size, when there is a receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    /// When the issuance was logged (the entry's `at`), once verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logged_at: Option<String>,
    /// The entry is this credential's issuance, the checkpoint is signed by
    /// a ledger key of the trust document, and the proof verifies.
    pub verified: bool,
}

/// One CRL given to the verifier.
#[derive(Debug, Clone, Serialize)]
pub struct CrlSummary {
    /// Its AKI key identifier, lowercase hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_key_id: Option<String>,
    /// Its cRLNumber.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl_number: Option<u64>,
    /// RFC 3339.
    pub this_update: String,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    /// Signed by an issuing CA of the trust document.
    pub authentic: bool,
    /// `this_update <= now <= next_update`.
    pub current: bool,
    /// Why it is not authentic (a code of [`codes`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// A CRL after its checks.
struct CheckedCrl<'a> {
    crl: &'a CertificateList,
    summary: CrlSummary,
}

/// Verifies a presentation with nothing but `trust`, the CRLs given and
/// the time: every check the service makes that can be made offline, with
/// the same code (see the module doc for what each verdict means).
///
/// # Errors
/// [`OfflineError::Presentation`] when the presentation cannot be read: a
/// version other than 1, or a credential or signature that is not base64.
/// Everything else, however wrong, is a report.
pub fn verify_offline(
    trust: &TrustStore,
    doc: &PresentationDoc,
    crls: &[CertificateList],
    expect: &Expectations,
    now: SystemTime,
) -> Result<OfflineReport, OfflineError> {
    if doc.version != 1 {
        return Err(OfflineError::Presentation(format!(
            "version {} (only 1 is known)",
            doc.version
        )));
    }
    let not_base64 = |what: &str| OfflineError::Presentation(format!("{what} is not base64"));
    let credentials = doc
        .credentials
        .iter()
        .map(|c| B64.decode(c.trim()).map_err(|_| not_base64("a credential")))
        .collect::<Result<Vec<_>, _>>()?;
    let signature = B64
        .decode(doc.proof.signature.trim())
        .map_err(|_| not_base64("proof.signature"))?;
    let proof = &doc.proof;
    let pure = presentation::check_presentation(
        &trust.anchors,
        &credentials,
        &proof.audience,
        &proof.nonce,
        &proof.issued_at,
        &signature,
        now,
    );
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    let mut errors = pure.errors.clone();
    let mut notes = Vec::new();
    let crls: Vec<CheckedCrl<'_>> = crls
        .iter()
        .map(|crl| check_crl(trust, crl, now_secs))
        .collect();
    for (n, c) in crls.iter().enumerate() {
        if let Some(code) = c.summary.error {
            notes.push(format!("CRL {} not used: {code}", n + 1));
        }
    }

    let receipts = doc.receipts.as_deref();
    let receipts_match = receipts.is_some_and(|r| r.len() == pure.credentials.len());
    match receipts {
        None => notes.push(
            "ledger not checked: the presentation has no receipts \
             (make a bundle with `walletctl holder present --bundle`)"
                .into(),
        ),
        Some(_) if !receipts_match => errors.push(codes::RECEIPTS_MISMATCH.into()),
        Some(_) => {}
    }

    let mut results = Vec::with_capacity(pure.credentials.len());
    for (i, c) in pure.credentials.iter().enumerate() {
        let mut errs = c.errors.clone();
        let mut ledger = OfflineLedger {
            leaf_index: None,
            tree_size: None,
            logged_at: None,
            verified: false,
        };
        match receipts {
            None => errs.push(codes::LEDGER_NOT_CHECKED.into()),
            Some(all) => match all.get(i).filter(|_| receipts_match) {
                None => errs.push(codes::RECEIPTS_MISMATCH.into()),
                Some(receipt) => {
                    ledger.leaf_index = Some(receipt.leaf_index);
                    ledger.tree_size = Some(receipt.tree_size);
                    match check_receipt(trust, c, receipt) {
                        Ok(at) => {
                            ledger.logged_at = Some(rfc3339(at));
                            ledger.verified = true;
                        }
                        Err(code) => errs.push(code.into()),
                    }
                }
            },
        }

        let (status, revocation) = revocation_status(c, &crls, &mut notes);
        if status == RevocationStatus::Revoked {
            errs.push(codes::CREDENTIAL_REVOKED.into());
        }
        results.push(OfflineCredential {
            serial: c.serial.clone(),
            kind: c.kind.as_str(),
            license_type: c.license_type.clone(),
            cert_sha256: c.cert_sha256.clone(),
            status,
            revocation,
            ledger,
            errors: errs,
        });
    }

    let mut expected = |want: &Option<String>, got: &str, code: &'static str| match want {
        None => Outcome::NotChecked,
        Some(w) if w == got => Outcome::Passed,
        Some(_) => {
            errors.push(code.into());
            Outcome::Failed
        }
    };
    let audience = expected(&expect.audience, &proof.audience, codes::AUDIENCE_MISMATCH);
    let nonce = expected(&expect.nonce, &proof.nonce, codes::NONCE_MISMATCH);
    if audience == Outcome::NotChecked {
        notes.push("audience not checked: pass --audience with this counter's id".into());
    }
    notes.push(match nonce {
        Outcome::NotChecked => "nonce not checked: freshness and single use need the service's \
                                challenge store; --nonce compares it with the nonce you gave"
            .into(),
        _ => "nonce compared with the one given; its freshness and single use are not \
              checked offline"
            .into(),
    });
    notes.push(
        "identity_active not checked: whether the holder's identity record is still active is \
         known only to the service (a revoked identity certificate shows on its CRL)"
            .into(),
    );

    let well_formed = !pure.credentials.is_empty()
        && pure
            .credentials
            .iter()
            .all(|c| c.kind != CredentialKind::Unknown)
        && !pure.errors.iter().any(|e| {
            use certs::presentation::codes as pc;
            [
                pc::NO_CREDENTIALS,
                pc::TOO_MANY_CREDENTIALS,
                pc::MALFORMED_PROOF,
                pc::MALFORMED_HOLDER_SIGNATURE,
            ]
            .contains(&e.as_str())
        });
    let ledger = if receipts.is_none() {
        Outcome::NotChecked
    } else {
        Outcome::of(receipts_match && results.iter().all(|r| r.ledger.verified))
    };
    let revocation = if results
        .iter()
        .any(|r| r.status == RevocationStatus::Revoked)
    {
        Outcome::Failed
    } else if !results.is_empty() && results.iter().all(|r| r.status == RevocationStatus::Good) {
        Outcome::Passed
    } else {
        Outcome::NotChecked
    };
    let mut checks = BTreeMap::new();
    checks.insert("well_formed", Outcome::of(well_formed));
    checks.insert(
        "chain",
        Outcome::of(!pure.credentials.is_empty() && pure.credentials.iter().all(|c| c.chain_ok)),
    );
    checks.insert(
        "validity",
        Outcome::of(!pure.credentials.is_empty() && pure.credentials.iter().all(|c| c.valid_now)),
    );
    checks.insert("revocation", revocation);
    checks.insert("identity_active", Outcome::NotChecked);
    checks.insert("ledger", ledger);
    checks.insert("same_holder", Outcome::of(pure.same_holder));
    checks.insert("holder_signature", Outcome::of(pure.holder_signature));
    checks.insert("audience", audience);
    checks.insert("nonce", nonce);

    for (i, r) in results.iter().enumerate() {
        let label = if r.serial.is_empty() {
            format!("#{}", i + 1)
        } else {
            r.serial.clone()
        };
        errors.extend(r.errors.iter().map(|e| format!("{label}: {e}")));
    }
    let verdict = if !errors.is_empty()
        || ledger != Outcome::Passed
        || checks.values().any(|o| *o == Outcome::Failed)
    {
        Verdict::Invalid
    } else if revocation == Outcome::Passed {
        Verdict::Valid
    } else {
        Verdict::ValidUncheckedRevocation
    };
    Ok(OfflineReport {
        verdict,
        mode: "offline",
        holder: pure.identity_id.clone(),
        proof: ProofSummary {
            audience: proof.audience.clone(),
            nonce: proof.nonce.clone(),
            issued_at: proof.issued_at.clone(),
        },
        credentials: results,
        checks,
        errors,
        notes,
        crls: crls.into_iter().map(|c| c.summary).collect(),
        checked_at: rfc3339(i64::try_from(now_secs).unwrap_or(i64::MAX)),
    })
}

/// Checks one receipt of credential `c`; returns the entry's `at`.
fn check_receipt(
    trust: &TrustStore,
    c: &CredentialCheck,
    receipt: &Receipt,
) -> Result<i64, &'static str> {
    let text = receipt
        .entry
        .as_deref()
        .ok_or(codes::LEDGER_ENTRY_MISSING)?;
    let entry = Entry::parse(text).map_err(|_| codes::MALFORMED_LEDGER_ENTRY)?;
    let Entry::Issuance {
        at,
        cert_sha256,
        issuer_key_id,
        kind,
        serial,
    } = &entry
    else {
        return Err(codes::LEDGER_ENTRY_MISMATCH);
    };
    let ours = *cert_sha256 == c.cert_sha256
        && *serial == c.serial
        && kind == c.kind.as_str()
        && c.issuer_key_id.as_ref() == Some(issuer_key_id);
    if !ours {
        return Err(codes::LEDGER_ENTRY_MISMATCH);
    }

    ledger::checkpoint::SignedNote::parse(&receipt.checkpoint)
        .map_err(|_| codes::MALFORMED_CHECKPOINT)?;
    let checkpoint = trust
        .ledger_keys
        .iter()
        .find_map(|spki| {
            ledger::checkpoint::verify_checkpoint(&receipt.checkpoint, &trust.origin, spki).ok()
        })
        .ok_or(codes::CHECKPOINT_UNTRUSTED)?;
    if checkpoint.size != receipt.tree_size {
        return Err(codes::MALFORMED_RECEIPT);
    }
    let proof = receipt
        .inclusion_proof
        .iter()
        .map(|h| {
            B64.decode(h)
                .ok()
                .and_then(|b| ledger::Hash::try_from(b.as_slice()).ok())
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(codes::MALFORMED_RECEIPT)?;
    ledger::tree::verify_inclusion(
        &ledger::leaf_hash(text.as_bytes()),
        receipt.leaf_index,
        receipt.tree_size,
        &proof,
        &checkpoint.root,
    )
    .map_err(|_| codes::INCLUSION_PROOF_FAILED)?;
    Ok(*at)
}

/// Revocation of `c` from the checked CRLs: revoked if an authentic CRL of
/// its issuer lists it (this CA never suspends, so a listing is final),
/// good if a current authentic one does not, else not checked.
fn revocation_status(
    c: &CredentialCheck,
    crls: &[CheckedCrl<'_>],
    notes: &mut Vec<String>,
) -> (RevocationStatus, Option<RevocationDetail>) {
    let label = if c.serial.is_empty() {
        "an unreadable credential".to_owned()
    } else {
        c.serial.clone()
    };
    let Some(issuer) = c.issuer_key_id.as_deref().filter(|_| !c.serial.is_empty()) else {
        notes.push(format!(
            "revocation of {label} not checked: its issuer is unknown"
        ));
        return (RevocationStatus::NotChecked, None);
    };
    let theirs: Vec<&CheckedCrl<'_>> = crls
        .iter()
        .filter(|crl| crl.summary.authentic)
        .filter(|crl| crl.summary.issuer_key_id.as_deref() == Some(issuer))
        .collect();
    for crl in &theirs {
        let listed = crl
            .crl
            .tbs_cert_list
            .revoked_certificates
            .iter()
            .flatten()
            .find(|r| certs::serial_hex(&r.serial_number) == c.serial);
        if let Some(entry) = listed {
            let detail = RevocationDetail {
                revoked_at: rfc3339(unix_of(&entry.revocation_date)),
                reason: reason_name(entry.crl_entry_extensions.as_deref()),
                crl_number: crl.summary.crl_number,
            };
            return (RevocationStatus::Revoked, Some(detail));
        }
    }
    if theirs.iter().any(|crl| crl.summary.current) {
        return (RevocationStatus::Good, None);
    }
    notes.push(if theirs.is_empty() {
        format!(
            "revocation of {label} not checked: no CRL of issuer {issuer} given \
             (--crl, from GET /v1/crl/{issuer})"
        )
    } else {
        format!("revocation of {label} not checked: the CRL of issuer {issuer} is not current")
    });
    (RevocationStatus::NotChecked, None)
}

fn unix_of(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// The RFC 5280 name of a CRL entry's reasonCode; `unspecified` if absent
/// or unreadable.
fn reason_name(extensions: Option<&[x509_cert::ext::Extension]>) -> String {
    let reason = extensions
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == CrlReason::OID)
        .and_then(|e| CrlReason::from_der(e.extn_value.as_bytes()).ok());
    match reason {
        None | Some(CrlReason::Unspecified) => "unspecified",
        Some(CrlReason::KeyCompromise) => "keyCompromise",
        Some(CrlReason::CaCompromise) => "cACompromise",
        Some(CrlReason::AffiliationChanged) => "affiliationChanged",
        Some(CrlReason::Superseded) => "superseded",
        Some(CrlReason::CessationOfOperation) => "cessationOfOperation",
        Some(CrlReason::CertificateHold) => "certificateHold",
        Some(CrlReason::RemoveFromCRL) => "removeFromCRL",
        Some(CrlReason::PrivilegeWithdrawn) => "privilegeWithdrawn",
        Some(CrlReason::AaCompromise) => "aACompromise",
    }
    .to_owned()
}

/// Checks a CRL against the trust document's issuing CAs: the issuer is
/// one of them (name and AKI = SKI), may sign CRLs, signed it with
/// ecdsa-with-SHA256, and no critical extension is unknown. Notes whether
/// it is current at `now_secs`.
fn check_crl<'a>(trust: &TrustStore, crl: &'a CertificateList, now_secs: u64) -> CheckedCrl<'a> {
    let tbs = &crl.tbs_cert_list;
    let aki = crl_aki(crl);
    let this_update = tbs.this_update.to_unix_duration().as_secs();
    let next_update = tbs.next_update.map(|t| t.to_unix_duration().as_secs());
    let mut summary = CrlSummary {
        issuer_key_id: aki.as_ref().ok().and_then(|k| k.as_ref()).map(hex::encode),
        crl_number: certs::crl::crl_number(crl).ok().flatten(),
        this_update: rfc3339(unix_of(&tbs.this_update)),
        next_update: tbs.next_update.as_ref().map(|t| rfc3339(unix_of(t))),
        authentic: false,
        current: this_update <= now_secs && next_update.is_some_and(|n| now_secs <= n),
        error: None,
    };
    match crl_authenticity(trust, crl, aki) {
        Ok(()) => summary.authentic = true,
        Err(code) => summary.error = Some(code),
    }
    CheckedCrl { crl, summary }
}

/// The CRL's AKI key identifier; `Err` for a repeated or malformed AKI.
fn crl_aki(crl: &CertificateList) -> Result<Option<Vec<u8>>, der::Error> {
    let mut akis = crl
        .tbs_cert_list
        .crl_extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == AuthorityKeyIdentifier::OID);
    let Some(ext) = akis.next() else {
        return Ok(None);
    };
    if akis.next().is_some() {
        return Err(der::ErrorKind::Failed.into());
    }
    let aki = AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes())?;
    Ok(aki.key_identifier.map(|k| k.as_bytes().to_vec()))
}

fn crl_authenticity(
    trust: &TrustStore,
    crl: &CertificateList,
    aki: Result<Option<Vec<u8>>, der::Error>,
) -> Result<(), &'static str> {
    let tbs = &crl.tbs_cert_list;
    let known = [AuthorityKeyIdentifier::OID, CrlNumber::OID];
    let unknown_critical = tbs
        .crl_extensions
        .iter()
        .flatten()
        .any(|e| e.critical && !known.contains(&e.extn_id))
        || tbs
            .revoked_certificates
            .iter()
            .flatten()
            .flat_map(|r| r.crl_entry_extensions.iter().flatten())
            .any(|e| e.critical);
    let aki = aki.map_err(|_| codes::CRL_UNSUPPORTED_EXTENSION)?;
    if unknown_critical {
        return Err(codes::CRL_UNSUPPORTED_EXTENSION);
    }
    let issuer = trust
        .issuing
        .iter()
        .find(|ca| {
            ca.certificate.tbs_certificate().subject() == &tbs.issuer
                && aki.as_ref() == Some(&ca.key_id)
        })
        .ok_or(codes::CRL_UNTRUSTED_ISSUER)?;
    certs::lint::check_crl_issuer(&issuer.certificate).map_err(|_| codes::CRL_ISSUER_NOT_CA)?;
    if crl.signature_algorithm != tbs.signature
        || tbs.signature.oid != ECDSA_WITH_SHA_256
        || tbs.signature.parameters.is_some()
    {
        return Err(codes::CRL_UNSUPPORTED_ALGORITHM);
    }
    let spki = issuer
        .certificate
        .tbs_certificate()
        .subject_public_key_info();
    let key = VerifyingKey::try_from(spki.owned_to_ref())
        .map_err(|_| codes::CRL_UNSUPPORTED_ALGORITHM)?;
    let signature = crl
        .signature
        .as_bytes()
        .and_then(|b| DerSignature::from_bytes(b).ok())
        .ok_or(codes::CRL_BAD_SIGNATURE)?;
    // Parsing is strict DER, so re-encoding gives back the signed bytes.
    let signed = tbs.to_der().map_err(|_| codes::CRL_BAD_SIGNATURE)?;
    key.verify(&signed, &signature)
        .map_err(|_| codes::CRL_BAD_SIGNATURE)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use certs::crl::{RevocationReason, RevokedEntry, build_crl};
    use certs::holder::{
        BirthDate, Endpoints, HolderSubject, IdentityRequest, build_identity_cert,
    };
    use ledger::checkpoint::{Checkpoint, SignedNote, signature_line};
    use ledger::tree::MemoryTree;
    use p256::pkcs8::EncodePublicKey as _;
    use serde_json::json;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const ORIGIN: &str = "onevisit.test/ledger";
    const DAY: Duration = Duration::from_secs(86_400);

    fn signing_key() -> Result<SigningKey, Box<dyn std::error::Error>> {
        loop {
            if let Ok(secret) = p256::SecretKey::from_slice(&crate::random::bytes::<32>()?) {
                return Ok(SigningKey::from(&secret));
            }
        }
    }

    fn holder_key() -> Result<HolderKey, Box<dyn std::error::Error>> {
        loop {
            match HolderKey::from_scalar(&crate::random::bytes::<32>()?) {
                Ok(key) => return Ok(key),
                Err(OfflineError::InvalidScalar) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn serial() -> Result<x509_cert::serial_number::SerialNumber, Box<dyn std::error::Error>> {
        Ok(certs::random_serial(crate::random::bytes::<16>()?)?)
    }

    /// A checkpoint of `tree` signed by `signer` for `origin`.
    fn sign_checkpoint(
        signer: &SigningKey,
        origin: &str,
        tree: &MemoryTree,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let size = tree.size();
        let body = Checkpoint::new(origin, size, ledger::tree::root(tree, size)?)?.body();
        let signature: DerSignature = signer.sign(body.as_bytes());
        let spki = signer.verifying_key().to_public_key_der()?;
        let line = signature_line(origin, spki.as_bytes(), signature.as_bytes())?;
        Ok(SignedNote {
            text: body,
            signatures: vec![line],
        }
        .to_text())
    }

    /// A root, an identity CA, a ledger key and one identity certificate
    /// logged at leaf 1 of 3, with its receipt (without entry) and the
    /// entries page that has it.
    struct World {
        now: SystemTime,
        root_signer: SigningKey,
        root: Certificate,
        ca_signer: SigningKey,
        ca: Certificate,
        ledger_signer: SigningKey,
        holder: HolderKey,
        issued: IssuedCredential,
        entries: LedgerEntries,
        serial: String,
    }

    impl World {
        fn new() -> Result<Self, Box<dyn std::error::Error>> {
            let now = SystemTime::now();
            let root_signer = signing_key()?;
            let root = certs::build_root(
                &root_signer,
                &certs::ca_name("Offline Test Root", "OneVisit Wallet")?,
                serial()?,
                now - 10 * DAY,
                now + 3650 * DAY,
            )?;
            let ca_signer = signing_key()?;
            let ca = certs::build_issuing_ca(
                &root_signer,
                &root,
                &certs::ca_name("Offline Test Identity CA", "OneVisit Wallet")?,
                SubjectPublicKeyInfoOwned::from_key(ca_signer.verifying_key())?,
                serial()?,
                now - 10 * DAY,
                now + 1825 * DAY,
            )?;
            let holder = holder_key()?;
            let cert = build_identity_cert(
                &ca_signer,
                &ca,
                &IdentityRequest {
                    subject: HolderSubject {
                        full_name: "Zhang Wei".into(),
                        identity_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
                    },
                    birth_date: BirthDate::parse("1985-04-12")?,
                    holder_spki: SubjectPublicKeyInfoOwned::from_der(&holder.spki_der()?)?,
                    serial: serial()?,
                    not_before: now - DAY,
                    not_after: now + 365 * DAY,
                    endpoints: Endpoints {
                        crl_url: "http://wallet.test/v1/crl/00".into(),
                        ocsp_url: "http://wallet.test/ocsp".into(),
                    },
                },
            )?;
            let der = certs::to_der(&cert)?;
            let serial = certs::serial_hex(cert.tbs_certificate().serial_number());
            let issuance = Entry::Issuance {
                at: 1_795_000_000,
                cert_sha256: certs::sha256_fingerprint(&der),
                issuer_key_id: hex::encode(certs::lint::issuer_key_id(&ca)?),
                kind: "identity".into(),
                serial: serial.clone(),
            }
            .to_json();
            let others = [
                r#"{"at":1794999999,"cert_sha256":"","event":"activated","key_id":"aa","purpose":"ledger","type":"key"}"#,
                r#"{"at":1795000001,"reason":"superseded","serial":"7f","type":"revocation"}"#,
            ];
            let leaves = [others[0], issuance.as_str(), others[1]];
            let mut tree = MemoryTree::new();
            tree.extend(leaves.iter().map(|e| ledger::leaf_hash(e.as_bytes())));
            let ledger_signer = signing_key()?;
            let checkpoint = sign_checkpoint(&ledger_signer, ORIGIN, &tree)?;
            let proof = ledger::tree::inclusion_proof(&tree, 1, 3)?;
            let issued = IssuedCredential {
                certificate: B64.encode(&der),
                chain: vec![
                    B64.encode(certs::to_der(&ca)?),
                    B64.encode(certs::to_der(&root)?),
                ],
                receipt: Some(Receipt {
                    leaf_index: 1,
                    tree_size: 3,
                    inclusion_proof: proof.iter().map(|h| B64.encode(h)).collect(),
                    checkpoint,
                    entry: None,
                }),
            };
            let entries = LedgerEntries {
                entries: leaves
                    .iter()
                    .zip(0..)
                    .map(|(e, leaf_index)| LedgerEntry {
                        leaf_index,
                        entry: (*e).to_owned(),
                    })
                    .collect(),
            };
            Ok(Self {
                now,
                root_signer,
                root,
                ca_signer,
                ca,
                ledger_signer,
                holder,
                issued,
                entries,
                serial,
            })
        }

        fn trust_json(&self) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
            Ok(json!({
                "ledger_origin": ORIGIN,
                "roots": [{"certificate_pem": certs::to_pem(&self.root)?, "state": "active"}],
                "issuing_cas": [{
                    "purpose": "identity-ca",
                    "state": "retired",
                    "key_id": hex::encode(certs::lint::issuer_key_id(&self.ca)?),
                    "certificate_pem": certs::to_pem(&self.ca)?,
                }],
                "ledger_keys": [{"public_key_pem": self.ledger_signer.verifying_key()
                    .to_public_key_pem(LineEnding::LF)?}],
                "checkpoint": null,
            }))
        }

        fn trust(&self) -> Result<TrustStore, Box<dyn std::error::Error>> {
            Ok(TrustStore::from_json(&self.trust_json()?.to_string())?)
        }

        fn bundle(&self) -> Result<PresentationDoc, OfflineError> {
            self.present(&self.holder, true, Some(&self.entries))
        }

        fn present(
            &self,
            key: &HolderKey,
            bundle: bool,
            entries: Option<&LedgerEntries>,
        ) -> Result<PresentationDoc, OfflineError> {
            present(
                key,
                std::slice::from_ref(&self.issued),
                &PresentRequest {
                    audience: "desk-1",
                    nonce: "n0nce",
                    issued_at: "2026-11-21T08:00:00Z",
                    bundle,
                    entries,
                },
            )
        }

        fn crl(
            &self,
            this_update: SystemTime,
            next_update: SystemTime,
            revoked: &[RevokedEntry],
        ) -> Result<CertificateList, Box<dyn std::error::Error>> {
            let crl = build_crl(
                &self.ca_signer,
                &self.ca,
                7,
                this_update,
                next_update,
                revoked,
            )?;
            Ok(parse_crl(&certs::crl::crl_to_der(&crl)?)?)
        }

        fn current_crl(
            &self,
            revoked: &[RevokedEntry],
        ) -> Result<CertificateList, Box<dyn std::error::Error>> {
            self.crl(
                self.now - 60 * Duration::from_secs(60),
                self.now + DAY,
                revoked,
            )
        }

        fn verify(
            &self,
            doc: &PresentationDoc,
            crls: &[CertificateList],
        ) -> Result<OfflineReport, Box<dyn std::error::Error>> {
            Ok(verify_offline(
                &self.trust()?,
                doc,
                crls,
                &Expectations::default(),
                self.now,
            )?)
        }
    }

    /// A change made to a bundle's receipts.
    type Edit<'a> = Box<dyn Fn(&mut Receipt) + 'a>;

    fn credential_errors(report: &OfflineReport) -> Vec<String> {
        report.credentials[0].errors.clone()
    }

    #[test]
    fn the_holder_key_round_trips_and_proves_possession_in_its_csr() -> TestResult {
        let key = holder_key()?;
        let pem = key.to_pkcs8_pem()?;
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = HolderKey::from_pkcs8_pem(&pem)?;
        assert_eq!(again.fingerprint()?, key.fingerprint()?);
        let body = pem.lines().nth(1).ok_or("no PEM body")?;
        assert!(!format!("{key:?}").contains(body));

        let csr = key.csr_pem()?;
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
        let verified = certs::csr::verify_csr(csr.as_bytes())?;
        assert_eq!(verified.spki.to_der()?, key.spki_der()?);

        for bad in [[0u8; 32], [0xff; 32]] {
            assert!(matches!(
                HolderKey::from_scalar(&bad),
                Err(OfflineError::InvalidScalar)
            ));
        }
        assert!(matches!(
            HolderKey::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(OfflineError::Key(_))
        ));
        Ok(())
    }

    #[test]
    fn a_bundle_verifies_offline_with_and_without_crls() -> TestResult {
        let world = World::new()?;
        let doc = world.bundle()?;
        let receipts = doc.receipts.as_deref().ok_or("no receipts")?;
        assert_eq!(
            receipts[0].entry.as_deref(),
            Some(world.entries.entries[1].entry.as_str())
        );
        assert_eq!(doc.chain.as_ref().map(Vec::len), Some(2));
        // What the service reads, signed as DESIGN.md says.
        let text = serde_json::to_string(&doc)?;
        assert_eq!(parse_presentation(&text)?, doc);

        let report = world.verify(&doc, &[world.current_crl(&[])?])?;
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.exit_code(), 0);
        assert!(report.errors.is_empty());
        assert_eq!(report.checks["revocation"], Outcome::Passed);
        assert_eq!(report.checks["nonce"], Outcome::NotChecked);
        assert_eq!(report.checks["identity_active"], Outcome::NotChecked);
        let credential = &report.credentials[0];
        assert_eq!(credential.status, RevocationStatus::Good);
        assert!(credential.ledger.verified);
        assert_eq!(
            credential.ledger.logged_at.as_deref(),
            Some("2026-11-18T11:06:40Z")
        );
        assert!(report.crls[0].authentic && report.crls[0].current);

        let report = world.verify(&doc, &[])?;
        assert_eq!(report.verdict, Verdict::ValidUncheckedRevocation);
        assert_eq!(report.exit_code(), 3);
        assert_eq!(report.checks["revocation"], Outcome::NotChecked);
        assert!(report.errors.is_empty());
        let json = serde_json::to_value(&report)?;
        assert_eq!(json["verdict"], "valid-unchecked-revocation");
        assert_eq!(json["credentials"][0]["status"], "not-checked");
        assert_eq!(json["checks"]["revocation"], "not-checked");

        // Expectations turn audience and nonce into checks.
        let trust = world.trust()?;
        let expect = |audience: &str, nonce: &str| Expectations {
            audience: Some(audience.into()),
            nonce: Some(nonce.into()),
        };
        let report = verify_offline(&trust, &doc, &[], &expect("desk-1", "n0nce"), world.now)?;
        assert_eq!(report.checks["audience"], Outcome::Passed);
        assert_eq!(report.checks["nonce"], Outcome::Passed);
        let report = verify_offline(&trust, &doc, &[], &expect("desk-2", "other"), world.now)?;
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.errors, ["audience-mismatch", "nonce-mismatch"]);

        // Not a bundle: the ledger is not checked, and that is not valid.
        let plain = world.present(&world.holder, false, None)?;
        assert!(plain.receipts.is_none() && plain.chain.is_none());
        let report = world.verify(&plain, &[world.current_crl(&[])?])?;
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.checks["ledger"], Outcome::NotChecked);
        assert_eq!(credential_errors(&report), ["ledger-not-checked"]);
        Ok(())
    }

    #[test]
    fn the_holder_refuses_what_it_cannot_sign_honestly() -> TestResult {
        let world = World::new()?;
        let thief = holder_key()?;
        match world.present(&thief, false, None) {
            Err(e @ OfflineError::KeyMismatch { .. }) => {
                assert_eq!(e.credential_index(), Some(0));
                assert!(e.to_string().contains(&thief.fingerprint()?));
            }
            other => return Err(format!("expected a key mismatch, got {other:?}").into()),
        }
        // A bundle needs each receipt's entry...
        match world.present(&world.holder, true, None) {
            Err(OfflineError::Credential { index: 0, detail }) => {
                assert!(detail.contains("--entries"), "{detail}");
            }
            other => return Err(format!("expected a missing entry, got {other:?}").into()),
        }
        // ...and the entry must be this credential's issuance.
        let mut wrong = world.entries.clone();
        wrong.entries[1].entry = wrong.entries[0].entry.clone();
        assert!(matches!(
            world.present(&world.holder, true, Some(&wrong)),
            Err(OfflineError::Credential { index: 0, .. })
        ));
        for (audience, nonce) in [("", "n"), ("desk\n1", "n"), ("desk", "")] {
            let result = present(
                &world.holder,
                std::slice::from_ref(&world.issued),
                &PresentRequest {
                    audience,
                    nonce,
                    issued_at: "2026-11-21T08:00:00Z",
                    bundle: false,
                    entries: None,
                },
            );
            assert!(matches!(result, Err(OfflineError::Parameter { .. })));
        }
        Ok(())
    }

    #[test]
    fn revocation_comes_from_authentic_crls_only() -> TestResult {
        let world = World::new()?;
        let doc = world.bundle()?;
        let revoked = RevokedEntry {
            serial: x509_cert::serial_number::SerialNumber::new(&hex::decode(&world.serial)?)?,
            revoked_at: world.now - 2 * Duration::from_secs(3600),
            reason: RevocationReason::KeyCompromise,
        };

        let report = world.verify(&doc, &[world.current_crl(std::slice::from_ref(&revoked))?])?;
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.checks["revocation"], Outcome::Failed);
        let credential = &report.credentials[0];
        assert_eq!(credential.status, RevocationStatus::Revoked);
        let detail = credential.revocation.as_ref().ok_or("no detail")?;
        assert_eq!(
            (detail.reason.as_str(), detail.crl_number),
            ("keyCompromise", Some(7))
        );
        assert_eq!(
            report.errors,
            [format!("{}: credential-revoked", world.serial)]
        );

        // Out of date: a listing still counts, an absence does not.
        let stale = world.crl(world.now - 3 * DAY, world.now - 2 * DAY, &[])?;
        let report = world.verify(&doc, &[stale])?;
        assert_eq!(report.verdict, Verdict::ValidUncheckedRevocation);
        assert!(report.crls[0].authentic && !report.crls[0].current);
        assert!(
            report.notes.iter().any(|n| n.contains("not current")),
            "{:?}",
            report.notes
        );

        // The same issuer name with another key (and a signature by a key
        // not in the trust document) is not trusted.
        let impostor_signer = signing_key()?;
        let impostor = certs::build_issuing_ca(
            &world.root_signer,
            &world.root,
            world.ca.tbs_certificate().subject(),
            SubjectPublicKeyInfoOwned::from_key(impostor_signer.verifying_key())?,
            serial()?,
            world.now - 10 * DAY,
            world.now + DAY,
        )?;
        let forged = build_crl(
            &impostor_signer,
            &impostor,
            1,
            world.now - DAY,
            world.now + DAY,
            &[],
        )?;
        let report = world.verify(&doc, &[forged])?;
        assert_eq!(report.crls[0].error, Some(codes::CRL_UNTRUSTED_ISSUER));
        assert_eq!(report.verdict, Verdict::ValidUncheckedRevocation);

        // A flipped signature bit.
        let mut der = certs::crl::crl_to_der(&world.current_crl(&[])?)?;
        let last = der.len() - 1;
        der[last] ^= 1;
        let report = world.verify(&doc, &[parse_crl(&der)?])?;
        assert_eq!(report.crls[0].error, Some(codes::CRL_BAD_SIGNATURE));
        assert!(matches!(parse_crl(b"not a crl"), Err(OfflineError::Crl(_))));
        Ok(())
    }

    #[test]
    fn receipts_are_checked_against_the_trusted_ledger_keys() -> TestResult {
        let world = World::new()?;
        let doc = world.bundle()?;
        let crl = world.current_crl(&[])?;
        let with_receipt =
            |edit: &dyn Fn(&mut Receipt)| -> Result<OfflineReport, Box<dyn std::error::Error>> {
                let mut doc = doc.clone();
                for receipt in doc.receipts.iter_mut().flatten() {
                    edit(receipt);
                }
                world.verify(&doc, std::slice::from_ref(&crl))
            };

        let mut tree = MemoryTree::new();
        tree.extend(
            world
                .entries
                .entries
                .iter()
                .map(|e| ledger::leaf_hash(e.entry.as_bytes())),
        );
        let foreign = sign_checkpoint(&signing_key()?, ORIGIN, &tree)?;
        let other_origin = sign_checkpoint(&world.ledger_signer, "elsewhere.test/ledger", &tree)?;
        let cases: Vec<(Edit<'_>, &str)> = vec![
            (
                Box::new(|r| r.checkpoint = foreign.clone()),
                codes::CHECKPOINT_UNTRUSTED,
            ),
            (
                Box::new(|r| r.checkpoint = other_origin.clone()),
                codes::CHECKPOINT_UNTRUSTED,
            ),
            (
                Box::new(|r| r.checkpoint = "garbage".into()),
                codes::MALFORMED_CHECKPOINT,
            ),
            (Box::new(|r| r.entry = None), codes::LEDGER_ENTRY_MISSING),
            (
                Box::new(|r| r.entry = Some("{}".into())),
                codes::MALFORMED_LEDGER_ENTRY,
            ),
            (
                Box::new(|r| r.entry = Some(world.entries.entries[0].entry.clone())),
                codes::LEDGER_ENTRY_MISMATCH,
            ),
            (Box::new(|r| r.tree_size = 4), codes::MALFORMED_RECEIPT),
            (
                Box::new(|r| r.inclusion_proof[0] = "AAAA".into()),
                codes::MALFORMED_RECEIPT,
            ),
            (
                Box::new(|r| r.inclusion_proof[0] = B64.encode([0u8; 32])),
                codes::INCLUSION_PROOF_FAILED,
            ),
            (
                Box::new(|r| r.leaf_index = 0),
                codes::INCLUSION_PROOF_FAILED,
            ),
        ];
        for (edit, code) in cases {
            let report = with_receipt(&*edit)?;
            assert_eq!(report.verdict, Verdict::Invalid, "{code}");
            assert_eq!(report.checks["ledger"], Outcome::Failed, "{code}");
            assert_eq!(credential_errors(&report), [code]);
        }

        let mut two = doc.clone();
        if let Some(r) = two.receipts.as_mut() {
            r.push(r[0].clone());
        }
        let report = world.verify(&two, std::slice::from_ref(&crl))?;
        assert_eq!(report.verdict, Verdict::Invalid);
        assert!(report.errors.iter().any(|e| e == codes::RECEIPTS_MISMATCH));
        Ok(())
    }

    #[test]
    fn unreadable_input_is_an_error_not_a_verdict() -> TestResult {
        let world = World::new()?;
        let doc = world.bundle()?;
        let trust = world.trust()?;
        let verify = |doc: &PresentationDoc| {
            verify_offline(&trust, doc, &[], &Expectations::default(), world.now)
        };
        let mut v2 = doc.clone();
        v2.version = 2;
        assert!(matches!(verify(&v2), Err(OfflineError::Presentation(_))));
        let mut bad = doc.clone();
        bad.credentials[0] = "***".into();
        assert!(matches!(verify(&bad), Err(OfflineError::Presentation(_))));
        assert!(parse_presentation(r#"{"version":1,"credentials":[],"proof":{}}"#).is_err());
        assert!(
            parse_presentation(
                &serde_json::to_string(&doc)?.replace("\"proof\"", "\"extra\":1,\"proof\"")
            )
            .is_err()
        );

        // A tampered credential is readable: it is a verdict.
        let mut flipped = doc.clone();
        let mut der = B64.decode(&doc.credentials[0])?;
        let last = der.len() - 1;
        der[last] ^= 1;
        flipped.credentials[0] = B64.encode(&der);
        let report = verify(&flipped)?;
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.checks["chain"], Outcome::Failed);

        let mut json = world.trust_json()?;
        json["ledger_keys"] = json!([]);
        assert!(matches!(
            TrustStore::from_json(&json.to_string()),
            Err(OfflineError::Trust(_))
        ));
        let mut json = world.trust_json()?;
        json["issuing_cas"][0]["key_id"] = "00".into();
        assert!(matches!(
            TrustStore::from_json(&json.to_string()),
            Err(OfflineError::Trust(_))
        ));
        assert!(TrustStore::from_json("[]").is_err());
        Ok(())
    }
}
