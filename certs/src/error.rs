//! The one error type of the `certs` crate and the lint report it carries.
//!
//! Policy: every variant says which rule was broken, not how a caller should
//! answer it; the service maps these to problem types. Nothing here contains
//! key material, and signer errors are kept as their source so an HSM return
//! value survives up to the log line.

use std::fmt;

/// Everything that can go wrong while building, signing, parsing or checking
/// a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// DER encoding or decoding failed (malformed input or an unencodable value).
    #[error("DER encoding error: {0}")]
    Der(#[from] der::Error),

    /// A SubjectPublicKeyInfo could not be encoded or decoded.
    #[error("public key info error: {0}")]
    Spki(#[from] spki::Error),

    /// The x509-cert builder refused the input (its own profile checks).
    #[error("certificate builder error: {0}")]
    Builder(#[from] x509_cert::builder::Error),

    /// The signer (typically the HSM) failed to produce a signature.
    #[error("signer failed: {0}")]
    Signer(#[source] signature::Error),

    /// The signer returned a signature that does not verify under its own
    /// public key; the certificate was discarded.
    #[error("signer produced a signature that does not verify under its own public key")]
    SignatureSelfCheck,

    /// The TBS certificate breaks the profile; it was not signed.
    #[error("certificate profile lint failed: {0}")]
    Lint(LintReport),

    /// A serial number cannot be made from the input.
    #[error("invalid serial number: {0}")]
    InvalidSerial(&'static str),

    /// A distinguished name cannot be made from the input.
    #[error("invalid name: {0}")]
    InvalidName(String),

    /// A date of birth is not a real calendar date in `YYYY-MM-DD` form.
    #[error("invalid date of birth: {0}")]
    InvalidBirthDate(String),

    /// A CRL or OCSP URL cannot go into a certificate (not an ASCII
    /// `http://` or `https://` URL with a host).
    #[error("invalid endpoint URL: {0}")]
    InvalidUrl(String),

    /// The requested validity cannot be encoded or is empty.
    #[error("invalid validity: {0}")]
    InvalidValidity(String),

    /// The signer's public key is not the key the certificate says signed it.
    #[error("signer public key does not match the issuer's subject public key")]
    SignerMismatch,

    /// The issuer certificate cannot issue certificates under this profile
    /// (or, for a CRL, is not a CA with cRLSign).
    #[error("issuer certificate not usable as a CA: {0}")]
    IssuerNotCa(String),

    /// The certificate's issuer (name or key identifier) is not the given issuer.
    #[error("certificate was not issued by this issuer: {0}")]
    IssuerMismatch(&'static str),

    /// Only ECDSA P-256 with SHA-256 is supported.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),

    /// The certificate's signature does not verify under the issuer's key.
    #[error("certificate signature does not verify")]
    BadSignature,
}

/// One broken profile rule found by the lint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFinding {
    /// Stable, dotted identifier of the rule (e.g. `key_usage.not_critical`),
    /// for tests and logs.
    pub code: &'static str,
    /// Human-readable detail.
    pub detail: String,
}

/// All findings of one lint run (never empty when returned in an error).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LintReport {
    /// The findings, in the order the checks ran.
    pub findings: Vec<LintFinding>,
}

impl LintReport {
    /// Whether a finding with this code is present.
    #[must_use]
    pub fn has(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }
}

impl fmt::Display for LintReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, finding) in self.findings.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} ({})", finding.code, finding.detail)?;
        }
        Ok(())
    }
}
