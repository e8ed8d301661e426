//! Pure X.509 and credential logic for OneVisit Wallet: certificate
//! profiles (CA, identity, licence), TBS building, lint-before-sign, signing
//! through a signer trait, parsing and signature checks, holder CSRs,
//! revocation lists ([`crl`]), OCSP requests and responses ([`ocsp`]),
//! presentation verification ([`presentation`]), and the catalog of licence
//! types and one-visit services.
//!
//! No I/O: no files, no network, no clock. Time and randomness are
//! parameters, and keys are reached only through [`CaSigner`], so the HSM
//! service and the offline verifier run this same code.
//!
//! Every certificate is built as a TBS, decoded back from its DER and linted
//! against its profile ([`lint`]); only a TBS that passes is handed to the
//! signer, and the signature is checked against the signer's public key
//! before the certificate is returned. CRLs and OCSP responses go through
//! the same steps.
#![forbid(unsafe_code)]

mod ca;
pub mod catalog;
pub mod crl;
pub mod csr;
mod ecdsa;
mod encoding;
mod error;
pub mod holder;
mod identifiers;
pub mod lint;
mod name;
pub mod ocsp;
pub mod oids;
pub mod presentation;
mod signer;
mod validity;
mod verify;

#[cfg(test)]
mod test_support;

pub use ca::{build_cross_certificate, build_issuing_ca, build_root};
pub use ecdsa::verify_p256;
pub use encoding::{from_der, from_pem, spki_from_der, spki_pem, to_der, to_pem};
pub use error::{CertError, LintFinding, LintReport};
pub use identifiers::{SERIAL_LEN, key_identifier, random_serial, serial_hex, sha256_fingerprint};
pub use lint::CertProfile;
pub use name::{UB_NAME_CHARS, UB_SERIAL_NUMBER_CHARS, ca_name};
pub use signer::{CaSigner, signer_spki};
pub use validity::{clamp_to_issuer, rfc5280_time, validity, validity_unix};
pub use verify::verify_signed_by;

// The types of this crate's API, so callers need not pin x509-cert themselves.
pub use spki::SubjectPublicKeyInfoOwned;
pub use x509_cert::{Certificate, name::Name, serial_number::SerialNumber, time::Time};
