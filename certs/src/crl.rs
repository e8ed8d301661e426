//! Certificate revocation lists: complete (not delta) v2 CRLs signed by an
//! issuing CA, their DER form, and the revocation reasons this CA uses.
//!
//! A CRL goes through the same pipeline as a certificate: the TBSCertList is
//! built, encoded, decoded back and linted ([`lint_crl`]); only a TBS that
//! passes is handed to the signer, and the signature is verified under the
//! issuer certificate's public key before the CRL is returned.
//!
//! Trusts the issuer certificate as the issuer the caller chose (it is still
//! checked for cRLSign), the signer for nothing but signatures, and the
//! caller for the list itself: which serials are revoked, when and why, and a
//! CRL number that grows with every CRL of this issuer. No I/O, no clock:
//! every time is a parameter.

use std::{fmt, time::SystemTime};

use const_oid::{AssociatedOid, ObjectIdentifier};
use der::{Decode, Encode, referenced::OwnedToRef};
use p256::ecdsa::VerifyingKey;
use spki::SignatureBitStringEncoding;
use x509_cert::{
    Certificate, Version,
    crl::{RevokedCert, TbsCertList},
    ext::{
        Extension, ToExtension,
        pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason},
    },
    name::Name,
    serial_number::SerialNumber,
};

use crate::{
    CaSigner, CertError,
    lint::{check_crl_issuer, issuer_key_id, lint_crl},
    signer::{sign_checked, signer_spki},
    validity::rfc5280_time,
};

pub use x509_cert::crl::CertificateList;

/// Why a certificate was revoked: the RFC 5280 5.3.1 `CRLReason` codes,
/// named as in the RFC's ASN.1 (`"keyCompromise"`, `"superseded"`, ...).
///
/// Two codes are not accepted by this CA, and [`RevocationReason::from_name`]
/// refuses their names:
/// - `removeFromCRL` (8) has no variant: it is not a revocation reason but
///   an instruction in delta CRLs, and this CA issues complete CRLs only.
/// - `certificateHold` (6) has a variant, so that [`name`](Self::name) and
///   [`code`](Self::code) cover every reason a CRL can carry, but this CA
///   never suspends a certificate: [`build_crl`] refuses an entry with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationReason {
    /// `unspecified` (0): written as an entry without reasonCode.
    Unspecified,
    /// `keyCompromise` (1): the holder's private key is known or suspected
    /// to be compromised.
    KeyCompromise,
    /// `cACompromise` (2): the issuing CA's key is compromised.
    CaCompromise,
    /// `affiliationChanged` (3): the subject's name or other information
    /// changed.
    AffiliationChanged,
    /// `superseded` (4): replaced by a new certificate.
    Superseded,
    /// `cessationOfOperation` (5): no longer needed.
    CessationOfOperation,
    /// `certificateHold` (6): suspension. Never used by this CA.
    CertificateHold,
    /// `privilegeWithdrawn` (9): a privilege asserted by the certificate
    /// (e.g. a licence) was withdrawn.
    PrivilegeWithdrawn,
    /// `aACompromise` (10): an attribute authority is compromised.
    AaCompromise,
}

impl RevocationReason {
    /// The reason with this RFC 5280 ASN.1 name (exact, case-sensitive).
    ///
    /// Returns `None` for unknown names and for the two names this CA does
    /// not accept: `removeFromCRL` (delta CRLs only) and `certificateHold`
    /// (this CA never suspends certificates).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        let reason = match name {
            "unspecified" => Self::Unspecified,
            "keyCompromise" => Self::KeyCompromise,
            "cACompromise" => Self::CaCompromise,
            "affiliationChanged" => Self::AffiliationChanged,
            "superseded" => Self::Superseded,
            "cessationOfOperation" => Self::CessationOfOperation,
            "privilegeWithdrawn" => Self::PrivilegeWithdrawn,
            "aACompromise" => Self::AaCompromise,
            _ => return None,
        };
        Some(reason)
    }

    /// The RFC 5280 ASN.1 name, e.g. `"keyCompromise"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// The RFC 5280 `CRLReason` code, e.g. 1 for `keyCompromise`.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::PrivilegeWithdrawn => 9,
            Self::AaCompromise => 10,
        }
    }

    pub(crate) fn crl_reason(self) -> CrlReason {
        match self {
            Self::Unspecified => CrlReason::Unspecified,
            Self::KeyCompromise => CrlReason::KeyCompromise,
            Self::CaCompromise => CrlReason::CaCompromise,
            Self::AffiliationChanged => CrlReason::AffiliationChanged,
            Self::Superseded => CrlReason::Superseded,
            Self::CessationOfOperation => CrlReason::CessationOfOperation,
            Self::CertificateHold => CrlReason::CertificateHold,
            Self::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
            Self::AaCompromise => CrlReason::AaCompromise,
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One revoked certificate as it goes into a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The revoked certificate's serial number.
    pub serial: SerialNumber,
    /// When it was revoked (written in whole seconds); must not be after the
    /// CRL's thisUpdate.
    pub revoked_at: SystemTime,
    /// Why it was revoked.
    pub reason: RevocationReason,
}

/// Builds and signs a complete (not delta) v2 CRL of the issuing CA
/// `issuer_cert`, whose key `issuer_signer` holds.
///
/// Profile: version v2, signature ecdsa-with-SHA256, issuer = the CA's
/// subject, thisUpdate and nextUpdate (UTCTime through 2049, GeneralizedTime
/// from 2050, whole seconds), revokedCertificates in the order given and
/// omitted entirely when `revoked` is empty (RFC 5280 5.1.2.6), each entry
/// with a non-critical reasonCode except for
/// [`RevocationReason::Unspecified`], which is written without one (RFC 5280
/// 5.3.1), and crlExtensions authorityKeyIdentifier (keyIdentifier = the
/// CA's SKI) then cRLNumber = `crl_number`, both non-critical. The caller
/// keeps `crl_number` increasing per issuer (RFC 5280 5.2.3).
///
/// # Errors
/// [`CertError::IssuerNotCa`] if `issuer_cert` is not a CA with cRLSign;
/// [`CertError::SignerMismatch`] if `issuer_signer` is not `issuer_cert`'s
/// key; [`CertError::InvalidValidity`] for a time that cannot be encoded
/// (before 1970 or after 9999); [`CertError::Lint`] (nothing signed) if the
/// TBS breaks the profile, e.g. `next_update <= this_update` (in whole
/// seconds), a zero or negative serial, a serial listed twice, a
/// revocation after `this_update`, [`RevocationReason::CertificateHold`], or
/// a `this_update` outside the CA's validity; [`CertError::Signer`] /
/// [`CertError::SignatureSelfCheck`] from signing.
pub fn build_crl<S: CaSigner>(
    issuer_signer: &S,
    issuer_cert: &Certificate,
    crl_number: u64,
    this_update: SystemTime,
    next_update: SystemTime,
    revoked: &[RevokedEntry],
) -> Result<CertificateList, CertError> {
    check_crl_issuer(issuer_cert)?;
    // A signer with the wrong key would produce a CRL whose AKI and
    // signature point at different CAs: refuse before building.
    let issuer_spki = issuer_cert.tbs_certificate().subject_public_key_info();
    if &signer_spki(issuer_signer)? != issuer_spki {
        return Err(CertError::SignerMismatch);
    }

    let entries = revoked
        .iter()
        .map(revoked_cert)
        .collect::<Result<Vec<_>, _>>()?;
    let tbs = TbsCertList {
        version: Version::V2,
        signature: issuer_signer.signature_algorithm_identifier()?,
        issuer: issuer_cert.tbs_certificate().subject().clone(),
        this_update: rfc5280_time(this_update)?,
        next_update: Some(rfc5280_time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(crl_extensions(issuer_cert, crl_number)?),
    };

    let tbs_der = tbs.to_der()?;
    // Lint the bytes the signer will see, not the in-memory copy.
    let tbs = TbsCertList::from_der(&tbs_der)?;
    lint_crl(&tbs, issuer_cert)?;

    // Checked under the issuer certificate's key: the one relying parties use.
    let issuer_key = VerifyingKey::try_from(issuer_spki.owned_to_ref()).map_err(|_| {
        CertError::UnsupportedAlgorithm(format!("issuer key {}", issuer_spki.algorithm.oid))
    })?;
    let signature = sign_checked(issuer_signer, &tbs_der, &issuer_key)?;
    Ok(CertificateList {
        signature_algorithm: tbs.signature.clone(),
        tbs_cert_list: tbs,
        signature: signature.to_bitstring()?,
    })
}

/// DER encoding of a CRL.
///
/// # Errors
/// [`CertError::Der`] if the CRL holds a value that cannot be encoded.
pub fn crl_to_der(crl: &CertificateList) -> Result<Vec<u8>, CertError> {
    Ok(crl.to_der()?)
}

/// Parses one DER CRL; trailing bytes are an error. Parsing is strict DER,
/// so a parsed CRL re-encodes to the bytes that were signed. The signature
/// is not checked here.
///
/// # Errors
/// [`CertError::Der`] for anything that is not exactly one DER v2 CRL (v1
/// CRLs, without the version field, are not accepted).
pub fn crl_from_der(der: &[u8]) -> Result<CertificateList, CertError> {
    Ok(CertificateList::from_der(der)?)
}

/// The cRLNumber of `crl`, if it has one.
///
/// # Errors
/// [`CertError::Der`] if the extension is repeated, malformed, negative or
/// larger than `u64` (RFC 5280 allows up to 20 octets; this CA writes `u64`).
pub fn crl_number(crl: &CertificateList) -> Result<Option<u64>, CertError> {
    match crl.tbs_cert_list.crl_extensions.as_deref() {
        None => Ok(None),
        Some(extensions) => Ok(read_crl_number(extensions)?.map(|(_, number)| number)),
    }
}

/// The cRLNumber among `extensions` with its criticality.
pub(crate) fn read_crl_number(extensions: &[Extension]) -> Result<Option<(bool, u64)>, der::Error> {
    unique_extension(extensions, CrlNumber::OID)?
        .map(|ext| Ok((ext.critical, u64::from_der(ext.extn_value.as_bytes())?)))
        .transpose()
}

/// The extension of type `T` among `extensions`, decoded, with its
/// criticality.
pub(crate) fn decode_unique<'a, T>(
    extensions: &'a [Extension],
) -> Result<Option<(bool, T)>, der::Error>
where
    T: Decode<'a, Error = der::Error> + AssociatedOid,
{
    unique_extension(extensions, T::OID)?
        .map(|ext| Ok((ext.critical, T::from_der(ext.extn_value.as_bytes())?)))
        .transpose()
}

/// The one extension with `oid`; a repeated one is an error, as in
/// x509-cert's `get_extension` for certificates (RFC 5280 4.2, 5.2).
fn unique_extension(
    extensions: &[Extension],
    oid: ObjectIdentifier,
) -> Result<Option<&Extension>, der::Error> {
    let mut found = extensions.iter().filter(|ext| ext.extn_id == oid);
    let first = found.next();
    if found.next().is_some() {
        return Err(der::ErrorKind::Failed.into());
    }
    Ok(first)
}

fn revoked_cert(entry: &RevokedEntry) -> Result<RevokedCert, CertError> {
    let crl_entry_extensions = match entry.reason {
        // RFC 5280 5.3.1: the reasonCode SHOULD be absent instead.
        RevocationReason::Unspecified => None,
        reason => Some(vec![
            (false, &reason.crl_reason()).to_extension(&Name::default(), &[])?,
        ]),
    };
    Ok(RevokedCert {
        serial_number: entry.serial.clone(),
        revocation_date: rfc5280_time(entry.revoked_at)?,
        crl_entry_extensions,
    })
}

fn crl_extensions(issuer_cert: &Certificate, crl_number: u64) -> Result<Vec<Extension>, CertError> {
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(der::asn1::OctetString::new(issuer_key_id(issuer_cert)?)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let number = CrlNumber::try_from(crl_number)?;
    let issuer = issuer_cert.tbs_certificate().subject();
    Ok(vec![
        (false, &aki).to_extension(issuer, &[])?,
        (false, &number).to_extension(issuer, &[])?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{ffi::OsStr, fs, path::Path, process::Command, time::Duration};

    use const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
    use der::{Any, EncodePem, Tag, Tagged, asn1::GeneralizedTime, pem::LineEnding};
    use p256::ecdsa::{DerSignature, Signature};
    use signature::Verifier;
    use spki::SubjectPublicKeyInfoRef;
    use x509_cert::{
        TbsCertificate,
        builder::{Builder, CertificateBuilder, profile::BuilderProfile},
        ext::pkix::{BaseCrlNumber, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier},
        time::Time,
    };

    use crate::{
        LintReport, build_issuing_ca, build_root, ca_name,
        holder::build_identity_cert,
        random_serial,
        test_support::{
            TestResult, TestSigner, YEAR, external, now, sample_identity_request, sample_issuing,
            sample_root, software_signer, test_serial,
        },
        to_pem,
    };

    const MINUTE: Duration = Duration::from_secs(60);
    const DAY: Duration = Duration::from_secs(24 * 3600);

    /// Every reason `from_name` accepts.
    const ACCEPTED: [RevocationReason; 8] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// Root, issuing CA and the issuing CA's (so far unused) signer.
    fn chain() -> Result<(Certificate, Certificate, TestSigner), CertError> {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let (issuing, issuing_signer) = sample_issuing(&root_signer, &root)?;
        Ok((root, issuing, issuing_signer))
    }

    fn entry(reason: RevocationReason) -> Result<RevokedEntry, CertError> {
        Ok(RevokedEntry {
            serial: test_serial()?,
            revoked_at: now() - 2 * MINUTE,
            reason,
        })
    }

    fn extension_summary(extensions: Option<&Vec<Extension>>) -> Vec<(ObjectIdentifier, bool)> {
        extensions
            .map(|exts| exts.iter().map(|e| (e.extn_id, e.critical)).collect())
            .unwrap_or_default()
    }

    /// The tags of the TBSCertList's fields, as a verifier reads them.
    fn tbs_field_tags(crl: &CertificateList) -> Result<Vec<Tag>, CertError> {
        let fields: Vec<Any> = Vec::from_der(&crl.tbs_cert_list.to_der()?)?;
        Ok(fields.iter().map(Tagged::tag).collect())
    }

    fn expect_lint(result: Result<CertificateList, CertError>, code: &str) -> TestResult {
        match result {
            Err(CertError::Lint(report)) if report.has(code) => Ok(()),
            other => Err(format!("expected lint {code}, got {other:?}").into()),
        }
    }

    #[test]
    fn crl_has_the_profile_fields_and_extensions() -> TestResult {
        let (_, issuing, signer) = chain()?;
        let this_update = now() - MINUTE;
        let next_update = now() + 7 * DAY;
        let revoked = [
            entry(RevocationReason::KeyCompromise)?,
            entry(RevocationReason::Unspecified)?,
            entry(RevocationReason::PrivilegeWithdrawn)?,
        ];
        let crl = build_crl(&signer, &issuing, 42, this_update, next_update, &revoked)?;
        assert_eq!(signer.calls(), 1);
        // Parse back from DER so we test what a verifier would see.
        let crl = crl_from_der(&crl_to_der(&crl)?)?;
        let tbs = &crl.tbs_cert_list;

        assert_eq!(tbs.version, Version::V2);
        assert_eq!(tbs.signature.oid, ECDSA_WITH_SHA_256);
        assert!(tbs.signature.parameters.is_none());
        assert_eq!(crl.signature_algorithm, tbs.signature);
        assert_eq!(&tbs.issuer, issuing.tbs_certificate().subject());
        assert_eq!(tbs.this_update, rfc5280_time(this_update)?);
        assert!(matches!(tbs.this_update, Time::UtcTime(_)));
        assert_eq!(tbs.next_update, Some(rfc5280_time(next_update)?));

        let entries = tbs
            .revoked_certificates
            .as_ref()
            .ok_or("revokedCertificates missing")?;
        assert_eq!(entries.len(), revoked.len());
        for (cert, given) in entries.iter().zip(&revoked) {
            assert_eq!(cert.serial_number, given.serial, "order kept");
            assert_eq!(cert.revocation_date, rfc5280_time(given.revoked_at)?);
            match given.reason {
                RevocationReason::Unspecified => assert!(cert.crl_entry_extensions.is_none()),
                reason => {
                    let extensions = cert
                        .crl_entry_extensions
                        .as_deref()
                        .ok_or("reasonCode missing")?;
                    assert_eq!(
                        extension_summary(cert.crl_entry_extensions.as_ref()),
                        vec![(CrlReason::OID, false)]
                    );
                    let Some((_, code)) = decode_unique::<CrlReason>(extensions)? else {
                        return Err("reasonCode missing".into());
                    };
                    assert_eq!(code as u32, u32::from(reason.code()));
                }
            }
        }

        assert_eq!(
            extension_summary(tbs.crl_extensions.as_ref()),
            vec![
                (AuthorityKeyIdentifier::OID, false),
                (CrlNumber::OID, false)
            ]
        );
        let extensions = tbs.crl_extensions.as_deref().ok_or("no crlExtensions")?;
        let Some((_, aki)) = decode_unique::<AuthorityKeyIdentifier>(extensions)? else {
            return Err("AKI missing".into());
        };
        let Some((_, ski)) = issuing
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()?
        else {
            return Err("issuing CA has no SKI".into());
        };
        assert_eq!(aki.key_identifier, Some(ski.0));
        assert!(aki.authority_cert_issuer.is_none() && aki.authority_cert_serial_number.is_none());
        assert_eq!(crl_number(&crl)?, Some(42));

        // The signature verifies under the issuing CA's certified key.
        let key = VerifyingKey::try_from(
            issuing
                .tbs_certificate()
                .subject_public_key_info()
                .owned_to_ref(),
        )?;
        let signature = DerSignature::from_bytes(crl.signature.as_bytes().ok_or("unused bits")?)?;
        key.verify(&tbs.to_der()?, &signature)?;
        Ok(())
    }

    #[test]
    fn der_round_trips_and_trailing_bytes_are_rejected() -> TestResult {
        let (_, issuing, signer) = chain()?;
        let crl = build_crl(
            &signer,
            &issuing,
            1,
            now(),
            now() + DAY,
            &[entry(RevocationReason::Superseded)?],
        )?;
        let der = crl_to_der(&crl)?;
        assert_eq!(crl_from_der(&der)?, crl);
        assert_eq!(crl_to_der(&crl_from_der(&der)?)?, der);
        let mut longer = der;
        longer.push(0);
        assert!(matches!(crl_from_der(&longer), Err(CertError::Der(_))));
        Ok(())
    }

    /// RFC 5280 5.1.2.6: no revoked certificates means no field, not an
    /// empty SEQUENCE.
    #[test]
    fn empty_crl_has_no_revoked_certificates_field() -> TestResult {
        let (_, issuing, signer) = chain()?;
        let crl = build_crl(&signer, &issuing, 0, now(), now() + DAY, &[])?;
        let crl = crl_from_der(&crl_to_der(&crl)?)?;
        assert_eq!(crl.tbs_cert_list.revoked_certificates, None);
        assert_eq!(crl_number(&crl)?, Some(0));
        let explicit_0 = Tag::ContextSpecific {
            constructed: true,
            number: der::TagNumber(0),
        };
        assert_eq!(
            tbs_field_tags(&crl)?,
            [
                Tag::Integer,
                Tag::Sequence,
                Tag::Sequence,
                Tag::UtcTime,
                Tag::UtcTime,
                explicit_0,
            ]
        );

        let one = build_crl(
            &signer,
            &issuing,
            1,
            now(),
            now() + DAY,
            &[entry(RevocationReason::KeyCompromise)?],
        )?;
        assert_eq!(
            tbs_field_tags(&one)?,
            [
                Tag::Integer,
                Tag::Sequence,
                Tag::Sequence,
                Tag::UtcTime,
                Tag::UtcTime,
                Tag::Sequence,
                explicit_0,
            ]
        );
        Ok(())
    }

    #[test]
    fn times_are_whole_seconds_and_generalized_from_2050() -> TestResult {
        let root_signer = software_signer();
        let until_2055 = "2055-01-01T00:00:00Z"
            .parse::<der::DateTime>()?
            .to_system_time();
        let root = build_root(
            &root_signer,
            &ca_name("Long Root", "OneVisit Wallet")?,
            test_serial()?,
            now() - MINUTE,
            until_2055,
        )?;
        let signer = software_signer();
        let issuing = build_issuing_ca(
            &root_signer,
            &root,
            &ca_name("Long Issuing CA", "OneVisit Wallet")?,
            signer.spki()?,
            test_serial()?,
            now() - MINUTE,
            until_2055,
        )?;
        let this_update = now() + Duration::from_millis(999);
        let next_update = "2051-06-30T12:00:00Z"
            .parse::<der::DateTime>()?
            .to_system_time()
            + Duration::from_millis(500);
        let crl = build_crl(&signer, &issuing, 3, this_update, next_update, &[])?;
        let tbs = &crl.tbs_cert_list;
        let Time::UtcTime(this) = tbs.this_update else {
            return Err("thisUpdate must be UTCTime through 2049".into());
        };
        assert_eq!(
            this.to_unix_duration().as_secs(),
            this_update.duration_since(std::time::UNIX_EPOCH)?.as_secs()
        );
        assert_eq!(
            tbs.next_update.ok_or("nextUpdate missing")?.to_der()?,
            b"\x18\x0f20510630120000Z"
        );
        Ok(())
    }

    #[test]
    fn reason_names_round_trip_and_refused_names() {
        for reason in ACCEPTED {
            assert_eq!(RevocationReason::from_name(reason.name()), Some(reason));
            assert_eq!(reason.to_string(), reason.name());
            // The code is x509-cert's CRLReason value for the same name.
            assert_eq!(reason.crl_reason() as u32, u32::from(reason.code()));
        }
        let names: Vec<_> = ACCEPTED.iter().map(|r| (r.name(), r.code())).collect();
        assert_eq!(
            names,
            [
                ("unspecified", 0),
                ("keyCompromise", 1),
                ("cACompromise", 2),
                ("affiliationChanged", 3),
                ("superseded", 4),
                ("cessationOfOperation", 5),
                ("privilegeWithdrawn", 9),
                ("aACompromise", 10),
            ]
        );
        assert_eq!(RevocationReason::CertificateHold.name(), "certificateHold");
        assert_eq!(RevocationReason::CertificateHold.code(), 6);
        for refused in [
            "certificateHold",
            "removeFromCRL",
            "KeyCompromise",
            "key_compromise",
            "keyCompromise ",
            "1",
            "",
            "revoked",
        ] {
            assert_eq!(RevocationReason::from_name(refused), None, "{refused:?}");
        }
    }

    /// Lint-before-sign: each broken TBS is refused and the signer is never
    /// called.
    #[test]
    fn bad_tbs_is_never_signed() -> TestResult {
        let (_, issuing, signer) = chain()?;
        let this_update = now() - MINUTE;
        let next_update = now() + DAY;
        let build = |this: SystemTime, next: SystemTime, revoked: &[RevokedEntry]| {
            build_crl(&signer, &issuing, 9, this, next, revoked)
        };

        expect_lint(
            build(this_update, this_update, &[]),
            "crl.next_update.order",
        )?;
        expect_lint(
            build(this_update, this_update - DAY, &[]),
            "crl.next_update.order",
        )?;
        // Same whole second: empty after truncation.
        let instant = now();
        expect_lint(
            build(instant, instant + Duration::from_millis(1), &[]),
            "crl.next_update.order",
        )?;

        let mut zero = entry(RevocationReason::KeyCompromise)?;
        zero.serial = SerialNumber::from(0u8);
        expect_lint(build(this_update, next_update, &[zero]), "serial.zero")?;
        let mut negative = entry(RevocationReason::KeyCompromise)?;
        negative.serial = SerialNumber::from_der(&[0x02, 0x01, 0x80])?;
        expect_lint(
            build(this_update, next_update, &[negative]),
            "serial.negative",
        )?;

        let twice = entry(RevocationReason::Superseded)?;
        expect_lint(
            build(this_update, next_update, &[twice.clone(), twice]),
            "crl.entry.duplicate_serial",
        )?;
        expect_lint(
            build(
                this_update,
                next_update,
                &[entry(RevocationReason::CertificateHold)?],
            ),
            "crl.entry.reason_hold",
        )?;
        let mut late = entry(RevocationReason::KeyCompromise)?;
        late.revoked_at = this_update + MINUTE;
        expect_lint(
            build(this_update, next_update, &[late]),
            "crl.entry.after_this_update",
        )?;
        let issuing_nb = issuing
            .tbs_certificate()
            .validity()
            .not_before
            .to_system_time();
        expect_lint(
            build(issuing_nb - DAY, next_update, &[]),
            "crl.this_update.outside_issuer",
        )?;

        // A signer advertising another algorithm is caught by the lint too.
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let sha384 =
            TestSigner::new_random().with_algorithm(const_oid::db::rfc5912::ECDSA_WITH_SHA_384);
        let sha384_ca = build_issuing_ca(
            &root_signer,
            &root,
            &ca_name("SHA-384 CA", "OneVisit Wallet")?,
            sha384.spki()?,
            test_serial()?,
            now() - MINUTE,
            now() + YEAR,
        )?;
        expect_lint(
            build_crl(&sha384, &sha384_ca, 1, this_update, next_update, &[]),
            "signature.algorithm",
        )?;
        assert_eq!(sha384.calls(), 0);

        assert_eq!(signer.calls(), 0);
        Ok(())
    }

    #[test]
    fn lint_report_lists_every_finding() -> TestResult {
        let (_, issuing, signer) = chain()?;
        let this_update = now() - MINUTE;
        let mut zero = entry(RevocationReason::CertificateHold)?;
        zero.serial = SerialNumber::from(0u8);
        zero.revoked_at = now();
        let result = build_crl(&signer, &issuing, 1, this_update, this_update, &[zero]);
        let Err(CertError::Lint(LintReport { findings })) = result else {
            return Err(format!("expected lint failure, got {result:?}").into());
        };
        let codes: Vec<_> = findings.iter().map(|f| f.code).collect();
        for code in [
            "crl.next_update.order",
            "serial.zero",
            "crl.entry.after_this_update",
            "crl.entry.reason_hold",
        ] {
            assert!(codes.contains(&code), "{code} missing from {codes:?}");
        }
        assert_eq!(signer.calls(), 0);
        Ok(())
    }

    /// A CA profile with keyCertSign but without cRLSign.
    struct NoCrlSign(Name);

    impl BuilderProfile for NoCrlSign {
        fn get_issuer(&self, subject: &Name) -> Name {
            subject.clone()
        }
        fn get_subject(&self) -> Name {
            self.0.clone()
        }
        fn build_extensions(
            &self,
            spk: SubjectPublicKeyInfoRef<'_>,
            _issuer_spk: SubjectPublicKeyInfoRef<'_>,
            tbs: &TbsCertificate,
        ) -> x509_cert::builder::Result<Vec<Extension>> {
            let basic = BasicConstraints {
                ca: true,
                path_len_constraint: None,
            };
            let usage = KeyUsage(KeyUsages::KeyCertSign.into());
            let ski = SubjectKeyIdentifier::try_from(spk)?;
            Ok(vec![
                (true, &basic).to_extension(tbs.subject(), &[])?,
                (true, &usage).to_extension(tbs.subject(), &[])?,
                (false, &ski).to_extension(tbs.subject(), &[])?,
            ])
        }
    }

    #[test]
    fn issuer_without_crl_sign_or_wrong_signer_is_refused_before_signing() -> TestResult {
        let key = software_signer();
        let no_crl_sign = CertificateBuilder::new(
            NoCrlSign(ca_name("No cRLSign CA", "OneVisit Wallet")?),
            test_serial()?,
            crate::validity(now() - MINUTE, now() + YEAR)?,
            key.spki()?,
        )?
        .build::<_, DerSignature>(&key)?;
        let calls = key.calls();
        let result = build_crl(&key, &no_crl_sign, 1, now(), now() + DAY, &[]);
        assert!(
            matches!(&result, Err(CertError::IssuerNotCa(why)) if why.contains("cRLSign")),
            "{result:?}"
        );
        assert_eq!(key.calls(), calls);

        // An end-entity certificate is no CRL issuer either.
        let (_, issuing, issuing_signer) = chain()?;
        let holder = software_signer();
        let leaf = build_identity_cert(
            &issuing_signer,
            &issuing,
            &sample_identity_request(holder.spki()?)?,
        )?;
        let result = build_crl(&holder, &leaf, 1, now(), now() + DAY, &[]);
        assert!(
            matches!(result, Err(CertError::IssuerNotCa(_))),
            "{result:?}"
        );
        assert_eq!(holder.calls(), 0);

        let impostor = software_signer();
        let result = build_crl(&impostor, &issuing, 1, now(), now() + DAY, &[]);
        assert!(
            matches!(result, Err(CertError::SignerMismatch)),
            "{result:?}"
        );
        assert_eq!(impostor.calls(), 0);
        Ok(())
    }

    #[test]
    fn signer_failure_is_reported_and_bad_signatures_are_caught() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let issuing_for = |signer: &TestSigner| -> Result<Certificate, CertError> {
            build_issuing_ca(
                &root_signer,
                &root,
                &ca_name("Misbehaving CA", "OneVisit Wallet")?,
                signer.spki()?,
                test_serial()?,
                now() - MINUTE,
                now() + YEAR,
            )
        };

        let failing = TestSigner::new_random().failing();
        let issuing = issuing_for(&failing)?;
        let result = build_crl(&failing, &issuing, 1, now(), now() + DAY, &[]);
        assert!(matches!(result, Err(CertError::Signer(_))), "{result:?}");
        assert_eq!(failing.calls(), 1);

        let lying = TestSigner::new_random().signing_with(software_signer().into_key());
        let issuing = issuing_for(&lying)?;
        let result = build_crl(&lying, &issuing, 1, now(), now() + DAY, &[]);
        assert!(
            matches!(result, Err(CertError::SignatureSelfCheck)),
            "{result:?}"
        );
        Ok(())
    }

    #[test]
    fn lint_crl_checks_against_the_given_issuer() -> TestResult {
        let (root, issuing, signer) = chain()?;
        let crl = build_crl(
            &signer,
            &issuing,
            5,
            now(),
            now() + DAY,
            &[entry(RevocationReason::Superseded)?],
        )?;
        lint_crl(&crl.tbs_cert_list, &issuing)?;
        let Err(CertError::Lint(report)) = lint_crl(&crl.tbs_cert_list, &root) else {
            return Err("a CRL linted against another CA must fail".into());
        };
        assert!(report.has("issuer.mismatch"));
        assert!(report.has("aki.mismatch"));

        // An end-entity certificate cannot sign CRLs.
        let leaf = build_identity_cert(
            &signer,
            &issuing,
            &sample_identity_request(software_signer().spki()?)?,
        )?;
        let Err(CertError::Lint(report)) = lint_crl(&crl.tbs_cert_list, &leaf) else {
            return Err("a CRL linted against an end entity must fail".into());
        };
        assert!(report.has("issuer.not_crl_signer"));

        // Hand-made breakage the builder cannot produce.
        let mut tbs = crl.tbs_cert_list.clone();
        tbs.this_update = Time::GeneralTime(GeneralizedTime::from_date_time(
            tbs.this_update.to_date_time(),
        ));
        let delta = (true, &BaseCrlNumber(der::asn1::Uint::try_from(4u64)?))
            .to_extension(&Name::default(), &[])?;
        tbs.crl_extensions.get_or_insert_with(Vec::new).push(delta);
        let Err(CertError::Lint(report)) = lint_crl(&tbs, &issuing) else {
            return Err("a GeneralizedTime before 2050 and a delta CRL must fail".into());
        };
        assert!(report.has("crl.time_encoding"), "{report}");
        assert!(report.has("extensions.unexpected"), "{report}");

        let mut tbs = crl.tbs_cert_list.clone();
        tbs.version = Version::V1;
        tbs.next_update = None;
        tbs.revoked_certificates = Some(Vec::new());
        let mut extensions = tbs.crl_extensions.clone().unwrap_or_default();
        extensions.retain(|e| e.extn_id != CrlNumber::OID);
        if let Some(aki) = extensions.first_mut() {
            aki.critical = true;
        }
        tbs.crl_extensions = Some(extensions);
        let Err(CertError::Lint(report)) = lint_crl(&tbs, &issuing) else {
            return Err("broken TBS must fail".into());
        };
        for code in [
            "crl.version",
            "crl.next_update.missing",
            "crl.revoked.empty",
            "crl_number.missing",
            "aki.critical",
        ] {
            assert!(report.has(code), "{code} missing: {report}");
        }

        let mut tbs = crl.tbs_cert_list.clone();
        let unspecified = (false, &CrlReason::Unspecified).to_extension(&Name::default(), &[])?;
        let remove = (true, &CrlReason::RemoveFromCRL).to_extension(&Name::default(), &[])?;
        let entries = tbs
            .revoked_certificates
            .as_mut()
            .ok_or("revokedCertificates missing")?;
        let mut second = entries.first().ok_or("no entry")?.clone();
        second.serial_number = test_serial()?;
        second.crl_entry_extensions = Some(vec![remove]);
        if let Some(first) = entries.first_mut() {
            first.crl_entry_extensions = Some(vec![unspecified]);
        }
        entries.push(second);
        let Err(CertError::Lint(report)) = lint_crl(&tbs, &issuing) else {
            return Err("bad reason codes must fail".into());
        };
        for code in [
            "crl.entry.reason_unspecified",
            "crl.entry.reason_remove_from_crl",
            "crl.entry.reason_critical",
        ] {
            assert!(report.has(code), "{code} missing: {report}");
        }
        Ok(())
    }

    #[test]
    fn crl_number_reads_absent_and_refuses_out_of_range() -> TestResult {
        let (_, issuing, signer) = chain()?;
        let crl = build_crl(&signer, &issuing, u64::MAX, now(), now() + DAY, &[])?;
        assert_eq!(crl_number(&crl)?, Some(u64::MAX));

        let mut none = crl.clone();
        none.tbs_cert_list.crl_extensions = None;
        assert_eq!(crl_number(&none)?, None);

        // 2^64 is a valid RFC 5280 CRL number but not one this CA writes.
        let mut big = crl.clone();
        let too_big = CrlNumber::try_from(u128::from(u64::MAX) + 1)?;
        let extension = (false, &too_big).to_extension(&Name::default(), &[])?;
        big.tbs_cert_list.crl_extensions = Some(vec![extension.clone()]);
        assert!(matches!(crl_number(&big), Err(CertError::Der(_))));

        // Repeated is refused too.
        let mut twice = crl;
        let number = (false, &CrlNumber::try_from(7u64)?).to_extension(&Name::default(), &[])?;
        twice.tbs_cert_list.crl_extensions = Some(vec![number.clone(), number]);
        assert!(matches!(crl_number(&twice), Err(CertError::Der(_))));
        Ok(())
    }

    /// The pkilint CRL runner must fail on a real finding, or the test
    /// below proves nothing.
    #[test]
    fn pkilint_crl_runner_reports_errors() -> TestResult {
        if external::pkilint_skipped() {
            return Ok(());
        }
        let (_, issuing, signer) = chain()?;
        let mut crl = build_crl(&signer, &issuing, 1, now(), now() + DAY, &[])?;
        // An empty revokedCertificates SEQUENCE (RFC 5280 5.1.2.6), signed
        // so that it is the only fault.
        crl.tbs_cert_list.revoked_certificates = Some(Vec::new());
        let signature: DerSignature =
            signature::Signer::try_sign(&signer, &crl.tbs_cert_list.to_der()?)?;
        crl.signature = signature.to_bitstring()?;
        let dir = tempfile::tempdir()?;
        match external::pkilint_crl(dir.path(), "empty-list", &crl) {
            Err(e)
                if e.to_string()
                    .contains("pkix.crl_revoked_certificates_empty") =>
            {
                Ok(())
            }
            other => Err(format!("pkilint should flag the empty list: {other:?}").into()),
        }
    }

    /// `openssl` with these arguments: (success, stdout + stderr).
    fn openssl<const N: usize>(args: [&OsStr; N]) -> (bool, String) {
        wallet_testkit::run(Command::new("openssl").args(args))
    }

    fn arg(text: &str) -> &OsStr {
        OsStr::new(text)
    }

    /// `openssl verify -x509_strict -crl_check` of `leaf` against the root,
    /// the issuing CA and `crl`, all in one CAfile.
    fn verify_with_crl(
        dir: &Path,
        label: &str,
        chain: (&Certificate, &Certificate),
        crl: &CertificateList,
        leaf: &Certificate,
    ) -> Result<(bool, String), Box<dyn std::error::Error>> {
        let bundle = dir.join(format!("{label}-bundle.pem"));
        let leaf_pem = dir.join(format!("{label}-leaf.pem"));
        let mut pem = to_pem(chain.0)?;
        pem.push_str(&to_pem(chain.1)?);
        pem.push_str(&crl.to_pem(LineEnding::LF)?);
        fs::write(&bundle, pem)?;
        fs::write(&leaf_pem, to_pem(leaf)?)?;
        Ok(openssl([
            arg("verify"),
            arg("-x509_strict"),
            arg("-crl_check"),
            arg("-CAfile"),
            bundle.as_os_str(),
            leaf_pem.as_os_str(),
        ]))
    }

    /// The CRLs we emit, checked by tools we did not write.
    #[test]
    fn openssl_and_pkilint_accept_the_crl() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (root, issuing, signer) = chain()?;
        let leaf_for = |holder: &TestSigner| -> Result<Certificate, CertError> {
            build_identity_cert(&signer, &issuing, &sample_identity_request(holder.spki()?)?)
        };
        let revoked_leaf = leaf_for(&software_signer())?;
        let good_leaf = leaf_for(&software_signer())?;

        let revoked_serial = revoked_leaf.tbs_certificate().serial_number().clone();
        let other_serial = test_serial()?;
        let revoked = [
            RevokedEntry {
                serial: revoked_serial.clone(),
                revoked_at: now() - Duration::from_secs(10),
                reason: RevocationReason::KeyCompromise,
            },
            RevokedEntry {
                serial: other_serial,
                revoked_at: now() - Duration::from_secs(10),
                reason: RevocationReason::Unspecified,
            },
            entry(RevocationReason::CessationOfOperation)?,
        ];
        let crl = build_crl(
            &signer,
            &issuing,
            17,
            now() - Duration::from_secs(5),
            now() + 7 * DAY,
            &revoked,
        )?;
        let crl_der = dir.path().join("crl.der");
        fs::write(&crl_der, crl_to_der(&crl)?)?;
        let issuing_pem = dir.path().join("issuing.pem");
        fs::write(&issuing_pem, to_pem(&issuing)?)?;

        // What OpenSSL reads from it.
        let (ok, text) = openssl([
            arg("crl"),
            arg("-inform"),
            arg("DER"),
            arg("-noout"),
            arg("-text"),
            arg("-in"),
            crl_der.as_os_str(),
        ]);
        assert!(ok, "{text}");
        assert!(text.contains("Version 2 (0x1)"), "{text}");
        assert!(
            text.contains("Signature Algorithm: ecdsa-with-SHA256"),
            "{text}"
        );
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        let number_line = text
            .lines()
            .skip_while(|l| !l.contains("X509v3 CRL Number"))
            .nth(1)
            .ok_or(format!("no CRL Number in {text}"))?;
        assert_eq!(number_line.trim(), "17", "{text}");
        // OpenSSL prints the magnitude, without DER's 0x00 sign octet.
        let magnitude = revoked_serial.as_bytes();
        let magnitude = magnitude.strip_prefix(&[0u8][..]).unwrap_or(magnitude);
        let serial_text = hex::encode_upper(magnitude);
        let revoked_block = text
            .split("Serial Number: ")
            .find(|block| block.starts_with(&serial_text))
            .ok_or(format!("serial {serial_text} not listed: {text}"))?;
        assert!(revoked_block.contains("Key Compromise"), "{text}");
        assert!(text.contains("Cessation Of Operation"), "{text}");
        assert_eq!(text.matches("X509v3 CRL Reason Code").count(), 2, "{text}");

        // The signature, checked against the issuing CA.
        let (ok, text) = openssl([
            arg("crl"),
            arg("-inform"),
            arg("DER"),
            arg("-noout"),
            arg("-in"),
            crl_der.as_os_str(),
            arg("-CAfile"),
            issuing_pem.as_os_str(),
        ]);
        assert!(ok && text.contains("verify OK"), "{text}");

        // Path validation with the CRL: the revoked leaf fails, the good
        // one passes.
        let (ok, text) = verify_with_crl(
            dir.path(),
            "revoked",
            (&root, &issuing),
            &crl,
            &revoked_leaf,
        )?;
        assert!(!ok && text.contains("certificate revoked"), "{text}");
        let (ok, text) = verify_with_crl(dir.path(), "good", (&root, &issuing), &crl, &good_leaf)?;
        assert!(ok && text.contains(": OK"), "{text}");

        external::pkilint_crl(dir.path(), "three-entries", &crl)?;

        // An empty CRL: the good leaf still verifies, pkilint is content.
        let empty = build_crl(
            &signer,
            &issuing,
            18,
            now() - Duration::from_secs(5),
            now() + 7 * DAY,
            &[],
        )?;
        let (ok, text) = verify_with_crl(
            dir.path(),
            "empty",
            (&root, &issuing),
            &empty,
            &revoked_leaf,
        )?;
        assert!(ok && text.contains(": OK"), "{text}");
        external::pkilint_crl(dir.path(), "empty", &empty)?;
        Ok(())
    }

    /// GeneralizedTime nextUpdate and a high-S signature (SoftHSM2 makes
    /// them about half the time) are read by both tools too.
    #[test]
    fn openssl_and_pkilint_accept_a_long_high_s_crl() -> TestResult {
        let dir = tempfile::tempdir()?;
        let root_signer = software_signer();
        let until_2055 = "2055-01-01T00:00:00Z"
            .parse::<der::DateTime>()?
            .to_system_time();
        let root = build_root(
            &root_signer,
            &ca_name("OneVisit Long Root", "OneVisit Wallet")?,
            random_serial([0x5a; 16])?,
            now() - MINUTE,
            until_2055,
        )?;
        let signer = TestSigner::new_random().high_s();
        let issuing = build_issuing_ca(
            &root_signer,
            &root,
            &ca_name("OneVisit Long Issuing CA", "OneVisit Wallet")?,
            signer.spki()?,
            test_serial()?,
            now() - MINUTE,
            until_2055,
        )?;
        let crl = build_crl(
            &signer,
            &issuing,
            1,
            now() - Duration::from_secs(5),
            "2051-01-01T00:00:00Z"
                .parse::<der::DateTime>()?
                .to_system_time(),
            &[entry(RevocationReason::AffiliationChanged)?],
        )?;
        let signature = Signature::try_from(DerSignature::from_bytes(
            crl.signature.as_bytes().ok_or("unused bits")?,
        )?)?;
        assert!(signature.normalize_s() != signature, "high-S expected");

        let crl_der = dir.path().join("long.der");
        fs::write(&crl_der, crl_to_der(&crl)?)?;
        let issuing_pem = dir.path().join("long-issuing.pem");
        fs::write(&issuing_pem, to_pem(&issuing)?)?;
        let (ok, text) = openssl([
            arg("crl"),
            arg("-inform"),
            arg("DER"),
            arg("-noout"),
            arg("-text"),
            arg("-in"),
            crl_der.as_os_str(),
            arg("-CAfile"),
            issuing_pem.as_os_str(),
        ]);
        assert!(ok && text.contains("verify OK"), "{text}");
        assert!(
            text.contains("Next Update: Jan  1 00:00:00 2051 GMT"),
            "{text}"
        );
        assert!(text.contains("Affiliation Changed"), "{text}");
        external::pkilint_crl(dir.path(), "long", &crl)?;
        Ok(())
    }
}
