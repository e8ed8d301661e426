//! The trust document (`GET /v1/trust`): everything a verifier needs to
//! trust this wallet's credentials and ledger, like a trusted-root list:
//! root and issuing CA certificates (active and retired) with key ids,
//! states and validity, the cross-certificates of root rollovers, the
//! ledger public keys and origin.
//!
//! A key's entry says when it signed (`activated_at` to `retired_at`); an
//! issuing CA certified again under a new root appears once per
//! certificate, so chains built through either root verify.

use certs::presentation::TrustAnchor;
use schema::keys::{self, Key, KeyPurpose};
use schema::rotation::{self as extra, KeyCertificate, KeyCertificateKind};
use schema::{Database, DbConnection};
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
    /// Key id of the key that signed this certificate (the key itself for
    /// a self-signed root).
    pub issuer_key_id: String,
    /// `true` for the certificate the key uses now; `false` for one
    /// replaced when the root rolled over (still valid for what it issued).
    pub current: bool,
    /// SHA-256 of the certificate DER, lowercase hex.
    pub certificate_sha256: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
}

/// A cross-certificate: an old root certifying a newer root's key, so a
/// relying party that trusts only the old root reaches the new one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CrossCertificate {
    /// Key id of the certified (newer) root.
    pub key_id: String,
    /// Key id of the certifying (older) root.
    pub issuer_key_id: String,
    /// Certificate notBefore, RFC 3339.
    pub not_before: String,
    /// Certificate notAfter, RFC 3339.
    pub not_after: String,
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
    /// Cross-certificates between roots (root rollovers).
    pub cross_certificates: Vec<CrossCertificate>,
    /// Ledger public keys.
    pub ledger_keys: Vec<LedgerKeyEntry>,
    /// Latest signed checkpoint (C2SP signed note), once the ledger has one.
    pub checkpoint: Option<String>,
}

/// Builds the trust document from the key records.
pub fn document(db: &Database, ledger_origin: &str) -> Result<TrustDocument, DomainError> {
    let mut conn = db.conn()?;
    let all = keys::list_all(&mut conn)?;
    let others = extra::certificates(&mut conn)?;
    let mut doc = TrustDocument {
        ledger_origin: ledger_origin.to_owned(),
        roots: Vec::new(),
        issuing_cas: Vec::new(),
        cross_certificates: Vec::new(),
        ledger_keys: Vec::new(),
        checkpoint: schema::ledger::latest_checkpoint(&mut conn)?.map(|c| c.note),
    };
    let issuer_of = |der: Option<&[u8]>| -> String {
        der.and_then(|d| certs::from_der(d).ok())
            .and_then(|cert| issuing_root(&all, &cert))
            .map(|root| root.key_id.to_string())
            .unwrap_or_default()
    };
    for key in &all {
        match key.purpose {
            KeyPurpose::Root => doc.roots.extend(ca_entry(
                key,
                key.certificate.as_deref(),
                true,
                key.key_id.to_string(),
            )?),
            KeyPurpose::IdentityCa | KeyPurpose::LicenseCa => {
                let issuer = issuer_of(key.certificate.as_deref());
                doc.issuing_cas
                    .extend(ca_entry(key, key.certificate.as_deref(), true, issuer)?);
                for old in others
                    .iter()
                    .filter(|c| c.key_id == key.key_id && c.kind == KeyCertificateKind::Previous)
                {
                    doc.issuing_cas.extend(ca_entry(
                        key,
                        Some(&old.certificate),
                        false,
                        old.issuer_key_id.to_string(),
                    )?);
                }
            }
            KeyPurpose::Ledger => doc.ledger_keys.extend(ledger_entry(key)?),
            _ => {}
        }
    }
    for cross in others
        .iter()
        .filter(|c| c.kind == KeyCertificateKind::Cross)
    {
        doc.cross_certificates.push(cross_entry(cross)?);
    }
    Ok(doc)
}

/// The root key among `keys` that issued `cert`. Root names carry their
/// generation (`G<n>`), so the issuer name decides; no signature check.
pub(crate) fn issuing_root<'a>(keys: &'a [Key], cert: &certs::Certificate) -> Option<&'a Key> {
    keys.iter()
        .filter(|k| k.purpose == KeyPurpose::Root)
        .find(|k| {
            k.certificate
                .as_deref()
                .and_then(|der| certs::from_der(der).ok())
                .is_some_and(|root| {
                    root.tbs_certificate().subject() == cert.tbs_certificate().issuer()
                })
        })
}

/// The CAs a verifier in this service trusts: every root (self-signed) and
/// every certificate of every issuing CA, whatever its state: a retired CA
/// still vouches for what it issued while it was active.
pub fn anchors(conn: &mut DbConnection) -> Result<Vec<TrustAnchor>, DomainError> {
    let mut anchors = Vec::new();
    let all = keys::list_all(conn)?;
    for key in &all {
        let is_root = match key.purpose {
            KeyPurpose::Root => true,
            KeyPurpose::IdentityCa | KeyPurpose::LicenseCa => false,
            _ => continue,
        };
        if let Some(der) = key.certificate.as_deref() {
            anchors.push(TrustAnchor {
                certificate: certs::from_der(der)?,
                is_root,
            });
        }
    }
    for old in extra::certificates(conn)?
        .into_iter()
        .filter(|c| c.kind == KeyCertificateKind::Previous)
    {
        anchors.push(TrustAnchor {
            certificate: certs::from_der(&old.certificate)?,
            is_root: false,
        });
    }
    Ok(anchors)
}

fn ca_entry(
    key: &Key,
    der: Option<&[u8]>,
    current: bool,
    issuer_key_id: String,
) -> Result<Option<CaEntry>, DomainError> {
    let Some(der) = der else {
        return Ok(None);
    };
    let cert = certs::from_der(der)?;
    let (not_before, not_after) = certs::validity_unix(&cert);
    Ok(Some(CaEntry {
        purpose: key.purpose.to_string(),
        key_id: key.key_id.to_string(),
        label: key.label.clone(),
        state: key.state.to_string(),
        not_before: Some(rfc3339(not_before)),
        not_after: Some(rfc3339(not_after)),
        activated_at: key.activated_at.map(rfc3339),
        retired_at: key.retired_at.map(rfc3339),
        issuer_key_id,
        current,
        certificate_sha256: certs::sha256_fingerprint(der),
        certificate_pem: certs::to_pem(&cert)?,
    }))
}

fn cross_entry(c: &KeyCertificate) -> Result<CrossCertificate, DomainError> {
    Ok(CrossCertificate {
        key_id: c.key_id.to_string(),
        issuer_key_id: c.issuer_key_id.to_string(),
        not_before: rfc3339(c.not_before),
        not_after: rfc3339(c.not_after),
        certificate_sha256: c.cert_sha256.clone(),
        certificate_pem: certs::to_pem(&certs::from_der(&c.certificate)?)?,
    })
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
