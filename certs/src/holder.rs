//! End-entity profiles for holders: the identity certificate and the
//! licence certificate, both issued to the holder's key by an issuing CA,
//! and the parsers that read their holder data back.
//!
//! Trusts the caller for the facts (name, identity id, date of birth,
//! licence data: an officer vouched for them) but not for their form: every
//! value is checked before it is encoded, and the TBS goes through the same
//! lint-before-sign pipeline as the CA certificates (signed through
//! [`CaSigner`] only once [`crate::lint`] passed). The holder key is trusted
//! to be the holder's: take it from [`crate::csr::verify_csr`], which checked
//! the proof of possession.

use std::{fmt, time::SystemTime};

use const_oid::{
    AssociatedOid, ObjectIdentifier,
    db::{
        rfc2985::PKCS_9_AT_DATE_OF_BIRTH,
        rfc5280::{ID_AD_OCSP, ID_KP_CLIENT_AUTH},
    },
};
use der::{
    Decode, Encode, Sequence, Tag, Tagged,
    asn1::{Any, Ia5String, OctetString, SetOfVec},
};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::{
    Certificate, TbsCertificate,
    attr::Attribute,
    builder::profile::BuilderProfile,
    ext::{
        Extension, ToExtension,
        pkix::{
            AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
            CertificatePolicies, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages,
            SubjectDirectoryAttributes, SubjectKeyIdentifier,
            certpolicy::PolicyInformation,
            crl::dp::DistributionPoint,
            name::{DistributionPointName, GeneralName},
        },
    },
    name::Name,
    serial_number::SerialNumber,
};

use crate::{
    CaSigner, CertError, key_identifier,
    lint::{CertProfile, check_issuer, issuer_key_id},
    name::{holder_name, read_holder_name},
    oids::{IDENTITY_POLICY, LICENCE_INFO, LICENCE_POLICY},
    signer::{Issuance, issue},
    validity::clamp_to_issuer,
};

/// `id-pda-dateOfBirth` (RFC 3739 3.2.2), 1.3.6.1.5.5.7.9.1. `const-oid`
/// files it under PKCS #9, which reuses the same OID.
pub const ID_PDA_DATE_OF_BIRTH: ObjectIdentifier = PKCS_9_AT_DATE_OF_BIRTH;

/// A date of birth (proleptic Gregorian calendar).
///
/// Fields are public for reading; a value built by hand is checked again
/// when it is put into a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BirthDate {
    /// 1 to 9999.
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
    /// 1 to the length of the month.
    pub day: u8,
}

impl BirthDate {
    /// Parses `YYYY-MM-DD` (exactly four, two and two ASCII digits).
    ///
    /// Only the form and the calendar are checked; whether the date is in the
    /// past is for the caller, who has a clock.
    ///
    /// # Errors
    /// [`CertError::InvalidBirthDate`] for any other form or a date that does
    /// not exist (`2023-02-29`, `2024-04-31`, month 13, year 0).
    pub fn parse(text: &str) -> Result<Self, CertError> {
        let bad = || CertError::InvalidBirthDate(format!("{text:?} is not a YYYY-MM-DD date"));
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let date = BirthDate {
            year: digits(text, 0, 4).ok_or_else(bad)?,
            month: digits(text, 5, 7).ok_or_else(bad)?,
            day: digits(text, 8, 10).ok_or_else(bad)?,
        };
        date.check()?;
        Ok(date)
    }

    /// Checks that the date exists.
    fn check(&self) -> Result<(), CertError> {
        let valid = (1..=9999).contains(&self.year)
            && (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month);
        if valid {
            Ok(())
        } else {
            Err(CertError::InvalidBirthDate(format!(
                "{self} is not a calendar date"
            )))
        }
    }

    /// The RFC 3739 value: GeneralizedTime at 12:00:00Z of the date.
    ///
    /// Encoded by hand: `der`'s `GeneralizedTime` cannot hold dates before
    /// 1970, and most holders were born before then.
    fn to_generalized_time(self) -> Result<Any, CertError> {
        self.check()?;
        let text = format!("{:04}{:02}{:02}120000Z", self.year, self.month, self.day);
        Ok(Any::new(Tag::GeneralizedTime, text.into_bytes())?)
    }

    /// Reads the [`Self::to_generalized_time`] form back; nothing else.
    fn from_generalized_time(value: &Any) -> Result<Self, String> {
        if value.tag() != Tag::GeneralizedTime {
            return Err(format!("{} instead of GeneralizedTime", value.tag()));
        }
        let text = std::str::from_utf8(value.value())
            .ok()
            .filter(|t| t.len() == 15 && t.ends_with("120000Z"))
            .ok_or("not YYYYMMDD120000Z (RFC 3739: noon GMT)")?;
        let (year, month, day) = (&text[0..4], &text[4..6], &text[6..8]);
        BirthDate::parse(&format!("{year}-{month}-{day}")).map_err(|e| e.to_string())
    }
}

impl fmt::Display for BirthDate {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn digits<T: std::str::FromStr>(text: &str, start: usize, end: usize) -> Option<T> {
    text.get(start..end)
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
}

fn days_in_month(year: u16, month: u8) -> u8 {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Who a holder certificate is about: subject `CN=<full_name>,
/// serialNumber=<identity_id>` (commonName UTF8String, at most 64
/// characters; serialNumber PrintableString, at most 64), no other RDNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderSubject {
    /// The holder's full name as the officer recorded it.
    pub full_name: String,
    /// The identity id (a UUID in this service), the same in every
    /// certificate of that person.
    pub identity_id: String,
}

/// Where relying parties check revocation: written into every holder
/// certificate as the CRL distribution point and the AIA OCSP location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `http://` or `https://` URL of the issuing CA's DER CRL.
    pub crl_url: String,
    /// `http://` or `https://` URL of the OCSP responder.
    pub ocsp_url: String,
}

/// Everything an identity certificate is made of, apart from the issuer.
#[derive(Debug, Clone)]
pub struct IdentityRequest {
    /// Subject name data.
    pub subject: HolderSubject,
    /// Written as the RFC 3739 dateOfBirth subject directory attribute.
    pub birth_date: BirthDate,
    /// The holder's key, from a verified CSR.
    pub holder_spki: SubjectPublicKeyInfoOwned,
    /// From the caller's CSPRNG ([`crate::random_serial`]).
    pub serial: SerialNumber,
    /// Start of validity (raised to the issuer's notBefore if earlier).
    pub not_before: SystemTime,
    /// End of validity (lowered to the issuer's notAfter if later).
    pub not_after: SystemTime,
    /// CRL and OCSP locations.
    pub endpoints: Endpoints,
}

/// The licence extension's content (DESIGN.md "Credentials"):
///
/// ```text
/// LicenceInfo ::= SEQUENCE {
///   licenceType   UTF8String,
///   licenceNumber UTF8String,
///   department    UTF8String,
///   attributes    SEQUENCE OF SEQUENCE { name UTF8String, value UTF8String } }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceInfo {
    /// Licence type id from the catalog, e.g. `business`.
    pub licence_type: String,
    /// Licence number, unique per type.
    pub licence_number: String,
    /// Issuing department, e.g. `market-regulation`.
    pub department: String,
    /// `(name, value)` pairs, encoded in this order (callers sort them).
    pub attributes: Vec<(String, String)>,
}

/// DER shape of [`LicenceInfo`]; also the decoder `get_extension` uses.
#[derive(Sequence)]
pub(crate) struct LicenceInfoDer {
    licence_type: String,
    licence_number: String,
    department: String,
    attributes: Vec<LicenceAttributeDer>,
}

#[derive(Sequence)]
struct LicenceAttributeDer {
    name: String,
    value: String,
}

impl AssociatedOid for LicenceInfoDer {
    const OID: ObjectIdentifier = LICENCE_INFO;
}

impl From<LicenceInfoDer> for LicenceInfo {
    fn from(der: LicenceInfoDer) -> Self {
        LicenceInfo {
            licence_type: der.licence_type,
            licence_number: der.licence_number,
            department: der.department,
            attributes: der
                .attributes
                .into_iter()
                .map(|a| (a.name, a.value))
                .collect(),
        }
    }
}

impl LicenceInfo {
    /// The DER encoding: the licence extension's extnValue content.
    ///
    /// # Errors
    /// [`CertError::Der`] if a value is too long to encode.
    pub fn to_der(&self) -> Result<Vec<u8>, CertError> {
        let der = LicenceInfoDer {
            licence_type: self.licence_type.clone(),
            licence_number: self.licence_number.clone(),
            department: self.department.clone(),
            attributes: self
                .attributes
                .iter()
                .map(|(name, value)| LicenceAttributeDer {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        };
        Ok(der.to_der()?)
    }

    /// Parses exactly one DER `LicenceInfo` (strict DER, no trailing bytes).
    /// Contents are not judged here; the lint does that before signing.
    ///
    /// # Errors
    /// [`CertError::Der`] for anything else.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        Ok(LicenceInfoDer::from_der(der)?.into())
    }
}

/// Everything a licence certificate is made of, apart from the issuer.
#[derive(Debug, Clone)]
pub struct LicenceRequest {
    /// The holder's subject, the same as in their identity certificate.
    pub subject: HolderSubject,
    /// The holder's key, the same as in their identity certificate.
    pub holder_spki: SubjectPublicKeyInfoOwned,
    /// From the caller's CSPRNG ([`crate::random_serial`]).
    pub serial: SerialNumber,
    /// Start of validity (raised to the issuer's notBefore if earlier).
    pub not_before: SystemTime,
    /// End of validity (lowered to the issuer's notAfter if later).
    pub not_after: SystemTime,
    /// CRL and OCSP locations.
    pub endpoints: Endpoints,
    /// The licence extension's content.
    pub info: LicenceInfo,
}

/// Builds and signs an identity certificate.
///
/// Profile: v3, ecdsa-with-SHA256, issuer = the issuing CA's subject,
/// subject `CN=<full name>, serialNumber=<identity id>`; extensions in this
/// order: basicConstraints CA:FALSE (critical), keyUsage digitalSignature
/// (critical), extendedKeyUsage clientAuth, certificatePolicies
/// [`IDENTITY_POLICY`], cRLDistributionPoints (fullName URI), authorityInfoAccess
/// (OCSP URI), SKI (method 1), AKI (the issuer's SKI), and
/// subjectDirectoryAttributes with dateOfBirth (non-critical). The validity is
/// clamped into the issuer's ([`clamp_to_issuer`]).
///
/// # Errors
/// [`CertError::IssuerNotCa`] if `issuer_cert` cannot issue certificates;
/// [`CertError::InvalidName`], [`CertError::InvalidBirthDate`],
/// [`CertError::InvalidUrl`] for values that cannot go into the profile;
/// [`CertError::SignerMismatch`] if `issuer_signer` is not `issuer_cert`'s
/// key; [`CertError::Lint`] (nothing signed) if the TBS breaks the profile,
/// e.g. an empty validity after clamping or the issuer's own key as holder
/// key; [`CertError::Signer`] / [`CertError::SignatureSelfCheck`] from
/// signing.
pub fn build_identity_cert<S: CaSigner>(
    issuer_signer: &S,
    issuer_cert: &Certificate,
    req: &IdentityRequest,
) -> Result<Certificate, CertError> {
    let date_of_birth = Attribute {
        oid: ID_PDA_DATE_OF_BIRTH,
        values: SetOfVec::try_from(vec![req.birth_date.to_generalized_time()?])?,
    };
    let attributes = SubjectDirectoryAttributes(vec![date_of_birth]);
    issue_holder(
        issuer_signer,
        issuer_cert,
        HolderParts {
            profile: CertProfile::Identity,
            policy: IDENTITY_POLICY,
            subject: &req.subject,
            holder_spki: &req.holder_spki,
            serial: &req.serial,
            not_before: req.not_before,
            not_after: req.not_after,
            endpoints: &req.endpoints,
            credential: (false, &attributes).to_extension(&Name::default(), &[])?,
        },
    )
}

/// Builds and signs a licence certificate.
///
/// Profile: as [`build_identity_cert`], with certificatePolicies
/// [`LICENCE_POLICY`] and, instead of subjectDirectoryAttributes, the
/// non-critical [`LICENCE_INFO`] extension holding [`LicenceInfo::to_der`].
///
/// # Errors
/// As [`build_identity_cert`]; the lint also refuses an empty licence type,
/// number or department and empty or repeated attribute names.
pub fn build_licence_cert<S: CaSigner>(
    issuer_signer: &S,
    issuer_cert: &Certificate,
    req: &LicenceRequest,
) -> Result<Certificate, CertError> {
    let credential = Extension {
        extn_id: LICENCE_INFO,
        critical: false,
        extn_value: OctetString::new(req.info.to_der()?)?,
    };
    issue_holder(
        issuer_signer,
        issuer_cert,
        HolderParts {
            profile: CertProfile::Licence,
            policy: LICENCE_POLICY,
            subject: &req.subject,
            holder_spki: &req.holder_spki,
            serial: &req.serial,
            not_before: req.not_before,
            not_after: req.not_after,
            endpoints: &req.endpoints,
            credential,
        },
    )
}

/// The licence extension of `cert`, if it has one.
///
/// # Errors
/// [`CertError::Der`] if the extension is repeated or its content is not a
/// DER `LicenceInfo`.
pub fn licence_info(cert: &Certificate) -> Result<Option<LicenceInfo>, CertError> {
    Ok(cert
        .tbs_certificate()
        .get_extension::<LicenceInfoDer>()?
        .map(|(_, der)| der.into()))
}

/// The holder subject of `cert`.
///
/// # Errors
/// [`CertError::InvalidName`] unless the subject is exactly commonName
/// (UTF8String) then serialNumber (PrintableString), one per RDN.
pub fn holder_subject(cert: &Certificate) -> Result<HolderSubject, CertError> {
    let (full_name, identity_id) =
        read_holder_name(cert.tbs_certificate().subject()).map_err(CertError::InvalidName)?;
    Ok(HolderSubject {
        full_name,
        identity_id,
    })
}

/// The dateOfBirth of an identity certificate, if it has one.
///
/// # Errors
/// [`CertError::Der`] if subjectDirectoryAttributes is repeated or
/// malformed; [`CertError::InvalidBirthDate`] if dateOfBirth is not one
/// GeneralizedTime at noon of a real date.
pub fn birth_date(cert: &Certificate) -> Result<Option<BirthDate>, CertError> {
    match cert
        .tbs_certificate()
        .get_extension::<SubjectDirectoryAttributes>()?
    {
        None => Ok(None),
        Some((_, attributes)) => {
            read_date_of_birth(&attributes).map_err(CertError::InvalidBirthDate)
        }
    }
}

/// The dateOfBirth attribute among `attributes`: absent, or present once
/// with exactly one value of the RFC 3739 form.
pub(crate) fn read_date_of_birth(
    attributes: &SubjectDirectoryAttributes,
) -> Result<Option<BirthDate>, String> {
    let mut found = attributes
        .0
        .iter()
        .filter(|a| a.oid == ID_PDA_DATE_OF_BIRTH);
    let Some(attribute) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err("dateOfBirth attribute repeated".into());
    }
    let values: Vec<_> = attribute.values.iter().collect();
    let [value] = values.as_slice() else {
        return Err(format!("{} dateOfBirth values, expected one", values.len()));
    };
    BirthDate::from_generalized_time(value).map(Some)
}

/// Why `url` cannot be a CRL or OCSP location, if it cannot: it must be an
/// `http://` or `https://` URL with a host, in printable ASCII without
/// spaces (an IA5String URI, RFC 5280 4.2.1.13 and 4.2.2.1).
pub(crate) fn http_url_problem(url: &str) -> Option<&'static str> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Some("scheme must be http:// or https://");
    };
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("only printable ASCII without spaces is allowed");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Some("no host");
    }
    None
}

fn endpoint_uri(what: &str, url: &str) -> Result<GeneralName, CertError> {
    if let Some(problem) = http_url_problem(url) {
        return Err(CertError::InvalidUrl(format!(
            "{what} URL {url:?}: {problem}"
        )));
    }
    Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(url)?))
}

/// What differs between the two holder profiles, plus the request fields
/// they share.
struct HolderParts<'a> {
    profile: CertProfile,
    policy: ObjectIdentifier,
    subject: &'a HolderSubject,
    holder_spki: &'a SubjectPublicKeyInfoOwned,
    serial: &'a SerialNumber,
    not_before: SystemTime,
    not_after: SystemTime,
    endpoints: &'a Endpoints,
    /// subjectDirectoryAttributes or the licence extension.
    credential: Extension,
}

fn issue_holder<S: CaSigner>(
    signer: &S,
    issuer_cert: &Certificate,
    parts: HolderParts<'_>,
) -> Result<Certificate, CertError> {
    check_issuer(issuer_cert, parts.profile)?;
    let subject = holder_name(&parts.subject.full_name, &parts.subject.identity_id)?;

    let crl = DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![endpoint_uri(
            "CRL",
            &parts.endpoints.crl_url,
        )?])),
        reasons: None,
        crl_issuer: None,
    };
    let ocsp = AccessDescription {
        access_method: ID_AD_OCSP,
        access_location: endpoint_uri("OCSP", &parts.endpoints.ocsp_url)?,
    };
    let basic = BasicConstraints {
        ca: false,
        path_len_constraint: None,
    };
    let usage = KeyUsage(KeyUsages::DigitalSignature.into());
    let extended = ExtendedKeyUsage(vec![ID_KP_CLIENT_AUTH]);
    let policies = CertificatePolicies(vec![PolicyInformation {
        policy_identifier: parts.policy,
        policy_qualifiers: None,
    }]);
    let ski = SubjectKeyIdentifier(OctetString::new(
        key_identifier(parts.holder_spki).to_vec(),
    )?);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(issuer_key_id(issuer_cert)?)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let extensions = vec![
        (true, &basic).to_extension(&subject, &[])?,
        (true, &usage).to_extension(&subject, &[])?,
        (false, &extended).to_extension(&subject, &[])?,
        (false, &policies).to_extension(&subject, &[])?,
        (false, &CrlDistributionPoints(vec![crl])).to_extension(&subject, &[])?,
        (false, &AuthorityInfoAccessSyntax(vec![ocsp])).to_extension(&subject, &[])?,
        (false, &ski).to_extension(&subject, &[])?,
        (false, &aki).to_extension(&subject, &[])?,
        parts.credential,
    ];

    issue(
        signer,
        Issuance {
            builder_profile: HolderBuilderProfile {
                subject,
                issuer: issuer_cert.tbs_certificate().subject().clone(),
                extensions,
            },
            lint_profile: parts.profile,
            issuer: Some(issuer_cert),
            subject_root: None,
            serial: parts.serial.clone(),
            validity: clamp_to_issuer(parts.not_before, parts.not_after, issuer_cert)?,
            subject_spki: parts.holder_spki.clone(),
        },
    )
}

/// x509-cert builder profile for holder certificates; the extensions are
/// made up front (they depend only on the request and the issuer).
pub(crate) struct HolderBuilderProfile {
    pub(crate) subject: Name,
    pub(crate) issuer: Name,
    pub(crate) extensions: Vec<Extension>,
}

impl BuilderProfile for HolderBuilderProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        LintReport, build_issuing_ca, build_root, ca_name, from_der,
        lint::lint_certificate,
        test_support::{
            TestResult, TestSigner, YEAR, external, now, sample_identity_request, sample_issuing,
            sample_licence_info, sample_licence_request, sample_root, software_signer, test_serial,
        },
        to_der, validity_unix, verify_signed_by,
    };
    use const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
    use der::asn1::ObjectIdentifier as Oid;
    use std::time::Duration;

    type Chain = (Certificate, Certificate, TestSigner);

    /// Root, issuing CA and the issuing CA's signer.
    fn chain() -> Result<Chain, CertError> {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let (issuing, issuing_signer) = sample_issuing(&root_signer, &root)?;
        Ok((root, issuing, issuing_signer))
    }

    fn extension_summary(cert: &Certificate) -> Vec<(Oid, bool)> {
        cert.tbs_certificate()
            .extensions()
            .map(|exts| exts.iter().map(|e| (e.extn_id, e.critical)).collect())
            .unwrap_or_default()
    }

    fn expect_lint(result: Result<Certificate, CertError>, code: &str) -> TestResult {
        match result {
            Err(CertError::Lint(report)) if report.has(code) => Ok(()),
            other => Err(format!("expected lint {code}, got {other:?}").into()),
        }
    }

    /// What the two holder profiles share, checked on a parsed certificate.
    fn check_common(cert: &Certificate, issuing: &Certificate, holder: &TestSigner) -> TestResult {
        let tbs = cert.tbs_certificate();
        assert_eq!(tbs.version(), x509_cert::Version::V3);
        assert_eq!(tbs.signature().oid, ECDSA_WITH_SHA_256);
        assert!(tbs.signature().parameters.is_none());
        assert_eq!(cert.signature_algorithm(), tbs.signature());
        assert_eq!(tbs.issuer(), issuing.tbs_certificate().subject());
        assert_eq!(tbs.subject_public_key_info(), &holder.spki()?);
        assert_eq!(holder_subject(cert)?, crate::test_support::sample_subject());

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
        assert_eq!(eku.0, [ID_KP_CLIENT_AUTH]);
        let Some((_, dps)) = tbs.get_extension::<CrlDistributionPoints>()? else {
            return Err("cRLDistributionPoints missing".into());
        };
        let crl_uri = GeneralName::UniformResourceIdentifier(Ia5String::new(
            "http://127.0.0.1:8080/v1/crl/5e1ec7ed",
        )?);
        assert_eq!(
            dps.0,
            [DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![crl_uri])),
                reasons: None,
                crl_issuer: None,
            }]
        );
        let Some((_, aia)) = tbs.get_extension::<AuthorityInfoAccessSyntax>()? else {
            return Err("authorityInfoAccess missing".into());
        };
        assert_eq!(
            aia.0,
            [AccessDescription {
                access_method: ID_AD_OCSP,
                access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(
                    "http://127.0.0.1:8080/ocsp"
                )?),
            }]
        );
        let Some((_, ski)) = tbs.get_extension::<SubjectKeyIdentifier>()? else {
            return Err("SKI missing".into());
        };
        assert_eq!(ski.0.as_bytes(), key_identifier(&holder.spki()?));
        let Some((_, aki)) = tbs.get_extension::<AuthorityKeyIdentifier>()? else {
            return Err("AKI missing".into());
        };
        assert_eq!(
            aki.key_identifier.map(|k| k.as_bytes().to_vec()),
            Some(issuer_key_id(issuing)?)
        );
        assert!(aki.authority_cert_issuer.is_none() && aki.authority_cert_serial_number.is_none());

        verify_signed_by(cert, issuing)?;
        Ok(())
    }

    #[test]
    fn identity_certificate_has_the_profile() -> TestResult {
        let (_, issuing, issuing_signer) = chain()?;
        let holder = software_signer();
        let req = sample_identity_request(holder.spki()?)?;
        let cert = build_identity_cert(&issuing_signer, &issuing, &req)?;
        assert_eq!(issuing_signer.calls(), 1);
        // Parse back from DER: test what a verifier sees.
        let cert = from_der(&to_der(&cert)?)?;

        check_common(&cert, &issuing, &holder)?;
        assert_eq!(
            extension_summary(&cert),
            vec![
                (BasicConstraints::OID, true),
                (KeyUsage::OID, true),
                (ExtendedKeyUsage::OID, false),
                (CertificatePolicies::OID, false),
                (CrlDistributionPoints::OID, false),
                (AuthorityInfoAccessSyntax::OID, false),
                (SubjectKeyIdentifier::OID, false),
                (AuthorityKeyIdentifier::OID, false),
                (SubjectDirectoryAttributes::OID, false),
            ]
        );
        let tbs = cert.tbs_certificate();
        let Some((_, policies)) = tbs.get_extension::<CertificatePolicies>()? else {
            return Err("certificatePolicies missing".into());
        };
        assert_eq!(
            policies.0,
            [PolicyInformation {
                policy_identifier: IDENTITY_POLICY,
                policy_qualifiers: None,
            }]
        );
        let Some((_, sda)) = tbs.get_extension::<SubjectDirectoryAttributes>()? else {
            return Err("subjectDirectoryAttributes missing".into());
        };
        let [attribute] = sda.0.as_slice() else {
            return Err("one attribute expected".into());
        };
        assert_eq!(attribute.oid.to_string(), "1.3.6.1.5.5.7.9.1");
        let values: Vec<_> = attribute.values.iter().collect();
        let [value] = values.as_slice() else {
            return Err("one value expected".into());
        };
        assert_eq!(value.to_der()?, b"\x18\x0f19580317120000Z");
        assert_eq!(birth_date(&cert)?, Some(req.birth_date));
        assert_eq!(licence_info(&cert)?, None);

        // The requested period lies inside the issuer's, so it is kept.
        let (nb, na) = validity_unix(&cert);
        let secs = |t: SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        };
        assert_eq!((nb, na), (secs(req.not_before)?, secs(req.not_after)?));

        lint_certificate(&cert, CertProfile::Identity, Some(&issuing))?;
        Ok(())
    }

    #[test]
    fn licence_certificate_has_the_profile() -> TestResult {
        let (_, issuing, issuing_signer) = chain()?;
        let holder = software_signer();
        let req = sample_licence_request(holder.spki()?)?;
        let cert = build_licence_cert(&issuing_signer, &issuing, &req)?;
        let cert = from_der(&to_der(&cert)?)?;

        check_common(&cert, &issuing, &holder)?;
        assert_eq!(
            extension_summary(&cert),
            vec![
                (BasicConstraints::OID, true),
                (KeyUsage::OID, true),
                (ExtendedKeyUsage::OID, false),
                (CertificatePolicies::OID, false),
                (CrlDistributionPoints::OID, false),
                (AuthorityInfoAccessSyntax::OID, false),
                (SubjectKeyIdentifier::OID, false),
                (AuthorityKeyIdentifier::OID, false),
                (LICENCE_INFO, false),
            ]
        );
        let tbs = cert.tbs_certificate();
        let Some((_, policies)) = tbs.get_extension::<CertificatePolicies>()? else {
            return Err("certificatePolicies missing".into());
        };
        assert_eq!(policies.0.len(), 1);
        assert_eq!(policies.0[0].policy_identifier, LICENCE_POLICY);
        let extension = tbs
            .extensions()
            .and_then(|exts| exts.iter().find(|e| e.extn_id == LICENCE_INFO))
            .ok_or("licence extension missing")?;
        assert_eq!(extension.extn_value.as_bytes(), req.info.to_der()?);
        assert_eq!(licence_info(&cert)?, Some(sample_licence_info()));
        assert_eq!(birth_date(&cert)?, None);

        lint_certificate(&cert, CertProfile::Licence, Some(&issuing))?;
        Ok(())
    }

    #[test]
    fn licence_info_der_is_exact_and_round_trips() -> TestResult {
        let small = LicenceInfo {
            licence_type: "business".into(),
            licence_number: "BUS-1".into(),
            department: "mr".into(),
            attributes: vec![("a".into(), "b".into())],
        };
        let der = small.to_der()?;
        assert_eq!(
            der,
            [
                &[0x30, 0x1f][..],
                &[0x0c, 0x08],
                b"business",
                &[0x0c, 0x05],
                b"BUS-1",
                &[0x0c, 0x02],
                b"mr",
                &[0x30, 0x08, 0x30, 0x06, 0x0c, 0x01, b'a', 0x0c, 0x01, b'b'],
            ]
            .concat()
        );
        assert_eq!(LicenceInfo::from_der(&der)?, small);

        // No attributes: an empty SEQUENCE OF, not an absent field.
        let bare = LicenceInfo {
            attributes: Vec::new(),
            ..small.clone()
        };
        assert!(bare.to_der()?.ends_with(&[0x30, 0x00]));
        assert_eq!(LicenceInfo::from_der(&bare.to_der()?)?, bare);

        let full = sample_licence_info();
        assert_eq!(LicenceInfo::from_der(&full.to_der()?)?, full);

        // Strict: trailing bytes and other string types are refused.
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(matches!(
            LicenceInfo::from_der(&trailing),
            Err(CertError::Der(_))
        ));
        let mut printable = der;
        printable[2] = 0x13; // licenceType as PrintableString
        assert!(matches!(
            LicenceInfo::from_der(&printable),
            Err(CertError::Der(_))
        ));
        Ok(())
    }

    #[test]
    fn birth_dates_follow_the_calendar() -> TestResult {
        for ok in [
            "2000-02-29",
            "1600-02-29",
            "1900-02-28",
            "1958-03-17",
            "0001-01-01",
        ] {
            assert_eq!(BirthDate::parse(ok)?.to_string(), ok);
        }
        assert_eq!(
            BirthDate::parse("2024-12-31")?,
            BirthDate {
                year: 2024,
                month: 12,
                day: 31
            }
        );
        for bad in [
            "1900-02-29",
            "2023-02-29",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "0000-01-01",
            "2024-1-01",
            "20240101",
            " 2024-01-01",
            "2024-01-01T00:00:00Z",
            "+024-01-01",
            "2024-01-0١",
            "",
        ] {
            assert!(
                matches!(BirthDate::parse(bad), Err(CertError::InvalidBirthDate(_))),
                "{bad:?}"
            );
        }
        Ok(())
    }

    /// Lint-before-sign: a TBS that breaks the profile reaches no signer.
    #[test]
    fn bad_tbs_is_never_signed() -> TestResult {
        // An issuing CA whose validity ended two years ago: clamping leaves
        // an empty period.
        let old_root_signer = software_signer();
        let old_root = build_root(
            &old_root_signer,
            &ca_name("Old Root", "OneVisit Wallet")?,
            test_serial()?,
            now() - 4 * YEAR,
            now() - 2 * YEAR,
        )?;
        let old_issuing_signer = software_signer();
        let old_issuing = build_issuing_ca(
            &old_root_signer,
            &old_root,
            &ca_name("Old Issuing CA", "OneVisit Wallet")?,
            old_issuing_signer.spki()?,
            test_serial()?,
            now() - 4 * YEAR,
            now() - 2 * YEAR,
        )?;
        let holder = software_signer();
        expect_lint(
            build_identity_cert(
                &old_issuing_signer,
                &old_issuing,
                &sample_identity_request(holder.spki()?)?,
            ),
            "validity.order",
        )?;
        expect_lint(
            build_licence_cert(
                &old_issuing_signer,
                &old_issuing,
                &sample_licence_request(holder.spki()?)?,
            ),
            "validity.order",
        )?;
        assert_eq!(old_issuing_signer.calls(), 0);

        let (_, issuing, issuing_signer) = chain()?;
        // Empty licence number, repeated attribute names.
        let mut req = sample_licence_request(holder.spki()?)?;
        req.info.licence_number = String::new();
        req.info.attributes.push(("scope".into(), "again".into()));
        match build_licence_cert(&issuing_signer, &issuing, &req) {
            Err(CertError::Lint(report)) => {
                assert!(report.has("licence_info.empty"), "{report}");
                assert!(report.has("licence_info.attribute_name"), "{report}");
            }
            other => return Err(format!("expected lint failure, got {other:?}").into()),
        }
        // The issuer's own key as the holder's.
        expect_lint(
            build_identity_cert(
                &issuing_signer,
                &issuing,
                &sample_identity_request(issuing_signer.spki()?)?,
            ),
            "spki.same_as_issuer",
        )?;
        // A serial of zero.
        let mut req = sample_identity_request(holder.spki()?)?;
        req.serial = SerialNumber::from(0u8);
        expect_lint(
            build_identity_cert(&issuing_signer, &issuing, &req),
            "serial.zero",
        )?;
        assert_eq!(issuing_signer.calls(), 0);
        Ok(())
    }

    /// Subject rules of the lint, on TBSs the public builders cannot make.
    #[test]
    fn holder_subject_rules_are_linted() -> TestResult {
        use der::asn1::{PrintableStringRef, Utf8StringRef};
        use x509_cert::{
            attr::AttributeTypeAndValue,
            name::{RdnSequence, RelativeDistinguishedName},
        };

        let (_, issuing, issuing_signer) = chain()?;
        let holder = software_signer();
        let good = build_identity_cert(
            &issuing_signer,
            &issuing,
            &sample_identity_request(holder.spki()?)?,
        )?;
        let calls = issuing_signer.calls();
        let extensions = good
            .tbs_certificate()
            .extensions()
            .cloned()
            .unwrap_or_default();

        let name = |cn: &str, serial: &str| -> Result<Name, CertError> {
            let rdn = |oid, value| -> Result<RelativeDistinguishedName, CertError> {
                Ok(RelativeDistinguishedName::try_from(vec![
                    AttributeTypeAndValue { oid, value },
                ])?)
            };
            let rdns = vec![
                rdn(
                    const_oid::db::rfc4519::COMMON_NAME,
                    Any::encode_from(&Utf8StringRef::new(cn)?)?,
                )?,
                rdn(
                    const_oid::db::rfc4519::SERIAL_NUMBER,
                    Any::encode_from(&PrintableStringRef::new(serial)?)?,
                )?,
            ];
            Ok(Name::from_der(&RdnSequence::from(rdns).to_der()?)?)
        };
        let attempt = |subject: Name| {
            issue(
                &issuing_signer,
                Issuance {
                    builder_profile: HolderBuilderProfile {
                        subject,
                        issuer: issuing.tbs_certificate().subject().clone(),
                        extensions: extensions.clone(),
                    },
                    lint_profile: CertProfile::Identity,
                    issuer: Some(&issuing),
                    subject_root: None,
                    serial: test_serial()?,
                    validity: crate::validity(now(), now() + YEAR)?,
                    subject_spki: holder.spki()?,
                },
            )
        };

        expect_lint(attempt(name("", "id-1")?), "subject.cn_empty")?;
        expect_lint(attempt(name(&"x".repeat(65), "id-1")?), "subject.cn_length")?;
        expect_lint(attempt(name("Name", "")?), "subject.serial_number_empty")?;
        expect_lint(
            attempt(ca_name("Holder", "Some Org")?),
            "subject.holder_form",
        )?;
        assert_eq!(issuing_signer.calls(), calls);
        Ok(())
    }

    #[test]
    fn unusable_input_is_refused_before_signing() -> TestResult {
        let (_, issuing, issuing_signer) = chain()?;
        let holder = software_signer();
        let base = sample_identity_request(holder.spki()?)?;

        for url in [
            "ftp://crl.example/ca.crl",
            "http://",
            "http:///ca.crl",
            "http://crl.example/a b",
            "http://crl.exämple/ca.crl",
            "",
        ] {
            let mut req = base.clone();
            req.endpoints.crl_url = url.into();
            let result = build_identity_cert(&issuing_signer, &issuing, &req);
            assert!(
                matches!(result, Err(CertError::InvalidUrl(_))),
                "{url:?}: {result:?}"
            );
            let mut req = base.clone();
            req.endpoints.ocsp_url = url.into();
            let result = build_identity_cert(&issuing_signer, &issuing, &req);
            assert!(
                matches!(result, Err(CertError::InvalidUrl(_))),
                "{url:?}: {result:?}"
            );
        }

        for (full_name, identity_id) in [("", "id"), ("Name", "id_with_underscore"), ("Name", "")] {
            let mut req = base.clone();
            req.subject.full_name = full_name.into();
            req.subject.identity_id = identity_id.into();
            let result = build_identity_cert(&issuing_signer, &issuing, &req);
            assert!(
                matches!(result, Err(CertError::InvalidName(_))),
                "{result:?}"
            );
        }

        let mut req = base.clone();
        req.birth_date = BirthDate {
            year: 2023,
            month: 2,
            day: 29,
        };
        let result = build_identity_cert(&issuing_signer, &issuing, &req);
        assert!(
            matches!(result, Err(CertError::InvalidBirthDate(_))),
            "{result:?}"
        );

        // The wrong signer for this issuer.
        let impostor = software_signer();
        let result = build_identity_cert(&impostor, &issuing, &base);
        assert!(
            matches!(result, Err(CertError::SignerMismatch)),
            "{result:?}"
        );
        assert_eq!(impostor.calls(), 0);
        assert_eq!(issuing_signer.calls(), 0);

        // A holder certificate cannot issue.
        let leaf = build_identity_cert(&issuing_signer, &issuing, &base)?;
        let result = build_identity_cert(
            &holder,
            &leaf,
            &sample_identity_request(software_signer().spki()?)?,
        );
        assert!(
            matches!(result, Err(CertError::IssuerNotCa(_))),
            "{result:?}"
        );
        assert_eq!(holder.calls(), 0);
        Ok(())
    }

    #[test]
    fn validity_is_clamped_into_the_issuers() -> TestResult {
        let (_, issuing, issuing_signer) = chain()?;
        let mut req = sample_identity_request(software_signer().spki()?)?;
        req.not_before = now() - 10 * YEAR;
        req.not_after = now() + 10 * YEAR;
        let cert = build_identity_cert(&issuing_signer, &issuing, &req)?;
        assert_eq!(
            cert.tbs_certificate().validity(),
            issuing.tbs_certificate().validity()
        );
        Ok(())
    }

    #[test]
    fn signer_failure_is_reported() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let failing = TestSigner::new_random().failing();
        let issuing = build_issuing_ca(
            &root_signer,
            &root,
            &ca_name("Failing CA", "OneVisit Wallet")?,
            failing.spki()?,
            test_serial()?,
            now(),
            now() + YEAR,
        )?;
        let req = sample_licence_request(software_signer().spki()?)?;
        let result = build_licence_cert(&failing, &issuing, &req);
        assert!(matches!(result, Err(CertError::Signer(_))), "{result:?}");
        assert_eq!(failing.calls(), 1);
        Ok(())
    }

    /// The holder certificates, checked by tools we did not write.
    #[test]
    fn openssl_and_pkilint_accept_the_holder_certificates() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (root, issuing, issuing_signer) = chain()?;
        let holder = software_signer();

        let identity = build_identity_cert(
            &issuing_signer,
            &issuing,
            &sample_identity_request(holder.spki()?)?,
        )?;
        external::check_leaf(dir.path(), "identity", &root, &issuing, &identity)?;

        let req = sample_licence_request(holder.spki()?)?;
        let licence = build_licence_cert(&issuing_signer, &issuing, &req)?;
        external::check_leaf(dir.path(), "licence", &root, &issuing, &licence)?;

        // A high-S issuing signer (SoftHSM2 makes them about half the time).
        let root_signer = software_signer();
        let high_s = TestSigner::new_random().high_s();
        let high_s_issuing = build_issuing_ca(
            &root_signer,
            &sample_root(&root_signer)?,
            &ca_name("High-S CA", "OneVisit Wallet")?,
            high_s.spki()?,
            test_serial()?,
            now() - Duration::from_secs(60),
            now() + YEAR,
        )?;
        let high_s_leaf = build_licence_cert(&high_s, &high_s_issuing, &req)?;
        assert!(external::signature_is_high_s(&high_s_leaf)?);
        verify_signed_by(&high_s_leaf, &high_s_issuing)?;

        // The licence extension's bytes, read by OpenSSL's ASN.1 parser.
        let text = external::asn1parse(dir.path(), "licence-info", &req.info.to_der()?)?;
        let utf8: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("UTF8STRING"))
            .filter_map(|l| l.split_once("UTF8STRING").map(|(_, v)| v.trim_start()))
            .filter_map(|v| v.strip_prefix(':'))
            .collect();
        assert_eq!(
            utf8,
            [
                "business",
                "BUS-2025-000042",
                "market-regulation",
                "company_name",
                // OpenSSL prints UTF-8 bytes as they are.
                "龙门客栈有限公司",
                "scope",
                "lodging, catering",
                "unified_social_credit_code",
                "91350100M000100Y43",
            ],
            "{text}"
        );
        // Outer SEQUENCE, attributes SEQUENCE OF, three pairs.
        let sequences = text.lines().filter(|l| l.contains("SEQUENCE")).count();
        assert_eq!(sequences, 5, "{text}");
        Ok(())
    }

    #[test]
    fn lint_report_lists_the_holder_findings() -> TestResult {
        let (root, issuing, issuing_signer) = chain()?;
        let holder = software_signer();
        let identity = build_identity_cert(
            &issuing_signer,
            &issuing,
            &sample_identity_request(holder.spki()?)?,
        )?;
        let licence = build_licence_cert(
            &issuing_signer,
            &issuing,
            &sample_licence_request(holder.spki()?)?,
        )?;
        let report = |result: Result<(), CertError>| -> Result<LintReport, String> {
            match result {
                Err(CertError::Lint(report)) => Ok(report),
                other => Err(format!("expected lint failure, got {other:?}")),
            }
        };

        let r = report(lint_certificate(
            &identity,
            CertProfile::Licence,
            Some(&issuing),
        ))?;
        for code in [
            "extensions.unexpected",
            "policies.oid",
            "licence_info.missing",
        ] {
            assert!(r.has(code), "{code}: {r}");
        }
        let r = report(lint_certificate(
            &licence,
            CertProfile::Identity,
            Some(&issuing),
        ))?;
        for code in [
            "extensions.unexpected",
            "policies.oid",
            "date_of_birth.missing",
        ] {
            assert!(r.has(code), "{code}: {r}");
        }
        // A CA certificate is no holder certificate.
        let r = report(lint_certificate(
            &issuing,
            CertProfile::Identity,
            Some(&root),
        ))?;
        for code in [
            "basic_constraints.ca_in_end_entity",
            "key_usage.bits",
            "eku.missing",
            "policies.missing",
            "crl_dp.missing",
            "aia.missing",
            "date_of_birth.missing",
            "subject.holder_form",
        ] {
            assert!(r.has(code), "{code}: {r}");
        }
        // Checked against another issuing CA of the same name (a rotated
        // key), the key identifiers tell them apart.
        let (_, other_issuing, _) = chain()?;
        let r = report(lint_certificate(
            &licence,
            CertProfile::Licence,
            Some(&other_issuing),
        ))?;
        assert!(r.has("aki.mismatch") && !r.has("issuer.mismatch"), "{r}");
        Ok(())
    }
}
