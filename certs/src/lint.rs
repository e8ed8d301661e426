//! Profile lint: checks a to-be-signed certificate against this project's
//! RFC 5280 profiles before any signer sees it (lint-before-sign).
//!
//! It trusts nothing in the TBS: it is run on the DER the signer would sign,
//! decoded again, so what is checked is exactly what would be signed. The
//! issuer certificate passed in is trusted as the issuer (it was chosen by
//! the caller), but is itself checked for being able to issue.

use std::collections::BTreeSet;

use const_oid::{
    AssociatedOid,
    db::{
        rfc5280::{ID_AD_OCSP, ID_KP_CLIENT_AUTH},
        rfc5912::ECDSA_WITH_SHA_256,
    },
};
use der::{
    DateTime,
    asn1::{ObjectIdentifier, UtcTime},
    flagset::FlagSet,
    referenced::OwnedToRef,
};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::{
    Certificate, TbsCertificate, Version,
    ext::pkix::{
        AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
        CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectDirectoryAttributes,
        SubjectKeyIdentifier,
        name::{DistributionPointName, GeneralName},
    },
    name::Name,
    time::Time,
};

use crate::{
    CertError, LintFinding, LintReport,
    holder::{LicenceInfo, LicenceInfoDer, http_url_problem, read_date_of_birth},
    key_identifier,
    name::{UB_NAME_CHARS, UB_SERIAL_NUMBER_CHARS, read_holder_name},
    oids::{IDENTITY_POLICY, LICENCE_INFO, LICENCE_POLICY},
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
}

/// What each profile demands; one table so the profiles differ only in data.
struct Rules {
    self_signed: bool,
    /// `Some(path_len)`: a CA, basicConstraints CA:TRUE (critical) with this
    /// pathLen. `None`: an end entity, basicConstraints CA:FALSE or absent.
    ca: Option<Option<u8>>,
    key_usage: FlagSet<KeyUsages>,
    extensions: &'static [ObjectIdentifier],
    /// Rules of the holder profiles; `None` for CAs.
    holder: Option<HolderRules>,
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
                holder: None,
            },
            CertProfile::IssuingCa => Rules {
                self_signed: false,
                ca: Some(Some(0)),
                key_usage: ca_usage,
                extensions: CA_EXTENSIONS,
                holder: None,
            },
            CertProfile::Identity => Rules {
                self_signed: false,
                ca: None,
                key_usage: holder_usage,
                extensions: IDENTITY_EXTENSIONS,
                holder: Some(HolderRules {
                    policy: IDENTITY_POLICY,
                    credential: Credential::DateOfBirth,
                }),
            },
            CertProfile::Licence => Rules {
                self_signed: false,
                ca: None,
                key_usage: holder_usage,
                extensions: LICENCE_EXTENSIONS,
                holder: Some(HolderRules {
                    policy: LICENCE_POLICY,
                    credential: Credential::Licence,
                }),
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
            let subordinate_is_ca = matches!(profile, CertProfile::IssuingCa);
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
/// # Errors
/// [`CertError::Lint`] with every broken rule; [`CertError::Der`] if the
/// issuer certificate cannot be read.
pub fn lint_tbs(
    tbs: &TbsCertificate,
    profile: CertProfile,
    issuer: Option<&Certificate>,
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

    lint_header(tbs, &mut out);
    lint_names(tbs, issuer_name, issuer.is_some(), &mut out);
    lint_validity(tbs, issuer_window, &mut out);
    lint_key(tbs, issuer_spki, issuer.is_some(), &mut out);
    lint_extensions(tbs, &rules, &issuer_kid, &mut out);
    if let Some(holder) = rules.holder {
        lint_holder(tbs, holder, &mut out);
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
    let outer = match lint_tbs(cert.tbs_certificate(), profile, issuer) {
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

    // The INTEGER content octets, two's complement: the sign is the top bit.
    let serial = tbs.serial_number().as_bytes();
    match serial.first() {
        Some(first) if first & 0x80 != 0 => out.add("serial.negative", "serial number is negative"),
        _ if serial.iter().all(|b| *b == 0) => out.add("serial.zero", "serial number is zero"),
        _ => {}
    }
    if serial.len() > MAX_SERIAL_OCTETS {
        out.add(
            "serial.length",
            format!("{} octets, at most {MAX_SERIAL_OCTETS}", serial.len()),
        );
    }

    let alg = tbs.signature();
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

    if tbs.issuer_unique_id().is_some() || tbs.subject_unique_id().is_some() {
        out.add(
            "unique_id.present",
            "RFC 5280 4.1.2.8: CAs must not generate unique identifiers",
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

fn lint_extensions(tbs: &TbsCertificate, rules: &Rules, issuer_kid: &[u8], out: &mut Findings) {
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

    let own_kid = key_identifier(tbs.subject_public_key_info());
    match tbs.get_extension::<SubjectKeyIdentifier>() {
        Err(e) => out.add("ski.decode", e.to_string()),
        Ok(None) => out.add("ski.missing", "required by the profile (RFC 5280 4.2.1.2)"),
        Ok(Some((critical, ski))) => {
            if critical {
                out.add("ski.critical", "RFC 5280 4.2.1.2: must be non-critical");
            }
            if ski.0.as_bytes() != own_kid {
                out.add(
                    "ski.mismatch",
                    "not the method 1 identifier of the subject key",
                );
            }
        }
    }

    match tbs.get_extension::<AuthorityKeyIdentifier>() {
        Err(e) => out.add("aki.decode", e.to_string()),
        // RFC 5280 4.2.1.1 allows omitting it only when self-signed; this
        // project always writes it, so a missing AKI is a builder bug.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{TestResult, sample_issuing, sample_root, software_signer};

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
