//! The signer bound (`CaSigner`) and the one signing pipeline every
//! certificate goes through: build TBS, lint, sign, check the signature
//! (CRLs, built in [`crate::crl`], share the last two steps).
//!
//! Trusts the signer for nothing but producing signatures: its algorithm
//! identifier is linted like any other TBS field, its public key must match
//! the issuer's, and its signature is verified before a certificate leaves.

use der::Decode;
use p256::ecdsa::{DerSignature, VerifyingKey};
use signature::{Keypair, Signer};
use spki::{
    DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};
use x509_cert::{
    Certificate, TbsCertificate,
    builder::{Builder, CertificateBuilder, profile::BuilderProfile},
    serial_number::SerialNumber,
    time::Validity,
};

use crate::{
    CertError,
    lint::{CertProfile, lint_issued_tbs},
};

/// A key that can sign certificates: ECDSA P-256, DER signatures, and an
/// algorithm identifier for the certificate's `signature` fields.
///
/// The HSM signer in `pkcs11-bridge` implements the three supertraits;
/// `p256::ecdsa::SigningKey` does too (used in tests). Everything that
/// satisfies them is a `CaSigner` through the blanket impl.
///
/// `try_sign` receives the DER TBS itself, not a digest: the signer hashes
/// it with SHA-256 (an HSM signer outside the token, then CKM_ECDSA) and
/// returns the DER form of (r, s); high-S values are fine. The algorithm
/// identifier is easiest taken from the public key, e.g.
/// `p256::ecdsa::VerifyingKey`'s `signature_algorithm_identifier()`, and is
/// linted like the rest of the TBS.
///
/// Errors: `Signer::try_sign` may fail (HSM unavailable, session lost); the
/// error is returned as [`CertError::Signer`] with the signer's error as its
/// source, and no certificate is produced.
pub trait CaSigner:
    Keypair<VerifyingKey = VerifyingKey> + DynSignatureAlgorithmIdentifier + Signer<DerSignature>
{
}

impl<T> CaSigner for T where
    T: Keypair<VerifyingKey = VerifyingKey>
        + DynSignatureAlgorithmIdentifier
        + Signer<DerSignature>
        + ?Sized
{
}

/// The SubjectPublicKeyInfo of the signer's public key.
///
/// # Errors
/// [`CertError::Spki`] if the key cannot be encoded.
pub fn signer_spki<S: CaSigner + ?Sized>(
    signer: &S,
) -> Result<SubjectPublicKeyInfoOwned, CertError> {
    Ok(SubjectPublicKeyInfoOwned::from_key(
        &signer.verifying_key(),
    )?)
}

/// Everything needed to issue one certificate under a profile.
pub(crate) struct Issuance<'a, P> {
    pub(crate) builder_profile: P,
    pub(crate) lint_profile: CertProfile,
    /// `None` when self-signed.
    pub(crate) issuer: Option<&'a Certificate>,
    /// For a cross-certificate, the subject's own self-signed certificate,
    /// whose name, key and SKI the new one must repeat; `None` otherwise.
    pub(crate) subject_root: Option<&'a Certificate>,
    pub(crate) serial: SerialNumber,
    pub(crate) validity: Validity,
    pub(crate) subject_spki: SubjectPublicKeyInfoOwned,
}

/// Builds, lints, signs and checks one certificate. The signer is called
/// only once the TBS has passed the lint, and only with that TBS's DER.
pub(crate) fn issue<S, P>(signer: &S, issuance: Issuance<'_, P>) -> Result<Certificate, CertError>
where
    S: CaSigner,
    P: BuilderProfile,
{
    let Issuance {
        builder_profile,
        lint_profile,
        issuer,
        subject_root,
        serial,
        validity,
        subject_spki,
    } = issuance;

    // A signer with the wrong key would produce a certificate whose AKI and
    // signature point at a different issuer: refuse before building.
    let signing_spki = signer_spki(signer)?;
    let expected_spki = issuer.map_or(&subject_spki, |c| {
        c.tbs_certificate().subject_public_key_info()
    });
    if &signing_spki != expected_spki {
        return Err(CertError::SignerMismatch);
    }

    let mut builder = CertificateBuilder::new(builder_profile, serial, validity, subject_spki)?;
    let tbs_der = builder.finalize(signer)?;
    // Lint the bytes the signer will see, not the builder's in-memory copy.
    let tbs = TbsCertificate::from_der(&tbs_der)?;
    lint_issued_tbs(&tbs, lint_profile, issuer, subject_root)?;

    let signature = sign_checked(signer, &tbs_der, &signer.verifying_key())?;
    Ok(builder.assemble(signature.to_bitstring()?, signer)?)
}

/// Signs `tbs_der` (already linted) and checks the signature under `key`,
/// the public key relying parties will use. A faulty HSM or a key swapped
/// under a label must not yield a certificate or CRL nobody can verify.
pub(crate) fn sign_checked<S: CaSigner>(
    signer: &S,
    tbs_der: &[u8],
    key: &VerifyingKey,
) -> Result<DerSignature, CertError> {
    let signature: DerSignature = signer.try_sign(tbs_der).map_err(CertError::Signer)?;
    if !crate::ecdsa::verify(key, tbs_der, &signature) {
        return Err(CertError::SignatureSelfCheck);
    }
    Ok(signature)
}
