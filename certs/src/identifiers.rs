//! Identifiers derived from certificates and keys: serial numbers, key
//! identifiers and fingerprints.
//!
//! Trusts its caller for randomness: serial bytes come from the caller's
//! CSPRNG, because this crate does no I/O.

use sha1::Sha1;
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::serial_number::SerialNumber;

use crate::CertError;

/// Number of CSPRNG bytes in a serial number (the design asks for 16, i.e.
/// 127 bits of entropy after the sign bit, well over the 64 bits required).
pub const SERIAL_LEN: usize = 16;

/// Makes a positive serial number from 16 bytes of CSPRNG output.
///
/// The top bit is cleared so the DER INTEGER is positive without a padding
/// byte, keeping every serial at most 16 content octets.
///
/// # Errors
/// [`CertError::InvalidSerial`] if the bytes are all zero after clearing the
/// top bit: RFC 5280 serials must be positive, and an all-zero buffer means
/// the random source is broken, so it must not be papered over.
pub fn random_serial(bytes: [u8; SERIAL_LEN]) -> Result<SerialNumber, CertError> {
    let mut bytes = bytes;
    bytes[0] &= 0x7f;
    if bytes.iter().all(|b| *b == 0) {
        return Err(CertError::InvalidSerial(
            "random bytes are all zero (broken random source?)",
        ));
    }
    Ok(SerialNumber::new(&bytes)?)
}

/// Lowercase hex of the serial number's DER INTEGER content octets: the
/// form the database and the ledger entries use.
#[must_use]
pub fn serial_hex(serial: &SerialNumber) -> String {
    hex::encode(serial.as_bytes())
}

/// RFC 5280 section 4.2.1.2 method 1 key identifier: SHA-1 of the
/// subjectPublicKey BIT STRING contents (without tag, length and unused-bits
/// octet). This is also the key's PKCS#11 CKA_ID.
#[must_use]
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> [u8; 20] {
    Sha1::digest(spki.subject_public_key.raw_bytes()).into()
}

/// Lowercase hex SHA-256 of some DER bytes (certificate fingerprint, the
/// `cert_sha256` of ledger entries and presentation lines).
#[must_use]
pub fn sha256_fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Encode, referenced::OwnedToRef};
    use x509_cert::ext::pkix::SubjectKeyIdentifier;

    #[test]
    fn serial_is_positive_and_sixteen_octets() -> Result<(), CertError> {
        let serial = random_serial([0xff; SERIAL_LEN])?;
        assert_eq!(serial.as_bytes().len(), SERIAL_LEN);
        assert_eq!(serial.as_bytes()[0], 0x7f);
        // INTEGER tag, length 16, no 0x00 sign padding.
        let der = serial.to_der()?;
        assert_eq!(&der[..3], &[0x02, 0x10, 0x7f]);
        assert_eq!(serial_hex(&serial), format!("7f{}", "ff".repeat(15)));
        Ok(())
    }

    #[test]
    fn serial_rejects_all_zero_after_masking() {
        let mut bytes = [0u8; SERIAL_LEN];
        assert!(matches!(
            random_serial(bytes),
            Err(CertError::InvalidSerial(_))
        ));
        bytes[0] = 0x80;
        assert!(matches!(
            random_serial(bytes),
            Err(CertError::InvalidSerial(_))
        ));
        bytes[15] = 1;
        assert!(random_serial(bytes).is_ok());
    }

    #[test]
    fn key_identifier_is_rfc5280_method_one() -> Result<(), CertError> {
        let spki = crate::test_support::software_signer().spki()?;
        let ours = key_identifier(&spki);
        // x509-cert implements method 1 independently; both must agree.
        let theirs = SubjectKeyIdentifier::try_from(spki.owned_to_ref())?;
        assert_eq!(&ours[..], theirs.0.as_bytes());
        Ok(())
    }

    #[test]
    fn fingerprint_is_lowercase_hex_sha256() {
        assert_eq!(
            sha256_fingerprint(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
