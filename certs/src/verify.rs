//! One link of a chain: was this certificate signed by that issuer?
//!
//! Trusts neither certificate. Time, revocation and path rules belong to
//! chain verification, which calls this for each link.

use const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
use der::{Encode, referenced::OwnedToRef};
use p256::ecdsa::{DerSignature, VerifyingKey};
use x509_cert::{
    Certificate,
    ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier},
};

use crate::CertError;

/// Checks that `cert` names `issuer_cert` as its issuer and carries a valid
/// ECDSA P-256 / SHA-256 signature by `issuer_cert`'s public key.
///
/// Names are compared exactly (binary DER), not with RFC 5280 7.1 case
/// folding: every certificate in a chain here is made by this service, so a
/// difference means a different issuer. When both sides carry key
/// identifiers (AKI in `cert`, SKI in `issuer_cert`) they must match too, so
/// after a key rotation an issuing CA is told apart from its predecessor
/// with the same name. High-S signatures are accepted (SoftHSM2 makes them,
/// and X.509 verifiers accept them).
///
/// # Errors
/// [`CertError::IssuerMismatch`] for a name or key identifier mismatch;
/// [`CertError::UnsupportedAlgorithm`] for anything but ecdsa-with-SHA256 or
/// a non-P-256 issuer key; [`CertError::BadSignature`] if the signature
/// is malformed or does not verify.
pub fn verify_signed_by(cert: &Certificate, issuer_cert: &Certificate) -> Result<(), CertError> {
    check_link(cert, issuer_cert)?;
    check_signature(cert, issuer_cert)
}

/// The part of [`verify_signed_by`] that needs no public-key operation:
/// names, key identifiers and the signature algorithm.
pub(crate) fn check_link(cert: &Certificate, issuer_cert: &Certificate) -> Result<(), CertError> {
    let tbs = cert.tbs_certificate();
    let issuer_tbs = issuer_cert.tbs_certificate();

    if tbs.issuer() != issuer_tbs.subject() {
        return Err(CertError::IssuerMismatch(
            "issuer name differs from issuer's subject",
        ));
    }
    if let (Some((_, aki)), Some((_, ski))) = (
        tbs.get_extension::<AuthorityKeyIdentifier>()?,
        issuer_tbs.get_extension::<SubjectKeyIdentifier>()?,
    ) && aki.key_identifier.is_some_and(|kid| kid != ski.0)
    {
        return Err(CertError::IssuerMismatch(
            "authority key identifier differs from issuer's subject key identifier",
        ));
    }

    // The outer algorithm is not signed; it must agree with the signed one.
    let algorithm = cert.signature_algorithm();
    if algorithm != tbs.signature() {
        return Err(CertError::UnsupportedAlgorithm(
            "signatureAlgorithm differs from tbsCertificate.signature".into(),
        ));
    }
    if algorithm.oid != ECDSA_WITH_SHA_256 || algorithm.parameters.is_some() {
        return Err(CertError::UnsupportedAlgorithm(format!(
            "signature algorithm {}",
            algorithm.oid
        )));
    }
    Ok(())
}

/// The ECDSA part of [`verify_signed_by`]: `cert`'s signature under
/// `issuer_cert`'s public key.
pub(crate) fn check_signature(
    cert: &Certificate,
    issuer_cert: &Certificate,
) -> Result<(), CertError> {
    let issuer_spki = issuer_cert.tbs_certificate().subject_public_key_info();
    let key = VerifyingKey::try_from(issuer_spki.owned_to_ref()).map_err(|_| {
        CertError::UnsupportedAlgorithm(format!("issuer key {}", issuer_spki.algorithm.oid))
    })?;
    let signature = cert
        .signature()
        .as_bytes()
        .and_then(|bytes| DerSignature::from_bytes(bytes).ok())
        .ok_or(CertError::BadSignature)?;
    // Parsing is strict DER, so re-encoding gives back the signed bytes.
    if crate::ecdsa::verify(&key, &cert.tbs_certificate().to_der()?, &signature) {
        Ok(())
    } else {
        Err(CertError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        from_der,
        test_support::{TestResult, sample_issuing, sample_root, software_signer},
        to_der,
    };

    #[test]
    fn accepts_the_real_issuer_only() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let (issuing, _) = sample_issuing(&root_signer, &root)?;
        verify_signed_by(&issuing, &root)?;
        verify_signed_by(&root, &root)?;

        // Same name, different key: a rotated root must not verify old links.
        let twin_root = sample_root(&software_signer())?;
        assert_eq!(
            twin_root.tbs_certificate().subject(),
            root.tbs_certificate().subject()
        );
        assert!(matches!(
            verify_signed_by(&issuing, &twin_root),
            Err(CertError::IssuerMismatch(_))
        ));
        Ok(())
    }

    #[test]
    fn a_flipped_bit_breaks_the_signature() -> TestResult {
        let root_signer = software_signer();
        let root = sample_root(&root_signer)?;
        let (issuing, _) = sample_issuing(&root_signer, &root)?;
        let der = to_der(&issuing)?;
        let original = from_der(&der)?;

        let serial = original
            .tbs_certificate()
            .serial_number()
            .as_bytes()
            .to_vec();
        let at = der
            .windows(serial.len())
            .position(|w| w == serial.as_slice())
            .ok_or("serial not found in DER")?;
        let mut tampered = der.clone();
        tampered[at + serial.len() - 1] ^= 0x01;
        let tampered = from_der(&tampered)?;
        assert!(matches!(
            verify_signed_by(&tampered, &root),
            Err(CertError::BadSignature)
        ));
        Ok(())
    }
}
