//! Profile lint: checks a to-be-signed certificate, CRL or OCSP response
//! against this project's RFC 5280 / RFC 6960 profiles before any signer
//! sees it (lint-before-sign).
//!
//! It trusts nothing in the TBS: it is run on the DER the signer would sign,
//! decoded again, so what is checked is exactly what would be signed. The
//! issuer certificate passed in is trusted as the issuer (it was chosen by
//! the caller), but is itself checked for being able to issue (certificates:
//! keyCertSign; CRLs: cRLSign; OCSP responses: id-kp-OCSPSigning for a
//! delegated responder, CA:TRUE with keyCertSign for a CA answering for
//! itself). The
//! subject root of a cross-certificate is trusted even less: its name, key
//! and SKI are what the cross-certificate must repeat, so it is itself
//! checked for being a self-signed CA, signature included.

use std::collections::BTreeSet;

use const_oid::{
    AssociatedOid,
    db::{
        rfc5280::{ID_AD_OCSP, ID_KP_CLIENT_AUTH, ID_KP_OCSP_SIGNING},
        rfc5912::ECDSA_WITH_SHA_256,
        rfc6960::{ID_PKIX_OCSP_NOCHECK, ID_PKIX_OCSP_NONCE},
    },
};
use der::{
    DateTime,
    asn1::{ObjectIdentifier, UtcTime},
    flagset::FlagSet,
    referenced::OwnedToRef,
};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::{
    Certificate, TbsCertificate, Version,
    crl::TbsCertList,
    ext::{
        Extension,
        pkix::{
            AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
            CertificatePolicies, CrlDistributionPoints, CrlNumber, CrlReason, ExtendedKeyUsage,
            KeyUsage, KeyUsages, SubjectDirectoryAttributes, SubjectKeyIdentifier,
            name::{DistributionPointName, GeneralName},
        },
    },
    name::Name,
    serial_number::SerialNumber,
    time::{Time, Validity},
};

use crate::{
    CertError, LintFinding, LintReport,
    crl::{decode_unique, read_crl_number},
    holder::{LicenceInfo, LicenceInfoDer, http_url_problem, read_date_of_birth},
    key_identifier,
    name::{UB_NAME_CHARS, UB_SERIAL_NUMBER_CHARS, read_holder_name},
    ocsp::{
        CertIdDer, CertStatusDer, OcspHash, ResponderId, ResponseData, SingleResponseDer,
        nonce_problem,
    },
    oids::{IDENTITY_POLICY, LICENCE_INFO, LICENCE_POLICY},
    verify_signed_by,
};

/// Maximum serial number length in content octets (RFC 5280 4.1.2.2).
const MAX_SERIAL_OCTETS: usize = 20;

/// Which profile a certificate is linted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertProfile {
    /// Self-signed root CA: basicConstraints CA:TRUE without pathLen.
    RootCa,
    /// CA signed by the root (`identity-ca`, `license-ca`): pathLen 0.
    IssuingCa,
    /// Holder identity certificate: subjectDirectoryAttributes with
    /// dateOfBirth, the identity policy.
    Identity,
    /// Holder licence certificate: the licence extension, the licence policy.
    Licence,
    /// Delegated OCSP responder certificate (RFC 6960 4.2.2.2), issued by
    /// the CA whose certificates it answers for: extendedKeyUsage
    /// id-kp-OCSPSigning only and id-pkix-ocsp-nocheck (NULL, non-critical).
    OcspResponder,
    /// Cross-certificate for a root key rollover: the old root certifies the
    /// new root's key. basicConstraints CA:TRUE without pathLen (it sits
    /// above issuing CAs with pathLen 0); subject, key and SKI exactly those
    /// of the new root's self-signed certificate, which must be a CA with
    /// its own key. Needs that certificate: lint with
    /// [`lint_cross_certificate`], not [`lint_tbs`].
    CrossCertificate,
}

/// What each profile demands; one table so the profiles differ only in data.
struct Rules {
    self_signed: bool,
    /// `Some(path_len)`: a CA, basicConstraints CA:TRUE (critical) with this
    /// pathLen. `None`: an end entity, basicConstraints CA:FALSE or absent.
    ca: Option<Option<u8>>,
    key_usage: FlagSet<KeyUsages>,
    extensions: &'static [ObjectIdentifier],
    /// What the profile demands beyond the common rules.
    role: Role,
}

/// The profile-specific rules on top of the common ones.
#[derive(Clone, Copy)]
enum Role {
    Ca,
    /// A CA certificate repeating another (self-signed) certificate's
    /// subject, key and SKI.
    CrossCa,
    Holder(HolderRules),
    OcspResponder,
}

#[derive(Clone, Copy)]
struct HolderRules {
    policy: ObjectIdentifier,
    credential: Credential,
}

/// The extension that makes a holder certificate an identity or a licence.
#[derive(Clone, Copy)]
enum Credential {
    DateOfBirth,
    Licence,
}

const CA_EXTENSIONS: &[ObjectIdentifier] = &[
    BasicConstraints::OID,
    KeyUsage::OID,
    SubjectKeyIdentifier::OID,
    AuthorityKeyIdentifier::OID,
];

const IDENTITY_EXTENSIONS: &[ObjectIdentifier] = &[
    BasicConstraints::OID,
    KeyUsage::OID,
    ExtendedKeyUsage::OID,
    CertificatePolicies::OID,
    CrlDistributionPoints::OID,
    AuthorityInfoAccessSyntax::OID,
    SubjectKeyIdentifier::OID,
    AuthorityKeyIdentifier::OID,
    SubjectDirectoryAttributes::OID,
];

const LICENCE_EXTENSIONS: &[ObjectIdentifier] = &[
    BasicConstraints::OID,
    KeyUsage::OID,
    ExtendedKeyUsage::OID,
    CertificatePolicies::OID,
    CrlDistributionPoints::OID,
    AuthorityInfoAccessSyntax::OID,
    SubjectKeyIdentifier::OID,
    AuthorityKeyIdentifier::OID,
    LICENCE_INFO,
];

const OCSP_RESPONDER_EXTENSIONS: &[ObjectIdentifier] = &[
    BasicConstraints::OID,
    KeyUsage::OID,
    ExtendedKeyUsage::OID,
    ID_PKIX_OCSP_NOCHECK,
    SubjectKeyIdentifier::OID,
    AuthorityKeyIdentifier::OID,
];

impl CertProfile {
    fn rules(self) -> Rules {
        let ca_usage = KeyUsages::KeyCertSign | KeyUsages::CRLSign;
        let holder_usage = FlagSet::from(KeyUsages::DigitalSignature);
        match self {
            CertProfile::RootCa => Rules {
                self_signed: true,
                ca: Some(None),
                key_usage: ca_usage,
                extensions: CA_EXTENSIONS,
                role: Role::Ca,
            },
            CertProfile::IssuingCa => Rules {
                self_signed: false,
                ca: Some(Some(0)),
                key_usage: ca_usage,
                extensions: CA_EXTENSIONS,
                role: Role::Ca,
            },
            CertProfile::CrossCertificate => Rules {
                self_signed: false,
                ca: Some(None),
                key_usage: ca_usage,
                extensions: CA_EXTENSIONS,
                role: Role::CrossCa,
            },
            CertProfile::Identity => Rules {
                self_signed: false,
                ca: None,
                key_usage: holder_usage,
                extensions: IDENTITY_EXTENSIONS,
                role: Role::Holder(HolderRules {
                    policy: IDENTITY_POLICY,
                    credential: Credential::DateOfBirth,
                }),
            },
            CertProfile::Licence => Rules {
                self_signed: false,
                ca: None,
                key_usage: holder_usage,
                extensions: LICENCE_EXTENSIONS,
                role: Role::Holder(HolderRules {
                    policy: LICENCE_POLICY,
                    credential: Credential::Licence,
                }),
            },
            CertProfile::OcspResponder => Rules {
                self_signed: false,
                ca: None,
                key_usage: holder_usage,
                extensions: OCSP_RESPONDER_EXTENSIONS,
                role: Role::OcspResponder,
            },
        }
    }
}

/// The key identifier a certificate issued by `issuer` must carry in its
/// AKI: the issuer's SKI if it has one (it may come from elsewhere and use
/// another method), else the RFC 5280 method 1 identifier of its key.
///
/// # Errors
/// [`CertError::Der`] if the issuer's SKI extension is malformed or repeated.
pub fn issuer_key_id(issuer: &Certificate) -> Result<Vec<u8>, CertError> {
    let tbs = issuer.tbs_certificate();
    Ok(match tbs.get_extension::<SubjectKeyIdentifier>()? {
        Some((_, ski)) => ski.0.as_bytes().to_vec(),
        None => key_identifier(tbs.subject_public_key_info()).to_vec(),
    })
}

/// Checks that `issuer` may sign certificates of `profile`: a CA with
/// keyCertSign whose pathLen leaves room for a subordinate CA if needed
/// (holder profiles need no room: pathLen 0 is fine).
///
/// # Errors
/// [`CertError::IssuerNotCa`] saying which requirement failed.
pub fn check_issuer(issuer: &Certificate, profile: CertProfile) -> Result<(), CertError> {
    let tbs = issuer.tbs_certificate();
    let not_ca = |why: &str| Err(CertError::IssuerNotCa(why.to_owned()));
    match tbs.get_extension::<BasicConstraints>()? {
        Some((_, bc)) if bc.ca => {
            let subordinate_is_ca = matches!(
                profile,
                CertProfile::IssuingCa | CertProfile::CrossCertificate
            );
            if subordinate_is_ca && bc.path_len_constraint == Some(0) {
                return not_ca("pathLen 0 forbids issuing CA certificates");
            }
        }
        _ => return not_ca("basicConstraints CA:TRUE missing"),
    }
    match tbs.get_extension::<KeyUsage>()? {
        Some((_, ku)) if ku.key_cert_sign() => Ok(()),
        _ => not_ca("keyUsage keyCertSign missing"),
    }
}

/// Lints a TBS certificate against `profile`. `issuer` is `None` for a
/// self-signed certificate (the TBS is its own issuer).
///
/// [`CertProfile::CrossCertificate`] always fails here
/// (`cross.subject_root.missing`): its rules compare the TBS with the
/// subject root, so use [`lint_cross_certificate`].
///
/// # Errors
/// [`CertError::Lint`] with every broken rule; [`CertError::Der`] if the
/// issuer certificate cannot be read.
pub fn lint_tbs(
    tbs: &TbsCertificate,
    profile: CertProfile,
    issuer: Option<&Certificate>,
) -> Result<(), CertError> {
    lint_issued_tbs(tbs, profile, issuer, None)
}

/// [`lint_tbs`] with, for [`CertProfile::CrossCertificate`], the subject
/// root's self-signed certificate (`None` for every other profile). The one
/// lint the signing pipeline runs.
///
/// # Errors
/// As [`lint_tbs`]; [`CertError::Der`] also if the subject root's SKI
/// cannot be read.
pub(crate) fn lint_issued_tbs(
    tbs: &TbsCertificate,
    profile: CertProfile,
    issuer: Option<&Certificate>,
    subject_root: Option<&Certificate>,
) -> Result<(), CertError> {
    let rules = profile.rules();
    let mut out = Findings::default();

    let (issuer_name, issuer_spki, issuer_kid, issuer_window) = match issuer {
        None => {
            if !rules.self_signed {
                out.add("issuer.required", "profile needs an issuer certificate");
            }
            let kid = key_identifier(tbs.subject_public_key_info()).to_vec();
            (tbs.subject(), tbs.subject_public_key_info(), kid, None)
        }
        Some(cert) => {
            if rules.self_signed {
                out.add("issuer.unexpected", "profile is self-signed");
            }
            let itbs = cert.tbs_certificate();
            let window = (itbs.validity().not_before, itbs.validity().not_after);
            (
                itbs.subject(),
                itbs.subject_public_key_info(),
                issuer_key_id(cert)?,
                Some(window),
            )
        }
    };

    // The SKI a certificate must carry: its own key's method 1 identifier,
    // except that a cross-certificate repeats the subject root's SKI (the
    // AKI of everything under the new root), whatever its method.
    let subject_kid = match (rules.role, subject_root) {
        (Role::CrossCa, Some(root)) => issuer_key_id(root)?,
        (Role::CrossCa, None) => {
            out.add(
                "cross.subject_root.missing",
                "the cross-certificate profile needs the subject root's certificate",
            );
            key_identifier(tbs.subject_public_key_info()).to_vec()
        }
        (_, Some(_)) => {
            out.add(
                "cross.subject_root.unexpected",
                "only a cross-certificate is linted against a subject root",
            );
            key_identifier(tbs.subject_public_key_info()).to_vec()
        }
        (_, None) => key_identifier(tbs.subject_public_key_info()).to_vec(),
    };

    lint_header(tbs, &mut out);
    lint_names(tbs, issuer_name, issuer.is_some(), &mut out);
    lint_validity(tbs, issuer_window, &mut out);
    lint_key(tbs, issuer_spki, issuer.is_some(), &mut out);
    lint_extensions(tbs, &rules, &issuer_kid, &subject_kid, &mut out);
    match rules.role {
        Role::Ca => {}
        Role::CrossCa => {
            if let Some(root) = subject_root {
                lint_cross(tbs, root, &mut out);
            }
        }
        Role::Holder(holder) => lint_holder(tbs, holder, &mut out),
        Role::OcspResponder => lint_ocsp_responder(tbs, &mut out),
    }

    out.finish()
}

/// [`lint_tbs`] plus the outer signatureAlgorithm, for an already signed
/// certificate (e.g. one read back from storage or produced elsewhere).
///
/// # Errors
/// As [`lint_tbs`].
pub fn lint_certificate(
    cert: &Certificate,
    profile: CertProfile,
    issuer: Option<&Certificate>,
) -> Result<(), CertError> {
    lint_signed(cert, profile, issuer, None)
}

/// Lints a signed cross-certificate against
/// [`CertProfile::CrossCertificate`]: `issuer_root` certified the key of
/// `subject_root`, the subject root's own self-signed certificate.
///
/// # Errors
/// As [`lint_certificate`]; [`CertError::Der`] also if the subject root's
/// SKI cannot be read.
pub fn lint_cross_certificate(
    cert: &Certificate,
    issuer_root: &Certificate,
    subject_root: &Certificate,
) -> Result<(), CertError> {
    lint_signed(
        cert,
        CertProfile::CrossCertificate,
        Some(issuer_root),
        Some(subject_root),
    )
}

fn lint_signed(
    cert: &Certificate,
    profile: CertProfile,
    issuer: Option<&Certificate>,
    subject_root: Option<&Certificate>,
) -> Result<(), CertError> {
    let outer = match lint_issued_tbs(cert.tbs_certificate(), profile, issuer, subject_root) {
        Ok(()) => LintReport::default(),
        Err(CertError::Lint(report)) => report,
        Err(other) => return Err(other),
    };
    let mut out = Findings(outer.findings);
    if cert.signature_algorithm() != cert.tbs_certificate().signature() {
        out.add(
            "signature.algorithm_mismatch",
            "signatureAlgorithm differs from tbsCertificate.signature",
        );
    }
    out.finish()
}

/// Extensions of a CRL (RFC 5280 5.2): exactly these, in any order.
const CRL_EXTENSIONS: &[ObjectIdentifier] = &[AuthorityKeyIdentifier::OID, CrlNumber::OID];

/// Extensions of a CRL entry (RFC 5280 5.3): only reasonCode.
const CRL_ENTRY_EXTENSIONS: &[ObjectIdentifier] = &[CrlReason::OID];

/// Checks that `issuer` may sign CRLs: a CA (basicConstraints CA:TRUE) whose
/// keyUsage asserts cRLSign (RFC 5280 4.2.1.3).
///
/// # Errors
/// [`CertError::IssuerNotCa`] saying which requirement failed;
/// [`CertError::Der`] if either extension is malformed or repeated.
pub fn check_crl_issuer(issuer: &Certificate) -> Result<(), CertError> {
    match crl_issuer_problem(issuer)? {
        Some(why) => Err(CertError::IssuerNotCa(why.to_owned())),
        None => Ok(()),
    }
}

fn crl_issuer_problem(issuer: &Certificate) -> Result<Option<&'static str>, der::Error> {
    let tbs = issuer.tbs_certificate();
    if !matches!(tbs.get_extension::<BasicConstraints>()?, Some((_, bc)) if bc.ca) {
        return Ok(Some("basicConstraints CA:TRUE missing"));
    }
    Ok(match tbs.get_extension::<KeyUsage>()? {
        Some((_, ku)) if ku.crl_sign() => None,
        _ => Some("keyUsage cRLSign missing"),
    })
}

/// Lints a TBSCertList against this project's CRL profile: a complete (not
/// delta) v2 CRL issued and signed by `issuer` itself (RFC 5280 5.1 to 5.3).
///
/// Rules: version v2; signature ecdsa-with-SHA256 without parameters; issuer
/// = `issuer`'s subject, and `issuer` a CA with cRLSign; nextUpdate present
/// and after thisUpdate, thisUpdate inside the issuer's validity, all times
/// UTCTime through 2049 and GeneralizedTime from 2050; revokedCertificates
/// absent rather than empty; per entry a positive serial of at most 20
/// octets, listed once, a revocationDate not after thisUpdate, and entry
/// extensions absent or one non-critical reasonCode that is none of
/// `unspecified` (RFC 5280 5.3.1: the extension SHOULD then be absent),
/// `certificateHold` (this CA never suspends) or `removeFromCRL` (delta CRLs
/// only); crlExtensions exactly authorityKeyIdentifier (keyIdentifier = the
/// issuer's SKI, non-critical) and cRLNumber (non-critical, in `0..2^64`).
///
/// # Errors
/// [`CertError::Lint`] with every broken rule; [`CertError::Der`] if the
/// issuer certificate cannot be read.
pub fn lint_crl(tbs: &TbsCertList, issuer: &Certificate) -> Result<(), CertError> {
    let mut out = Findings::default();
    let itbs = issuer.tbs_certificate();

    if let Some(why) = crl_issuer_problem(issuer)? {
        out.add("issuer.not_crl_signer", why);
    }
    if tbs.version != Version::V2 {
        out.add("crl.version", format!("{:?}, expected V2", tbs.version));
    }
    lint_signature_algorithm(&tbs.signature, &mut out);
    if tbs.issuer.is_empty() {
        out.add("issuer.empty", "issuer must be a non-empty DN");
    }
    if &tbs.issuer != itbs.subject() {
        out.add(
            "issuer.mismatch",
            format!(
                "issuer {} differs from issuer subject {}",
                tbs.issuer,
                itbs.subject()
            ),
        );
    }
    lint_crl_times(tbs, itbs.validity(), &mut out);
    lint_revoked(tbs, &mut out);
    lint_crl_extensions(tbs, &issuer_key_id(issuer)?, &mut out);
    out.finish()
}

fn lint_crl_times(tbs: &TbsCertList, issuer_validity: &Validity, out: &mut Findings) {
    let this = tbs.this_update;
    if !rfc5280_time_choice(&this) {
        out.add(
            "crl.time_encoding",
            format!("thisUpdate {this}: UTCTime through 2049, GeneralizedTime from 2050"),
        );
    }
    match tbs.next_update {
        None => out.add(
            "crl.next_update.missing",
            "RFC 5280 5.1.2.5: conforming CRL issuers must include nextUpdate",
        ),
        Some(next) => {
            if !rfc5280_time_choice(&next) {
                out.add(
                    "crl.time_encoding",
                    format!("nextUpdate {next}: UTCTime through 2049, GeneralizedTime from 2050"),
                );
            }
            if next.to_unix_duration() <= this.to_unix_duration() {
                out.add(
                    "crl.next_update.order",
                    format!("nextUpdate {next} is not after thisUpdate {this}"),
                );
            }
        }
    }
    let (inb, ina) = (issuer_validity.not_before, issuer_validity.not_after);
    if this.to_unix_duration() < inb.to_unix_duration()
        || this.to_unix_duration() > ina.to_unix_duration()
    {
        out.add(
            "crl.this_update.outside_issuer",
            format!("thisUpdate {this} not inside issuer's {inb}..{ina}"),
        );
    }
}

fn lint_revoked(tbs: &TbsCertList, out: &mut Findings) {
    let Some(entries) = &tbs.revoked_certificates else {
        return;
    };
    if entries.is_empty() {
        out.add(
            "crl.revoked.empty",
            "RFC 5280 5.1.2.6: omit revokedCertificates when nothing is revoked",
        );
    }
    let mut serials = BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let context = format!("revoked entry {i}: ");
        lint_serial(&entry.serial_number, &context, out);
        if !serials.insert(entry.serial_number.as_bytes()) {
            out.add(
                "crl.entry.duplicate_serial",
                format!("{context}serial number listed twice"),
            );
        }
        let date = entry.revocation_date;
        if !rfc5280_time_choice(&date) {
            out.add(
                "crl.time_encoding",
                format!(
                    "{context}revocationDate {date}: UTCTime through 2049, GeneralizedTime from 2050"
                ),
            );
        }
        if date.to_unix_duration() > tbs.this_update.to_unix_duration() {
            out.add(
                "crl.entry.after_this_update",
                format!(
                    "{context}revocationDate {date} is after thisUpdate {}",
                    tbs.this_update
                ),
            );
        }
        if let Some(extensions) = &entry.crl_entry_extensions {
            lint_entry_extensions(extensions, &context, out);
        }
    }
}

fn lint_entry_extensions(extensions: &[Extension], context: &str, out: &mut Findings) {
    if extensions.is_empty() {
        out.add(
            "crl.entry.extensions_empty",
            format!("{context}crlEntryExtensions must be absent rather than empty"),
        );
    }
    if !lint_extension_set(extensions, CRL_ENTRY_EXTENSIONS, context, out) {
        return;
    }
    match decode_unique::<CrlReason>(extensions) {
        Err(e) => out.add("crl.entry.reason_decode", format!("{context}{e}")),
        Ok(None) => {}
        Ok(Some((critical, reason))) => {
            if critical {
                out.add(
                    "crl.entry.reason_critical",
                    format!("{context}RFC 5280 5.3.1: reasonCode must be non-critical"),
                );
            }
            let problem = match reason {
                CrlReason::Unspecified => Some((
                    "crl.entry.reason_unspecified",
                    "RFC 5280 5.3.1: omit reasonCode rather than write unspecified",
                )),
                CrlReason::CertificateHold => Some((
                    "crl.entry.reason_hold",
                    "certificateHold is not used: this CA never suspends certificates",
                )),
                CrlReason::RemoveFromCRL => Some((
                    "crl.entry.reason_remove_from_crl",
                    "removeFromCRL only belongs in delta CRLs",
                )),
                _ => None,
            };
            if let Some((code, why)) = problem {
                out.add(code, format!("{context}{why}"));
            }
        }
    }
}

fn lint_crl_extensions(tbs: &TbsCertList, issuer_kid: &[u8], out: &mut Findings) {
    let Some(extensions) = tbs.crl_extensions.as_deref().filter(|e| !e.is_empty()) else {
        out.add(
            "crl.extensions.missing",
            "authorityKeyIdentifier and cRLNumber required (RFC 5280 5.2.1, 5.2.3)",
        );
        return;
    };
    if !lint_extension_set(extensions, CRL_EXTENSIONS, "", out) {
        return;
    }
    lint_aki(
        decode_unique::<AuthorityKeyIdentifier>(extensions),
        issuer_kid,
        out,
    );
    match read_crl_number(extensions) {
        Err(e) => out.add(
            "crl_number.range",
            format!("cRLNumber is not an INTEGER in 0..2^64: {e}"),
        ),
        Ok(None) => out.add(
            "crl_number.missing",
            "RFC 5280 5.2.3: conforming CRL issuers must include cRLNumber",
        ),
        Ok(Some((critical, _))) => {
            if critical {
                out.add(
                    "crl_number.critical",
                    "RFC 5280 5.2.3: cRLNumber must be non-critical",
                );
            }
        }
    }
}

/// Reports repeated extensions and extensions outside `allowed`; returns
/// whether every extension appears once (so each can be looked up alone).
fn lint_extension_set(
    extensions: &[Extension],
    allowed: &[ObjectIdentifier],
    context: &str,
    out: &mut Findings,
) -> bool {
    let mut seen = BTreeSet::new();
    let mut unique = true;
    for ext in extensions {
        if !seen.insert(ext.extn_id) {
            unique = false;
            out.add(
                "extensions.duplicate",
                format!("{context}{} appears twice", ext.extn_id),
            );
        }
        if !allowed.contains(&ext.extn_id) {
            out.add(
                "extensions.unexpected",
                format!("{context}{} not in profile", ext.extn_id),
            );
        }
    }
    unique
}

#[derive(Default)]
struct Findings(Vec<LintFinding>);

impl Findings {
    fn add(&mut self, code: &'static str, detail: impl Into<String>) {
        self.0.push(LintFinding {
            code,
            detail: detail.into(),
        });
    }

    fn finish(self) -> Result<(), CertError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CertError::Lint(LintReport { findings: self.0 }))
        }
    }
}

fn lint_header(tbs: &TbsCertificate, out: &mut Findings) {
    if tbs.version() != Version::V3 {
        out.add("version", format!("{:?}, expected V3", tbs.version()));
    }

    lint_serial(tbs.serial_number(), "", out);
    lint_signature_algorithm(tbs.signature(), out);

    if tbs.issuer_unique_id().is_some() || tbs.subject_unique_id().is_some() {
        out.add(
            "unique_id.present",
            "RFC 5280 4.1.2.8: CAs must not generate unique identifiers",
        );
    }
}

/// RFC 5280 4.1.2.2 (also for the serials a CRL lists): positive, at most
/// 20 content octets. `context` prefixes the detail (e.g. which CRL entry).
fn lint_serial(serial: &SerialNumber, context: &str, out: &mut Findings) {
    // The INTEGER content octets, two's complement: the sign is the top bit.
    let serial = serial.as_bytes();
    match serial.first() {
        Some(first) if first & 0x80 != 0 => {
            out.add(
                "serial.negative",
                format!("{context}serial number is negative"),
            );
        }
        _ if serial.iter().all(|b| *b == 0) => {
            out.add("serial.zero", format!("{context}serial number is zero"));
        }
        _ => {}
    }
    if serial.len() > MAX_SERIAL_OCTETS {
        out.add(
            "serial.length",
            format!(
                "{context}{} octets, at most {MAX_SERIAL_OCTETS}",
                serial.len()
            ),
        );
    }
}

/// The signed algorithm identifier: ecdsa-with-SHA256 only.
fn lint_signature_algorithm(alg: &AlgorithmIdentifierOwned, out: &mut Findings) {
    // RFC 5758 3.2: ecdsa-with-SHA256 parameters MUST be absent.
    if alg.oid != ECDSA_WITH_SHA_256 || alg.parameters.is_some() {
        out.add(
            "signature.algorithm",
            format!(
                "{} (parameters {}), expected ecdsa-with-SHA256 without parameters",
                alg.oid,
                if alg.parameters.is_some() {
                    "present"
                } else {
                    "absent"
                }
            ),
        );
    }
}

fn lint_names(tbs: &TbsCertificate, issuer_name: &Name, has_issuer: bool, out: &mut Findings) {
    if tbs.subject().is_empty() {
        out.add("subject.empty", "subject must be a non-empty DN");
    }
    if tbs.issuer().is_empty() {
        out.add("issuer.empty", "issuer must be a non-empty DN");
    }
    if tbs.issuer() != issuer_name {
        out.add(
            "issuer.mismatch",
            format!(
                "issuer {} differs from issuer subject {issuer_name}",
                tbs.issuer()
            ),
        );
    }
    if has_issuer && tbs.subject() == issuer_name {
        out.add(
            "subject.same_as_issuer",
            "a subject with its issuer's name breaks path building",
        );
    }
    for rdn in tbs.subject().iter_rdn().chain(tbs.issuer().iter_rdn()) {
        if rdn.len() != 1 {
            out.add("name.multi_valued_rdn", "each RDN must hold one attribute");
        }
    }
}

fn lint_validity(tbs: &TbsCertificate, issuer_window: Option<(Time, Time)>, out: &mut Findings) {
    let validity = tbs.validity();
    let (nb, na) = (validity.not_before, validity.not_after);
    if nb.to_unix_duration() >= na.to_unix_duration() {
        out.add(
            "validity.order",
            format!("notBefore {nb} is not before notAfter {na}"),
        );
    }
    for (field, time) in [("notBefore", nb), ("notAfter", na)] {
        if !rfc5280_time_choice(&time) {
            out.add(
                "validity.encoding",
                format!("{field} {time}: UTCTime through 2049, GeneralizedTime from 2050"),
            );
        }
    }
    if let Some((inb, ina)) = issuer_window
        && (nb.to_unix_duration() < inb.to_unix_duration()
            || na.to_unix_duration() > ina.to_unix_duration())
    {
        out.add(
            "validity.outside_issuer",
            format!("{nb}..{na} not inside issuer's {inb}..{ina}"),
        );
    }
}

fn rfc5280_time_choice(time: &Time) -> bool {
    let year = |d: DateTime| d.year();
    match time {
        Time::UtcTime(t) => year(t.to_date_time()) <= UtcTime::MAX_YEAR,
        Time::GeneralTime(t) => year(t.to_date_time()) > UtcTime::MAX_YEAR,
    }
}

fn lint_key(
    tbs: &TbsCertificate,
    issuer_spki: &SubjectPublicKeyInfoOwned,
    has_issuer: bool,
    out: &mut Findings,
) {
    let spki = tbs.subject_public_key_info();
    if p256::ecdsa::VerifyingKey::try_from(spki.owned_to_ref()).is_err() {
        out.add(
            "spki.algorithm",
            format!("{}: only ECDSA P-256 keys", spki.algorithm.oid),
        );
    } else if spki.subject_public_key.raw_bytes().first() != Some(&0x04) {
        // RFC 5480 2.2: the uncompressed form is the one every verifier has.
        out.add("spki.point_form", "EC point must be uncompressed");
    }
    if has_issuer && spki == issuer_spki {
        out.add(
            "spki.same_as_issuer",
            "a subject must not share its issuer's key",
        );
    }
}

/// `subject_kid` is the SKI the certificate must carry.
fn lint_extensions(
    tbs: &TbsCertificate,
    rules: &Rules,
    issuer_kid: &[u8],
    subject_kid: &[u8],
    out: &mut Findings,
) {
    let Some(extensions) = tbs.extensions().filter(|e| !e.is_empty()) else {
        out.add("extensions.missing", "profile needs extensions");
        return;
    };

    let mut seen = BTreeSet::new();
    for ext in extensions {
        if !seen.insert(ext.extn_id) {
            out.add(
                "extensions.duplicate",
                format!("{} appears twice", ext.extn_id),
            );
        }
        if !rules.extensions.contains(&ext.extn_id) {
            out.add(
                "extensions.unexpected",
                format!("{} not in profile", ext.extn_id),
            );
        }
    }
    if seen.len() != extensions.len() {
        // get_extension refuses duplicates; the finding above says enough.
        return;
    }

    match (tbs.get_extension::<BasicConstraints>(), rules.ca) {
        (Err(e), _) => out.add("basic_constraints.decode", e.to_string()),
        (Ok(None), Some(_)) => out.add("basic_constraints.missing", "required in CA certificates"),
        (Ok(Some((critical, bc))), Some(path_len)) => {
            if !critical {
                out.add("basic_constraints.not_critical", "RFC 5280 4.2.1.9");
            }
            if !bc.ca {
                out.add("basic_constraints.not_ca", "cA must be TRUE");
            }
            if bc.path_len_constraint != path_len {
                out.add(
                    "basic_constraints.path_len",
                    format!("{:?}, expected {path_len:?}", bc.path_len_constraint),
                );
            }
        }
        // End entity: absent, or present with cA FALSE (RFC 5280 4.2.1.9).
        (Ok(None), None) => {}
        (Ok(Some((_, bc))), None) => {
            if bc.ca {
                out.add(
                    "basic_constraints.ca_in_end_entity",
                    "an end-entity certificate must not assert cA TRUE",
                );
            }
            if bc.path_len_constraint.is_some() {
                out.add(
                    "basic_constraints.path_len",
                    "pathLenConstraint only belongs in CA certificates",
                );
            }
        }
    }

    match tbs.get_extension::<KeyUsage>() {
        Err(e) => out.add("key_usage.decode", e.to_string()),
        Ok(None) => out.add("key_usage.missing", "required by the profile"),
        Ok(Some((critical, ku))) => {
            if !critical {
                out.add("key_usage.not_critical", "profile marks keyUsage critical");
            }
            if ku.0 != rules.key_usage {
                out.add(
                    "key_usage.bits",
                    format!("{:?}, expected {:?}", ku.0, rules.key_usage),
                );
            }
        }
    }

    match tbs.get_extension::<SubjectKeyIdentifier>() {
        Err(e) => out.add("ski.decode", e.to_string()),
        Ok(None) => out.add("ski.missing", "required by the profile (RFC 5280 4.2.1.2)"),
        Ok(Some((critical, ski))) => {
            if critical {
                out.add("ski.critical", "RFC 5280 4.2.1.2: must be non-critical");
            }
            if ski.0.as_bytes() != subject_kid {
                let expected = match rules.role {
                    Role::CrossCa => "the subject root's SKI",
                    _ => "the method 1 identifier of the subject key",
                };
                out.add("ski.mismatch", format!("not {expected}"));
            }
        }
    }

    // RFC 5280 4.2.1.1 allows omitting it only when self-signed; this
    // project always writes it, so a missing AKI is a builder bug.
    lint_aki(
        tbs.get_extension::<AuthorityKeyIdentifier>(),
        issuer_kid,
        out,
    );
}

/// authorityKeyIdentifier of a certificate or CRL: present, non-critical,
/// keyIdentifier only, equal to the issuer's SKI (RFC 5280 4.2.1.1, 5.2.1).
fn lint_aki(
    found: Result<Option<(bool, AuthorityKeyIdentifier)>, der::Error>,
    issuer_kid: &[u8],
    out: &mut Findings,
) {
    match found {
        Err(e) => out.add("aki.decode", e.to_string()),
        Ok(None) => out.add("aki.missing", "profile requires authorityKeyIdentifier"),
        Ok(Some((critical, aki))) => {
            if critical {
                out.add("aki.critical", "RFC 5280 4.2.1.1: must be non-critical");
            }
            if aki.authority_cert_issuer.is_some() || aki.authority_cert_serial_number.is_some() {
                out.add("aki.extra_fields", "only keyIdentifier is used");
            }
            match aki.key_identifier {
                Some(kid) if kid.as_bytes() == issuer_kid => {}
                Some(_) => out.add("aki.mismatch", "keyIdentifier is not the issuer's SKI"),
                None => out.add("aki.no_key_identifier", "keyIdentifier required"),
            }
        }
    }
}

/// The cross-certificate profile's own rules: `subject_root` is a
/// self-signed CA (same name as issuer, a signature that verifies under its
/// own key, CA:TRUE with keyCertSign and room for issuing CAs), and the TBS
/// repeats its subject and key exactly (the SKI is checked with the other
/// extensions). The key differing from the issuer's is the common
/// `spki.same_as_issuer` rule.
fn lint_cross(tbs: &TbsCertificate, subject_root: &Certificate, out: &mut Findings) {
    let root = subject_root.tbs_certificate();
    if root.subject() != root.issuer() {
        out.add(
            "cross.subject_root.not_self_signed",
            format!(
                "subject root {} was issued by {}",
                root.subject(),
                root.issuer()
            ),
        );
    } else if let Err(e) = verify_signed_by(subject_root, subject_root) {
        out.add(
            "cross.subject_root.signature",
            format!("subject root is not signed by its own key: {e}"),
        );
    }
    if let Err(e) = check_issuer(subject_root, CertProfile::IssuingCa) {
        out.add("cross.subject_root.not_ca", e.to_string());
    }
    if tbs.subject() != root.subject() {
        out.add(
            "cross.subject",
            format!(
                "subject {} differs from the subject root's {}",
                tbs.subject(),
                root.subject()
            ),
        );
    }
    if tbs.subject_public_key_info() != root.subject_public_key_info() {
        out.add("cross.spki", "key differs from the subject root's key");
    }
}

/// The holder profiles' own rules: subject form, extended key usage,
/// policy, revocation pointers and the credential extension.
fn lint_holder(tbs: &TbsCertificate, rules: HolderRules, out: &mut Findings) {
    match read_holder_name(tbs.subject()) {
        Err(why) => out.add("subject.holder_form", why),
        Ok((cn, serial)) => {
            let cn_chars = cn.chars().count();
            if cn_chars == 0 {
                out.add("subject.cn_empty", "commonName must not be empty");
            } else if cn_chars > UB_NAME_CHARS {
                out.add(
                    "subject.cn_length",
                    format!("commonName has {cn_chars} characters, at most {UB_NAME_CHARS}"),
                );
            }
            if serial.is_empty() {
                out.add(
                    "subject.serial_number_empty",
                    "serialNumber must not be empty",
                );
            } else if serial.len() > UB_SERIAL_NUMBER_CHARS {
                out.add(
                    "subject.serial_number_length",
                    format!(
                        "serialNumber has {} characters, at most {UB_SERIAL_NUMBER_CHARS}",
                        serial.len()
                    ),
                );
            }
        }
    }

    match tbs.get_extension::<ExtendedKeyUsage>() {
        Err(e) => out.add("eku.decode", e.to_string()),
        Ok(None) => out.add("eku.missing", "extendedKeyUsage clientAuth required"),
        Ok(Some((critical, eku))) => {
            if critical {
                out.add(
                    "eku.critical",
                    "profile marks extendedKeyUsage non-critical",
                );
            }
            if eku.0 != [ID_KP_CLIENT_AUTH] {
                out.add(
                    "eku.purposes",
                    format!("{:?}, expected clientAuth only", eku.0),
                );
            }
        }
    }

    match tbs.get_extension::<CertificatePolicies>() {
        Err(e) => out.add("policies.decode", e.to_string()),
        Ok(None) => out.add("policies.missing", "certificatePolicies required"),
        Ok(Some((critical, policies))) => {
            if critical {
                out.add(
                    "policies.critical",
                    "profile marks certificatePolicies non-critical",
                );
            }
            let only_ours = matches!(
                policies.0.as_slice(),
                [p] if p.policy_identifier == rules.policy && p.policy_qualifiers.is_none()
            );
            if !only_ours {
                out.add(
                    "policies.oid",
                    format!(
                        "expected exactly policy {} without qualifiers",
                        rules.policy
                    ),
                );
            }
        }
    }

    match tbs.get_extension::<CrlDistributionPoints>() {
        Err(e) => out.add("crl_dp.decode", e.to_string()),
        Ok(None) => out.add("crl_dp.missing", "cRLDistributionPoints required"),
        Ok(Some((critical, dps))) => {
            if critical {
                out.add(
                    "crl_dp.critical",
                    "profile marks cRLDistributionPoints non-critical",
                );
            }
            let uri = match dps.0.as_slice() {
                [dp] if dp.reasons.is_none() && dp.crl_issuer.is_none() => {
                    match &dp.distribution_point {
                        Some(DistributionPointName::FullName(names)) => match names.as_slice() {
                            [GeneralName::UniformResourceIdentifier(uri)] => Some(uri.as_str()),
                            _ => None,
                        },
                        _ => None,
                    }
                }
                _ => None,
            };
            match uri.map(|u| (u, http_url_problem(u))) {
                None => out.add(
                    "crl_dp.form",
                    "expected one distribution point: a fullName with one URI",
                ),
                Some((u, Some(problem))) => out.add("crl_dp.uri", format!("{u}: {problem}")),
                Some((_, None)) => {}
            }
        }
    }

    match tbs.get_extension::<AuthorityInfoAccessSyntax>() {
        Err(e) => out.add("aia.decode", e.to_string()),
        Ok(None) => out.add("aia.missing", "authorityInfoAccess with OCSP required"),
        Ok(Some((critical, aia))) => {
            if critical {
                out.add("aia.critical", "RFC 5280 4.2.2.1: must be non-critical");
            }
            let ocsp: Vec<_> = aia
                .0
                .iter()
                .filter(|ad| ad.access_method == ID_AD_OCSP)
                .collect();
            match ocsp.as_slice() {
                [ad] => match &ad.access_location {
                    GeneralName::UniformResourceIdentifier(uri) => {
                        if let Some(problem) = http_url_problem(uri.as_str()) {
                            out.add("aia.ocsp_uri", format!("{uri}: {problem}"));
                        }
                    }
                    _ => out.add("aia.ocsp_uri", "OCSP location must be a URI"),
                },
                _ => out.add(
                    "aia.ocsp",
                    format!("{} OCSP access descriptions, expected one", ocsp.len()),
                ),
            }
        }
    }

    match rules.credential {
        Credential::DateOfBirth => lint_date_of_birth(tbs, out),
        Credential::Licence => lint_licence_info(tbs, out),
    }
}

fn lint_date_of_birth(tbs: &TbsCertificate, out: &mut Findings) {
    match tbs.get_extension::<SubjectDirectoryAttributes>() {
        Err(e) => out.add("sda.decode", e.to_string()),
        Ok(None) => out.add(
            "date_of_birth.missing",
            "subjectDirectoryAttributes required",
        ),
        Ok(Some((critical, attributes))) => {
            if critical {
                out.add("sda.critical", "RFC 5280 4.2.1.8: must be non-critical");
            }
            if attributes.0.len() != 1 {
                out.add(
                    "sda.attributes",
                    format!(
                        "{} attributes, expected dateOfBirth only",
                        attributes.0.len()
                    ),
                );
            }
            match read_date_of_birth(&attributes) {
                Err(why) => out.add("date_of_birth.form", why),
                Ok(None) => out.add("date_of_birth.missing", "dateOfBirth attribute required"),
                Ok(Some(_)) => {}
            }
        }
    }
}

fn lint_licence_info(tbs: &TbsCertificate, out: &mut Findings) {
    match tbs.get_extension::<LicenceInfoDer>() {
        Err(e) => out.add("licence_info.decode", e.to_string()),
        Ok(None) => out.add("licence_info.missing", "licence extension required"),
        Ok(Some((critical, der))) => {
            if critical {
                out.add(
                    "licence_info.critical",
                    "profile marks the licence extension non-critical",
                );
            }
            let info = LicenceInfo::from(der);
            for (field, value) in [
                ("licenceType", &info.licence_type),
                ("licenceNumber", &info.licence_number),
                ("department", &info.department),
            ] {
                if value.trim().is_empty() {
                    out.add("licence_info.empty", format!("{field} must not be empty"));
                }
            }
            let mut names = BTreeSet::new();
            for (name, _) in &info.attributes {
                if name.is_empty() || !names.insert(name.as_str()) {
                    out.add(
                        "licence_info.attribute_name",
                        format!("attribute name {name:?} is empty or repeated"),
                    );
                }
            }
        }
    }
}

/// The delegated OCSP responder profile's own rules (RFC 6960 4.2.2.2):
/// extendedKeyUsage id-kp-OCSPSigning only (non-critical) and
/// id-pkix-ocsp-nocheck, non-critical with a NULL value (4.2.2.2.1).
fn lint_ocsp_responder(tbs: &TbsCertificate, out: &mut Findings) {
    match tbs.get_extension::<ExtendedKeyUsage>() {
        Err(e) => out.add("eku.decode", e.to_string()),
        Ok(None) => out.add(
            "eku.missing",
            "extendedKeyUsage id-kp-OCSPSigning required (RFC 6960 4.2.2.2)",
        ),
        Ok(Some((critical, eku))) => {
            if critical {
                out.add(
                    "eku.critical",
                    "profile marks extendedKeyUsage non-critical",
                );
            }
            if eku.0 != [ID_KP_OCSP_SIGNING] {
                out.add(
                    "eku.purposes",
                    format!("{:?}, expected id-kp-OCSPSigning only", eku.0),
                );
            }
        }
    }
    let no_check = tbs
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == ID_PKIX_OCSP_NOCHECK);
    match no_check {
        None => out.add(
            "ocsp_nocheck.missing",
            "id-pkix-ocsp-nocheck required (RFC 6960 4.2.2.2.1)",
        ),
        Some(ext) => {
            if ext.critical {
                out.add(
                    "ocsp_nocheck.critical",
                    "profile marks id-pkix-ocsp-nocheck non-critical",
                );
            }
            if ext.extn_value.as_bytes() != [0x05, 0x00] {
                out.add("ocsp_nocheck.value", "extnValue must be NULL");
            }
        }
    }
}

/// Who signs an OCSP response, and so what its certificate must be and
/// which CA its definite answers may be about (RFC 6960 4.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OcspResponderKind {
    /// A delegated responder: an end-entity certificate with
    /// id-kp-OCSPSigning, issued by the CA its answers are about.
    Delegated,
    /// The CA itself, with its own certificate and key: how a retired CA,
    /// which may no longer certify a responder key, still answers for what
    /// it issued.
    Issuer,
}

/// Lints the ResponseData of a BasicOCSPResponse before the responder
/// signs it (RFC 6960 4.2.1, 4.2.2.2; RFC 8954 for the nonce).
///
/// Rules: signature ecdsa-with-SHA256 without parameters; responderID
/// byKey = SHA-1 of `responder`'s key; `responder` valid at producedAt and,
/// by `kind`, either a delegated responder carrying id-kp-OCSPSigning and
/// keyUsage digitalSignature (if it has keyUsage), or a CA
/// (basicConstraints CA:TRUE, keyUsage keyCertSign; RFC 6960 asks nothing
/// more of a CA signing its own responses); at least one response; per
/// response a SHA-1 or SHA-256 CertID with digests of the right length, for
/// `good` and `revoked` a CertID naming the CA the responder speaks for
/// (`unknown` may be said about anyone): for a delegated responder an
/// issuer name hash equal to the hash of `responder`'s issuer name, for the
/// CA itself issuer name and key hashes equal to those of `responder`'s own
/// subject and key; thisUpdate not after producedAt, nextUpdate
/// present and not before thisUpdate, a revocationTime not after thisUpdate
/// and a revocationReason that is none of `unspecified` (omit it instead),
/// `certificateHold` (never used here) or `removeFromCRL`, no
/// singleExtensions; responseExtensions absent or exactly one non-critical
/// nonce of RFC 8954 form.
///
/// # Errors
/// [`CertError::Lint`] with every broken rule.
pub(crate) fn lint_ocsp_response(
    tbs: &ResponseData,
    signature_algorithm: &AlgorithmIdentifierOwned,
    responder: &Certificate,
    kind: OcspResponderKind,
) -> Result<(), CertError> {
    let mut out = Findings::default();
    lint_signature_algorithm(signature_algorithm, &mut out);
    let rtbs = responder.tbs_certificate();

    match &tbs.responder_id {
        ResponderId::ByKey(hash)
            if hash.as_bytes() == key_identifier(rtbs.subject_public_key_info()) => {}
        _ => out.add(
            "ocsp.responder_id",
            "responderID must be byKey, the SHA-1 of the responder certificate's key",
        ),
    }
    match kind {
        OcspResponderKind::Delegated => lint_delegated_responder(rtbs, &mut out),
        OcspResponderKind::Issuer => lint_issuer_responder(rtbs, &mut out),
    }
    let produced = tbs.produced_at.to_unix_duration();
    let window = rtbs.validity();
    if produced < window.not_before.to_unix_duration()
        || produced > window.not_after.to_unix_duration()
    {
        out.add(
            "ocsp.responder.validity",
            format!(
                "producedAt {} outside the responder certificate's {}..{}",
                tbs.produced_at.to_date_time(),
                window.not_before,
                window.not_after
            ),
        );
    }

    if tbs.responses.is_empty() {
        out.add("ocsp.responses.empty", "at least one SingleResponse");
    }
    for (i, response) in tbs.responses.iter().enumerate() {
        lint_single_response(
            response,
            tbs,
            responder,
            kind,
            &format!("response {i}: "),
            &mut out,
        );
    }

    if let Some(extensions) = &tbs.response_extensions {
        if extensions.is_empty() {
            out.add(
                "ocsp.extensions.empty",
                "responseExtensions must be absent rather than empty",
            );
        }
        if lint_extension_set(extensions, &[ID_PKIX_OCSP_NONCE], "", &mut out) {
            for nonce in extensions
                .iter()
                .filter(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
            {
                if nonce.critical {
                    out.add("ocsp.nonce.critical", "the nonce is non-critical");
                }
                if let Some(problem) = nonce_problem(nonce.extn_value.as_bytes()) {
                    out.add("ocsp.nonce.form", problem);
                }
            }
        }
    }
    out.finish()
}

/// A delegated responder's certificate (RFC 6960 4.2.2.2): the
/// id-kp-OCSPSigning purpose, and digitalSignature if keyUsage is present.
fn lint_delegated_responder(rtbs: &TbsCertificate, out: &mut Findings) {
    match rtbs.get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if eku.0.contains(&ID_KP_OCSP_SIGNING) => {}
        Ok(_) => out.add(
            "ocsp.responder.eku",
            "responder certificate lacks id-kp-OCSPSigning (RFC 6960 4.2.2.2)",
        ),
        Err(e) => out.add("ocsp.responder.eku", e.to_string()),
    }
    match rtbs.get_extension::<KeyUsage>() {
        Ok(None) => {}
        Ok(Some((_, ku))) if ku.digital_signature() => {}
        Ok(Some(_)) => out.add(
            "ocsp.responder.key_usage",
            "responder certificate's keyUsage lacks digitalSignature",
        ),
        Err(e) => out.add("ocsp.responder.key_usage", e.to_string()),
    }
}

/// The CA signing its own responses: RFC 6960 4.2.2.2 asks for no EKU and
/// no digitalSignature (our CA certificates carry keyCertSign and cRLSign
/// only), but the certificate must be a CA that issues certificates, or
/// there is nothing it could answer for.
fn lint_issuer_responder(rtbs: &TbsCertificate, out: &mut Findings) {
    match rtbs.get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) if bc.ca => {}
        Ok(_) => out.add(
            "ocsp.responder.not_ca",
            "a response signed by the CA itself needs basicConstraints CA:TRUE",
        ),
        Err(e) => out.add("ocsp.responder.not_ca", e.to_string()),
    }
    match rtbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if ku.key_cert_sign() => {}
        Ok(_) => out.add(
            "ocsp.responder.key_cert_sign",
            "a response signed by the CA itself needs keyUsage keyCertSign",
        ),
        Err(e) => out.add("ocsp.responder.key_cert_sign", e.to_string()),
    }
}

/// Whether `id` names `ca` itself: its subject name hash and its key hash,
/// both under `hash`.
fn cert_id_names_ca(id: &CertIdDer, hash: OcspHash, ca: &Certificate) -> bool {
    let tbs = ca.tbs_certificate();
    let name_matches = der::Encode::to_der(tbs.subject())
        .is_ok_and(|name| hash.digest(&name) == id.issuer_name_hash.as_bytes());
    name_matches
        && hash.digest(tbs.subject_public_key_info().subject_public_key.raw_bytes())
            == id.issuer_key_hash.as_bytes()
}

fn lint_single_response(
    response: &SingleResponseDer,
    tbs: &ResponseData,
    responder: &Certificate,
    kind: OcspResponderKind,
    context: &str,
    out: &mut Findings,
) {
    let id = &response.cert_id;
    match OcspHash::from_algorithm(&id.hash_algorithm) {
        None => out.add(
            "ocsp.cert_id.hash",
            format!(
                "{context}CertID hash {} is not SHA-1 or SHA-256",
                id.hash_algorithm.oid
            ),
        ),
        Some(hash) => {
            let lengths_ok = id.issuer_name_hash.as_bytes().len() == hash.digest_len()
                && id.issuer_key_hash.as_bytes().len() == hash.digest_len();
            if !lengths_ok {
                out.add(
                    "ocsp.cert_id.hash_length",
                    format!("{context}CertID digests are not {hash:?} digests"),
                );
            }
            let definite = !matches!(response.cert_status, CertStatusDer::Unknown(_));
            match kind {
                OcspResponderKind::Delegated => {
                    let issuer_name = der::Encode::to_der(responder.tbs_certificate().issuer());
                    let same_issuer = issuer_name
                        .is_ok_and(|name| hash.digest(&name) == id.issuer_name_hash.as_bytes());
                    if definite && !same_issuer {
                        out.add(
                            "ocsp.cert_id.other_issuer",
                            format!(
                                "{context}good or revoked asserted for a CA that did not certify this responder"
                            ),
                        );
                    }
                }
                // The key hash too: after a rotation the retired and the
                // new CA share a name, and each may only answer for its own
                // key's certificates.
                OcspResponderKind::Issuer => {
                    if definite && !cert_id_names_ca(id, hash, responder) {
                        out.add(
                            "ocsp.cert_id.other_issuer",
                            format!(
                                "{context}good or revoked asserted by a CA for a CertID that does not name it (issuer name and key hash)"
                            ),
                        );
                    }
                }
            }
        }
    }

    let this = response.this_update.to_unix_duration();
    if this > tbs.produced_at.to_unix_duration() {
        out.add(
            "ocsp.this_update.after_produced_at",
            format!(
                "{context}thisUpdate {} is after producedAt {}",
                response.this_update.to_date_time(),
                tbs.produced_at.to_date_time()
            ),
        );
    }
    match response.next_update {
        None => out.add(
            "ocsp.next_update.missing",
            format!("{context}nextUpdate required"),
        ),
        Some(next) if next.to_unix_duration() < this => out.add(
            "ocsp.next_update.order",
            format!(
                "{context}nextUpdate {} is before thisUpdate {}",
                next.to_date_time(),
                response.this_update.to_date_time()
            ),
        ),
        Some(_) => {}
    }
    if let CertStatusDer::Revoked(info) = &response.cert_status {
        if info.revocation_time.to_unix_duration() > this {
            out.add(
                "ocsp.revoked.after_this_update",
                format!(
                    "{context}revocationTime {} is after thisUpdate {}",
                    info.revocation_time.to_date_time(),
                    response.this_update.to_date_time()
                ),
            );
        }
        let problem = match info.revocation_reason {
            Some(CrlReason::Unspecified) => Some("unspecified: omit revocationReason instead"),
            Some(CrlReason::CertificateHold) => Some("certificateHold: this CA never suspends"),
            Some(CrlReason::RemoveFromCRL) => Some("removeFromCRL only belongs in delta CRLs"),
            _ => None,
        };
        if let Some(why) = problem {
            out.add("ocsp.revoked.reason", format!("{context}{why}"));
        }
    }
    if response.single_extensions.is_some() {
        out.add(
            "ocsp.single_extensions",
            format!("{context}singleExtensions are not used"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{
        TestResult, YEAR, now, sample_issuing, sample_root, software_signer, test_serial,
    };

    #[test]
    fn built_certificates_pass_their_profiles() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        lint_certificate(&root, CertProfile::RootCa, None)?;
        let (issuing, _) = sample_issuing(&root_signer, &root)?;
        lint_certificate(&issuing, CertProfile::IssuingCa, Some(&root))?;
        Ok(())
    }

    #[test]
    fn wrong_profile_or_issuer_is_reported() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let (issuing, _) = sample_issuing(&root_signer, &root)?;

        let Err(CertError::Lint(report)) =
            lint_certificate(&root, CertProfile::IssuingCa, Some(&root))
        else {
            return Err("root linted as issuing CA must fail".into());
        };
        assert!(report.has("basic_constraints.path_len"));
        assert!(report.has("spki.same_as_issuer"));
        assert!(report.has("subject.same_as_issuer"));

        let Err(CertError::Lint(report)) = lint_certificate(&issuing, CertProfile::RootCa, None)
        else {
            return Err("issuing CA linted as root must fail".into());
        };
        assert!(report.has("issuer.mismatch"));
        assert!(report.has("aki.mismatch"));
        assert!(report.has("basic_constraints.path_len"));

        // Checked against another root, it is outside that root's name and key.
        let other_root = sample_root(&software_signer())?;
        let Err(CertError::Lint(report)) =
            lint_certificate(&issuing, CertProfile::IssuingCa, Some(&other_root))
        else {
            return Err("issuing CA checked against another root must fail".into());
        };
        assert!(report.has("aki.mismatch"));
        Ok(())
    }

    /// The cross profile holds the TBS to the subject root it names: a
    /// cross-certificate checked against another new root is caught on
    /// name, key and SKI.
    #[test]
    fn cross_profile_compares_with_the_subject_root() -> TestResult {
        let old_signer = software_signer();
        let old_root = sample_root(&old_signer)?;
        let new_root = |cn: &str| -> Result<Certificate, CertError> {
            crate::build_root(
                &software_signer(),
                &crate::ca_name(cn, "OneVisit Wallet")?,
                test_serial()?,
                now(),
                now() + YEAR,
            )
        };
        let g2 = new_root("OneVisit Root CA G2")?;
        let cross = crate::build_cross_certificate(
            &old_signer,
            &old_root,
            &g2,
            test_serial()?,
            now(),
            now() + YEAR,
        )?;
        lint_cross_certificate(&cross, &old_root, &g2)?;

        let g3 = new_root("OneVisit Root CA G3")?;
        let Err(CertError::Lint(report)) = lint_cross_certificate(&cross, &old_root, &g3) else {
            return Err("cross-certificate checked against another root must fail".into());
        };
        assert!(report.has("cross.subject"));
        assert!(report.has("cross.spki"));
        assert!(report.has("ski.mismatch"));

        // The cross profile is not the issuing CA profile: pathLen differs.
        let Err(CertError::Lint(report)) =
            lint_certificate(&cross, CertProfile::IssuingCa, Some(&old_root))
        else {
            return Err("cross-certificate linted as issuing CA must fail".into());
        };
        assert!(report.has("basic_constraints.path_len"));
        Ok(())
    }

    #[test]
    fn issuer_must_be_able_to_issue_cas() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        check_issuer(&root, CertProfile::IssuingCa)?;
        let (issuing, _) = sample_issuing(&root_signer, &root)?;
        assert!(matches!(
            check_issuer(&issuing, CertProfile::IssuingCa),
            Err(CertError::IssuerNotCa(_))
        ));
        Ok(())
    }

    #[test]
    fn time_choice_follows_rfc5280() -> TestResult {
        let utc_2049: Time = "2049-12-31T23:59:59Z".parse()?;
        assert!(rfc5280_time_choice(&utc_2049));
        let gen_2049 = Time::GeneralTime(der::asn1::GeneralizedTime::from_date_time(
            utc_2049.to_date_time(),
        ));
        assert!(!rfc5280_time_choice(&gen_2049));
        let gen_2050: Time = "2050-01-01T00:00:00Z".parse()?;
        assert!(matches!(gen_2050, Time::GeneralTime(_)));
        assert!(rfc5280_time_choice(&gen_2050));
        Ok(())
    }
}
