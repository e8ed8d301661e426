//! DER and PEM encoding and parsing of certificates and public keys.
//!
//! Parsing is strict DER (the `der` crate rejects BER, trailing data and
//! non-minimal encodings), so a parsed certificate re-encodes to the exact
//! bytes that were signed.

use der::{Decode, DecodePem, Encode, EncodePem, pem::LineEnding};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use crate::CertError;

/// DER encoding of a certificate.
///
/// # Errors
/// [`CertError::Der`] if the certificate holds a value that cannot be encoded.
pub fn to_der(cert: &Certificate) -> Result<Vec<u8>, CertError> {
    Ok(cert.to_der()?)
}

/// PEM (`CERTIFICATE`, LF line endings) encoding of a certificate.
///
/// # Errors
/// [`CertError::Der`] if the certificate holds a value that cannot be encoded.
pub fn to_pem(cert: &Certificate) -> Result<String, CertError> {
    Ok(cert.to_pem(LineEnding::LF)?)
}

/// Parses one DER certificate; trailing bytes are an error.
///
/// # Errors
/// [`CertError::Der`] for anything that is not exactly one DER certificate.
pub fn from_der(der: &[u8]) -> Result<Certificate, CertError> {
    Ok(Certificate::from_der(der)?)
}

/// Parses one PEM `CERTIFICATE` block.
///
/// # Errors
/// [`CertError::Der`] for a wrong label, bad base64 or bad DER.
pub fn from_pem(pem: &str) -> Result<Certificate, CertError> {
    Ok(Certificate::from_pem(pem)?)
}

/// PEM (`PUBLIC KEY`, LF line endings) encoding of a SubjectPublicKeyInfo.
///
/// # Errors
/// [`CertError::Der`] if the key info cannot be encoded.
pub fn spki_pem(spki: &SubjectPublicKeyInfoOwned) -> Result<String, CertError> {
    Ok(spki.to_pem(LineEnding::LF)?)
}

/// Parses a DER SubjectPublicKeyInfo; trailing bytes are an error.
///
/// # Errors
/// [`CertError::Der`] for anything that is not exactly one DER SPKI.
pub fn spki_from_der(der: &[u8]) -> Result<SubjectPublicKeyInfoOwned, CertError> {
    Ok(SubjectPublicKeyInfoOwned::from_der(der)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{sample_root, software_signer};

    #[test]
    fn der_and_pem_round_trip() -> Result<(), CertError> {
        let root = sample_root(&software_signer())?;
        let der = to_der(&root)?;
        assert_eq!(from_der(&der)?, root);
        let pem = to_pem(&root)?;
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(from_pem(&pem)?, root);
        Ok(())
    }

    #[test]
    fn trailing_bytes_are_rejected() -> Result<(), CertError> {
        let mut der = to_der(&sample_root(&software_signer())?)?;
        der.push(0);
        assert!(matches!(from_der(&der), Err(CertError::Der(_))));
        Ok(())
    }

    #[test]
    fn spki_pem_has_public_key_label() -> Result<(), CertError> {
        let spki = software_signer().spki()?;
        let pem = spki_pem(&spki)?;
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(SubjectPublicKeyInfoOwned::from_pem(&pem)?, spki);
        Ok(())
    }
}
