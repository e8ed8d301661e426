//! CA certificate profiles: the self-signed root, the issuing CAs
//! (`identity-ca`, `license-ca`) it certifies, and the cross-certificate by
//! which an old root vouches for its successor during a root key rollover.
//!
//! All are X.509 v3, ECDSA P-256 with SHA-256, and go through the
//! lint-before-sign pipeline in [`crate::signer`].

use std::time::SystemTime;

use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::{
    Certificate, TbsCertificate,
    builder::profile::BuilderProfile,
    ext::{
        Extension, ToExtension,
        pkix::{
            AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
        },
    },
    name::Name,
    serial_number::SerialNumber,
};

use crate::{
    CaSigner, CertError, key_identifier,
    lint::{CertProfile, check_issuer, issuer_key_id},
    signer::{Issuance, issue, signer_spki},
    validity::{clamp_to_issuer, validity},
};

/// Builds and signs a self-signed root CA certificate for the signer's key.
///
/// Profile: basicConstraints CA:TRUE (critical, no pathLen), keyUsage
/// keyCertSign + cRLSign (critical), SKI (method 1) and an AKI whose
/// keyIdentifier is the SKI (CA/B Forum practice; helps path builders).
///
/// # Errors
/// [`CertError::Lint`] (nothing signed) if the result would break the
/// profile, e.g. an empty subject or `not_after <= not_before`;
/// [`CertError::InvalidValidity`] for times that cannot be encoded;
/// [`CertError::Signer`] / [`CertError::SignatureSelfCheck`] from signing.
pub fn build_root<S: CaSigner>(
    signer: &S,
    subject: &Name,
    serial: SerialNumber,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Certificate, CertError> {
    let spki = signer_spki(signer)?;
    let key_id = key_identifier(&spki).to_vec();
    issue(
        signer,
        Issuance {
            builder_profile: CaBuilderProfile {
                subject: subject.clone(),
                issuer: None,
                path_len: None,
                subject_key_id: key_id.clone(),
                issuer_key_id: key_id,
            },
            lint_profile: CertProfile::RootCa,
            issuer: None,
            subject_root: None,
            serial,
            validity: validity(not_before, not_after)?,
            subject_spki: spki,
        },
    )
}

/// Builds an issuing CA certificate for `subject_spki`, signed by the root.
///
/// Profile: basicConstraints CA:TRUE pathLen 0 (critical), keyUsage
/// keyCertSign + cRLSign (critical), SKI (method 1), AKI = the root's SKI,
/// issuer = the root's subject.
///
/// The validity is clamped into the root's: `not_before` is raised to the
/// root's notBefore and `not_after` lowered to its notAfter (see
/// [`clamp_to_issuer`]); read the result from the returned certificate.
///
/// # Errors
/// [`CertError::IssuerNotCa`] if `root_cert` cannot issue CA certificates;
/// [`CertError::SignerMismatch`] if `root_signer` is not `root_cert`'s key;
/// [`CertError::Lint`] (nothing signed) if the result would break the
/// profile, e.g. a non-P-256 subject key or an empty clamped period;
/// [`CertError::Signer`] / [`CertError::SignatureSelfCheck`] from signing.
pub fn build_issuing_ca<S: CaSigner>(
    root_signer: &S,
    root_cert: &Certificate,
    subject: &Name,
    subject_spki: SubjectPublicKeyInfoOwned,
    serial: SerialNumber,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Certificate, CertError> {
    check_issuer(root_cert, CertProfile::IssuingCa)?;
    issue(
        root_signer,
        Issuance {
            builder_profile: CaBuilderProfile {
                subject: subject.clone(),
                issuer: Some(root_cert.tbs_certificate().subject().clone()),
                path_len: Some(0),
                subject_key_id: key_identifier(&subject_spki).to_vec(),
                issuer_key_id: issuer_key_id(root_cert)?,
            },
            lint_profile: CertProfile::IssuingCa,
            issuer: Some(root_cert),
            subject_root: None,
            serial,
            validity: clamp_to_issuer(not_before, not_after, root_cert)?,
            subject_spki,
        },
    )
}

/// Builds a cross-certificate for a root key rollover: the old root
/// (`issuer_root`, whose key is `signer`) certifies the new root's key, so
/// relying parties that trust only the old root reach everything issued
/// under the new one (new issuing CA -> this certificate -> old root).
///
/// Profile: issuer = the old root's subject; subject, subjectPublicKeyInfo
/// and SKI copied from `subject_root`, the new root's self-signed
/// certificate, so a path builder matching an issuing CA's AKI finds this
/// certificate and the new root alike; AKI = the old root's SKI;
/// basicConstraints CA:TRUE (critical) without pathLen, since it stands
/// where the new root would, above issuing CAs with pathLen 0; keyUsage
/// keyCertSign + cRLSign (critical). The new root must have a name of its
/// own (e.g. "OneVisit Root CA G2"): a subject equal to its issuer breaks
/// path building, as for every other profile here.
///
/// The validity is clamped into the old root's like an issuing CA's (see
/// [`clamp_to_issuer`]): the old root vouches for nothing after it expires.
///
/// # Errors
/// [`CertError::IssuerNotCa`] if `issuer_root` cannot issue CA certificates;
/// [`CertError::SignerMismatch`] if `signer` is not `issuer_root`'s key;
/// [`CertError::Lint`] (nothing signed) if the result would break
/// [`CertProfile::CrossCertificate`]: `subject_root` not a self-signed CA
/// (`cross.subject_root.*`), the same key as the old root
/// (`spki.same_as_issuer`), the same name (`subject.same_as_issuer`), or an
/// empty clamped period (`validity.order`); [`CertError::Der`] if either
/// root's SKI cannot be read; [`CertError::Signer`] /
/// [`CertError::SignatureSelfCheck`] from signing.
pub fn build_cross_certificate<S: CaSigner>(
    signer: &S,
    issuer_root: &Certificate,
    subject_root: &Certificate,
    serial: SerialNumber,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Certificate, CertError> {
    check_issuer(issuer_root, CertProfile::CrossCertificate)?;
    let new_root = subject_root.tbs_certificate();
    issue(
        signer,
        Issuance {
            builder_profile: CaBuilderProfile {
                subject: new_root.subject().clone(),
                issuer: Some(issuer_root.tbs_certificate().subject().clone()),
                path_len: None,
                // The new root's SKI as written, not recomputed: whatever
                // its method, it is what the new root's subordinates name.
                subject_key_id: issuer_key_id(subject_root)?,
                issuer_key_id: issuer_key_id(issuer_root)?,
            },
            lint_profile: CertProfile::CrossCertificate,
            issuer: Some(issuer_root),
            subject_root: Some(subject_root),
            serial,
            validity: clamp_to_issuer(not_before, not_after, issuer_root)?,
            subject_spki: new_root.subject_public_key_info().clone(),
        },
    )
}

/// x509-cert builder profile shared by the CA kinds; the key identifiers
/// are worked out up front so the issuer's own SKI (whatever its method) is
/// what goes into the AKI.
struct CaBuilderProfile {
    subject: Name,
    /// `None` when self-signed.
    issuer: Option<Name>,
    path_len: Option<u8>,
    subject_key_id: Vec<u8>,
    issuer_key_id: Vec<u8>,
}

impl BuilderProfile for CaBuilderProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let basic = BasicConstraints {
            ca: true,
            path_len_constraint: self.path_len,
        };
        let usage = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        let ski = SubjectKeyIdentifier(der::asn1::OctetString::new(self.subject_key_id.clone())?);
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(der::asn1::OctetString::new(self.issuer_key_id.clone())?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        Ok(vec![
            (true, &basic).to_extension(subject, &[])?,
            (true, &usage).to_extension(subject, &[])?,
            (false, &ski).to_extension(subject, &[])?,
            (false, &aki).to_extension(subject, &[])?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        LintReport, ca_name,
        lint::{lint_certificate, lint_cross_certificate},
        random_serial, rfc5280_time,
        test_support::{
            TestResult, TestSigner, YEAR, external, now, sample_issuing, sample_root,
            software_signer, test_serial,
        },
        to_der, to_pem, verify_signed_by,
    };
    use const_oid::{AssociatedOid, db::rfc5912::ECDSA_WITH_SHA_384};
    use der::{
        Decode, Encode,
        asn1::{ObjectIdentifier, OctetString},
    };
    use std::time::Duration;

    /// The successor of [`sample_root`] in a root key rollover: its own key
    /// and, as the profile requires, its own name.
    fn g2_root(signer: &TestSigner) -> Result<Certificate, CertError> {
        build_root(
            signer,
            &ca_name("OneVisit Root CA G2", "OneVisit Wallet")?,
            test_serial()?,
            now() - Duration::from_secs(3600),
            now() + 10 * YEAR,
        )
    }

    /// A cross-certificate from `old` to `new` for five years from now.
    fn cross(
        old_signer: &TestSigner,
        old: &Certificate,
        new: &Certificate,
    ) -> Result<Certificate, CertError> {
        build_cross_certificate(
            old_signer,
            old,
            new,
            test_serial()?,
            now() - Duration::from_secs(60),
            now() + 5 * YEAR,
        )
    }

    /// The DER of `cert`'s extension `oid` (critical flag and value), to
    /// compare extensions byte for byte.
    fn extension_der(
        cert: &Certificate,
        oid: ObjectIdentifier,
    ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let ext = cert
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id == oid)
            .ok_or(format!("extension {oid} missing"))?;
        Ok(ext.to_der()?)
    }

    /// Extension OIDs in order with their criticality.
    fn extension_summary(cert: &Certificate) -> Vec<(ObjectIdentifier, bool)> {
        cert.tbs_certificate()
            .extensions()
            .map(|exts| exts.iter().map(|e| (e.extn_id, e.critical)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn root_has_the_profile_extensions() -> TestResult {
        let signer = software_signer();
        let root = sample_root(&signer)?;
        // Parse back from DER so we test what a verifier would see.
        let root = Certificate::from_der(&to_der(&root)?)?;
        let tbs = root.tbs_certificate();

        assert_eq!(tbs.version(), x509_cert::Version::V3);
        assert_eq!(tbs.issuer(), tbs.subject());
        assert_eq!(
            tbs.signature().oid,
            const_oid::db::rfc5912::ECDSA_WITH_SHA_256
        );
        assert!(tbs.signature().parameters.is_none());
        assert_eq!(
            extension_summary(&root),
            vec![
                (BasicConstraints::OID, true),
                (KeyUsage::OID, true),
                (SubjectKeyIdentifier::OID, false),
                (AuthorityKeyIdentifier::OID, false),
            ]
        );
        let Some((_, bc)) = tbs.get_extension::<BasicConstraints>()? else {
            return Err("basicConstraints missing".into());
        };
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, None);
        let Some((_, ku)) = tbs.get_extension::<KeyUsage>()? else {
            return Err("keyUsage missing".into());
        };
        assert_eq!(ku.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        let Some((_, ski)) = tbs.get_extension::<SubjectKeyIdentifier>()? else {
            return Err("SKI missing".into());
        };
        assert_eq!(ski.0.as_bytes(), key_identifier(&signer.spki()?));
        let Some((_, aki)) = tbs.get_extension::<AuthorityKeyIdentifier>()? else {
            return Err("AKI missing".into());
        };
        assert_eq!(aki.key_identifier, Some(ski.0.clone()));
        assert!(aki.authority_cert_issuer.is_none() && aki.authority_cert_serial_number.is_none());

        verify_signed_by(&root, &root)?;
        assert_eq!(signer.calls(), 1);
        Ok(())
    }

    #[test]
    fn issuing_ca_has_the_profile_extensions() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let (issuing, issuing_signer) = sample_issuing(&root_signer, &root)?;
        let issuing = Certificate::from_der(&to_der(&issuing)?)?;
        let tbs = issuing.tbs_certificate();

        assert_eq!(tbs.issuer(), root.tbs_certificate().subject());
        assert_eq!(tbs.subject_public_key_info(), &issuing_signer.spki()?);
        assert_eq!(
            extension_summary(&issuing),
            vec![
                (BasicConstraints::OID, true),
                (KeyUsage::OID, true),
                (SubjectKeyIdentifier::OID, false),
                (AuthorityKeyIdentifier::OID, false),
            ]
        );
        let Some((_, bc)) = tbs.get_extension::<BasicConstraints>()? else {
            return Err("basicConstraints missing".into());
        };
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, Some(0));
        let Some((_, ku)) = tbs.get_extension::<KeyUsage>()? else {
            return Err("keyUsage missing".into());
        };
        assert_eq!(ku.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        let Some((_, ski)) = tbs.get_extension::<SubjectKeyIdentifier>()? else {
            return Err("SKI missing".into());
        };
        assert_eq!(ski.0.as_bytes(), key_identifier(&issuing_signer.spki()?));
        let Some((_, aki)) = tbs.get_extension::<AuthorityKeyIdentifier>()? else {
            return Err("AKI missing".into());
        };
        let root_ski = key_identifier(root.tbs_certificate().subject_public_key_info());
        assert_eq!(
            aki.key_identifier.as_ref().map(|k| k.as_bytes()),
            Some(&root_ski[..])
        );

        verify_signed_by(&issuing, &root)?;
        assert!(matches!(
            verify_signed_by(&issuing, &issuing),
            Err(CertError::IssuerMismatch(_))
        ));
        assert_eq!(issuing_signer.calls(), 0, "issuing key signed nothing");
        Ok(())
    }

    #[test]
    fn p256_signing_key_is_a_ca_signer() -> TestResult {
        // The software key satisfies the bound directly: no wrapper needed.
        let key = software_signer().into_key();
        let root = build_root(
            &key,
            &ca_name("Plain Key Root", "OneVisit Wallet")?,
            test_serial()?,
            now(),
            now() + YEAR,
        )?;
        verify_signed_by(&root, &root)?;
        Ok(())
    }

    #[test]
    fn issuing_validity_is_clamped_into_the_roots() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let root_validity = root.tbs_certificate().validity();
        let issuing = build_issuing_ca(
            &root_signer,
            &root,
            &ca_name("Clamped CA", "OneVisit Wallet")?,
            software_signer().spki()?,
            test_serial()?,
            root_validity.not_before.to_system_time() - YEAR,
            root_validity.not_after.to_system_time() + 5 * YEAR,
        )?;
        let validity = issuing.tbs_certificate().validity();
        assert_eq!(validity.not_before, root_validity.not_before);
        assert_eq!(validity.not_after, root_validity.not_after);
        Ok(())
    }

    #[test]
    fn dates_from_2050_are_generalized_time() -> TestResult {
        let signer = software_signer();
        let not_after: SystemTime = "2051-06-30T12:00:00Z"
            .parse::<der::DateTime>()?
            .to_system_time();
        let root = build_root(
            &signer,
            &ca_name("Long Root", "OneVisit Wallet")?,
            test_serial()?,
            now(),
            not_after,
        )?;
        let validity = root.tbs_certificate().validity();
        assert_eq!(
            validity.not_before.to_der()?[0],
            0x17,
            "UTCTime through 2049"
        );
        assert_eq!(validity.not_after.to_der()?, b"\x18\x0f20510630120000Z");
        Ok(())
    }

    /// Lint-before-sign: each broken TBS is refused and the signer is
    /// never called.
    #[test]
    fn bad_tbs_is_never_signed() -> TestResult {
        let subject = ca_name("Lint Root", "OneVisit Wallet")?;
        let expect_lint = |result: Result<Certificate, CertError>, code: &str| -> TestResult {
            match result {
                Err(CertError::Lint(report)) if report.has(code) => Ok(()),
                other => Err(format!("expected lint {code}, got {other:?}").into()),
            }
        };

        let signer = software_signer();
        expect_lint(
            build_root(&signer, &subject, test_serial()?, now(), now() - YEAR),
            "validity.order",
        )?;
        // An empty period (notBefore == notAfter, same whole second).
        let instant = now();
        expect_lint(
            build_root(&signer, &subject, test_serial()?, instant, instant),
            "validity.order",
        )?;
        expect_lint(
            build_root(
                &signer,
                &Name::default(),
                test_serial()?,
                now(),
                now() + YEAR,
            ),
            "subject.empty",
        )?;
        expect_lint(
            build_root(
                &signer,
                &subject,
                SerialNumber::from(0u8),
                now(),
                now() + YEAR,
            ),
            "serial.zero",
        )?;
        assert_eq!(signer.calls(), 0);

        // A signer advertising another algorithm is caught by the lint too.
        let sha384 = TestSigner::new_random().with_algorithm(ECDSA_WITH_SHA_384);
        expect_lint(
            build_root(&sha384, &subject, test_serial()?, now(), now() + YEAR),
            "signature.algorithm",
        )?;
        assert_eq!(sha384.calls(), 0);

        // Issuing CA: bad subject key (the root's own) and an empty period
        // after clamping.
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let calls_after_root = root_signer.calls();
        let root_na = root.tbs_certificate().validity().not_after.to_system_time();
        expect_lint(
            build_issuing_ca(
                &root_signer,
                &root,
                &ca_name("Same Key CA", "OneVisit Wallet")?,
                root_signer.spki()?,
                test_serial()?,
                now(),
                now() + YEAR,
            ),
            "spki.same_as_issuer",
        )?;
        expect_lint(
            build_issuing_ca(
                &root_signer,
                &root,
                &ca_name("Late CA", "OneVisit Wallet")?,
                software_signer().spki()?,
                test_serial()?,
                root_na + YEAR,
                root_na + 2 * YEAR,
            ),
            "validity.order",
        )?;
        assert_eq!(root_signer.calls(), calls_after_root);
        Ok(())
    }

    #[test]
    fn wrong_signer_or_non_ca_issuer_is_refused_before_signing() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let impostor = software_signer();
        let subject = ca_name("Issuing CA", "OneVisit Wallet")?;
        let result = build_issuing_ca(
            &impostor,
            &root,
            &subject,
            software_signer().spki()?,
            test_serial()?,
            now(),
            now() + YEAR,
        );
        assert!(
            matches!(result, Err(CertError::SignerMismatch)),
            "{result:?}"
        );
        assert_eq!(impostor.calls(), 0);

        let (issuing, issuing_signer) = sample_issuing(&root_signer, &root)?;
        let result = build_issuing_ca(
            &issuing_signer,
            &issuing,
            &subject,
            software_signer().spki()?,
            test_serial()?,
            now(),
            now() + YEAR,
        );
        assert!(
            matches!(result, Err(CertError::IssuerNotCa(_))),
            "{result:?}"
        );
        assert_eq!(issuing_signer.calls(), 0);
        Ok(())
    }

    #[test]
    fn cross_certificate_links_the_new_roots_chain_to_the_old_root() -> TestResult {
        let old_signer = software_signer();
        let old_root = sample_root(&old_signer)?;
        let new_signer = software_signer();
        let new_root = g2_root(&new_signer)?;
        let (new_issuing, _) = sample_issuing(&new_signer, &new_root)?;
        let serial = test_serial()?;
        let cross = build_cross_certificate(
            &old_signer,
            &old_root,
            &new_root,
            serial.clone(),
            now() - Duration::from_secs(60),
            now() + 5 * YEAR,
        )?;
        let cross = Certificate::from_der(&to_der(&cross)?)?;
        let tbs = cross.tbs_certificate();
        let new_tbs = new_root.tbs_certificate();

        // Subject, key and SKI are the new root's, byte for byte.
        assert_eq!(tbs.subject().to_der()?, new_tbs.subject().to_der()?);
        assert_eq!(
            tbs.subject_public_key_info(),
            new_tbs.subject_public_key_info()
        );
        assert_eq!(
            extension_der(&cross, SubjectKeyIdentifier::OID)?,
            extension_der(&new_root, SubjectKeyIdentifier::OID)?
        );
        assert_eq!(
            tbs.issuer().to_der()?,
            old_root.tbs_certificate().subject().to_der()?
        );
        assert_eq!(tbs.serial_number(), &serial);
        assert_eq!(
            tbs.signature().oid,
            const_oid::db::rfc5912::ECDSA_WITH_SHA_256
        );
        assert!(tbs.signature().parameters.is_none());
        assert_eq!(
            extension_summary(&cross),
            vec![
                (BasicConstraints::OID, true),
                (KeyUsage::OID, true),
                (SubjectKeyIdentifier::OID, false),
                (AuthorityKeyIdentifier::OID, false),
            ]
        );
        let Some((_, bc)) = tbs.get_extension::<BasicConstraints>()? else {
            return Err("basicConstraints missing".into());
        };
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, None, "must sit above pathLen 0");
        let Some((_, ku)) = tbs.get_extension::<KeyUsage>()? else {
            return Err("keyUsage missing".into());
        };
        assert_eq!(ku.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        let Some((_, aki)) = tbs.get_extension::<AuthorityKeyIdentifier>()? else {
            return Err("AKI missing".into());
        };
        assert_eq!(
            aki.key_identifier,
            Some(OctetString::new(issuer_key_id(&old_root)?)?)
        );
        assert!(aki.authority_cert_issuer.is_none() && aki.authority_cert_serial_number.is_none());

        // new issuing CA -> cross -> old root, link by link; the direct
        // link to the new root still holds.
        verify_signed_by(&new_issuing, &cross)?;
        verify_signed_by(&cross, &old_root)?;
        verify_signed_by(&old_root, &old_root)?;
        verify_signed_by(&new_issuing, &new_root)?;
        assert!(matches!(
            verify_signed_by(&new_issuing, &old_root),
            Err(CertError::IssuerMismatch(_))
        ));

        lint_cross_certificate(&cross, &old_root, &new_root)?;
        // Without the subject root the profile cannot be checked.
        let Err(CertError::Lint(report)) =
            lint_certificate(&cross, CertProfile::CrossCertificate, Some(&old_root))
        else {
            return Err("cross profile without the subject root must fail".into());
        };
        assert!(report.has("cross.subject_root.missing"));

        assert_eq!(old_signer.calls(), 2, "old root and cross-certificate");
        assert_eq!(new_signer.calls(), 2, "new root and its issuing CA");
        Ok(())
    }

    #[test]
    fn cross_certificate_validity_is_clipped_to_the_old_root() -> TestResult {
        let old_signer = software_signer();
        let old_root = build_root(
            &old_signer,
            &ca_name("OneVisit Root CA", "OneVisit Wallet")?,
            test_serial()?,
            now() - Duration::from_secs(3600),
            now() + 2 * YEAR,
        )?;
        let new_root = g2_root(&software_signer())?;
        let old_na = old_root.tbs_certificate().validity().not_after;

        let not_before = now() - Duration::from_secs(60);
        let cross = build_cross_certificate(
            &old_signer,
            &old_root,
            &new_root,
            test_serial()?,
            not_before,
            now() + 10 * YEAR,
        )?;
        let validity = cross.tbs_certificate().validity();
        assert_eq!(validity.not_before, rfc5280_time(not_before)?);
        assert_eq!(validity.not_after, old_na, "clipped to the old root");
        verify_signed_by(&cross, &old_root)?;

        // Nothing left after clipping: refused, nothing signed.
        let calls = old_signer.calls();
        for start in [old_na.to_system_time(), old_na.to_system_time() + YEAR] {
            let result = build_cross_certificate(
                &old_signer,
                &old_root,
                &new_root,
                test_serial()?,
                start,
                start + 5 * YEAR,
            );
            assert!(
                matches!(&result, Err(CertError::Lint(r)) if r.has("validity.order")),
                "{result:?}"
            );
        }
        assert_eq!(old_signer.calls(), calls);
        Ok(())
    }

    /// The cross profile's refusals all come before the signer is called.
    #[test]
    fn bad_cross_certificate_is_never_signed() -> TestResult {
        let expect_lint = |result: Result<Certificate, CertError>, codes: &[&str]| -> TestResult {
            match result {
                Err(CertError::Lint(report)) if codes.iter().all(|c| report.has(c)) => Ok(()),
                other => Err(format!("expected lint {codes:?}, got {other:?}").into()),
            }
        };
        let old_signer = software_signer();
        let old_root = sample_root(&old_signer)?;
        let (old_issuing, _) = sample_issuing(&old_signer, &old_root)?;
        let new_signer = software_signer();
        let new_root = g2_root(&new_signer)?;
        let (new_issuing, _) = sample_issuing(&new_signer, &new_root)?;
        // The old key under the new name: a renamed root, not a rollover.
        let same_key_root = g2_root(&old_signer)?;
        // The new root with a flipped bit in its signature's last octet.
        let mut der = to_der(&new_root)?;
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let forged_root = Certificate::from_der(&der)?;
        let calls = old_signer.calls();

        // Not self-signed: an issuing CA (and with pathLen 0, not a root).
        expect_lint(
            cross(&old_signer, &old_root, &new_issuing),
            &[
                "cross.subject_root.not_self_signed",
                "cross.subject_root.not_ca",
            ],
        )?;
        // Self-issued but not signed by its own key.
        expect_lint(
            cross(&old_signer, &old_root, &forged_root),
            &["cross.subject_root.signature"],
        )?;
        // Same key: under another name, and the old root itself.
        expect_lint(
            cross(&old_signer, &old_root, &same_key_root),
            &["spki.same_as_issuer"],
        )?;
        expect_lint(
            cross(&old_signer, &old_root, &old_root),
            &["spki.same_as_issuer", "subject.same_as_issuer"],
        )?;
        // A new key under the old name: path builders could not tell the
        // roots apart by name.
        let same_name_root = sample_root(&software_signer())?;
        expect_lint(
            cross(&old_signer, &old_root, &same_name_root),
            &["subject.same_as_issuer"],
        )?;
        assert_eq!(old_signer.calls(), calls);

        // Wrong key for the issuer, and an issuer that cannot issue CAs.
        let new_calls = new_signer.calls();
        let result = cross(&new_signer, &old_root, &new_root);
        assert!(
            matches!(result, Err(CertError::SignerMismatch)),
            "{result:?}"
        );
        assert_eq!(new_signer.calls(), new_calls);
        let result = cross(&old_signer, &old_issuing, &new_root);
        assert!(
            matches!(result, Err(CertError::IssuerNotCa(_))),
            "{result:?}"
        );
        assert_eq!(old_signer.calls(), calls);
        Ok(())
    }

    /// After a rollover the existing issuing CA keys carry on: the new root
    /// certifies the same name and key again.
    #[test]
    fn issuing_ca_can_be_recertified_under_a_new_root() -> TestResult {
        let old_signer = software_signer();
        let old_root = sample_root(&old_signer)?;
        let (issuing, issuing_signer) = sample_issuing(&old_signer, &old_root)?;
        let new_signer = software_signer();
        let new_root = g2_root(&new_signer)?;

        let recertified = build_issuing_ca(
            &new_signer,
            &new_root,
            issuing.tbs_certificate().subject(),
            issuing.tbs_certificate().subject_public_key_info().clone(),
            test_serial()?,
            now() - Duration::from_secs(60),
            now() + 5 * YEAR,
        )?;
        let tbs = recertified.tbs_certificate();
        assert_eq!(
            tbs.subject().to_der()?,
            issuing.tbs_certificate().subject().to_der()?
        );
        assert_eq!(
            tbs.subject_public_key_info(),
            issuing.tbs_certificate().subject_public_key_info()
        );
        assert_eq!(
            extension_der(&recertified, SubjectKeyIdentifier::OID)?,
            extension_der(&issuing, SubjectKeyIdentifier::OID)?
        );
        assert_eq!(tbs.issuer(), new_root.tbs_certificate().subject());

        verify_signed_by(&recertified, &new_root)?;
        verify_signed_by(&issuing, &old_root)?;
        assert!(matches!(
            verify_signed_by(&recertified, &old_root),
            Err(CertError::IssuerMismatch(_))
        ));
        // Through the cross-certificate it reaches the old root as well.
        let cross = cross(&old_signer, &old_root, &new_root)?;
        verify_signed_by(&recertified, &cross)?;
        verify_signed_by(&cross, &old_root)?;
        assert_eq!(issuing_signer.calls(), 0, "issuing key signed nothing");
        Ok(())
    }

    /// OpenSSL builds the rollover paths to a re-certified issuing CA: from
    /// the old root through the cross-certificate, and from the new root
    /// directly.
    #[test]
    fn openssl_builds_both_rollover_paths() -> TestResult {
        let dir = tempfile::tempdir()?;
        let old_signer = software_signer();
        let old_root = sample_root(&old_signer)?;
        let (issuing, _) = sample_issuing(&old_signer, &old_root)?;
        let new_signer = software_signer();
        let new_root = g2_root(&new_signer)?;
        let recertified = build_issuing_ca(
            &new_signer,
            &new_root,
            issuing.tbs_certificate().subject(),
            issuing.tbs_certificate().subject_public_key_info().clone(),
            test_serial()?,
            now() - Duration::from_secs(60),
            now() + 5 * YEAR,
        )?;
        let cross = cross(&old_signer, &old_root, &new_root)?;

        let write = |name: &str,
                     certs: &[&Certificate]|
         -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
            let path = dir.path().join(name);
            let pem = certs
                .iter()
                .map(|c| to_pem(c))
                .collect::<Result<String, _>>()?;
            std::fs::write(&path, pem)?;
            Ok(path)
        };
        let old_root_pem = write("old-root.pem", &[&old_root])?;
        let new_root_pem = write("new-root.pem", &[&new_root])?;
        let untrusted = write("untrusted.pem", &[&cross, &recertified])?;
        let without_cross = write("without-cross.pem", &[&recertified])?;
        let target = write("target.pem", &[&recertified])?;

        wallet_testkit::openssl_verify(&old_root_pem, Some(&untrusted), &target)?;
        wallet_testkit::openssl_verify(&new_root_pem, Some(&untrusted), &target)?;
        // The old root alone does not reach the new issuing CA: the path
        // above really goes through the cross-certificate.
        assert!(
            wallet_testkit::openssl_verify(&old_root_pem, Some(&without_cross), &target).is_err()
        );
        Ok(())
    }

    /// pkilint on the cross-certificate and on its link to the old root
    /// (with `openssl verify` of that link).
    #[test]
    fn openssl_and_pkilint_accept_the_cross_certificate() -> TestResult {
        let dir = tempfile::tempdir()?;
        let old_signer = software_signer();
        let old_root = sample_root(&old_signer)?;
        let new_root = g2_root(&software_signer())?;
        let cross = cross(&old_signer, &old_root, &new_root)?;
        external::check_pair(dir.path(), "cross", &old_root, &cross)
    }

    #[test]
    fn signer_failure_is_reported_and_bad_signatures_are_caught() -> TestResult {
        let subject = ca_name("Failing Root", "OneVisit Wallet")?;
        let failing = TestSigner::new_random().failing();
        let result = build_root(&failing, &subject, test_serial()?, now(), now() + YEAR);
        assert!(matches!(result, Err(CertError::Signer(_))), "{result:?}");
        assert_eq!(failing.calls(), 1);

        let lying = TestSigner::new_random().signing_with(software_signer().into_key());
        let result = build_root(&lying, &subject, test_serial()?, now(), now() + YEAR);
        assert!(
            matches!(result, Err(CertError::SignatureSelfCheck)),
            "{result:?}"
        );
        Ok(())
    }

    #[test]
    fn lint_report_lists_every_finding() -> TestResult {
        let signer = software_signer();
        let instant = now();
        let result = build_root(
            &signer,
            &Name::default(),
            SerialNumber::from(0u8),
            instant,
            instant,
        );
        let Err(CertError::Lint(LintReport { findings })) = result else {
            return Err(format!("expected lint failure, got {result:?}").into());
        };
        let codes: Vec<_> = findings.iter().map(|f| f.code).collect();
        assert!(codes.contains(&"subject.empty"));
        assert!(codes.contains(&"issuer.empty"));
        assert!(codes.contains(&"serial.zero"));
        assert!(codes.contains(&"validity.order"));
        Ok(())
    }

    /// The pkilint wrapper must fail on a real finding, or the test below
    /// proves nothing.
    #[test]
    fn pkilint_wrapper_reports_errors() -> TestResult {
        use p256::{
            ecdsa::{DerSignature, SigningKey},
            elliptic_curve::Generate,
        };
        use x509_cert::builder::{Builder, CertificateBuilder};

        /// A CA profile without keyUsage, which RFC 5280 4.2.1.3 requires.
        struct NoKeyUsage(Name);
        impl BuilderProfile for NoKeyUsage {
            fn get_issuer(&self, subject: &Name) -> Name {
                subject.clone()
            }
            fn get_subject(&self) -> Name {
                self.0.clone()
            }
            fn build_extensions(
                &self,
                _spk: SubjectPublicKeyInfoRef<'_>,
                _issuer_spk: SubjectPublicKeyInfoRef<'_>,
                tbs: &TbsCertificate,
            ) -> x509_cert::builder::Result<Vec<Extension>> {
                let basic = BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                };
                Ok(vec![(true, &basic).to_extension(tbs.subject(), &[])?])
            }
        }

        if external::pkilint_skipped() {
            return Ok(());
        }
        let key = SigningKey::generate();
        let cert = CertificateBuilder::new(
            NoKeyUsage(ca_name("No KU", "OneVisit Wallet")?),
            test_serial()?,
            crate::validity(now(), now() + YEAR)?,
            crate::signer_spki(&key)?,
        )?
        .build::<_, DerSignature>(&key)?;
        let dir = tempfile::tempdir()?;
        match external::pkilint_cert(dir.path(), "no-ku", &cert) {
            Err(e)
                if e.to_string()
                    .contains("pkix.ca_certificate_no_ku_extension") =>
            {
                Ok(())
            }
            other => Err(format!("pkilint should flag the missing keyUsage: {other:?}").into()),
        }
    }

    /// The certificates we emit, checked by tools we did not write.
    #[test]
    fn openssl_and_pkilint_accept_the_ca_certificates() -> TestResult {
        let dir = tempfile::tempdir()?;

        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let (issuing, _) = sample_issuing(&root_signer, &root)?;
        external::check_pair(dir.path(), "ten-year", &root, &issuing)?;

        // Dates past 2049 (GeneralizedTime) and a high-S signer, as
        // SoftHSM2 produces about half the time.
        let long_signer = TestSigner::new_random().high_s();
        let long_root = build_root(
            &long_signer,
            &ca_name("OneVisit Long Root", "OneVisit Wallet")?,
            random_serial([0x5a; 16])?,
            now() - Duration::from_secs(3600),
            "2055-01-01T00:00:00Z"
                .parse::<der::DateTime>()?
                .to_system_time(),
        )?;
        assert!(external::signature_is_high_s(&long_root)?);
        let long_issuing = build_issuing_ca(
            &long_signer,
            &long_root,
            &ca_name("OneVisit Long Issuing CA", "OneVisit Wallet")?,
            software_signer().spki()?,
            test_serial()?,
            now() - Duration::from_secs(60),
            "2052-01-01T00:00:00Z"
                .parse::<der::DateTime>()?
                .to_system_time(),
        )?;
        assert!(external::signature_is_high_s(&long_issuing)?);
        verify_signed_by(&long_issuing, &long_root)?;
        external::check_pair(dir.path(), "long", &long_root, &long_issuing)?;

        assert!(to_pem(&root)?.contains("BEGIN CERTIFICATE"));
        Ok(())
    }
}
