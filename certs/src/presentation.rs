//! Presentation verification: the pure checks of what a citizen shows a
//! counter (DESIGN.md "Presentation"): every credential chains to a trusted
//! root through a trusted issuing CA and is valid at the given time, all
//! credentials belong to one holder (one key, one identity id), and the
//! holder signed the challenge with that key.
//!
//! Trusts only the [`TrustAnchor`]s its caller read from the trust document
//! (root and issuing CA certificates, retired ones included) and the clock
//! value it is given. Everything presented is untrusted input: a forged,
//! self-made, tampered or unreadable certificate is never an `Err` or a
//! panic, only a `false` flag with a stable reason code from [`codes`], and
//! the work done per presentation is bounded ([`MAX_CREDENTIALS`],
//! [`MAX_CREDENTIAL_BYTES`]).
//!
//! Not checked here, because they need state: revocation, ledger inclusion,
//! nonce freshness and single use, and whether the audience is the counter
//! asking. The service checks those and combines them with
//! [`PresentationCheck::is_valid`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use const_oid::AssociatedOid;
use der::{Decode, Encode, referenced::OwnedToRef};
use p256::ecdsa::{DerSignature, VerifyingKey};
use sha2::{Digest as _, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::{
    Certificate,
    ext::pkix::{
        AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
        CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, SubjectDirectoryAttributes,
        SubjectKeyIdentifier,
    },
    time::Time,
};

use crate::{
    CertError,
    holder::holder_subject,
    holder::licence_info,
    lint::issuer_key_id,
    oids::LICENCE_INFO,
    serial_hex, sha256_fingerprint,
    verify::{check_link, check_signature},
    verify_signed_by,
};

/// First line of every presentation signing input: the domain separator.
pub const SIGNING_CONTEXT: &str = "onevisit-presentation-v1";

/// Most credentials one presentation may carry; more is refused unread.
pub const MAX_CREDENTIALS: usize = 8;

/// Largest DER credential accepted (16 KiB); a larger one is not parsed.
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// The stable, machine-readable reason codes this module reports. The
/// service passes them on unchanged, so they never change meaning.
pub mod codes {
    // Per credential, in `CredentialCheck::errors`; all but the four time
    // codes make `chain_ok` false.

    /// The credential is not exactly one DER X.509 certificate.
    pub const MALFORMED_CERTIFICATE: &str = "malformed-certificate";
    /// The credential is larger than `MAX_CREDENTIAL_BYTES`; not parsed.
    pub const CREDENTIAL_TOO_LARGE: &str = "credential-too-large";
    /// An extension the checks need cannot be decoded, or one is repeated.
    pub const MALFORMED_EXTENSION: &str = "malformed-extension";
    /// An extension marked critical that this verifier does not know
    /// (RFC 5280 4.2: such a certificate must be rejected).
    pub const UNKNOWN_CRITICAL_EXTENSION: &str = "unknown-critical-extension";
    /// No trusted issuing CA has the credential's issuer name and, as its
    /// SKI, the credential's AKI key identifier.
    pub const UNTRUSTED_ISSUER: &str = "untrusted-issuer";
    /// The issuing CA is not signed by a trusted root (name and AKI rule).
    pub const UNTRUSTED_ROOT: &str = "untrusted-root";
    /// The issuing CA is not usable as one: CA:TRUE, pathLen 0 and
    /// keyCertSign are required, and no unknown critical extension.
    pub const ISSUER_NOT_CA: &str = "issuer-not-ca";
    /// The issuing CA's signature by the root does not verify.
    pub const BAD_CA_SIGNATURE: &str = "bad-ca-signature";
    /// The credential's signature by its issuing CA does not verify.
    pub const BAD_SIGNATURE: &str = "bad-signature";
    /// Signed with anything but ecdsa-with-SHA256 by a P-256 key.
    pub const UNSUPPORTED_ALGORITHM: &str = "unsupported-algorithm";
    /// The credential is itself a CA certificate (basicConstraints CA:TRUE).
    pub const LEAF_IS_CA: &str = "leaf-is-ca";
    /// The credential's keyUsage is absent or lacks digitalSignature.
    pub const LEAF_KEY_USAGE: &str = "leaf-key-usage";
    /// The subject is not `CN=<name>, serialNumber=<identity id>`, so no
    /// identity id can be read.
    pub const BAD_SUBJECT: &str = "bad-subject";
    /// The time is after the credential's notAfter (`valid_now` false).
    pub const EXPIRED: &str = "expired";
    /// The time is before the credential's notBefore (`valid_now` false).
    pub const NOT_YET_VALID: &str = "not-yet-valid";
    /// The time is after the issuing CA's notAfter (`valid_now` false).
    pub const ISSUER_EXPIRED: &str = "issuer-expired";
    /// The time is before the issuing CA's notBefore (`valid_now` false).
    pub const ISSUER_NOT_YET_VALID: &str = "issuer-not-yet-valid";

    // For the whole presentation, in `PresentationCheck::errors`.

    /// The presentation carries no credential.
    pub const NO_CREDENTIALS: &str = "no-credentials";
    /// More than `MAX_CREDENTIALS` credentials; none was read.
    pub const TOO_MANY_CREDENTIALS: &str = "too-many-credentials";
    /// A credential could not be read, so there is no common holder.
    pub const HOLDER_UNKNOWN: &str = "holder-unknown";
    /// The credentials have different subject public keys.
    pub const HOLDER_KEY_MISMATCH: &str = "holder-key-mismatch";
    /// The credentials have different (or missing) identity ids.
    pub const IDENTITY_ID_MISMATCH: &str = "identity-id-mismatch";
    /// The common holder key is not an ECDSA P-256 key.
    pub const HOLDER_KEY_UNSUPPORTED: &str = "holder-key-unsupported";
    /// Audience, nonce or issued_at contains a control character (a line
    /// break would make the signing input ambiguous).
    pub const MALFORMED_PROOF: &str = "malformed-proof";
    /// The holder signature is not a DER ECDSA signature.
    pub const MALFORMED_HOLDER_SIGNATURE: &str = "malformed-holder-signature";
    /// The holder signature does not verify under the common holder key.
    pub const BAD_HOLDER_SIGNATURE: &str = "bad-holder-signature";
}

/// The exact bytes the holder signs (DESIGN.md): these lines joined by
/// `\n`, without a trailing newline: [`SIGNING_CONTEXT`], `audience`,
/// `nonce`, `issued_at`, then the lowercase hex SHA-256 of each credential's
/// DER, in the order given.
///
/// The three text fields are used as given; a line break in one of them
/// would make the input ambiguous, so [`check_presentation`] refuses such
/// fields ([`codes::MALFORMED_PROOF`]).
#[must_use]
pub fn signing_input(
    audience: &str,
    nonce: &str,
    issued_at: &str,
    credentials_der: &[Vec<u8>],
) -> Vec<u8> {
    signing_lines(
        audience,
        nonce,
        issued_at,
        credentials_der.iter().map(|der| sha256_fingerprint(der)),
    )
}

/// [`signing_input`] from the credentials' fingerprints.
fn signing_lines(
    audience: &str,
    nonce: &str,
    issued_at: &str,
    fingerprints: impl IntoIterator<Item = String>,
) -> Vec<u8> {
    let mut lines = vec![
        SIGNING_CONTEXT.to_owned(),
        audience.to_owned(),
        nonce.to_owned(),
        issued_at.to_owned(),
    ];
    lines.extend(fingerprints);
    lines.join("\n").into_bytes()
}

/// A CA the verifier trusts, from the trust document: a root or an issuing
/// CA, in any state (a retired CA still vouches for what it issued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The CA certificate as published.
    pub certificate: Certificate,
    /// `true` for a root (trusted as is, never checked further), `false`
    /// for an issuing CA (must itself be signed by a trusted root).
    pub is_root: bool,
}

/// What a credential is, read from the certificate itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// An identity certificate (no licence extension).
    Identity,
    /// A licence certificate (carries the licence extension).
    License,
    /// The credential could not be read at all.
    Unknown,
}

impl CredentialKind {
    /// The wire name, as in ledger entries: `identity`, `license` or
    /// `unknown`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Identity => "identity",
            CredentialKind::License => "license",
            CredentialKind::Unknown => "unknown",
        }
    }
}

/// The verdict on one presented credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialCheck {
    /// Lowercase hex serial number, as issued; empty if unreadable.
    pub serial: String,
    /// Licence if the licence extension is present, else identity;
    /// [`CredentialKind::Unknown`] if the certificate could not be read.
    pub kind: CredentialKind,
    /// The licence type, for a licence whose extension decodes.
    pub license_type: Option<String>,
    /// The subject's serialNumber, if the subject has the holder form.
    pub identity_id: Option<String>,
    /// Lowercase hex SHA-256 of the DER as presented (always set).
    pub cert_sha256: String,
    /// Lowercase hex of the AKI key identifier, if there is one.
    pub issuer_key_id: Option<String>,
    /// Chains to a trusted root through a trusted issuing CA (name and
    /// AKI = SKI at each link), both signatures verify, the issuing CA is
    /// CA:TRUE with pathLen 0 and keyCertSign, and the credential is no CA
    /// and has digitalSignature. Independent of time.
    pub chain_ok: bool,
    /// The time given lies within notBefore..=notAfter of the credential
    /// and, when one was found, of its issuing CA.
    pub valid_now: bool,
    /// Codes from [`codes`] explaining every `false` above (and
    /// [`codes::BAD_SUBJECT`]); empty when all is well.
    pub errors: Vec<String>,
}

impl CredentialCheck {
    /// Chains, is valid at the time given, and nothing else is wrong.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.chain_ok && self.valid_now && self.errors.is_empty()
    }
}

/// The verdict on a whole presentation. Each flag is one check; a
/// presentation passes these pure checks only if [`Self::is_valid`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationCheck {
    /// One verdict per credential, in the order presented; empty when the
    /// presentation was refused unread ([`codes::TOO_MANY_CREDENTIALS`]).
    pub credentials: Vec<CredentialCheck>,
    /// Every credential was read, and all have the same subject public key
    /// and the same identity id.
    pub same_holder: bool,
    /// The holder signature over [`signing_input`] verifies under the
    /// common holder key (never checked without one).
    pub holder_signature: bool,
    /// DER SubjectPublicKeyInfo of the common holder key, if all credentials
    /// were read and share one key.
    pub holder_spki_der: Option<Vec<u8>>,
    /// The common identity id, if all credentials were read and share one.
    pub identity_id: Option<String>,
    /// Presentation-level codes from [`codes`]; per-credential ones are in
    /// [`CredentialCheck::errors`].
    pub errors: Vec<String>,
}

impl PresentationCheck {
    /// At least one credential, every credential valid, one holder, a good
    /// holder signature and no presentation-level error.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        !self.credentials.is_empty()
            && self.errors.is_empty()
            && self.same_holder
            && self.holder_signature
            && self.credentials.iter().all(CredentialCheck::is_valid)
    }
}

/// The pure checks of a presentation: every credential parses, chains to
/// `anchors` and is valid at `now`; all credentials have the same subject
/// public key and identity id; and `signature_der` (DER ECDSA P-256 /
/// SHA-256, already base64-decoded) over [`signing_input`] verifies under
/// that common key. High-S signatures are accepted everywhere.
///
/// Never fails: every problem is a `false` flag plus a code from [`codes`].
/// More than [`MAX_CREDENTIALS`] credentials are refused without reading
/// any; a credential over [`MAX_CREDENTIAL_BYTES`] is not parsed. Times are
/// compared in whole seconds (certificate times have no fractions), with
/// both validity bounds inclusive (RFC 5280 4.1.2.5).
#[must_use]
pub fn check_presentation(
    anchors: &[TrustAnchor],
    credentials_der: &[Vec<u8>],
    audience: &str,
    nonce: &str,
    issued_at: &str,
    signature_der: &[u8],
    now: SystemTime,
) -> PresentationCheck {
    check_presentation_cached(
        anchors,
        None,
        credentials_der,
        audience,
        nonce,
        issued_at,
        signature_der,
        now,
    )
}

/// [`check_presentation`], remembering in `cache` every certificate
/// signature it verified (keyed by the hashes of the certificate and of the
/// signing key, so a hit is the same fact), so a credential presented again
/// costs no chain signature check. Validity, names, key identifiers and
/// constraints are checked every time.
#[must_use]
#[expect(
    clippy::too_many_arguments,
    reason = "check_presentation plus the cache"
)]
pub fn check_presentation_cached(
    anchors: &[TrustAnchor],
    cache: Option<&SignatureCache>,
    credentials_der: &[Vec<u8>],
    audience: &str,
    nonce: &str,
    issued_at: &str,
    signature_der: &[u8],
    now: SystemTime,
) -> PresentationCheck {
    let mut check = PresentationCheck {
        credentials: Vec::new(),
        same_holder: false,
        holder_signature: false,
        holder_spki_der: None,
        identity_id: None,
        errors: Vec::new(),
    };
    if credentials_der.is_empty() {
        check.errors.push(codes::NO_CREDENTIALS.into());
        return check;
    }
    if credentials_der.len() > MAX_CREDENTIALS {
        check.errors.push(codes::TOO_MANY_CREDENTIALS.into());
        return check;
    }

    let proof_fields_ok = ![audience, nonce, issued_at]
        .iter()
        .any(|field| field.chars().any(char::is_control));
    if !proof_fields_ok {
        check.errors.push(codes::MALFORMED_PROOF.into());
    }

    let now = whole_seconds(now);
    let mut verifier = ChainVerifier::new(anchors, cache);
    let mut holders = Vec::with_capacity(credentials_der.len());
    for der in credentials_der {
        let (credential, holder) = verifier.check_credential(der, now);
        check.credentials.push(credential);
        holders.push(holder);
    }

    // One holder: every credential read, one key, one identity id.
    let holders: Option<Vec<Holder>> = holders.into_iter().collect();
    let Some((first, rest)) = holders.as_deref().and_then(<[Holder]>::split_first) else {
        check.errors.push(codes::HOLDER_UNKNOWN.into());
        return check;
    };
    let holder_spki = rest
        .iter()
        .all(|h| h.spki == first.spki)
        .then_some(&first.spki);
    if holder_spki.is_none() {
        check.errors.push(codes::HOLDER_KEY_MISMATCH.into());
    }
    check.identity_id = first
        .identity_id
        .clone()
        .filter(|id| rest.iter().all(|h| h.identity_id.as_ref() == Some(id)));
    if check.identity_id.is_none() {
        check.errors.push(codes::IDENTITY_ID_MISMATCH.into());
    }
    check.holder_spki_der = holder_spki.and_then(|spki| spki.to_der().ok());
    check.same_holder = check.holder_spki_der.is_some() && check.identity_id.is_some();

    // The proof, checked whenever there is a common key to check it with.
    let Some(holder_spki) = holder_spki.filter(|_| proof_fields_ok) else {
        return check;
    };
    let Ok(key) = VerifyingKey::try_from(holder_spki.owned_to_ref()) else {
        check.errors.push(codes::HOLDER_KEY_UNSUPPORTED.into());
        return check;
    };
    let Ok(signature) = DerSignature::from_bytes(signature_der) else {
        check.errors.push(codes::MALFORMED_HOLDER_SIGNATURE.into());
        return check;
    };
    // The fingerprints were taken while checking the credentials.
    let message = signing_lines(
        audience,
        nonce,
        issued_at,
        check.credentials.iter().map(|c| c.cert_sha256.clone()),
    );
    check.holder_signature = crate::ecdsa::verify(&key, &message, &signature);
    if !check.holder_signature {
        check.errors.push(codes::BAD_HOLDER_SIGNATURE.into());
    }
    check
}

/// What a readable credential says about its holder.
struct Holder {
    spki: SubjectPublicKeyInfoOwned,
    identity_id: Option<String>,
}

/// `now` cut to whole seconds since the epoch; `None` before 1970, which
/// is before every certificate this crate can read.
fn whole_seconds(now: SystemTime) -> Option<Duration> {
    now.duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| Duration::from_secs(d.as_secs()))
}

/// Extensions this verifier knows (the CA and holder profiles'); any other
/// one marked critical makes a certificate unusable.
const KNOWN_EXTENSIONS: &[der::asn1::ObjectIdentifier] = &[
    BasicConstraints::OID,
    KeyUsage::OID,
    ExtendedKeyUsage::OID,
    CertificatePolicies::OID,
    CrlDistributionPoints::OID,
    AuthorityInfoAccessSyntax::OID,
    SubjectKeyIdentifier::OID,
    AuthorityKeyIdentifier::OID,
    SubjectDirectoryAttributes::OID,
    LICENCE_INFO,
];

fn has_unknown_critical_extension(cert: &Certificate) -> bool {
    cert.tbs_certificate().extensions().is_some_and(|exts| {
        exts.iter()
            .any(|e| e.critical && !KNOWN_EXTENSIONS.contains(&e.extn_id))
    })
}

/// The AKI key identifier of `cert`: `Ok(None)` if absent.
fn aki_key_id(cert: &Certificate) -> Result<Option<Vec<u8>>, der::Error> {
    Ok(cert
        .tbs_certificate()
        .get_extension::<AuthorityKeyIdentifier>()?
        .and_then(|(_, aki)| aki.key_identifier)
        .map(|kid| kid.as_bytes().to_vec()))
}

/// Whether `cert` names `issuer` as its issuer: the issuer name equals the
/// issuer's subject (exact DER) and the AKI key identifier is present and
/// equals the issuer's SKI.
fn names_as_issuer(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return false;
    }
    match (aki_key_id(cert), issuer_key_id(issuer)) {
        (Ok(Some(aki)), Ok(ski)) => aki == ski,
        _ => false,
    }
}

/// The code for a failed [`verify_signed_by`].
fn signature_code(error: &CertError, bad_signature: &'static str) -> &'static str {
    match error {
        CertError::UnsupportedAlgorithm(_) => codes::UNSUPPORTED_ALGORITHM,
        CertError::Der(_) => codes::MALFORMED_EXTENSION,
        _ => bad_signature,
    }
}

/// `codes` in their first-seen order, each once, as owned strings.
fn unique_codes(codes: Vec<&'static str>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::with_capacity(codes.len());
    for code in codes {
        if !unique.iter().any(|c| c == code) {
            unique.push(code.to_owned());
        }
    }
    unique
}

/// Time codes for `cert` at `now` (`None`: before 1970).
fn window_errors(
    cert: &Certificate,
    now: Option<Duration>,
    expired: &'static str,
    not_yet_valid: &'static str,
) -> Option<&'static str> {
    let validity = cert.tbs_certificate().validity();
    let secs = |t: &Time| t.to_unix_duration();
    match now {
        None => Some(not_yet_valid),
        Some(now) if now < secs(&validity.not_before) => Some(not_yet_valid),
        Some(now) if now > secs(&validity.not_after) => Some(expired),
        Some(_) => None,
    }
}

/// Chain checks against one set of anchors, remembering each issuing CA's
/// verdict so a presentation costs one CA signature check per CA used.
struct ChainVerifier<'a> {
    anchors: &'a [TrustAnchor],
    cache: Option<&'a SignatureCache>,
    /// Per anchor index: SHA-256 of its DER, once computed (cache keys).
    anchor_hashes: Vec<Option<[u8; 32]>>,
    /// Per anchor index: the issuing CA's verdict once computed.
    ca_verdicts: Vec<Option<Result<(), &'static str>>>,
}

/// The outcome of checking a credential against one candidate issuing CA.
struct Candidate {
    errors: Vec<&'static str>,
    time_errors: Vec<&'static str>,
}

impl<'a> ChainVerifier<'a> {
    fn new(anchors: &'a [TrustAnchor], cache: Option<&'a SignatureCache>) -> Self {
        Self {
            anchors,
            cache,
            anchor_hashes: vec![None; anchors.len()],
            ca_verdicts: vec![None; anchors.len()],
        }
    }

    fn check_credential(
        &mut self,
        der: &[u8],
        now: Option<Duration>,
    ) -> (CredentialCheck, Option<Holder>) {
        // Hashed once: the fingerprint and the signature cache key.
        let digest: [u8; 32] = Sha256::digest(der).into();
        let mut check = CredentialCheck {
            serial: String::new(),
            kind: CredentialKind::Unknown,
            license_type: None,
            identity_id: None,
            cert_sha256: hex::encode(digest),
            issuer_key_id: None,
            chain_ok: false,
            valid_now: false,
            errors: Vec::new(),
        };
        if der.len() > MAX_CREDENTIAL_BYTES {
            check.errors.push(codes::CREDENTIAL_TOO_LARGE.into());
            return (check, None);
        }
        let Ok(cert) = Certificate::from_der(der) else {
            check.errors.push(codes::MALFORMED_CERTIFICATE.into());
            return (check, None);
        };
        let tbs = cert.tbs_certificate();
        check.serial = serial_hex(tbs.serial_number());

        // What the credential is and who it is about.
        let mut errors = Vec::new();
        let has_licence = tbs
            .extensions()
            .is_some_and(|exts| exts.iter().any(|e| e.extn_id == LICENCE_INFO));
        check.kind = if has_licence {
            CredentialKind::License
        } else {
            CredentialKind::Identity
        };
        match licence_info(&cert) {
            Ok(info) => check.license_type = info.map(|i| i.licence_type),
            Err(_) => errors.push(codes::MALFORMED_EXTENSION),
        }
        match holder_subject(&cert) {
            Ok(subject) => check.identity_id = Some(subject.identity_id),
            Err(_) => errors.push(codes::BAD_SUBJECT),
        }
        match aki_key_id(&cert) {
            Ok(kid) => check.issuer_key_id = kid.map(hex::encode),
            Err(_) => errors.push(codes::MALFORMED_EXTENSION),
        }

        // End-entity constraints.
        match tbs.get_extension::<BasicConstraints>() {
            Ok(Some((_, bc))) if bc.ca => errors.push(codes::LEAF_IS_CA),
            Ok(_) => {}
            Err(_) => errors.push(codes::MALFORMED_EXTENSION),
        }
        match tbs.get_extension::<KeyUsage>() {
            Ok(Some((_, ku))) if ku.digital_signature() => {}
            Ok(_) => errors.push(codes::LEAF_KEY_USAGE),
            Err(_) => errors.push(codes::MALFORMED_EXTENSION),
        }
        if has_unknown_critical_extension(&cert) {
            errors.push(codes::UNKNOWN_CRITICAL_EXTENSION);
        }

        // The chain: the best of the trusted issuing CAs the credential
        // names (more than one only if a CA was certified twice).
        let mut leaf_time = Vec::new();
        leaf_time.extend(window_errors(
            &cert,
            now,
            codes::EXPIRED,
            codes::NOT_YET_VALID,
        ));
        let candidates: Vec<Candidate> = (0..self.anchors.len())
            .filter_map(|i| self.candidate(i, &cert, &digest, now))
            .collect();
        let best = candidates
            .iter()
            .find(|c| c.errors.is_empty() && c.time_errors.is_empty())
            .or_else(|| candidates.iter().find(|c| c.errors.is_empty()))
            .or_else(|| candidates.first());
        match best {
            None => errors.push(codes::UNTRUSTED_ISSUER),
            Some(candidate) => {
                errors.extend(&candidate.errors);
                leaf_time.extend(&candidate.time_errors);
            }
        }

        // BAD_SUBJECT is reported but is no chain problem.
        check.chain_ok = errors.iter().all(|code| *code == codes::BAD_SUBJECT);
        check.valid_now = leaf_time.is_empty();
        errors.extend(leaf_time);
        check.errors = unique_codes(errors);

        let holder = Holder {
            spki: tbs.subject_public_key_info().clone(),
            identity_id: check.identity_id.clone(),
        };
        (check, Some(holder))
    }

    /// `Some` if anchor `index` is an issuing CA that `cert` names as its
    /// issuer: the remaining chain errors and the CA's time errors.
    fn candidate(
        &mut self,
        index: usize,
        cert: &Certificate,
        cert_sha256: &[u8; 32],
        now: Option<Duration>,
    ) -> Option<Candidate> {
        let anchors = self.anchors;
        let anchor = anchors.get(index)?;
        if anchor.is_root || !names_as_issuer(cert, &anchor.certificate) {
            return None;
        }
        let ca = &anchor.certificate;
        let mut errors = Vec::new();
        if let Err(code) = self.ca_verdict(index) {
            errors.push(code);
        }
        if let Err(e) = self.signed_by(cert, cert_sha256, index) {
            errors.push(signature_code(&e, codes::BAD_SIGNATURE));
        }
        let time_errors =
            window_errors(ca, now, codes::ISSUER_EXPIRED, codes::ISSUER_NOT_YET_VALID)
                .into_iter()
                .collect();
        Some(Candidate {
            errors,
            time_errors,
        })
    }

    /// SHA-256 of anchor `index`'s public key (SPKI DER), computed once.
    fn anchor_hash(&mut self, index: usize) -> Option<[u8; 32]> {
        if let Some(Some(h)) = self.anchor_hashes.get(index) {
            return Some(*h);
        }
        let spki = self
            .anchors
            .get(index)?
            .certificate
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .ok()?;
        let h: [u8; 32] = Sha256::digest(&spki).into();
        if let Some(slot) = self.anchor_hashes.get_mut(index) {
            *slot = Some(h);
        }
        Some(h)
    }

    /// [`verify_signed_by`] of `cert` under anchor `index`; the signature
    /// part through the cache, the name, key identifier and algorithm
    /// checks every time.
    /// `cert_sha256` is the SHA-256 of `cert`'s DER.
    fn signed_by(
        &mut self,
        cert: &Certificate,
        cert_sha256: &[u8; 32],
        index: usize,
    ) -> Result<(), CertError> {
        let issuer = &self
            .anchors
            .get(index)
            .ok_or(CertError::IssuerMismatch("no such anchor"))?
            .certificate;
        let Some(cache) = self.cache else {
            return verify_signed_by(cert, issuer);
        };
        let Some(issuer_hash) = self.anchor_hash(index) else {
            return verify_signed_by(cert, issuer);
        };
        check_link(cert, issuer)?;
        let key = SignatureCache::key(cert_sha256, &issuer_hash);
        if cache.contains(&key) {
            return Ok(());
        }
        check_signature(cert, issuer)?;
        cache.insert(key);
        Ok(())
    }

    /// The verdict on issuing CA anchor `index`, computed once.
    fn ca_verdict(&mut self, index: usize) -> Result<(), &'static str> {
        if let Some(Some(verdict)) = self.ca_verdicts.get(index) {
            return *verdict;
        }
        let verdict = match self.anchors.get(index) {
            Some(_) => self.issuing_ca_verdict(index),
            None => Err(codes::UNTRUSTED_ISSUER),
        };
        if let Some(slot) = self.ca_verdicts.get_mut(index) {
            *slot = Some(verdict);
        }
        verdict
    }
}

impl ChainVerifier<'_> {
    /// Whether issuing CA anchor `index` is usable under one of the root anchors.
    fn issuing_ca_verdict(&mut self, index: usize) -> Result<(), &'static str> {
        let anchors = self.anchors;
        let ca = &anchors
            .get(index)
            .ok_or(codes::UNTRUSTED_ISSUER)?
            .certificate;
        let tbs = ca.tbs_certificate();
        let constraints_hold = matches!(
            tbs.get_extension::<BasicConstraints>(),
            Ok(Some((_, bc))) if bc.ca && bc.path_len_constraint == Some(0)
        ) && matches!(
            tbs.get_extension::<KeyUsage>(),
            Ok(Some((_, ku))) if ku.key_cert_sign()
        ) && !has_unknown_critical_extension(ca);
        if !constraints_hold {
            return Err(codes::ISSUER_NOT_CA);
        }
        let roots: Vec<usize> = (0..anchors.len())
            .filter(|i| {
                anchors
                    .get(*i)
                    .is_some_and(|a| a.is_root && names_as_issuer(ca, &a.certificate))
            })
            .collect();
        if roots.is_empty() {
            return Err(codes::UNTRUSTED_ROOT);
        }
        let ca_sha256: [u8; 32] = match ca.to_der() {
            Ok(der) => Sha256::digest(der).into(),
            Err(_) => return Err(codes::BAD_CA_SIGNATURE),
        };
        let mut first_error = None;
        for root in roots {
            match self.signed_by(ca, &ca_sha256, root) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(signature_code(&e, codes::BAD_CA_SIGNATURE));
                }
            }
        }
        Err(first_error.unwrap_or(codes::BAD_CA_SIGNATURE))
    }
}

/// Certificate signatures known to verify, keyed by SHA-256 over the hash
/// of the signed certificate's DER and the hash of the signing public key
/// (SPKI DER): such a fact never changes, so a hit needs no ECDSA. Only
/// successes are kept; the set is bounded and simply emptied when full.
#[derive(Debug)]
pub struct SignatureCache {
    verified: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
    capacity: usize,
}

impl SignatureCache {
    /// A cache of at most `capacity` verified signatures.
    pub fn new(capacity: usize) -> Self {
        Self {
            verified: std::sync::Mutex::new(std::collections::HashSet::new()),
            capacity,
        }
    }

    fn key(cert_sha256: &[u8; 32], issuer_spki_sha256: &[u8; 32]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(cert_sha256);
        h.update(issuer_spki_sha256);
        h.finalize().into()
    }

    /// Records that the certificate whose DER hashes to `cert_sha256`
    /// carries a valid signature by the key `issuer_spki_der`, for a caller
    /// that knows it without ECDSA: the issuer that signed the certificate
    /// and checked that signature before storing it. Only the signature is
    /// vouched for; names, validity and constraints are still checked.
    pub fn vouch(&self, cert_sha256: &[u8; 32], issuer_spki_der: &[u8]) {
        self.insert(Self::key(
            cert_sha256,
            &Sha256::digest(issuer_spki_der).into(),
        ));
    }

    fn contains(&self, key: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(key)
    }

    fn insert(&self, key: [u8; 32]) {
        let mut set = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if set.len() >= self.capacity {
            set.clear();
        }
        set.insert(key);
    }

    /// Number of links remembered.
    pub fn len(&self) -> usize {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        build_issuing_ca, build_root, ca_name,
        holder::{build_identity_cert, build_licence_cert},
        test_support::{
            TestResult, TestSigner, YEAR, external, now, sample_identity_request,
            sample_licence_request, sample_root, software_signer, test_serial,
        },
        to_der,
    };
    use signature::Signer;

    const AUDIENCE: &str = "counter-7";
    const NONCE: &str = "q3Zl9sJ4b1Yc";
    const ISSUED_AT: &str = "2025-06-01T09:30:00Z";

    /// A root with an identity CA and a licence CA under it, as published
    /// in the trust document.
    struct Pki {
        root: Certificate,
        root_signer: TestSigner,
        identity_ca: Certificate,
        identity_signer: TestSigner,
        licence_ca: Certificate,
        licence_signer: TestSigner,
    }

    impl Pki {
        /// Same names every time: only the keys tell two of them apart.
        fn new() -> Result<Self, CertError> {
            let root_signer = software_signer();
            let root = sample_root(&root_signer)?;
            let (identity_ca, identity_signer) = issuing_ca(&root_signer, &root, "Identity")?;
            let (licence_ca, licence_signer) = issuing_ca(&root_signer, &root, "Licence")?;
            Ok(Self {
                root,
                root_signer,
                identity_ca,
                identity_signer,
                licence_ca,
                licence_signer,
            })
        }

        fn anchors(&self) -> Vec<TrustAnchor> {
            vec![
                anchor(&self.root, true),
                anchor(&self.identity_ca, false),
                anchor(&self.licence_ca, false),
            ]
        }

        fn identity(&self, holder: &TestSigner) -> Result<Vec<u8>, CertError> {
            let req = sample_identity_request(holder.spki()?)?;
            to_der(&build_identity_cert(
                &self.identity_signer,
                &self.identity_ca,
                &req,
            )?)
        }

        fn licence(&self, holder: &TestSigner) -> Result<Vec<u8>, CertError> {
            let req = sample_licence_request(holder.spki()?)?;
            to_der(&build_licence_cert(
                &self.licence_signer,
                &self.licence_ca,
                &req,
            )?)
        }
    }

    fn issuing_ca(
        root_signer: &TestSigner,
        root: &Certificate,
        what: &str,
    ) -> Result<(Certificate, TestSigner), CertError> {
        let signer = software_signer();
        let cert = build_issuing_ca(
            root_signer,
            root,
            &ca_name(&format!("OneVisit Test {what} CA"), "OneVisit Wallet")?,
            signer.spki()?,
            test_serial()?,
            now() - Duration::from_secs(60),
            now() + 5 * YEAR,
        )?;
        Ok((cert, signer))
    }

    fn anchor(certificate: &Certificate, is_root: bool) -> TrustAnchor {
        TrustAnchor {
            certificate: certificate.clone(),
            is_root,
        }
    }

    /// The holder's proof over `credentials`, for the test audience, nonce
    /// and time.
    fn prove(holder: &TestSigner, credentials: &[Vec<u8>]) -> Result<Vec<u8>, signature::Error> {
        let input = signing_input(AUDIENCE, NONCE, ISSUED_AT, credentials);
        let signature: DerSignature = holder.try_sign(&input)?;
        Ok(signature.as_bytes().to_vec())
    }

    fn check_at(
        anchors: &[TrustAnchor],
        credentials: &[Vec<u8>],
        signature: &[u8],
        at: SystemTime,
    ) -> PresentationCheck {
        check_presentation(
            anchors,
            credentials,
            AUDIENCE,
            NONCE,
            ISSUED_AT,
            signature,
            at,
        )
    }

    fn has(errors: &[String], code: &str) -> bool {
        errors.iter().any(|e| e == code)
    }

    /// The trust, the holder, what they present and their proof.
    type Presentation = (Pki, TestSigner, Vec<Vec<u8>>, Vec<u8>);

    /// A valid identity + licence presentation, its signature and anchors.
    fn valid_presentation() -> Result<Presentation, Box<dyn std::error::Error>> {
        let pki = Pki::new()?;
        let holder = software_signer();
        let credentials = vec![pki.identity(&holder)?, pki.licence(&holder)?];
        let signature = prove(&holder, &credentials)?;
        Ok((pki, holder, credentials, signature))
    }

    /// Flips the last byte of the serial number (inside the TBS).
    fn tamper_tbs(der: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let cert = Certificate::from_der(der)?;
        let serial = cert.tbs_certificate().serial_number().as_bytes().to_vec();
        let at = der
            .windows(serial.len())
            .position(|w| w == serial.as_slice())
            .ok_or("serial not found in DER")?;
        let mut tampered = der.to_vec();
        tampered[at + serial.len() - 1] ^= 0x01;
        Ok(tampered)
    }

    #[test]
    fn signing_input_is_the_documented_lines() {
        let input = signing_input(
            "counter-7",
            "q3Zl9sJ4b1Yc",
            "2025-06-01T09:30:00Z",
            &[b"abc".to_vec(), Vec::new()],
        );
        assert_eq!(
            String::from_utf8_lossy(&input),
            "onevisit-presentation-v1\n\
             counter-7\n\
             q3Zl9sJ4b1Yc\n\
             2025-06-01T09:30:00Z\n\
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // No credentials: the four header lines, still no trailing newline.
        assert_eq!(
            signing_input("a", "n", "t", &[]),
            b"onevisit-presentation-v1\na\nn\nt"
        );
    }

    #[test]
    fn the_signature_cache_changes_no_verdict() -> TestResult {
        let (pki, _, credentials, signature) = valid_presentation()?;
        let anchors = pki.anchors();
        let cache = SignatureCache::new(1024);
        let cached = |creds: &[Vec<u8>]| {
            check_presentation_cached(
                &anchors,
                Some(&cache),
                creds,
                AUDIENCE,
                NONCE,
                ISSUED_AT,
                &signature,
                now(),
            )
        };
        let first = cached(&credentials);
        assert!(first.is_valid(), "{first:#?}");
        // Two leaves and two issuing CAs.
        assert_eq!(cache.len(), 4);
        let again = cached(&credentials);
        assert!(again.is_valid());
        assert_eq!(cache.len(), 4);
        // A tampered credential misses the cache and fails as without it.
        let tampered = vec![tamper_tbs(&credentials[0])?, credentials[1].clone()];
        let with = cached(&tampered);
        let without = check_at(&anchors, &tampered, &signature, now());
        assert!(!with.is_valid());
        assert_eq!(with.credentials[0].errors, without.credentials[0].errors);
        assert!(has(&with.credentials[0].errors, codes::BAD_SIGNATURE));
        assert_eq!(cache.len(), 4, "failures are not remembered");
        Ok(())
    }

    #[test]
    fn a_vouched_signature_counts_for_its_key_only() -> TestResult {
        let (pki, _, credentials, signature) = valid_presentation()?;
        let anchors = pki.anchors();
        let cache = SignatureCache::new(1024);
        // A bad signature stands in for "not checked again": only the
        // vouch can make it pass.
        let tampered = vec![tamper_tbs(&credentials[0])?, credentials[1].clone()];
        let hash: [u8; 32] = Sha256::digest(&tampered[0]).into();
        let check = || {
            check_presentation_cached(
                &anchors,
                Some(&cache),
                &tampered,
                AUDIENCE,
                NONCE,
                ISSUED_AT,
                &signature,
                now(),
            )
        };
        assert!(has(&check().credentials[0].errors, codes::BAD_SIGNATURE));
        let spki = |c: &Certificate| c.tbs_certificate().subject_public_key_info().to_der();
        cache.vouch(&hash, &spki(&pki.licence_ca)?);
        assert!(
            has(&check().credentials[0].errors, codes::BAD_SIGNATURE),
            "vouched under another key"
        );
        cache.vouch(&hash, &spki(&pki.identity_ca)?);
        let vouched = check();
        assert!(vouched.credentials[0].chain_ok, "{vouched:#?}");
        Ok(())
    }

    #[test]
    fn a_valid_presentation_passes_every_check() -> TestResult {
        let (pki, holder, credentials, signature) = valid_presentation()?;
        let check = check_at(&pki.anchors(), &credentials, &signature, now());
        assert!(check.is_valid(), "{check:#?}");
        assert!(check.same_holder && check.holder_signature);
        assert!(check.errors.is_empty());
        assert_eq!(
            check.holder_spki_der,
            Some(holder.spki()?.to_der()?),
            "the common key"
        );
        assert_eq!(
            check.identity_id.as_deref(),
            Some("0f8fad5b-d9cb-469f-a165-70867728950e")
        );

        let [identity, licence] = check.credentials.as_slice() else {
            return Err("expected two verdicts".into());
        };
        for (verdict, der, ca) in [
            (identity, &credentials[0], &pki.identity_ca),
            (licence, &credentials[1], &pki.licence_ca),
        ] {
            let cert = Certificate::from_der(der)?;
            assert!(verdict.chain_ok && verdict.valid_now, "{verdict:?}");
            assert!(verdict.errors.is_empty() && verdict.is_valid());
            assert_eq!(
                verdict.serial,
                serial_hex(cert.tbs_certificate().serial_number())
            );
            assert_eq!(verdict.cert_sha256, sha256_fingerprint(der));
            assert_eq!(verdict.issuer_key_id, Some(hex::encode(issuer_key_id(ca)?)));
            assert_eq!(
                verdict.identity_id.as_deref(),
                Some("0f8fad5b-d9cb-469f-a165-70867728950e")
            );
        }
        assert_eq!(identity.kind, CredentialKind::Identity);
        assert_eq!(identity.license_type, None);
        assert_eq!(licence.kind, CredentialKind::License);
        assert_eq!(licence.license_type.as_deref(), Some("business"));
        assert_eq!(
            (identity.kind.as_str(), licence.kind.as_str()),
            ("identity", "license")
        );

        // A single credential is a presentation too.
        let one = vec![credentials[1].clone()];
        let check = check_at(&pki.anchors(), &one, &prove(&holder, &one)?, now());
        assert!(check.is_valid(), "{check:#?}");
        Ok(())
    }

    #[test]
    fn a_tampered_leaf_does_not_chain() -> TestResult {
        let (pki, holder, credentials, _) = valid_presentation()?;

        // A flipped bit in the signature (its last octet is part of s).
        let mut in_signature = credentials[0].clone();
        *in_signature.last_mut().ok_or("empty DER")? ^= 0x01;
        // A flipped bit in the TBS (the serial number).
        let in_tbs = tamper_tbs(&credentials[1])?;

        for tampered in [in_signature, in_tbs] {
            let presented = vec![tampered];
            let check = check_at(
                &pki.anchors(),
                &presented,
                &prove(&holder, &presented)?,
                now(),
            );
            let verdict = &check.credentials[0];
            assert!(!verdict.chain_ok, "{verdict:?}");
            assert_eq!(verdict.errors, ["bad-signature"]);
            assert!(verdict.valid_now);
            // The holder part is still judged on its own.
            assert!(check.same_holder && check.holder_signature);
            assert!(!check.is_valid());
        }
        Ok(())
    }

    #[test]
    fn a_certificate_from_another_root_is_untrusted() -> TestResult {
        let pki = Pki::new()?;
        // Someone's own root and CAs, with exactly the trusted names.
        let forger = Pki::new()?;
        let holder = software_signer();
        let credentials = vec![forger.identity(&holder)?, forger.licence(&holder)?];
        let check = check_at(
            &pki.anchors(),
            &credentials,
            &prove(&holder, &credentials)?,
            now(),
        );
        for verdict in &check.credentials {
            assert!(!verdict.chain_ok && verdict.valid_now, "{verdict:?}");
            assert_eq!(verdict.errors, ["untrusted-issuer"]);
        }
        assert!(check.same_holder && check.holder_signature);
        assert!(!check.is_valid());

        // The forger's issuing CA smuggled into the anchors without its root.
        let mut anchors = pki.anchors();
        anchors.push(anchor(&forger.identity_ca, false));
        let check = check_at(&anchors, &credentials[..1], &[], now());
        assert_eq!(check.credentials[0].errors, ["untrusted-root"]);

        // ... or with it marked as an issuing CA: a root is no issuing CA
        // (no pathLen 0) and is not signed by a trusted root.
        let mut anchors = pki.anchors();
        anchors.push(anchor(&forger.root, false));
        anchors.push(anchor(&forger.identity_ca, false));
        let check = check_at(&anchors, &credentials[..1], &[], now());
        assert_eq!(check.credentials[0].errors, ["untrusted-root"]);

        // A self-signed holder certificate: its issuer is itself.
        let self_signer = software_signer();
        let self_made = build_root(
            &self_signer,
            &ca_name("OneVisit Test Identity CA", "OneVisit Wallet")?,
            test_serial()?,
            now() - Duration::from_secs(60),
            now() + YEAR,
        )?;
        let check = check_at(&pki.anchors(), &[to_der(&self_made)?], &[], now());
        let verdict = &check.credentials[0];
        assert!(!verdict.chain_ok);
        for code in [
            "leaf-is-ca",
            "leaf-key-usage",
            "untrusted-issuer",
            "bad-subject",
        ] {
            assert!(has(&verdict.errors, code), "{code}: {verdict:?}");
        }
        Ok(())
    }

    #[test]
    fn only_the_issuing_cas_issue_credentials() -> TestResult {
        let pki = Pki::new()?;
        let holder = software_signer();
        // Issued straight by the trusted root.
        let req = sample_identity_request(holder.spki()?)?;
        let by_root = to_der(&build_identity_cert(&pki.root_signer, &pki.root, &req)?)?;
        let check = check_at(&pki.anchors(), std::slice::from_ref(&by_root), &[], now());
        assert_eq!(check.credentials[0].errors, ["untrusted-issuer"]);

        // ... even when the root is also listed as an issuing CA: it has
        // no pathLen 0.
        let mut anchors = pki.anchors();
        anchors.push(anchor(&pki.root, false));
        let check = check_at(&anchors, std::slice::from_ref(&by_root), &[], now());
        assert_eq!(check.credentials[0].errors, ["issuer-not-ca"]);

        // The root's own certificate, a trusted issuing CA's certificate.
        for ca in [&pki.root, &pki.identity_ca] {
            let check = check_at(&pki.anchors(), &[to_der(ca)?], &[], now());
            let verdict = &check.credentials[0];
            assert!(!verdict.chain_ok);
            assert!(has(&verdict.errors, "leaf-is-ca"), "{verdict:?}");
            assert!(has(&verdict.errors, "untrusted-issuer"), "{verdict:?}");
        }
        Ok(())
    }

    /// A trusted CA's signature on a certificate with an extension this
    /// verifier does not know, marked critical: built past the lint, which
    /// would refuse it.
    #[test]
    fn an_unknown_critical_extension_is_refused() -> TestResult {
        use x509_cert::{
            builder::{Builder, CertificateBuilder},
            ext::Extension,
        };

        let pki = Pki::new()?;
        let holder = software_signer();
        let good = Certificate::from_der(&pki.identity(&holder)?)?;
        let tbs = good.tbs_certificate();
        let mut extensions = tbs.extensions().cloned().unwrap_or_default();
        let build = |extensions: Vec<Extension>| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
            let profile = crate::holder::HolderBuilderProfile {
                subject: tbs.subject().clone(),
                issuer: tbs.issuer().clone(),
                extensions,
            };
            let builder =
                CertificateBuilder::new(profile, test_serial()?, *tbs.validity(), holder.spki()?)?;
            Ok(to_der(
                &builder.build::<_, DerSignature>(&pki.identity_signer)?,
            )?)
        };

        let unknown = Extension {
            extn_id: der::asn1::ObjectIdentifier::new("1.3.6.1.4.1.99999.1")?,
            critical: false,
            extn_value: der::asn1::OctetString::new(vec![0x05, 0x00])?,
        };
        extensions.push(unknown);
        let credentials = vec![build(extensions.clone())?];
        let check = check_at(&pki.anchors(), &credentials, &[], now());
        assert!(check.credentials[0].is_valid(), "non-critical is fine");

        if let Some(last) = extensions.last_mut() {
            last.critical = true;
        }
        let credentials = vec![build(extensions)?];
        let check = check_at(&pki.anchors(), &credentials, &[], now());
        let verdict = &check.credentials[0];
        assert!(!verdict.chain_ok);
        assert_eq!(verdict.errors, ["unknown-critical-extension"]);
        Ok(())
    }

    #[test]
    fn a_retired_issuing_ca_still_vouches() -> TestResult {
        let pki = Pki::new()?;
        let holder = software_signer();
        let old = pki.identity(&holder)?;
        // Rotation: a new identity CA key under the same name.
        let (new_ca, new_signer) = issuing_ca(&pki.root_signer, &pki.root, "Identity")?;
        let req = sample_identity_request(holder.spki()?)?;
        let new = to_der(&build_identity_cert(&new_signer, &new_ca, &req)?)?;

        let mut anchors = pki.anchors();
        anchors.push(anchor(&new_ca, false));
        let credentials = vec![old.clone(), new.clone()];
        let check = check_at(
            &anchors,
            &credentials,
            &prove(&holder, &credentials)?,
            now(),
        );
        assert!(check.is_valid(), "{check:#?}");

        // Without the retired CA, only the new certificate chains.
        let anchors = vec![anchor(&pki.root, true), anchor(&new_ca, false)];
        let check = check_at(
            &anchors,
            &credentials,
            &prove(&holder, &credentials)?,
            now(),
        );
        assert_eq!(check.credentials[0].errors, ["untrusted-issuer"]);
        assert!(check.credentials[1].is_valid());
        Ok(())
    }

    #[test]
    fn validity_is_judged_at_the_given_time() -> TestResult {
        let (pki, _, credentials, signature) = valid_presentation()?;
        let anchors = pki.anchors();

        // Leaves last a year, the issuing CAs five.
        let check = check_at(&anchors, &credentials, &signature, now() + 2 * YEAR);
        for verdict in &check.credentials {
            assert!(verdict.chain_ok && !verdict.valid_now, "{verdict:?}");
            assert_eq!(verdict.errors, ["expired"]);
        }
        assert!(check.same_holder && check.holder_signature && !check.is_valid());

        let check = check_at(&anchors, &credentials, &signature, now() + 6 * YEAR);
        assert_eq!(check.credentials[0].errors, ["expired", "issuer-expired"]);

        let check = check_at(&anchors, &credentials, &signature, now() - YEAR);
        assert_eq!(
            check.credentials[0].errors,
            ["not-yet-valid", "issuer-not-yet-valid"]
        );
        let check = check_at(&anchors, &credentials, &signature, UNIX_EPOCH - YEAR);
        assert!(!check.credentials[0].valid_now);

        // Both bounds are inclusive, to the second.
        let leaf = Certificate::from_der(&credentials[0])?;
        let validity = leaf.tbs_certificate().validity();
        let not_after = validity.not_after.to_system_time();
        let not_before = validity.not_before.to_system_time();
        for (at, valid) in [
            (not_before - Duration::from_secs(1), false),
            (not_before, true),
            (not_after + Duration::from_millis(999), true),
            (not_after + Duration::from_secs(1), false),
        ] {
            let check = check_at(&anchors, &credentials[..1], &[], at);
            assert_eq!(check.credentials[0].valid_now, valid, "{at:?}");
        }
        Ok(())
    }

    #[test]
    fn credentials_of_two_holders_are_refused() -> TestResult {
        let pki = Pki::new()?;
        let holder = software_signer();
        let other = software_signer();

        // Same identity id, different keys.
        let credentials = vec![pki.identity(&holder)?, pki.licence(&other)?];
        let check = check_at(
            &pki.anchors(),
            &credentials,
            &prove(&holder, &credentials)?,
            now(),
        );
        assert!(check.credentials.iter().all(CredentialCheck::is_valid));
        assert!(!check.same_holder && !check.holder_signature);
        assert_eq!(check.errors, ["holder-key-mismatch"]);
        assert_eq!(check.holder_spki_der, None);
        assert!(check.identity_id.is_some());
        assert!(!check.is_valid());

        // Same key, another identity id.
        let mut req = sample_licence_request(holder.spki()?)?;
        req.subject.identity_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7".into();
        let foreign = to_der(&build_licence_cert(
            &pki.licence_signer,
            &pki.licence_ca,
            &req,
        )?)?;
        let credentials = vec![pki.identity(&holder)?, foreign];
        let check = check_at(
            &pki.anchors(),
            &credentials,
            &prove(&holder, &credentials)?,
            now(),
        );
        assert!(check.credentials.iter().all(CredentialCheck::is_valid));
        assert!(!check.same_holder, "{check:#?}");
        assert_eq!(check.errors, ["identity-id-mismatch"]);
        assert_eq!(check.identity_id, None);
        // The key is common, so the proof is still checked.
        assert!(check.holder_signature && check.holder_spki_der.is_some());
        assert!(!check.is_valid());
        Ok(())
    }

    #[test]
    fn the_holder_signature_binds_every_field() -> TestResult {
        let (pki, holder, credentials, signature) = valid_presentation()?;
        let anchors = pki.anchors();
        let verify =
            |audience: &str, nonce: &str, issued_at: &str, creds: &[Vec<u8>], sig: &[u8]| {
                check_presentation(&anchors, creds, audience, nonce, issued_at, sig, now())
            };
        assert!(verify(AUDIENCE, NONCE, ISSUED_AT, &credentials, &signature).is_valid());

        // Another key signed.
        let thief = software_signer();
        let stolen = prove(&thief, &credentials)?;
        let reordered = vec![credentials[1].clone(), credentials[0].clone()];
        for check in [
            verify(AUDIENCE, NONCE, ISSUED_AT, &credentials, &stolen),
            verify("counter-8", NONCE, ISSUED_AT, &credentials, &signature),
            verify(
                AUDIENCE,
                "q3Zl9sJ4b1Yd",
                ISSUED_AT,
                &credentials,
                &signature,
            ),
            verify(
                AUDIENCE,
                NONCE,
                "2025-06-01T09:30:01Z",
                &credentials,
                &signature,
            ),
            verify(AUDIENCE, NONCE, ISSUED_AT, &reordered, &signature),
            verify(AUDIENCE, NONCE, ISSUED_AT, &credentials[..1], &signature),
        ] {
            assert!(check.same_holder && !check.holder_signature, "{check:#?}");
            assert_eq!(check.errors, ["bad-holder-signature"]);
            assert!(!check.is_valid());
        }

        // Not a DER signature at all; the raw r||s form.
        let input = signing_input(AUDIENCE, NONCE, ISSUED_AT, &credentials);
        let raw: p256::ecdsa::Signature = holder.into_key().try_sign(&input)?;
        for bad in [Vec::new(), b"garbage".to_vec(), raw.to_bytes().to_vec()] {
            let check = verify(AUDIENCE, NONCE, ISSUED_AT, &credentials, &bad);
            assert!(!check.holder_signature);
            assert_eq!(check.errors, ["malformed-holder-signature"]);
        }

        // A line break would let one field pose as two.
        let check = verify(
            "counter-7\nq3Zl9sJ4b1Yc",
            "",
            ISSUED_AT,
            &credentials,
            &signature,
        );
        assert!(!check.holder_signature);
        assert_eq!(check.errors, ["malformed-proof"]);
        Ok(())
    }

    #[test]
    fn a_high_s_holder_signature_is_accepted() -> TestResult {
        let pki = Pki::new()?;
        let holder = software_signer().high_s();
        let credentials = vec![pki.identity(&holder)?, pki.licence(&holder)?];
        let signature = prove(&holder, &credentials)?;
        let parsed = p256::ecdsa::Signature::from_der(&signature)?;
        assert_ne!(parsed.normalize_s(), parsed, "expected a high-S signature");

        let check = check_at(&pki.anchors(), &credentials, &signature, now());
        assert!(check.is_valid(), "{check:#?}");

        // High-S certificate signatures too (SoftHSM2 makes them).
        let root_signer = software_signer().high_s();
        let root = sample_root(&root_signer)?;
        let ca_signer = TestSigner::new_random().high_s();
        let ca = build_issuing_ca(
            &root_signer,
            &root,
            &ca_name("High-S CA", "OneVisit Wallet")?,
            ca_signer.spki()?,
            test_serial()?,
            now() - Duration::from_secs(60),
            now() + YEAR,
        )?;
        let leaf = build_licence_cert(&ca_signer, &ca, &sample_licence_request(holder.spki()?)?)?;
        assert!(external::signature_is_high_s(&leaf)?);
        assert!(external::signature_is_high_s(&ca)?);
        let credentials = vec![to_der(&leaf)?];
        let anchors = [anchor(&root, true), anchor(&ca, false)];
        let check = check_at(
            &anchors,
            &credentials,
            &prove(&holder, &credentials)?,
            now(),
        );
        assert!(check.is_valid(), "{check:#?}");
        Ok(())
    }

    #[test]
    fn garbage_is_a_verdict_not_a_panic() -> TestResult {
        let (pki, holder, credentials, _) = valid_presentation()?;
        let anchors = pki.anchors();
        let good = &credentials[0];
        let mut trailing = good.clone();
        trailing.push(0);
        for garbage in [
            Vec::new(),
            b"not a certificate".to_vec(),
            vec![0x30, 0x82, 0xff, 0xff],
            good[..good.len() / 2].to_vec(),
            trailing,
        ] {
            let presented = vec![good.clone(), garbage.clone()];
            let check = check_at(&anchors, &presented, &prove(&holder, &presented)?, now());
            let verdict = &check.credentials[1];
            assert_eq!(verdict.errors, ["malformed-certificate"]);
            assert!(!verdict.chain_ok && !verdict.valid_now);
            assert_eq!(verdict.kind, CredentialKind::Unknown);
            assert_eq!(verdict.serial, "");
            assert_eq!(verdict.cert_sha256, sha256_fingerprint(&garbage));
            assert!(check.credentials[0].is_valid());
            // No common holder can be known, so no proof is checked.
            assert!(!check.same_holder && !check.holder_signature);
            assert_eq!(check.errors, ["holder-unknown"]);
        }

        // Garbage trust anchors do no harm either.
        let check = check_at(&[], &credentials, &[], now());
        assert!(
            check
                .credentials
                .iter()
                .all(|c| c.errors == ["untrusted-issuer"])
        );
        Ok(())
    }

    #[test]
    fn the_size_of_a_presentation_is_bounded() -> TestResult {
        let (pki, holder, credentials, _) = valid_presentation()?;
        let anchors = pki.anchors();

        let nine = vec![credentials[0].clone(); MAX_CREDENTIALS + 1];
        let check = check_at(&anchors, &nine, &prove(&holder, &nine)?, now());
        assert_eq!(check.errors, ["too-many-credentials"]);
        assert!(check.credentials.is_empty() && !check.is_valid());

        let eight = vec![credentials[0].clone(); MAX_CREDENTIALS];
        let check = check_at(&anchors, &eight, &prove(&holder, &eight)?, now());
        assert!(check.is_valid(), "{check:#?}");

        let check = check_at(&anchors, &[], &[], now());
        assert_eq!(check.errors, ["no-credentials"]);
        assert!(!check.is_valid());

        let huge = vec![credentials[0].clone(), vec![0x30; MAX_CREDENTIAL_BYTES + 1]];
        let check = check_at(&anchors, &huge, &prove(&holder, &huge)?, now());
        assert_eq!(check.credentials[1].errors, ["credential-too-large"]);
        assert_eq!(check.errors, ["holder-unknown"]);
        Ok(())
    }
}
