//! A signer over an HSM key that implements the `signature` traits taken by
//! the `x509-cert` builder, so certificate code signs without knowing PKCS#11.

use std::sync::Arc;

use p256::ecdsa::{DerSignature, VerifyingKey};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, ObjectIdentifier};

use crate::error::HsmError;
use crate::hsm::Hsm;
use crate::keys::KeyKind;

/// ecdsa-with-SHA256 (RFC 5758 3.2).
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// Signs with the P-256 private key labelled `label` inside the token.
#[derive(Clone)]
pub struct HsmSigner {
    hsm: Arc<Hsm>,
    label: String,
    key_id: Vec<u8>,
    verifying_key: VerifyingKey,
}

impl std::fmt::Debug for HsmSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmSigner")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl HsmSigner {
    /// A signer for the key pair labelled `label`; fails if there is none or
    /// it is not a P-256 key pair.
    pub fn new(hsm: Arc<Hsm>, label: &str) -> Result<Self, HsmError> {
        let info = hsm
            .find_key(label)?
            .ok_or_else(|| HsmError::KeyNotFound(label.to_owned()))?;
        let verifying_key = match info.kind {
            KeyKind::EcP256 { .. } => info
                .verifying_key()
                .ok_or(HsmError::InvalidTokenData { what: "public key" })??,
            KeyKind::Secret => {
                return Err(HsmError::KeyNotFound(format!("{label} (not a key pair)")));
            }
        };
        Ok(Self {
            hsm,
            label: label.to_owned(),
            key_id: info.id,
            verifying_key,
        })
    }

    /// The key's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The key's CKA_ID (its subject key identifier).
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }
}

impl signature::Keypair for HsmSigner {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }
}

impl signature::Signer<DerSignature> for HsmSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<DerSignature, signature::Error> {
        self.hsm
            .sign(&self.label, msg)
            .map_err(signature::Error::from_source)
    }
}

impl DynSignatureAlgorithmIdentifier for HsmSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        })
    }
}

impl Hsm {
    /// A [`HsmSigner`] for the key pair labelled `label`.
    pub fn signer(self: &Arc<Self>, label: &str) -> Result<HsmSigner, HsmError> {
        HsmSigner::new(Arc::clone(self), label)
    }
}
