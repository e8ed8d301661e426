//! RFC 6960 OCSP: the delegated responder certificate profile, request
//! parsing, and signed `BasicOCSPResponse`s, by a delegated responder or by
//! the CA itself (plus the unsigned error responses).
//!
//! The ASN.1 structures are defined here with `der`'s derives: the RustCrypto
//! `x509-ocsp` crate follows the older `der` 0.7 / `x509-cert` 0.2 line.
//!
//! A response goes through the same pipeline as a certificate or a CRL: the
//! `ResponseData` is built, encoded, decoded back and linted
//! ([`crate::lint`]); only a TBS that passes is handed to the responder's
//! signer, and the signature is verified under the responder certificate's
//! key before the DER is returned. The "responder" is either a delegated
//! responder ([`build_response`]) or the CA answering for itself
//! ([`build_response_by_ca`]), as a retired CA does: it may no longer
//! certify a new responder key, but must still answer for what it issued.
//!
//! Trusts nothing in a request: it is parsed as strict DER, bounded to
//! [`MAX_REQUEST_IDS`] CertIDs, and its signature (if any) is ignored, as
//! RFC 6960 allows. Trusts the caller for every answer (which status, since
//! when, why) and for choosing a responder certificate issued by the CA
//! each `good` or `revoked` answer is about (or that CA's own certificate);
//! the lint checks the issuer name hash of those answers against the
//! responder certificate's issuer (or, for the CA itself, the name and key
//! hashes against the CA's own). No I/O, no clock: every time is a
//! parameter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use const_oid::db::{
    rfc5280::ID_KP_OCSP_SIGNING,
    rfc5912::{ID_SHA_1, ID_SHA_256},
    rfc6960::{ID_PKIX_OCSP_BASIC, ID_PKIX_OCSP_NOCHECK, ID_PKIX_OCSP_NONCE},
};
use der::{
    Choice, DateTime, Decode, Encode, Enumerated, Sequence, Tag, Tagged,
    asn1::{Any, BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString},
    referenced::OwnedToRef,
};
use p256::ecdsa::VerifyingKey;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SignatureBitStringEncoding, SubjectPublicKeyInfoOwned};
use x509_cert::{
    Certificate,
    ext::{
        Extension, ToExtension,
        pkix::{
            AuthorityKeyIdentifier, BasicConstraints, CrlReason, ExtendedKeyUsage, KeyUsage,
            KeyUsages, SubjectKeyIdentifier,
        },
    },
    name::Name,
    serial_number::SerialNumber,
};

use crate::{
    CaSigner, CertError, LintFinding, LintReport,
    crl::RevocationReason,
    holder::HolderBuilderProfile,
    key_identifier,
    lint::{CertProfile, OcspResponderKind, check_issuer, issuer_key_id, lint_ocsp_response},
    signer::{Issuance, issue, sign_checked, signer_spki},
    validity::clamp_to_issuer,
};

/// Most CertIDs one request may ask about; more is a malformed request.
pub const MAX_REQUEST_IDS: usize = 16;

/// Longest nonce accepted, in octets (RFC 8954 2.1: a responder MUST reject
/// longer ones with malformedRequest).
pub const MAX_NONCE_LEN: usize = 32;

/// Why a request cannot be answered.
///
/// The text is for logs; the client only ever gets
/// [`error_response`]`(`[`OcspResponseStatus::MalformedRequest`]`)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// Not a DER `OCSPRequest` this responder can answer: bad DER, no or
    /// too many CertIDs, an unsupported CertID hash, a bad nonce, or an
    /// unknown critical extension.
    #[error("malformed OCSP request: {0}")]
    Malformed(String),
}

fn malformed(why: impl Into<String>) -> OcspError {
    OcspError::Malformed(why.into())
}

/// The hash algorithm of a CertID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OcspHash {
    /// SHA-1 (what RFC 6960 clients, OpenSSL included, send by default).
    Sha1,
    /// SHA-256.
    Sha256,
}

impl OcspHash {
    /// The algorithm's OID.
    #[must_use]
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => ID_SHA_1,
            Self::Sha256 => ID_SHA_256,
        }
    }

    /// Digest length in octets.
    #[must_use]
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// The digest of `data`.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// The hash named by a CertID's hashAlgorithm: SHA-1 or SHA-256, with
    /// parameters absent or NULL (both are in use).
    pub(crate) fn from_algorithm(algorithm: &AlgorithmIdentifierOwned) -> Option<Self> {
        let hash = match algorithm.oid {
            ID_SHA_1 => Self::Sha1,
            ID_SHA_256 => Self::Sha256,
            _ => return None,
        };
        match &algorithm.parameters {
            None => Some(hash),
            Some(p) if p.tag() == Tag::Null && p.value().is_empty() => Some(hash),
            Some(_) => None,
        }
    }
}

/// One CertID of a request (or made with [`CertIdRequest::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdRequest {
    /// The hash of `issuer_name_hash` and `issuer_key_hash`.
    pub hash: OcspHash,
    /// Hash of the issuer's subject DN (DER).
    pub issuer_name_hash: Vec<u8>,
    /// Hash of the issuer's subjectPublicKey BIT STRING content.
    pub issuer_key_hash: Vec<u8>,
    /// The certificate's serial number.
    pub serial: SerialNumber,
    /// The CertID's DER as received; the response echoes it byte for byte
    /// (clients compare CertIDs, and some compare the parameters too).
    pub raw: Vec<u8>,
}

impl CertIdRequest {
    /// The CertID of certificate `serial` of `issuer_cert`, hashed with
    /// `hash` and written as OpenSSL writes it (hash parameters NULL).
    ///
    /// # Errors
    /// [`CertError::Der`] if the issuer's name cannot be encoded.
    pub fn new(
        hash: OcspHash,
        issuer_cert: &Certificate,
        serial: SerialNumber,
    ) -> Result<Self, CertError> {
        let tbs = issuer_cert.tbs_certificate();
        let issuer_name_hash = hash.digest(&tbs.subject().to_der()?);
        let issuer_key_hash =
            hash.digest(tbs.subject_public_key_info().subject_public_key.raw_bytes());
        let der = CertIdDer {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: hash.oid(),
                parameters: Some(Any::encode_from(&Null)?),
            },
            issuer_name_hash: OctetString::new(issuer_name_hash.clone())?,
            issuer_key_hash: OctetString::new(issuer_key_hash.clone())?,
            serial_number: serial.clone(),
        };
        Ok(Self {
            hash,
            issuer_name_hash,
            issuer_key_hash,
            serial,
            raw: der.to_der()?,
        })
    }
}

/// What a request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    /// The CertIDs, in request order (1 to [`MAX_REQUEST_IDS`]).
    pub ids: Vec<CertIdRequest>,
    /// The id-pkix-ocsp-nonce extension's extnValue content (a DER OCTET
    /// STRING of 1 to [`MAX_NONCE_LEN`] octets, RFC 8954), to be echoed as
    /// is; `None` without the extension.
    pub nonce: Option<Vec<u8>>,
}

/// Parses a DER `OCSPRequest` (RFC 6960 4.1.1).
///
/// Accepted: version v1; any requestorName; 1 to [`MAX_REQUEST_IDS`]
/// CertIDs hashed with SHA-1 or SHA-256 (parameters absent or NULL), with
/// digests of the right length; an optional nonce (RFC 8954: an OCTET
/// STRING of 1 to [`MAX_NONCE_LEN`] octets); other extensions only when
/// non-critical (they are ignored). A signed request is accepted and its
/// signature ignored (RFC 6960 4.1.2 leaves checking it to the responder's
/// policy; this one answers anyone).
///
/// # Errors
/// [`OcspError::Malformed`] for anything else, including BER, trailing
/// bytes, and a serial number longer than 20 octets.
pub fn parse_request(der: &[u8]) -> Result<ParsedRequest, OcspError> {
    let request = OcspRequestDer::from_der(der)
        .map_err(|e| malformed(format!("not a DER OCSPRequest: {e}")))?;
    let tbs = request.tbs_request;
    match tbs.request_list.len() {
        0 => return Err(malformed("requestList is empty")),
        n if n > MAX_REQUEST_IDS => {
            return Err(malformed(format!(
                "{n} CertIDs, at most {MAX_REQUEST_IDS} per request"
            )));
        }
        _ => {}
    }
    let nonce = match &tbs.request_extensions {
        None => None,
        Some(extensions) => read_request_extensions(extensions)?,
    };
    let ids = tbs
        .request_list
        .into_iter()
        .enumerate()
        .map(|(i, request)| read_cert_id(i, request))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ParsedRequest { ids, nonce })
}

/// The nonce among the request extensions; an unknown critical extension
/// or a repeated one makes the request malformed.
fn read_request_extensions(extensions: &[Extension]) -> Result<Option<Vec<u8>>, OcspError> {
    let mut nonce = None;
    for (i, ext) in extensions.iter().enumerate() {
        if extensions[..i].iter().any(|e| e.extn_id == ext.extn_id) {
            return Err(malformed(format!(
                "request extension {} appears twice",
                ext.extn_id
            )));
        }
        if ext.extn_id == ID_PKIX_OCSP_NONCE {
            let value = ext.extn_value.as_bytes();
            if let Some(problem) = nonce_problem(value) {
                return Err(malformed(format!("nonce: {problem}")));
            }
            nonce = Some(value.to_vec());
        } else if ext.critical {
            return Err(malformed(format!(
                "unsupported critical request extension {}",
                ext.extn_id
            )));
        }
    }
    Ok(nonce)
}

/// Why `value` (a nonce extnValue content) is not an RFC 8954 nonce, if
/// it is not: a DER OCTET STRING of 1 to [`MAX_NONCE_LEN`] octets.
pub(crate) fn nonce_problem(value: &[u8]) -> Option<String> {
    match OctetString::from_der(value) {
        Err(e) => Some(format!("not a DER OCTET STRING (RFC 8954): {e}")),
        Ok(nonce) if nonce.as_bytes().is_empty() => Some("empty".into()),
        Ok(nonce) if nonce.as_bytes().len() > MAX_NONCE_LEN => Some(format!(
            "{} octets, at most {MAX_NONCE_LEN} (RFC 8954)",
            nonce.as_bytes().len()
        )),
        Ok(_) => None,
    }
}

fn read_cert_id(index: usize, request: RequestDer) -> Result<CertIdRequest, OcspError> {
    if let Some(ext) = request
        .single_request_extensions
        .iter()
        .flatten()
        .find(|e| e.critical)
    {
        return Err(malformed(format!(
            "request {index}: unsupported critical extension {}",
            ext.extn_id
        )));
    }
    let id = request.req_cert;
    let hash = OcspHash::from_algorithm(&id.hash_algorithm).ok_or_else(|| {
        malformed(format!(
            "request {index}: CertID hash {} is not SHA-1 or SHA-256 (parameters absent or NULL)",
            id.hash_algorithm.oid
        ))
    })?;
    for (field, digest) in [
        ("issuerNameHash", &id.issuer_name_hash),
        ("issuerKeyHash", &id.issuer_key_hash),
    ] {
        if digest.as_bytes().len() != hash.digest_len() {
            return Err(malformed(format!(
                "request {index}: {field} has {} octets, {:?} has {}",
                digest.as_bytes().len(),
                hash,
                hash.digest_len()
            )));
        }
    }
    // Strict DER decoding, so this re-encoding is the bytes received.
    let raw = id
        .to_der()
        .map_err(|e| malformed(format!("request {index}: CertID: {e}")))?;
    Ok(CertIdRequest {
        hash,
        issuer_name_hash: id.issuer_name_hash.into_bytes().into_vec(),
        issuer_key_hash: id.issuer_key_hash.into_bytes().into_vec(),
        serial: id.serial_number,
        raw,
    })
}

/// Whether `id` names `issuer_cert` as the issuer: the name hash over the
/// issuer's subject DER and the key hash over its subjectPublicKey BIT
/// STRING content, both with the CertID's hash algorithm. The serial is not
/// looked at.
#[must_use]
pub fn matches_issuer(id: &CertIdRequest, issuer_cert: &Certificate) -> bool {
    let tbs = issuer_cert.tbs_certificate();
    let Ok(name) = tbs.subject().to_der() else {
        return false;
    };
    id.hash.digest(&name) == id.issuer_name_hash
        && id
            .hash
            .digest(tbs.subject_public_key_info().subject_public_key.raw_bytes())
            == id.issuer_key_hash
}

/// The status of one certificate, as the responder asserts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertStatus {
    /// Issued by this CA and not revoked.
    Good,
    /// Revoked at `at` (written in whole seconds) for `reason`. `None` and
    /// [`RevocationReason::Unspecified`] are both written without a
    /// revocationReason (as in CRLs, RFC 5280 5.3.1).
    /// [`RevocationReason::CertificateHold`] is refused by the lint: this CA
    /// never suspends certificates.
    Revoked {
        /// When it was revoked; not after the answer's `this_update`.
        at: SystemTime,
        /// Why.
        reason: Option<RevocationReason>,
    },
    /// Not known to be issued by this CA (RFC 6960 2.2).
    Unknown,
}

/// One answer of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleAnswer {
    /// The CertID asked about; its `raw` DER is echoed.
    pub id: CertIdRequest,
    /// The status.
    pub status: CertStatus,
    /// When the status was last known to be correct; not after producedAt.
    pub this_update: SystemTime,
    /// When newer information will be available; not before `this_update`.
    pub next_update: SystemTime,
}

/// The non-successful response statuses this responder sends (RFC 6960
/// 4.2.1); `successful` responses come from [`build_response`] and
/// [`build_response_by_ca`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OcspResponseStatus {
    /// `malformedRequest` (1): the request did not parse.
    MalformedRequest,
    /// `internalError` (2): the responder is in an inconsistent state.
    InternalError,
    /// `tryLater` (3): the responder cannot answer now (HSM or database
    /// unavailable).
    TryLater,
    /// `unauthorized` (6): the responder does not answer for this issuer.
    Unauthorized,
}

impl OcspResponseStatus {
    /// The OCSPResponseStatus code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::MalformedRequest => 1,
            Self::InternalError => 2,
            Self::TryLater => 3,
            Self::Unauthorized => 6,
        }
    }
}

/// An unsuccessful `OCSPResponse`: the status alone, no responseBytes
/// (RFC 6960 4.2.1), unsigned. `MalformedRequest` is `30 03 0a 01 01`.
#[must_use]
pub fn error_response(status: OcspResponseStatus) -> Vec<u8> {
    // SEQUENCE { ENUMERATED code }: fixed five octets, written directly.
    vec![0x30, 0x03, 0x0a, 0x01, status.code()]
}

/// Builds and signs a delegated OCSP responder certificate (RFC 6960
/// 4.2.2.2) for `responder_spki`, issued by the issuing CA `issuer_cert`
/// whose key `issuer_signer` holds.
///
/// Profile: v3, ecdsa-with-SHA256, issuer = the CA's subject, subject as
/// given (e.g. [`crate::ca_name`]); extensions in this order:
/// basicConstraints CA:FALSE (critical), keyUsage digitalSignature
/// (critical), extendedKeyUsage id-kp-OCSPSigning, id-pkix-ocsp-nocheck
/// (NULL), SKI (method 1), AKI (the issuer's SKI), all but the first two
/// non-critical. The validity is clamped into the issuer's
/// ([`clamp_to_issuer`]).
///
/// With id-pkix-ocsp-nocheck relying parties never check this certificate's
/// revocation, so a compromised responder key is trusted until the
/// certificate expires: keep the validity short and renew often.
///
/// # Errors
/// [`CertError::IssuerNotCa`] if `issuer_cert` cannot issue certificates;
/// [`CertError::SignerMismatch`] if `issuer_signer` is not `issuer_cert`'s
/// key; [`CertError::Lint`] (nothing signed) if the TBS breaks the profile,
/// e.g. an empty subject, the issuer's own name or key, or an empty validity
/// after clamping; [`CertError::InvalidValidity`] for times that cannot be
/// encoded; [`CertError::Signer`] / [`CertError::SignatureSelfCheck`] from
/// signing.
pub fn build_responder_cert<S: CaSigner>(
    issuer_signer: &S,
    issuer_cert: &Certificate,
    subject: &Name,
    responder_spki: SubjectPublicKeyInfoOwned,
    serial: SerialNumber,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Certificate, CertError> {
    check_issuer(issuer_cert, CertProfile::OcspResponder)?;
    let basic = BasicConstraints {
        ca: false,
        path_len_constraint: None,
    };
    let usage = KeyUsage(KeyUsages::DigitalSignature.into());
    let extended = ExtendedKeyUsage(vec![ID_KP_OCSP_SIGNING]);
    let no_check = Extension {
        extn_id: ID_PKIX_OCSP_NOCHECK,
        critical: false,
        extn_value: OctetString::new(Null.to_der()?)?,
    };
    let ski = SubjectKeyIdentifier(OctetString::new(key_identifier(&responder_spki).to_vec())?);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(issuer_key_id(issuer_cert)?)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let extensions = vec![
        (true, &basic).to_extension(subject, &[])?,
        (true, &usage).to_extension(subject, &[])?,
        (false, &extended).to_extension(subject, &[])?,
        no_check,
        (false, &ski).to_extension(subject, &[])?,
        (false, &aki).to_extension(subject, &[])?,
    ];
    issue(
        issuer_signer,
        Issuance {
            // Not a holder certificate, but the same shape: a fixed subject,
            // issuer and extension list.
            builder_profile: HolderBuilderProfile {
                subject: subject.clone(),
                issuer: issuer_cert.tbs_certificate().subject().clone(),
                extensions,
            },
            lint_profile: CertProfile::OcspResponder,
            issuer: Some(issuer_cert),
            subject_root: None,
            serial,
            validity: clamp_to_issuer(not_before, not_after, issuer_cert)?,
            subject_spki: responder_spki,
        },
    )
}

/// Builds and signs a successful `OCSPResponse` holding a
/// `BasicOCSPResponse` (RFC 6960 4.2.1), returned as DER.
///
/// Profile: ResponseData v1 with responderID byKey (SHA-1 of the responder
/// certificate's key), producedAt = `produced_at`, one SingleResponse per
/// answer in the order given, each with its CertID's received DER, the
/// status (revocationReason omitted for `None` and `unspecified`),
/// thisUpdate and nextUpdate; responseExtensions = the nonce alone
/// (non-critical, extnValue content `nonce` as is) when `nonce` is given,
/// else absent. All times are GeneralizedTime in whole seconds. Signed with
/// ecdsa-with-SHA256; `certs` = `[responder_cert]`.
///
/// # Errors
/// [`CertError::SignerMismatch`] if `responder_signer` is not
/// `responder_cert`'s key; [`CertError::Der`] if an answer's `raw` is not
/// a DER CertID; [`CertError::InvalidValidity`] for a time before 1970 or
/// after 9999; [`CertError::Lint`] (nothing signed) if the response breaks
/// the profile: no answers, `next_update < this_update`, `this_update`
/// after `produced_at`, a revocation after `this_update`, a certificateHold
/// reason, a CertID whose fields differ from its `raw` or whose hash is not
/// SHA-1/SHA-256, a `good` or `revoked` answer whose issuer name hash is not
/// the responder certificate's issuer's, a nonce that is not a DER OCTET
/// STRING of 1 to 32 octets, or a responder certificate without
/// id-kp-OCSPSigning or not valid at `produced_at`; [`CertError::Signer`] /
/// [`CertError::SignatureSelfCheck`] from signing.
pub fn build_response<S: CaSigner>(
    responder_signer: &S,
    responder_cert: &Certificate,
    answers: &[SingleAnswer],
    nonce: Option<&[u8]>,
    produced_at: SystemTime,
) -> Result<Vec<u8>, CertError> {
    sign_response(
        responder_signer,
        responder_cert,
        OcspResponderKind::Delegated,
        answers,
        nonce,
        produced_at,
    )
}

/// Builds and signs a successful `OCSPResponse` like [`build_response`],
/// but signed by the CA itself (RFC 6960 4.2.2.2: the CA that issued the
/// certificates is an authorized responder). For a retired issuing CA: it
/// may sign no new certificate, so it cannot certify a responder key, yet
/// it must keep answering for the certificates it issued.
///
/// Profile: as [`build_response`], with responderID byKey = SHA-1 of
/// `ca_cert`'s key and `certs` absent: a relying party checks the response
/// against the issuer certificate it already holds (the one the CertID
/// names), so sending it again only adds bytes.
///
/// # Errors
/// [`CertError::SignerMismatch`] if `ca_signer` is not `ca_cert`'s key;
/// [`CertError::Der`] and [`CertError::InvalidValidity`] as for
/// [`build_response`]; [`CertError::Lint`] (nothing signed) for the same
/// response rules as [`build_response`], except that a `good` or `revoked`
/// answer must name `ca_cert` itself (issuer name hash of its subject and
/// issuer key hash of its key) and `ca_cert` must be a CA
/// (basicConstraints CA:TRUE, keyUsage keyCertSign) valid at `produced_at`,
/// with no extendedKeyUsage required; [`CertError::Signer`] /
/// [`CertError::SignatureSelfCheck`] from signing.
pub fn build_response_by_ca<S: CaSigner>(
    ca_signer: &S,
    ca_cert: &Certificate,
    answers: &[SingleAnswer],
    nonce: Option<&[u8]>,
    produced_at: SystemTime,
) -> Result<Vec<u8>, CertError> {
    sign_response(
        ca_signer,
        ca_cert,
        OcspResponderKind::Issuer,
        answers,
        nonce,
        produced_at,
    )
}

/// The one build-lint-sign pipeline behind [`build_response`] and
/// [`build_response_by_ca`]; `kind` picks the lint rules for
/// `responder_cert` and whether it goes into `certs`.
fn sign_response<S: CaSigner>(
    responder_signer: &S,
    responder_cert: &Certificate,
    kind: OcspResponderKind,
    answers: &[SingleAnswer],
    nonce: Option<&[u8]>,
    produced_at: SystemTime,
) -> Result<Vec<u8>, CertError> {
    // A signer with another key would sign a response that names one
    // responder and is signed by another: refuse before building.
    let responder_spki = responder_cert.tbs_certificate().subject_public_key_info();
    if &signer_spki(responder_signer)? != responder_spki {
        return Err(CertError::SignerMismatch);
    }

    let responses = answers
        .iter()
        .enumerate()
        .map(|(i, answer)| single_response(i, answer))
        .collect::<Result<Vec<_>, _>>()?;
    let response_extensions = match nonce {
        None => None,
        Some(nonce) => Some(vec![Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(nonce)?,
        }]),
    };
    let data = ResponseData {
        version: OcspVersion::V1,
        responder_id: ResponderId::ByKey(OctetString::new(
            key_identifier(responder_spki).to_vec(),
        )?),
        produced_at: generalized_time(produced_at)?,
        responses,
        response_extensions,
    };
    let signature_algorithm = responder_signer.signature_algorithm_identifier()?;

    let tbs_der = data.to_der()?;
    // Lint the bytes the signer will see, not the in-memory copy.
    let tbs = ResponseData::from_der(&tbs_der)?;
    lint_ocsp_response(&tbs, &signature_algorithm, responder_cert, kind)?;

    // Checked under the responder certificate's key: the one clients use.
    let responder_key = VerifyingKey::try_from(responder_spki.owned_to_ref()).map_err(|_| {
        CertError::UnsupportedAlgorithm(format!("responder key {}", responder_spki.algorithm.oid))
    })?;
    let signature = sign_checked(responder_signer, &tbs_der, &responder_key)?;
    let basic = BasicOcspResponseDer {
        tbs_response_data: tbs,
        signature_algorithm,
        signature: signature.to_bitstring()?,
        // A delegated responder's certificate is news to the client; the
        // CA's is what the client checks the CertID against already.
        certs: match kind {
            OcspResponderKind::Delegated => Some(vec![responder_cert.clone()]),
            OcspResponderKind::Issuer => None,
        },
    };
    let response = OcspResponseDer {
        response_status: ResponseStatusDer::Successful,
        response_bytes: Some(ResponseBytesDer {
            response_type: ID_PKIX_OCSP_BASIC,
            response: OctetString::new(basic.to_der()?)?,
        }),
    };
    Ok(response.to_der()?)
}

fn single_response(index: usize, answer: &SingleAnswer) -> Result<SingleResponseDer, CertError> {
    let id = &answer.id;
    let cert_id = CertIdDer::from_der(&id.raw)?;
    let consistent = OcspHash::from_algorithm(&cert_id.hash_algorithm) == Some(id.hash)
        && cert_id.issuer_name_hash.as_bytes() == id.issuer_name_hash.as_slice()
        && cert_id.issuer_key_hash.as_bytes() == id.issuer_key_hash.as_slice()
        && cert_id.serial_number == id.serial;
    if !consistent {
        return Err(CertError::Lint(LintReport {
            findings: vec![LintFinding {
                code: "ocsp.cert_id.raw_mismatch",
                detail: format!("answer {index}: the CertID fields differ from its raw DER"),
            }],
        }));
    }
    let cert_status = match answer.status {
        CertStatus::Good => CertStatusDer::Good(Null),
        CertStatus::Unknown => CertStatusDer::Unknown(Null),
        CertStatus::Revoked { at, reason } => CertStatusDer::Revoked(RevokedInfo {
            revocation_time: generalized_time(at)?,
            revocation_reason: reason
                .filter(|r| *r != RevocationReason::Unspecified)
                .map(RevocationReason::crl_reason),
        }),
    };
    Ok(SingleResponseDer {
        cert_id,
        cert_status,
        this_update: generalized_time(answer.this_update)?,
        next_update: Some(generalized_time(answer.next_update)?),
        single_extensions: None,
    })
}

/// GeneralizedTime for `at`, truncated to whole seconds (RFC 6960 uses
/// GeneralizedTime throughout; DER forbids a fraction of zero).
fn generalized_time(at: SystemTime) -> Result<GeneralizedTime, CertError> {
    let since_epoch = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CertError::InvalidValidity("time before 1970".into()))?;
    let date = DateTime::from_unix_duration(Duration::from_secs(since_epoch.as_secs()))
        .map_err(|e| CertError::InvalidValidity(format!("time out of range: {e}")))?;
    Ok(GeneralizedTime::from_date_time(date))
}

// The RFC 6960 ASN.1 module (explicitly tagged), as much as this responder
// reads and writes.

/// `Version ::= INTEGER { v1(0) }`
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Enumerated)]
#[asn1(type = "INTEGER")]
#[repr(u8)]
pub(crate) enum OcspVersion {
    #[default]
    V1 = 0,
}

/// ```text
/// OCSPRequest ::= SEQUENCE {
///    tbsRequest              TBSRequest,
///    optionalSignature   [0] EXPLICIT Signature OPTIONAL }
/// ```
/// The signature is kept undecoded: it is ignored.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct OcspRequestDer {
    pub(crate) tbs_request: TbsRequestDer,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) optional_signature: Option<Any>,
}

/// ```text
/// TBSRequest ::= SEQUENCE {
///    version             [0] EXPLICIT Version DEFAULT v1,
///    requestorName       [1] EXPLICIT GeneralName OPTIONAL,
///    requestList             SEQUENCE OF Request,
///    requestExtensions   [2] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct TbsRequestDer {
    #[asn1(
        context_specific = "0",
        tag_mode = "EXPLICIT",
        default = "Default::default"
    )]
    pub(crate) version: OcspVersion,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) requestor_name: Option<Any>,
    pub(crate) request_list: Vec<RequestDer>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) request_extensions: Option<Vec<Extension>>,
}

/// ```text
/// Request ::= SEQUENCE {
///    reqCert                     CertID,
///    singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct RequestDer {
    pub(crate) req_cert: CertIdDer,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) single_request_extensions: Option<Vec<Extension>>,
}

/// ```text
/// CertID ::= SEQUENCE {
///    hashAlgorithm       AlgorithmIdentifier,
///    issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///    issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///    serialNumber        CertificateSerialNumber }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct CertIdDer {
    pub(crate) hash_algorithm: AlgorithmIdentifierOwned,
    pub(crate) issuer_name_hash: OctetString,
    pub(crate) issuer_key_hash: OctetString,
    pub(crate) serial_number: SerialNumber,
}

/// ```text
/// OCSPResponseStatus ::= ENUMERATED {
///     successful (0), malformedRequest (1), internalError (2),
///     tryLater (3), sigRequired (5), unauthorized (6) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[repr(u8)]
pub(crate) enum ResponseStatusDer {
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    SigRequired = 5,
    Unauthorized = 6,
}

/// ```text
/// OCSPResponse ::= SEQUENCE {
///    responseStatus      OCSPResponseStatus,
///    responseBytes   [0] EXPLICIT ResponseBytes OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct OcspResponseDer {
    pub(crate) response_status: ResponseStatusDer,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) response_bytes: Option<ResponseBytesDer>,
}

/// ```text
/// ResponseBytes ::= SEQUENCE {
///    responseType        OBJECT IDENTIFIER,
///    response            OCTET STRING }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct ResponseBytesDer {
    pub(crate) response_type: ObjectIdentifier,
    pub(crate) response: OctetString,
}

/// ```text
/// BasicOCSPResponse ::= SEQUENCE {
///    tbsResponseData     ResponseData,
///    signatureAlgorithm  AlgorithmIdentifier,
///    signature           BIT STRING,
///    certs           [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct BasicOcspResponseDer {
    pub(crate) tbs_response_data: ResponseData,
    pub(crate) signature_algorithm: AlgorithmIdentifierOwned,
    pub(crate) signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) certs: Option<Vec<Certificate>>,
}

/// ```text
/// ResponseData ::= SEQUENCE {
///    version             [0] EXPLICIT Version DEFAULT v1,
///    responderID             ResponderID,
///    producedAt              GeneralizedTime,
///    responses               SEQUENCE OF SingleResponse,
///    responseExtensions  [1] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct ResponseData {
    #[asn1(
        context_specific = "0",
        tag_mode = "EXPLICIT",
        default = "Default::default"
    )]
    pub(crate) version: OcspVersion,
    pub(crate) responder_id: ResponderId,
    pub(crate) produced_at: GeneralizedTime,
    pub(crate) responses: Vec<SingleResponseDer>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) response_extensions: Option<Vec<Extension>>,
}

/// ```text
/// ResponderID ::= CHOICE {
///    byName  [1] Name,
///    byKey   [2] KeyHash }  -- KeyHash ::= OCTET STRING (SHA-1 of the key)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub(crate) enum ResponderId {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// ```text
/// SingleResponse ::= SEQUENCE {
///    certID                  CertID,
///    certStatus              CertStatus,
///    thisUpdate              GeneralizedTime,
///    nextUpdate          [0] EXPLICIT GeneralizedTime OPTIONAL,
///    singleExtensions    [1] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct SingleResponseDer {
    pub(crate) cert_id: CertIdDer,
    pub(crate) cert_status: CertStatusDer,
    pub(crate) this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) single_extensions: Option<Vec<Extension>>,
}

/// ```text
/// CertStatus ::= CHOICE {
///    good        [0] IMPLICIT NULL,
///    revoked     [1] IMPLICIT RevokedInfo,
///    unknown     [2] IMPLICIT UnknownInfo }  -- UnknownInfo ::= NULL
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub(crate) enum CertStatusDer {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// ```text
/// RevokedInfo ::= SEQUENCE {
///    revocationTime          GeneralizedTime,
///    revocationReason    [0] EXPLICIT CRLReason OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct RevokedInfo {
    pub(crate) revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) revocation_reason: Option<CrlReason>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        ffi::OsStr,
        fs,
        path::{Path, PathBuf},
        process::Command,
    };

    use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ID_SHA_384};
    use der::pem::LineEnding;
    use p256::{ecdsa::DerSignature, pkcs8::EncodePrivateKey};

    use crate::{
        ca_name,
        holder::build_identity_cert,
        lint::lint_certificate,
        test_support::{
            TestResult, TestSigner, YEAR, external, now, sample_identity_request, sample_issuing,
            sample_root, software_signer, test_serial,
        },
        to_der, to_pem, verify_signed_by,
    };

    const MINUTE: Duration = Duration::from_secs(60);
    const DAY: Duration = Duration::from_secs(24 * 3600);

    /// A root, an issuing CA, a delegated responder certified by it, and
    /// two holder certificates of the issuing CA.
    struct Pki {
        root: Certificate,
        root_signer: TestSigner,
        issuing: Certificate,
        issuing_signer: TestSigner,
        responder: Certificate,
        responder_signer: TestSigner,
        leaf: Certificate,
        other_leaf: Certificate,
    }

    fn responder_name() -> Result<Name, CertError> {
        ca_name("OneVisit OCSP Responder", "OneVisit Wallet")
    }

    fn pki() -> Result<Pki, CertError> {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let (issuing, issuing_signer) = sample_issuing(&root_signer, &root)?;
        let responder_signer = software_signer();
        let responder = build_responder_cert(
            &issuing_signer,
            &issuing,
            &responder_name()?,
            responder_signer.spki()?,
            test_serial()?,
            now() - MINUTE,
            now() + 30 * DAY,
        )?;
        let leaf = build_identity_cert(
            &issuing_signer,
            &issuing,
            &sample_identity_request(software_signer().spki()?)?,
        )?;
        let other_leaf = build_identity_cert(
            &issuing_signer,
            &issuing,
            &sample_identity_request(software_signer().spki()?)?,
        )?;
        Ok(Pki {
            root,
            root_signer,
            issuing,
            issuing_signer,
            responder,
            responder_signer,
            leaf,
            other_leaf,
        })
    }

    fn serial_of(cert: &Certificate) -> SerialNumber {
        cert.tbs_certificate().serial_number().clone()
    }

    fn answer(id: CertIdRequest, status: CertStatus) -> SingleAnswer {
        SingleAnswer {
            id,
            status,
            this_update: now() - Duration::from_secs(10),
            next_update: now() + DAY,
        }
    }

    fn good_answer(pki: &Pki) -> Result<SingleAnswer, CertError> {
        Ok(answer(
            CertIdRequest::new(OcspHash::Sha1, &pki.issuing, serial_of(&pki.leaf))?,
            CertStatus::Good,
        ))
    }

    /// The BasicOCSPResponse inside a successful response.
    fn basic_of(response: &[u8]) -> Result<BasicOcspResponseDer, Box<dyn std::error::Error>> {
        let response = OcspResponseDer::from_der(response)?;
        assert_eq!(response.response_status, ResponseStatusDer::Successful);
        let bytes = response.response_bytes.ok_or("no responseBytes")?;
        assert_eq!(bytes.response_type, ID_PKIX_OCSP_BASIC);
        Ok(BasicOcspResponseDer::from_der(bytes.response.as_bytes())?)
    }

    fn expect_lint<T: std::fmt::Debug>(result: Result<T, CertError>, code: &str) -> TestResult {
        match result {
            Err(CertError::Lint(report)) if report.has(code) => Ok(()),
            other => Err(format!("expected lint {code}, got {other:?}").into()),
        }
    }

    fn expect_malformed(der: &[u8], what: &str) -> TestResult {
        match parse_request(der) {
            Err(OcspError::Malformed(_)) => Ok(()),
            other => Err(format!("{what}: expected Malformed, got {other:?}").into()),
        }
    }

    /// `openssl` with these arguments: (success, stdout + stderr).
    fn openssl(args: &[&OsStr]) -> (bool, String) {
        wallet_testkit::run(Command::new("openssl").args(args))
    }

    fn arg(text: &str) -> &OsStr {
        OsStr::new(text)
    }

    fn write_pem(dir: &Path, name: &str, cert: &Certificate) -> Result<PathBuf, CertError> {
        let path = dir.join(format!("{name}.pem"));
        fs::write(&path, to_pem(cert)?).map_err(|e| CertError::InvalidName(e.to_string()))?;
        Ok(path)
    }

    /// `openssl ocsp <options> -issuer <issuer> -cert <each> <more> -reqout`:
    /// the DER request OpenSSL makes. Options such as the digest must come
    /// before the certificates; `more` may add `-serial` or `-cert` after.
    fn openssl_request(
        dir: &Path,
        label: &str,
        issuer: &Path,
        options: &[&OsStr],
        certs: &[&Path],
        more: &[&OsStr],
    ) -> Result<(PathBuf, Vec<u8>), Box<dyn std::error::Error>> {
        let out = dir.join(format!("{label}.req.der"));
        let mut args = vec![arg("ocsp")];
        args.extend_from_slice(options);
        args.extend([arg("-issuer"), issuer.as_os_str()]);
        for cert in certs {
            args.extend([arg("-cert"), cert.as_os_str()]);
        }
        args.extend_from_slice(more);
        args.extend([arg("-reqout"), out.as_os_str()]);
        let (ok, text) = openssl(&args);
        if !ok {
            return Err(format!("openssl ocsp -reqout failed: {text}").into());
        }
        let der = fs::read(&out)?;
        Ok((out, der))
    }

    /// What the test below checks OpenSSL against.
    struct Files {
        root: PathBuf,
        issuing: PathBuf,
        leaf: PathBuf,
        other_leaf: PathBuf,
    }

    fn files(dir: &Path, pki: &Pki) -> Result<Files, CertError> {
        Ok(Files {
            root: write_pem(dir, "root", &pki.root)?,
            issuing: write_pem(dir, "issuing", &pki.issuing)?,
            leaf: write_pem(dir, "leaf", &pki.leaf)?,
            other_leaf: write_pem(dir, "other-leaf", &pki.other_leaf)?,
        })
    }

    /// `openssl ocsp -respin` checking the response against the root, with
    /// the issuing CA as an untrusted intermediate for the responder's
    /// chain, plus `args`.
    fn openssl_check(files: &Files, response: &Path, args: &[&OsStr]) -> (bool, String) {
        let mut all = vec![
            arg("ocsp"),
            arg("-respin"),
            response.as_os_str(),
            arg("-CAfile"),
            files.root.as_os_str(),
            arg("-verify_other"),
            files.issuing.as_os_str(),
        ];
        all.extend_from_slice(args);
        openssl(&all)
    }

    #[test]
    fn error_responses_are_the_bare_status() {
        assert_eq!(
            error_response(OcspResponseStatus::MalformedRequest),
            [0x30, 0x03, 0x0a, 0x01, 0x01]
        );
        for (status, code) in [
            (OcspResponseStatus::InternalError, 2u8),
            (OcspResponseStatus::TryLater, 3),
            (OcspResponseStatus::Unauthorized, 6),
        ] {
            let der = error_response(status);
            assert_eq!(der, [0x30, 0x03, 0x0a, 0x01, code]);
            let decoded = OcspResponseDer::from_der(&der).map_err(|e| e.to_string());
            assert!(
                decoded.is_ok_and(|r| r.response_bytes.is_none()),
                "{status:?}"
            );
        }
    }

    #[test]
    fn responder_cert_has_the_profile_extensions() -> TestResult {
        let pki = pki()?;
        let cert = crate::from_der(&to_der(&pki.responder)?)?;
        let tbs = cert.tbs_certificate();
        assert_eq!(tbs.issuer(), pki.issuing.tbs_certificate().subject());
        assert_eq!(tbs.subject(), &responder_name()?);
        assert_eq!(tbs.subject_public_key_info(), &pki.responder_signer.spki()?);
        assert_eq!(tbs.signature().oid, ECDSA_WITH_SHA_256);
        let summary: Vec<_> = tbs
            .extensions()
            .into_iter()
            .flatten()
            .map(|e| (e.extn_id, e.critical))
            .collect();
        assert_eq!(
            summary,
            [
                (<BasicConstraints as const_oid::AssociatedOid>::OID, true),
                (<KeyUsage as const_oid::AssociatedOid>::OID, true),
                (<ExtendedKeyUsage as const_oid::AssociatedOid>::OID, false),
                (ID_PKIX_OCSP_NOCHECK, false),
                (
                    <SubjectKeyIdentifier as const_oid::AssociatedOid>::OID,
                    false
                ),
                (
                    <AuthorityKeyIdentifier as const_oid::AssociatedOid>::OID,
                    false
                ),
            ]
        );
        let Some((_, bc)) = tbs.get_extension::<BasicConstraints>()? else {
            return Err("basicConstraints missing".into());
        };
        assert!(!bc.ca && bc.path_len_constraint.is_none());
        let Some((_, ku)) = tbs.get_extension::<KeyUsage>()? else {
            return Err("keyUsage missing".into());
        };
        assert_eq!(
            ku.0,
            der::flagset::FlagSet::from(KeyUsages::DigitalSignature)
        );
        let Some((_, eku)) = tbs.get_extension::<ExtendedKeyUsage>()? else {
            return Err("extendedKeyUsage missing".into());
        };
        assert_eq!(eku.0, [ID_KP_OCSP_SIGNING]);
        let no_check = tbs
            .extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id == ID_PKIX_OCSP_NOCHECK)
            .ok_or("nocheck missing")?;
        assert_eq!(no_check.extn_value.as_bytes(), [0x05, 0x00]);
        let Some((_, ski)) = tbs.get_extension::<SubjectKeyIdentifier>()? else {
            return Err("SKI missing".into());
        };
        assert_eq!(
            ski.0.as_bytes(),
            key_identifier(&pki.responder_signer.spki()?)
        );
        let Some((_, aki)) = tbs.get_extension::<AuthorityKeyIdentifier>()? else {
            return Err("AKI missing".into());
        };
        assert_eq!(
            aki.key_identifier.map(|k| k.as_bytes().to_vec()),
            Some(issuer_key_id(&pki.issuing)?)
        );

        verify_signed_by(&cert, &pki.issuing)?;
        lint_certificate(&cert, CertProfile::OcspResponder, Some(&pki.issuing))?;
        assert_eq!(
            pki.responder_signer.calls(),
            0,
            "responder key signed nothing"
        );
        Ok(())
    }

    #[test]
    fn responder_validity_is_clamped_into_the_issuers() -> TestResult {
        let pki = pki()?;
        let window = pki.issuing.tbs_certificate().validity();
        let cert = build_responder_cert(
            &pki.issuing_signer,
            &pki.issuing,
            &responder_name()?,
            software_signer().spki()?,
            test_serial()?,
            window.not_before.to_system_time() - YEAR,
            window.not_after.to_system_time() + YEAR,
        )?;
        let validity = cert.tbs_certificate().validity();
        assert_eq!(validity.not_before, window.not_before);
        assert_eq!(validity.not_after, window.not_after);
        Ok(())
    }

    #[test]
    fn bad_responder_certs_are_never_signed() -> TestResult {
        let pki = pki()?;
        let calls = pki.issuing_signer.calls();
        // The issuing CA's own key and name.
        expect_lint(
            build_responder_cert(
                &pki.issuing_signer,
                &pki.issuing,
                pki.issuing.tbs_certificate().subject(),
                pki.issuing_signer.spki()?,
                test_serial()?,
                now(),
                now() + DAY,
            ),
            "spki.same_as_issuer",
        )?;
        expect_lint(
            build_responder_cert(
                &pki.issuing_signer,
                &pki.issuing,
                pki.issuing.tbs_certificate().subject(),
                software_signer().spki()?,
                test_serial()?,
                now(),
                now() + DAY,
            ),
            "subject.same_as_issuer",
        )?;
        expect_lint(
            build_responder_cert(
                &pki.issuing_signer,
                &pki.issuing,
                &Name::default(),
                software_signer().spki()?,
                test_serial()?,
                now(),
                now() + DAY,
            ),
            "subject.empty",
        )?;
        expect_lint(
            build_responder_cert(
                &pki.issuing_signer,
                &pki.issuing,
                &responder_name()?,
                software_signer().spki()?,
                test_serial()?,
                now(),
                now() - DAY,
            ),
            "validity.order",
        )?;
        assert_eq!(pki.issuing_signer.calls(), calls);

        // An end entity cannot certify a responder; a wrong key is refused.
        let result = build_responder_cert(
            &pki.responder_signer,
            &pki.responder,
            &ca_name("Sub Responder", "OneVisit Wallet")?,
            software_signer().spki()?,
            test_serial()?,
            now(),
            now() + DAY,
        );
        assert!(
            matches!(result, Err(CertError::IssuerNotCa(_))),
            "{result:?}"
        );
        let impostor = software_signer();
        let result = build_responder_cert(
            &impostor,
            &pki.issuing,
            &responder_name()?,
            software_signer().spki()?,
            test_serial()?,
            now(),
            now() + DAY,
        );
        assert!(
            matches!(result, Err(CertError::SignerMismatch)),
            "{result:?}"
        );
        assert_eq!(impostor.calls() + pki.responder_signer.calls(), 0);

        // Other profiles are not responder certificates, and the reverse.
        let Err(CertError::Lint(report)) =
            lint_certificate(&pki.leaf, CertProfile::OcspResponder, Some(&pki.issuing))
        else {
            return Err("an identity certificate is not a responder certificate".into());
        };
        for code in [
            "eku.purposes",
            "ocsp_nocheck.missing",
            "extensions.unexpected",
        ] {
            assert!(report.has(code), "{code} missing: {report}");
        }
        let Err(CertError::Lint(report)) =
            lint_certificate(&pki.responder, CertProfile::Identity, Some(&pki.issuing))
        else {
            return Err("a responder certificate is not an identity certificate".into());
        };
        assert!(report.has("eku.purposes"), "{report}");
        Ok(())
    }

    /// The responder certificate, checked by tools we did not write.
    #[test]
    fn openssl_and_pkilint_accept_the_responder_cert() -> TestResult {
        let dir = tempfile::tempdir()?;
        let pki = pki()?;
        external::check_leaf(
            dir.path(),
            "responder",
            &pki.root,
            &pki.issuing,
            &pki.responder,
        )?;
        let pem = write_pem(dir.path(), "responder-text", &pki.responder)?;
        let (ok, text) = openssl(&[
            arg("x509"),
            arg("-noout"),
            arg("-text"),
            arg("-in"),
            pem.as_os_str(),
        ]);
        assert!(ok, "{text}");
        assert!(text.contains("OCSP Signing"), "{text}");
        assert!(text.contains("OCSP No Check"), "{text}");
        assert!(text.contains("CA:FALSE"), "{text}");
        Ok(())
    }

    #[test]
    fn parses_openssl_requests() -> TestResult {
        let dir = tempfile::tempdir()?;
        let pki = pki()?;
        let files = files(dir.path(), &pki)?;
        let serial = serial_of(&pki.leaf);

        for (label, extra, hash, with_nonce) in [
            ("sha1-nonce", &[][..], OcspHash::Sha1, true),
            ("sha1", &[arg("-no_nonce")][..], OcspHash::Sha1, false),
            (
                "sha256-nonce",
                &[arg("-sha256")][..],
                OcspHash::Sha256,
                true,
            ),
        ] {
            let (_, der) = openssl_request(
                dir.path(),
                label,
                &files.issuing,
                extra,
                &[&files.leaf],
                &[],
            )?;
            let parsed = parse_request(&der)?;
            let [id] = parsed.ids.as_slice() else {
                return Err(format!("{label}: {} ids", parsed.ids.len()).into());
            };
            assert_eq!(id.hash, hash, "{label}");
            assert_eq!(id.serial, serial, "{label}");
            assert!(matches_issuer(id, &pki.issuing), "{label}");
            assert!(!matches_issuer(id, &pki.root), "{label}");
            // The raw CertID is the bytes OpenSSL sent, and OpenSSL writes
            // it the way CertIdRequest::new does.
            assert!(der.windows(id.raw.len()).any(|w| w == id.raw), "{label}");
            assert_eq!(
                id,
                &CertIdRequest::new(hash, &pki.issuing, serial.clone())?,
                "{label}"
            );
            match &parsed.nonce {
                // OpenSSL's default: 16 random octets in an OCTET STRING.
                Some(nonce) if with_nonce => {
                    assert_eq!(nonce.len(), 18, "{label}");
                    assert_eq!(&nonce[..2], [0x04, 0x10], "{label}");
                }
                None if !with_nonce => {}
                other => return Err(format!("{label}: nonce {other:?}").into()),
            }
        }

        // Several certificates and a bare serial: request order is kept.
        let unknown_serial = test_serial()?;
        let unknown_hex = hex::encode(unknown_serial.as_bytes());
        let (_, der) = openssl_request(
            dir.path(),
            "three",
            &files.issuing,
            &[],
            &[&files.other_leaf],
            &[
                arg("-serial"),
                arg(&format!("0x{unknown_hex}")),
                arg("-cert"),
                files.leaf.as_os_str(),
            ],
        )?;
        let parsed = parse_request(&der)?;
        let serials: Vec<_> = parsed.ids.iter().map(|id| id.serial.clone()).collect();
        assert_eq!(
            serials,
            [serial_of(&pki.other_leaf), unknown_serial, serial.clone()]
        );

        // A signed request: accepted, its signature ignored.
        let key_pem = dir.path().join("requester.key");
        fs::write(
            &key_pem,
            pki.responder_signer
                .into_key()
                .to_pkcs8_pem(LineEnding::LF)?
                .as_bytes(),
        )?;
        let requester = write_pem(dir.path(), "requester", &pki.responder)?;
        let (_, der) = openssl_request(
            dir.path(),
            "signed",
            &files.issuing,
            &[
                arg("-signer"),
                requester.as_os_str(),
                arg("-signkey"),
                key_pem.as_os_str(),
            ],
            &[&files.leaf],
            &[],
        )?;
        assert!(OcspRequestDer::from_der(&der)?.optional_signature.is_some());
        let parsed = parse_request(&der)?;
        assert_eq!(parsed.ids.len(), 1);
        assert!(parsed.nonce.is_some());
        Ok(())
    }

    /// A request made from parts, for the cases OpenSSL will not produce.
    fn request_der(
        ids: Vec<CertIdDer>,
        extensions: Option<Vec<Extension>>,
    ) -> Result<Vec<u8>, der::Error> {
        OcspRequestDer {
            tbs_request: TbsRequestDer {
                version: OcspVersion::V1,
                requestor_name: None,
                request_list: ids
                    .into_iter()
                    .map(|req_cert| RequestDer {
                        req_cert,
                        single_request_extensions: None,
                    })
                    .collect(),
                request_extensions: extensions,
            },
            optional_signature: None,
        }
        .to_der()
    }

    fn nonce_extension(value: &[u8], critical: bool) -> Result<Extension, der::Error> {
        Ok(Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical,
            extn_value: OctetString::new(value)?,
        })
    }

    #[test]
    fn garbage_and_unsupported_requests_are_malformed() -> TestResult {
        let pki = pki()?;
        let id = CertIdRequest::new(OcspHash::Sha256, &pki.issuing, serial_of(&pki.leaf))?;
        let cert_id = CertIdDer::from_der(&id.raw)?;
        let good = request_der(vec![cert_id.clone()], None)?;
        assert_eq!(parse_request(&good)?.ids, std::slice::from_ref(&id));

        expect_malformed(b"", "empty")?;
        expect_malformed(b"GET / HTTP/1.1\r\n\r\n", "text")?;
        expect_malformed(&[0x30, 0x80, 0x00, 0x00], "BER indefinite length")?;
        expect_malformed(&good[..good.len() - 1], "truncated")?;
        let mut trailing = good.clone();
        trailing.push(0);
        expect_malformed(&trailing, "trailing byte")?;
        expect_malformed(&to_der(&pki.leaf)?, "a certificate")?;
        expect_malformed(&error_response(OcspResponseStatus::TryLater), "a response")?;

        expect_malformed(&request_der(Vec::new(), None)?, "no CertIDs")?;
        let sixteen = request_der(vec![cert_id.clone(); MAX_REQUEST_IDS], None)?;
        assert_eq!(parse_request(&sixteen)?.ids.len(), MAX_REQUEST_IDS);
        let seventeen = request_der(vec![cert_id.clone(); MAX_REQUEST_IDS + 1], None)?;
        expect_malformed(&seventeen, "seventeen CertIDs")?;

        let mut sha384 = cert_id.clone();
        sha384.hash_algorithm.oid = ID_SHA_384;
        expect_malformed(&request_der(vec![sha384], None)?, "SHA-384")?;
        let mut odd_params = cert_id.clone();
        odd_params.hash_algorithm.parameters = Some(Any::encode_from(&OctetString::new([1u8])?)?);
        expect_malformed(&request_der(vec![odd_params], None)?, "hash parameters")?;
        let mut no_params = cert_id.clone();
        no_params.hash_algorithm.parameters = None;
        let parsed = parse_request(&request_der(vec![no_params.clone()], None)?)?;
        assert_eq!(
            parsed.ids[0].raw,
            no_params.to_der()?,
            "absent parameters echoed as sent"
        );
        let mut short = cert_id.clone();
        short.issuer_key_hash = OctetString::new([0u8; 20])?;
        expect_malformed(
            &request_der(vec![short], None)?,
            "SHA-1 length under SHA-256",
        )?;

        // Nonces: RFC 8954 form and length.
        let nonce_of = |len: usize| OctetString::new(vec![7u8; len])?.to_der();
        for (len, ok) in [(1, true), (16, true), (32, true), (0, false), (33, false)] {
            let der = request_der(
                vec![cert_id.clone()],
                Some(vec![nonce_extension(&nonce_of(len)?, false)?]),
            )?;
            match (parse_request(&der), ok) {
                (Ok(parsed), true) => assert_eq!(parsed.nonce, Some(nonce_of(len)?)),
                (Err(OcspError::Malformed(_)), false) => {}
                (other, _) => return Err(format!("nonce of {len}: {other:?}").into()),
            }
        }
        let raw_nonce = request_der(
            vec![cert_id.clone()],
            Some(vec![nonce_extension(&[7u8; 16], false)?]),
        )?;
        expect_malformed(&raw_nonce, "nonce without its OCTET STRING")?;
        let twice = request_der(
            vec![cert_id.clone()],
            Some(vec![
                nonce_extension(&nonce_of(16)?, false)?,
                nonce_extension(&nonce_of(16)?, false)?,
            ]),
        )?;
        expect_malformed(&twice, "two nonces")?;

        // Unknown extensions: ignored unless critical.
        let unknown = |critical| -> Result<Extension, der::Error> {
            Ok(Extension {
                extn_id: const_oid::db::rfc6960::ID_PKIX_OCSP_PREF_SIG_ALGS,
                critical,
                extn_value: OctetString::new(Null.to_der()?)?,
            })
        };
        let lenient = request_der(vec![cert_id.clone()], Some(vec![unknown(false)?]))?;
        assert_eq!(parse_request(&lenient)?.nonce, None);
        let critical = request_der(vec![cert_id.clone()], Some(vec![unknown(true)?]))?;
        expect_malformed(&critical, "unknown critical extension")?;
        let mut single = OcspRequestDer::from_der(&good)?;
        single.tbs_request.request_list[0].single_request_extensions = Some(vec![unknown(true)?]);
        expect_malformed(&single.to_der()?, "unknown critical single extension")?;
        Ok(())
    }

    #[test]
    fn matches_issuer_needs_both_name_and_key() -> TestResult {
        let pki = pki()?;
        for hash in [OcspHash::Sha1, OcspHash::Sha256] {
            let id = CertIdRequest::new(hash, &pki.issuing, serial_of(&pki.leaf))?;
            assert!(matches_issuer(&id, &pki.issuing));
            assert!(!matches_issuer(&id, &pki.root));
            // Same name, another key (a rotated CA).
            let (twin, _) = sample_issuing(&pki.root_signer, &pki.root)?;
            assert_eq!(
                twin.tbs_certificate().subject(),
                pki.issuing.tbs_certificate().subject()
            );
            assert!(!matches_issuer(&id, &twin));
            // The other hash's digests never match.
            let mut swapped = id.clone();
            swapped.hash = match hash {
                OcspHash::Sha1 => OcspHash::Sha256,
                OcspHash::Sha256 => OcspHash::Sha1,
            };
            assert!(!matches_issuer(&swapped, &pki.issuing));
        }
        Ok(())
    }

    #[test]
    fn response_has_the_profile_fields() -> TestResult {
        let pki = pki()?;
        let produced_at = now();
        let revoked_at = now() - MINUTE;
        let unspecified_at = now() - 2 * MINUTE;
        let ids = [
            CertIdRequest::new(OcspHash::Sha1, &pki.issuing, serial_of(&pki.leaf))?,
            CertIdRequest::new(OcspHash::Sha256, &pki.issuing, serial_of(&pki.other_leaf))?,
            CertIdRequest::new(OcspHash::Sha1, &pki.issuing, test_serial()?)?,
            CertIdRequest::new(OcspHash::Sha1, &pki.root, test_serial()?)?,
        ];
        let answers = [
            answer(ids[0].clone(), CertStatus::Good),
            answer(
                ids[1].clone(),
                CertStatus::Revoked {
                    at: revoked_at,
                    reason: Some(RevocationReason::KeyCompromise),
                },
            ),
            answer(
                ids[2].clone(),
                CertStatus::Revoked {
                    at: unspecified_at,
                    reason: Some(RevocationReason::Unspecified),
                },
            ),
            // Another CA's certificate: unknown may be said about anyone.
            answer(ids[3].clone(), CertStatus::Unknown),
        ];
        let nonce = OctetString::new([0x5au8; 16])?.to_der()?;
        let der = build_response(
            &pki.responder_signer,
            &pki.responder,
            &answers,
            Some(&nonce),
            produced_at,
        )?;
        assert_eq!(pki.responder_signer.calls(), 1);
        let basic = basic_of(&der)?;
        let data = &basic.tbs_response_data;

        assert_eq!(data.version, OcspVersion::V1);
        assert_eq!(
            data.responder_id,
            ResponderId::ByKey(OctetString::new(
                key_identifier(&pki.responder_signer.spki()?).to_vec()
            )?)
        );
        assert_eq!(data.produced_at, generalized_time(produced_at)?);
        assert_eq!(data.responses.len(), 4);
        for (response, id) in data.responses.iter().zip(&ids) {
            assert_eq!(response.cert_id.to_der()?, id.raw);
            assert!(response.single_extensions.is_none());
            assert!(response.next_update.is_some());
        }
        assert_eq!(data.responses[0].cert_status, CertStatusDer::Good(Null));
        assert_eq!(
            data.responses[1].cert_status,
            CertStatusDer::Revoked(RevokedInfo {
                revocation_time: generalized_time(revoked_at)?,
                revocation_reason: Some(CrlReason::KeyCompromise),
            })
        );
        assert_eq!(
            data.responses[2].cert_status,
            CertStatusDer::Revoked(RevokedInfo {
                revocation_time: generalized_time(unspecified_at)?,
                revocation_reason: None,
            })
        );
        assert_eq!(data.responses[3].cert_status, CertStatusDer::Unknown(Null));
        assert_eq!(
            data.response_extensions,
            Some(vec![nonce_extension(&nonce, false)?])
        );

        assert_eq!(basic.signature_algorithm.oid, ECDSA_WITH_SHA_256);
        assert!(basic.signature_algorithm.parameters.is_none());
        assert_eq!(basic.certs, Some(vec![pki.responder.clone()]));
        let signature = DerSignature::from_bytes(basic.signature.as_bytes().ok_or("unused bits")?)?;
        let key = VerifyingKey::try_from(
            pki.responder
                .tbs_certificate()
                .subject_public_key_info()
                .owned_to_ref(),
        )?;
        signature::Verifier::verify(&key, &data.to_der()?, &signature)?;

        // Without a nonce, no responseExtensions at all.
        let der = build_response(
            &pki.responder_signer,
            &pki.responder,
            &[good_answer(&pki)?],
            None,
            now(),
        )?;
        assert!(
            basic_of(&der)?
                .tbs_response_data
                .response_extensions
                .is_none()
        );
        Ok(())
    }

    /// Lint-before-sign: each broken response is refused and the responder
    /// key is never used.
    #[test]
    fn bad_responses_are_never_signed() -> TestResult {
        let pki = pki()?;
        let signer = &pki.responder_signer;
        let build = |answers: &[SingleAnswer], nonce: Option<&[u8]>| {
            build_response(signer, &pki.responder, answers, nonce, now())
        };
        let good = good_answer(&pki)?;

        expect_lint(build(&[], None), "ocsp.responses.empty")?;
        let mut early = good.clone();
        early.next_update = early.this_update - MINUTE;
        expect_lint(build(&[early], None), "ocsp.next_update.order")?;
        let mut future = good.clone();
        future.this_update = now() + MINUTE;
        future.next_update = now() + DAY;
        expect_lint(build(&[future], None), "ocsp.this_update.after_produced_at")?;
        let mut late = good.clone();
        late.status = CertStatus::Revoked {
            at: late.this_update + MINUTE,
            reason: Some(RevocationReason::Superseded),
        };
        expect_lint(build(&[late], None), "ocsp.revoked.after_this_update")?;
        let mut hold = good.clone();
        hold.status = CertStatus::Revoked {
            at: hold.this_update - MINUTE,
            reason: Some(RevocationReason::CertificateHold),
        };
        expect_lint(build(&[hold], None), "ocsp.revoked.reason")?;

        // A definite answer about another CA's certificate.
        let foreign = answer(
            CertIdRequest::new(OcspHash::Sha256, &pki.root, test_serial()?)?,
            CertStatus::Good,
        );
        expect_lint(build(&[foreign], None), "ocsp.cert_id.other_issuer")?;

        // The fields must say what the echoed raw CertID says.
        let mut forged = good.clone();
        forged.id.serial = test_serial()?;
        expect_lint(build(&[forged], None), "ocsp.cert_id.raw_mismatch")?;
        let mut garbage = good.clone();
        garbage.id.raw = vec![0x30, 0x00];
        let result = build(&[garbage], None);
        assert!(matches!(result, Err(CertError::Der(_))), "{result:?}");

        // A nonce of the wrong form.
        expect_lint(
            build(std::slice::from_ref(&good), Some(&[1, 2, 3])),
            "ocsp.nonce.form",
        )?;
        let long = OctetString::new([1u8; 33])?.to_der()?;
        expect_lint(
            build(std::slice::from_ref(&good), Some(&long)),
            "ocsp.nonce.form",
        )?;

        // producedAt outside the responder certificate's validity.
        let result = build_response(
            signer,
            &pki.responder,
            &[answer(good.id.clone(), CertStatus::Good)],
            None,
            now() + 60 * DAY,
        );
        expect_lint(result, "ocsp.responder.validity")?;
        assert_eq!(signer.calls(), 0);

        // The CA itself is not a delegated responder (no OCSPSigning).
        let result = build_response(
            &pki.issuing_signer,
            &pki.issuing,
            std::slice::from_ref(&good),
            None,
            now(),
        );
        expect_lint(result, "ocsp.responder.eku")?;
        // A signer that is not the responder certificate's key.
        let result = build_response(
            &pki.issuing_signer,
            &pki.responder,
            std::slice::from_ref(&good),
            None,
            now(),
        );
        assert!(
            matches!(result, Err(CertError::SignerMismatch)),
            "{result:?}"
        );
        // A signer advertising another algorithm.
        let sha384 =
            TestSigner::new_random().with_algorithm(const_oid::db::rfc5912::ECDSA_WITH_SHA_384);
        let responder = build_responder_cert(
            &pki.issuing_signer,
            &pki.issuing,
            &responder_name()?,
            sha384.spki()?,
            test_serial()?,
            now() - MINUTE,
            now() + DAY,
        )?;
        expect_lint(
            build_response(
                &sha384,
                &responder,
                std::slice::from_ref(&good),
                None,
                now(),
            ),
            "signature.algorithm",
        )?;
        assert_eq!(sha384.calls(), 0);
        Ok(())
    }

    #[test]
    fn lint_checks_hand_made_response_data() -> TestResult {
        let pki = pki()?;
        let der = build_response(
            &pki.responder_signer,
            &pki.responder,
            &[good_answer(&pki)?],
            None,
            now(),
        )?;
        let basic = basic_of(&der)?;
        let algorithm = basic.signature_algorithm.clone();
        let mut data = basic.tbs_response_data;
        lint_ocsp_response(
            &data,
            &algorithm,
            &pki.responder,
            OcspResponderKind::Delegated,
        )?;

        data.responder_id = ResponderId::ByName(responder_name()?);
        data.responses[0].next_update = None;
        data.responses[0].single_extensions = Some(Vec::new());
        data.responses[0].cert_id.hash_algorithm.oid = ID_SHA_384;
        data.response_extensions = Some(vec![
            nonce_extension(&OctetString::new([1u8; 16])?.to_der()?, true)?,
            Extension {
                extn_id: ID_PKIX_OCSP_NOCHECK,
                critical: false,
                extn_value: OctetString::new(Null.to_der()?)?,
            },
        ]);
        let Err(CertError::Lint(report)) = lint_ocsp_response(
            &data,
            &algorithm,
            &pki.responder,
            OcspResponderKind::Delegated,
        ) else {
            return Err("broken ResponseData must fail".into());
        };
        for code in [
            "ocsp.responder_id",
            "ocsp.next_update.missing",
            "ocsp.single_extensions",
            "ocsp.cert_id.hash",
            "ocsp.nonce.critical",
            "extensions.unexpected",
        ] {
            assert!(report.has(code), "{code} missing: {report}");
        }
        data.response_extensions = Some(Vec::new());
        let Err(CertError::Lint(report)) = lint_ocsp_response(
            &data,
            &algorithm,
            &pki.responder,
            OcspResponderKind::Delegated,
        ) else {
            return Err("empty responseExtensions must fail".into());
        };
        assert!(report.has("ocsp.extensions.empty"), "{report}");
        Ok(())
    }

    #[test]
    fn signer_failure_is_reported_and_bad_signatures_are_caught() -> TestResult {
        let pki = pki()?;
        let responder_for = |signer: &TestSigner| {
            build_responder_cert(
                &pki.issuing_signer,
                &pki.issuing,
                &responder_name()?,
                signer.spki()?,
                test_serial()?,
                now() - MINUTE,
                now() + DAY,
            )
        };
        let failing = TestSigner::new_random().failing();
        let responder = responder_for(&failing)?;
        let result = build_response(&failing, &responder, &[good_answer(&pki)?], None, now());
        assert!(matches!(result, Err(CertError::Signer(_))), "{result:?}");
        assert_eq!(failing.calls(), 1);

        let lying = TestSigner::new_random().signing_with(software_signer().into_key());
        let responder = responder_for(&lying)?;
        let result = build_response(&lying, &responder, &[good_answer(&pki)?], None, now());
        assert!(
            matches!(result, Err(CertError::SignatureSelfCheck)),
            "{result:?}"
        );
        Ok(())
    }

    /// The CertID of `id` with its issuer name hash taken from `cert`'s
    /// subject instead (same hash algorithm), `raw` re-encoded to match.
    fn with_name_hash_of(
        id: &CertIdRequest,
        cert: &Certificate,
    ) -> Result<CertIdRequest, CertError> {
        let mut id = id.clone();
        id.issuer_name_hash = id.hash.digest(&cert.tbs_certificate().subject().to_der()?);
        let mut der = CertIdDer::from_der(&id.raw)?;
        der.issuer_name_hash = OctetString::new(id.issuer_name_hash.clone())?;
        id.raw = der.to_der()?;
        Ok(id)
    }

    /// A retired CA answering for itself: responderID is its key hash, the
    /// signature verifies under its certificate's key, and no certificate
    /// rides along.
    #[test]
    fn ca_signed_response_names_and_verifies_under_the_ca() -> TestResult {
        let pki = pki()?;
        // As every CA here: keyCertSign and cRLSign, no digitalSignature,
        // no extendedKeyUsage. The profile must not ask for more.
        let ca = pki.issuing.tbs_certificate();
        let Some((_, ku)) = ca.get_extension::<KeyUsage>()? else {
            return Err("keyUsage missing".into());
        };
        assert_eq!(ku.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        assert!(ca.get_extension::<ExtendedKeyUsage>()?.is_none());

        let produced_at = now();
        let revoked_at = now() - MINUTE;
        let ids = [
            CertIdRequest::new(OcspHash::Sha1, &pki.issuing, serial_of(&pki.leaf))?,
            CertIdRequest::new(OcspHash::Sha256, &pki.issuing, serial_of(&pki.other_leaf))?,
            // Another CA's certificate: unknown may be said about anyone.
            CertIdRequest::new(OcspHash::Sha1, &pki.root, test_serial()?)?,
        ];
        let answers = [
            answer(ids[0].clone(), CertStatus::Good),
            answer(
                ids[1].clone(),
                CertStatus::Revoked {
                    at: revoked_at,
                    reason: Some(RevocationReason::KeyCompromise),
                },
            ),
            answer(ids[2].clone(), CertStatus::Unknown),
        ];
        let nonce = OctetString::new([0xa5u8; 16])?.to_der()?;
        let calls = pki.issuing_signer.calls();
        let der = build_response_by_ca(
            &pki.issuing_signer,
            &pki.issuing,
            &answers,
            Some(&nonce),
            produced_at,
        )?;
        assert_eq!(pki.issuing_signer.calls(), calls + 1);
        assert_eq!(pki.responder_signer.calls(), 0);

        let basic = basic_of(&der)?;
        let data = &basic.tbs_response_data;
        assert_eq!(data.version, OcspVersion::V1);
        assert_eq!(
            data.responder_id,
            ResponderId::ByKey(OctetString::new(
                key_identifier(ca.subject_public_key_info()).to_vec()
            )?)
        );
        assert_eq!(data.produced_at, generalized_time(produced_at)?);
        assert_eq!(data.responses.len(), 3);
        for (response, id) in data.responses.iter().zip(&ids) {
            assert_eq!(response.cert_id.to_der()?, id.raw);
        }
        assert_eq!(data.responses[0].cert_status, CertStatusDer::Good(Null));
        assert_eq!(
            data.responses[1].cert_status,
            CertStatusDer::Revoked(RevokedInfo {
                revocation_time: generalized_time(revoked_at)?,
                revocation_reason: Some(CrlReason::KeyCompromise),
            })
        );
        assert_eq!(data.responses[2].cert_status, CertStatusDer::Unknown(Null));
        assert_eq!(
            data.response_extensions,
            Some(vec![nonce_extension(&nonce, false)?])
        );
        assert_eq!(basic.signature_algorithm.oid, ECDSA_WITH_SHA_256);
        assert_eq!(basic.certs, None, "the client holds the CA certificate");

        let signature = DerSignature::from_bytes(basic.signature.as_bytes().ok_or("unused bits")?)?;
        let key = VerifyingKey::try_from(ca.subject_public_key_info().owned_to_ref())?;
        signature::Verifier::verify(&key, &data.to_der()?, &signature)?;

        // The two kinds are different rules, not one rule twice: the CA's
        // response fails the delegated rules, and the delegated responder's
        // fails the CA rules.
        let algorithm = &basic.signature_algorithm;
        lint_ocsp_response(data, algorithm, &pki.issuing, OcspResponderKind::Issuer)?;
        let Err(CertError::Lint(report)) =
            lint_ocsp_response(data, algorithm, &pki.issuing, OcspResponderKind::Delegated)
        else {
            return Err("a CA is not a delegated responder".into());
        };
        assert!(report.has("ocsp.responder.eku"), "{report}");
        assert!(report.has("ocsp.cert_id.other_issuer"), "{report}");
        let delegated = basic_of(&build_response(
            &pki.responder_signer,
            &pki.responder,
            &[good_answer(&pki)?],
            None,
            now(),
        )?)?;
        let Err(CertError::Lint(report)) = lint_ocsp_response(
            &delegated.tbs_response_data,
            &delegated.signature_algorithm,
            &pki.responder,
            OcspResponderKind::Issuer,
        ) else {
            return Err("a delegated responder is not the CA".into());
        };
        for code in [
            "ocsp.responder.not_ca",
            "ocsp.responder.key_cert_sign",
            "ocsp.cert_id.other_issuer",
        ] {
            assert!(report.has(code), "{code} missing: {report}");
        }
        Ok(())
    }

    /// Lint-before-sign for the CA's own responses: a wrong key, an answer
    /// about another CA (by name or by key), a certificate that is not a
    /// CA, a CA out of its validity; no key signs anything.
    #[test]
    fn bad_ca_signed_responses_are_never_signed() -> TestResult {
        let pki = pki()?;
        // The same name under another key: the CA after a rotation.
        let (successor, successor_signer) = sample_issuing(&pki.root_signer, &pki.root)?;
        let calls = [
            pki.root_signer.calls(),
            pki.issuing_signer.calls(),
            pki.responder_signer.calls(),
            successor_signer.calls(),
        ];
        let by_ca = |answers: &[SingleAnswer]| {
            build_response_by_ca(&pki.issuing_signer, &pki.issuing, answers, None, now())
        };
        let good = good_answer(&pki)?;

        // A key other than the CA's, whoever it belongs to.
        for (who, signer) in [
            ("root", &pki.root_signer),
            ("responder", &pki.responder_signer),
            ("successor", &successor_signer),
        ] {
            let result = build_response_by_ca(
                signer,
                &pki.issuing,
                std::slice::from_ref(&good),
                None,
                now(),
            );
            assert!(
                matches!(result, Err(CertError::SignerMismatch)),
                "{who}: {result:?}"
            );
        }

        // Definite answers about another CA's certificates.
        let serial = serial_of(&pki.leaf);
        let foreign = [
            (
                "root",
                CertIdRequest::new(OcspHash::Sha256, &pki.root, serial.clone())?,
            ),
            (
                "successor (same name, other key)",
                CertIdRequest::new(OcspHash::Sha1, &successor, serial.clone())?,
            ),
            (
                "the CA's key under its issuer's name",
                with_name_hash_of(&good.id, &pki.root)?,
            ),
        ];
        for (what, id) in foreign {
            for status in [
                CertStatus::Good,
                CertStatus::Revoked {
                    at: now() - DAY,
                    reason: Some(RevocationReason::Superseded),
                },
            ] {
                let result = by_ca(&[good.clone(), answer(id.clone(), status)]);
                match result {
                    Err(CertError::Lint(report)) if report.has("ocsp.cert_id.other_issuer") => {}
                    other => return Err(format!("{what} {status:?}: {other:?}").into()),
                }
            }
        }

        // The common response rules hold here too.
        expect_lint(by_ca(&[]), "ocsp.responses.empty")?;
        let mut early = good.clone();
        early.next_update = early.this_update - MINUTE;
        expect_lint(by_ca(&[early]), "ocsp.next_update.order")?;

        // Not a CA: the delegated responder's certificate and key.
        let result = build_response_by_ca(
            &pki.responder_signer,
            &pki.responder,
            std::slice::from_ref(&good),
            None,
            now(),
        );
        let Err(CertError::Lint(report)) = result else {
            return Err(format!("a responder certificate is not a CA: {result:?}").into());
        };
        for code in ["ocsp.responder.not_ca", "ocsp.responder.key_cert_sign"] {
            assert!(report.has(code), "{code} missing: {report}");
        }

        // producedAt after the CA expired (five years).
        expect_lint(
            build_response_by_ca(
                &pki.issuing_signer,
                &pki.issuing,
                std::slice::from_ref(&good),
                None,
                now() + 6 * YEAR,
            ),
            "ocsp.responder.validity",
        )?;

        assert_eq!(
            [
                pki.root_signer.calls(),
                pki.issuing_signer.calls(),
                pki.responder_signer.calls(),
                successor_signer.calls(),
            ],
            calls,
            "nothing signed"
        );
        Ok(())
    }

    /// The responses we emit, checked by OpenSSL against requests OpenSSL
    /// made, then by pkilint.
    #[test]
    fn openssl_and_pkilint_accept_the_responses() -> TestResult {
        let dir = tempfile::tempdir()?;
        let pki = pki()?;
        let files = files(dir.path(), &pki)?;
        let leaf = files.leaf.as_os_str();
        let revoked_at = now() - 5 * MINUTE;

        let statuses = [
            ("good", CertStatus::Good),
            (
                "revoked",
                CertStatus::Revoked {
                    at: revoked_at,
                    reason: Some(RevocationReason::KeyCompromise),
                },
            ),
            ("unknown", CertStatus::Unknown),
        ];
        for (label, status) in statuses {
            for hash in ["-sha1", "-sha256"] {
                let label = format!("{label}{hash}");
                let (req_path, req) = openssl_request(
                    dir.path(),
                    &label,
                    &files.issuing,
                    &[arg(hash)],
                    &[&files.leaf],
                    &[],
                )?;
                let parsed = parse_request(&req)?;
                let answers: Vec<_> = parsed
                    .ids
                    .iter()
                    .map(|id| answer(id.clone(), status))
                    .collect();
                let response = build_response(
                    &pki.responder_signer,
                    &pki.responder,
                    &answers,
                    parsed.nonce.as_deref(),
                    now(),
                )?;
                let resp_path = dir.path().join(format!("{label}.resp.der"));
                fs::write(&resp_path, &response)?;

                // Against the request itself: OpenSSL checks the nonce.
                let (ok, text) = openssl_check(
                    &files,
                    &resp_path,
                    &[arg("-reqin"), req_path.as_os_str(), arg("-resp_text")],
                );
                assert!(ok, "{label}: {text}");
                assert!(text.contains("Response verify OK"), "{label}: {text}");
                assert!(!text.contains("Nonce Verify error"), "{label}: {text}");
                assert!(!text.contains("WARNING"), "{label}: {text}");
                assert!(text.contains("Responder Id: "), "{label}: {text}");
                assert!(text.contains("OCSP Nonce"), "{label}: {text}");

                // Against the certificate: OpenSSL reports its status.
                let (ok, text) = openssl_check(
                    &files,
                    &resp_path,
                    &[
                        arg(hash),
                        arg("-no_nonce"),
                        arg("-issuer"),
                        files.issuing.as_os_str(),
                        arg("-cert"),
                        leaf,
                    ],
                );
                assert!(ok, "{label}: {text}");
                assert!(text.contains("Response verify OK"), "{label}: {text}");
                let expected = format!("{}: {}", files.leaf.display(), status_word(status));
                assert!(text.contains(&expected), "{label}: {text}");
                if let CertStatus::Revoked { at, .. } = status {
                    assert!(text.contains("Reason: keyCompromise"), "{label}: {text}");
                    let when = openssl_time(at)?;
                    assert!(
                        text.contains(&format!("Revocation Time: {when}")),
                        "{label}: expected {when}: {text}"
                    );
                }
                external::pkilint_ocsp_response(dir.path(), &label, &response)?;
            }
        }

        // Three certificates in one request: one answer each, in order.
        let unknown_serial = test_serial()?;
        let (req_path, req) = openssl_request(
            dir.path(),
            "three",
            &files.issuing,
            &[],
            &[&files.leaf, &files.other_leaf],
            &[
                arg("-serial"),
                arg(&format!("0x{}", hex::encode(unknown_serial.as_bytes()))),
            ],
        )?;
        let parsed = parse_request(&req)?;
        let answers = [
            answer(parsed.ids[0].clone(), CertStatus::Good),
            answer(
                parsed.ids[1].clone(),
                CertStatus::Revoked {
                    at: revoked_at,
                    reason: Some(RevocationReason::Superseded),
                },
            ),
            answer(parsed.ids[2].clone(), CertStatus::Unknown),
        ];
        let response = build_response(
            &pki.responder_signer,
            &pki.responder,
            &answers,
            parsed.nonce.as_deref(),
            now(),
        )?;
        let resp_path = dir.path().join("three.resp.der");
        fs::write(&resp_path, &response)?;
        let (ok, text) = openssl_check(
            &files,
            &resp_path,
            &[arg("-reqin"), req_path.as_os_str(), arg("-resp_text")],
        );
        assert!(ok && text.contains("Response verify OK"), "{text}");
        let statuses: Vec<_> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Cert Status: "))
            .collect();
        assert_eq!(statuses, ["good", "revoked", "unknown"], "{text}");
        assert!(text.contains("Reason: superseded"), "{text}");
        external::pkilint_ocsp_response(dir.path(), "three", &response)?;

        // The check is real: another request's nonce is refused, and so is
        // a response whose responder the root does not lead to.
        let (other_req, _) = openssl_request(
            dir.path(),
            "other",
            &files.issuing,
            &[],
            &[&files.leaf],
            &[],
        )?;
        let (ok, text) = openssl_check(&files, &resp_path, &[arg("-reqin"), other_req.as_os_str()]);
        assert!(!ok && text.contains("Nonce Verify error"), "{text}");
        let stranger = sample_root(&software_signer())?;
        let stranger_pem = write_pem(dir.path(), "stranger", &stranger)?;
        let (ok, text) = openssl(&[
            arg("ocsp"),
            arg("-respin"),
            resp_path.as_os_str(),
            arg("-CAfile"),
            stranger_pem.as_os_str(),
            arg("-verify_other"),
            files.issuing.as_os_str(),
            arg("-reqin"),
            req_path.as_os_str(),
        ]);
        assert!(!ok && text.contains("Response Verify Failure"), "{text}");
        Ok(())
    }

    /// The CA's own responses, checked by OpenSSL (OCSP_basic_verify's
    /// "signed directly by the CA" case) against requests OpenSSL made,
    /// then by pkilint.
    #[test]
    fn openssl_and_pkilint_accept_ca_signed_responses() -> TestResult {
        let dir = tempfile::tempdir()?;
        let pki = pki()?;
        let files = files(dir.path(), &pki)?;
        let leaf = files.leaf.as_os_str();
        let statuses = [
            ("ca-good", CertStatus::Good),
            (
                "ca-revoked",
                CertStatus::Revoked {
                    at: now() - 5 * MINUTE,
                    reason: Some(RevocationReason::KeyCompromise),
                },
            ),
        ];
        for (label, status) in statuses {
            for hash in ["-sha1", "-sha256"] {
                let label = format!("{label}{hash}");
                let (req_path, req) = openssl_request(
                    dir.path(),
                    &label,
                    &files.issuing,
                    &[arg(hash)],
                    &[&files.leaf],
                    &[],
                )?;
                let parsed = parse_request(&req)?;
                let answers: Vec<_> = parsed
                    .ids
                    .iter()
                    .map(|id| answer(id.clone(), status))
                    .collect();
                let response = build_response_by_ca(
                    &pki.issuing_signer,
                    &pki.issuing,
                    &answers,
                    parsed.nonce.as_deref(),
                    now(),
                )?;
                let resp_path = dir.path().join(format!("{label}.resp.der"));
                fs::write(&resp_path, &response)?;

                // Without -issuer OpenSSL must find the signer among the
                // untrusted certificates, build its chain to the root and
                // match the CertIDs against the signer itself.
                let (ok, text) = openssl_check(
                    &files,
                    &resp_path,
                    &[arg("-reqin"), req_path.as_os_str(), arg("-resp_text")],
                );
                assert!(ok, "{label}: {text}");
                assert!(text.contains("Response verify OK"), "{label}: {text}");
                assert!(!text.contains("WARNING"), "{label}: {text}");
                assert!(!text.contains("Certificate:"), "{label}: no certs: {text}");

                // As a relying party asks about one certificate.
                let (ok, text) = openssl(&[
                    arg("ocsp"),
                    arg("-respin"),
                    resp_path.as_os_str(),
                    arg(hash),
                    arg("-no_nonce"),
                    arg("-issuer"),
                    files.issuing.as_os_str(),
                    arg("-cert"),
                    leaf,
                    arg("-CAfile"),
                    files.root.as_os_str(),
                ]);
                assert!(ok, "{label}: {text}");
                assert!(text.contains("Response verify OK"), "{label}: {text}");
                let expected = format!("{}: {}", files.leaf.display(), status_word(status));
                assert!(text.contains(&expected), "{label}: {text}");
                external::pkilint_ocsp_response(dir.path(), &label, &response)?;
            }
        }

        // Exactly `openssl ocsp -respin resp.der -issuer ca.pem -cert
        // leaf.pem -CAfile root.pem` on a response without a nonce.
        let response = build_response_by_ca(
            &pki.issuing_signer,
            &pki.issuing,
            &[good_answer(&pki)?],
            None,
            now(),
        )?;
        let resp_path = dir.path().join("ca-plain.resp.der");
        fs::write(&resp_path, &response)?;
        let (ok, text) = openssl(&[
            arg("ocsp"),
            arg("-respin"),
            resp_path.as_os_str(),
            arg("-issuer"),
            files.issuing.as_os_str(),
            arg("-cert"),
            leaf,
            arg("-CAfile"),
            files.root.as_os_str(),
        ]);
        assert!(ok && text.contains("Response verify OK"), "{text}");
        assert!(
            text.contains(&format!("{}: good", files.leaf.display())),
            "{text}"
        );
        external::pkilint_ocsp_response(dir.path(), "ca-plain", &response)?;

        // The chain check is real: under a root that did not certify the
        // CA, the same response is refused.
        let stranger = sample_root(&software_signer())?;
        let stranger_pem = write_pem(dir.path(), "stranger", &stranger)?;
        let (ok, text) = openssl(&[
            arg("ocsp"),
            arg("-respin"),
            resp_path.as_os_str(),
            arg("-CAfile"),
            stranger_pem.as_os_str(),
            arg("-verify_other"),
            files.issuing.as_os_str(),
        ]);
        assert!(!ok && text.contains("Response Verify Failure"), "{text}");
        Ok(())
    }

    fn status_word(status: CertStatus) -> &'static str {
        match status {
            CertStatus::Good => "good",
            CertStatus::Revoked { .. } => "revoked",
            CertStatus::Unknown => "unknown",
        }
    }

    /// `at` as OpenSSL prints a GeneralizedTime: `Mmm dd hh:mm:ss yyyy GMT`.
    fn openssl_time(at: SystemTime) -> Result<String, CertError> {
        let t = generalized_time(at)?.to_date_time();
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = MONTHS
            .get(usize::from(t.month()) - 1)
            .ok_or(CertError::InvalidValidity("month".into()))?;
        Ok(format!(
            "{month} {:>2} {:02}:{:02}:{:02} {} GMT",
            t.day(),
            t.hour(),
            t.minutes(),
            t.seconds(),
            t.year()
        ))
    }

    /// The pkilint OCSP runner must fail on a real finding, or the test
    /// above proves nothing.
    #[test]
    fn pkilint_ocsp_runner_reports_errors() -> TestResult {
        if external::pkilint_skipped() {
            return Ok(());
        }
        let pki = pki()?;
        let der = build_response(
            &pki.responder_signer,
            &pki.responder,
            &[good_answer(&pki)?],
            None,
            now(),
        )?;
        // A SHA-256 responder key hash (RFC 6960 says SHA-1), re-signed so
        // that it is the only fault.
        let mut basic = basic_of(&der)?;
        let spki = pki.responder_signer.spki()?;
        basic.tbs_response_data.responder_id = ResponderId::ByKey(OctetString::new(
            OcspHash::Sha256.digest(spki.subject_public_key.raw_bytes()),
        )?);
        let signature: DerSignature =
            signature::Signer::try_sign(&pki.responder_signer, &basic.tbs_response_data.to_der()?)?;
        basic.signature = signature.to_bitstring()?;
        let broken = OcspResponseDer {
            response_status: ResponseStatusDer::Successful,
            response_bytes: Some(ResponseBytesDer {
                response_type: ID_PKIX_OCSP_BASIC,
                response: OctetString::new(basic.to_der()?)?,
            }),
        }
        .to_der()?;
        let dir = tempfile::tempdir()?;
        match external::pkilint_ocsp_response(dir.path(), "sha256-key-hash", &broken) {
            Err(e)
                if e.to_string()
                    .contains("pkix.ocsp_responderid_keyhash_is_not_sha1") =>
            {
                Ok(())
            }
            other => Err(format!("pkilint should flag the SHA-256 key hash: {other:?}").into()),
        }
    }
}
