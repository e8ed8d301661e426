//! The trust document (`GET /v1/trust`): everything a verifier needs to
//! trust this wallet's credentials and ledger, like a trusted-root list:
//! root and issuing CA certificates (active and retired) with key ids,
//! states and validity, the ledger public keys and origin.

use schema::Database;
use schema::keys::{self, Key, KeyPurpose};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::{DomainError, rfc3339};

/// One CA key and its certificate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaEntry {
    /// `root`, `identity-ca`, `license-ca`, ...
    pub purpose: String,
    /// Subject key identifier, lowercase hex (also the CRL path component).
    pub key_id: String,
    /// Token label.
    pub label: String,
    /// `active`, `retired`, ...
    pub state: String,
    /// Certificate notBefore, RFC 3339.
    pub not_before: Option<String>,
    /// Certificate notAfter, RFC 3339.
    pub not_after: Option<String>,
    /// When the key became active, RFC 3339.
    pub activated_at: Option<String>,
    /// When the key was retired, RFC 3339.
    pub retired_at: Option<String>,
    /// SHA-256 of the certificate DER, lowercase hex.
    pub certificate_sha256: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
}

/// One ledger (checkpoint signing) key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerKeyEntry {
    /// Subject key identifier of the key, lowercase hex.
    pub key_id: String,
    /// C2SP signed-note key ID: first 4 bytes of SHA-256 of the DER SPKI, hex.
    pub note_key_id: String,
    /// Token label.
    pub label: String,
    /// `active`, `retired`, ...
    pub state: String,
    /// When the key became active, RFC 3339.
    pub activated_at: Option<String>,
    /// When the key was retired, RFC 3339.
    pub retired_at: Option<String>,
    /// The public key, PEM SubjectPublicKeyInfo.
    pub public_key_pem: String,
}

/// The trust document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrustDocument {
    /// Checkpoint origin line of this ledger.
    pub ledger_origin: String,
    /// Root CA certificates.
    pub roots: Vec<CaEntry>,
    /// Issuing CA certificates (`identity-ca`, `license-ca`).
    pub issuing_cas: Vec<CaEntry>,
    /// Ledger public keys.
    pub ledger_keys: Vec<LedgerKeyEntry>,
    /// Latest signed checkpoint (C2SP signed note), once the ledger has one.
    pub checkpoint: Option<String>,
}

/// Builds the trust document from the key records.
pub fn document(db: &Database, ledger_origin: &str) -> Result<TrustDocument, DomainError> {
    let mut conn = db.conn()?;
    let all = keys::list_all(&mut conn)?;
    let mut doc = TrustDocument {
        ledger_origin: ledger_origin.to_owned(),
        roots: Vec::new(),
        issuing_cas: Vec::new(),
        ledger_keys: Vec::new(),
        checkpoint: schema::ledger::latest_checkpoint(&mut conn)?.map(|c| c.note),
    };
    for key in &all {
        match key.purpose {
            KeyPurpose::Root => doc.roots.extend(ca_entry(key)?),
            KeyPurpose::IdentityCa | KeyPurpose::LicenseCa => {
                doc.issuing_cas.extend(ca_entry(key)?)
            }
            KeyPurpose::Ledger => doc.ledger_keys.extend(ledger_entry(key)?),
            _ => {}
        }
    }
    Ok(doc)
}

fn ca_entry(key: &Key) -> Result<Option<CaEntry>, DomainError> {
    let Some(der) = key.certificate.as_deref() else {
        return Ok(None);
    };
    let cert = certs::from_der(der)?;
    Ok(Some(CaEntry {
        purpose: key.purpose.to_string(),
        key_id: key.key_id.to_string(),
        label: key.label.clone(),
        state: key.state.to_string(),
        not_before: key.not_before.map(rfc3339),
        not_after: key.not_after.map(rfc3339),
        activated_at: key.activated_at.map(rfc3339),
        retired_at: key.retired_at.map(rfc3339),
        certificate_sha256: certs::sha256_fingerprint(der),
        certificate_pem: certs::to_pem(&cert)?,
    }))
}

fn ledger_entry(key: &Key) -> Result<Option<LedgerKeyEntry>, DomainError> {
    let Some(spki_der) = key.spki.as_deref() else {
        return Ok(None);
    };
    let spki = certs::spki_from_der(spki_der)?;
    Ok(Some(LedgerKeyEntry {
        key_id: key.key_id.to_string(),
        note_key_id: hex::encode(&Sha256::digest(spki_der)[..4]),
        label: key.label.clone(),
        state: key.state.to_string(),
        activated_at: key.activated_at.map(rfc3339),
        retired_at: key.retired_at.map(rfc3339),
        public_key_pem: certs::spki_pem(&spki)?,
    }))
}
