//! Keys inside the token: labels, generation templates with the attributes of
//! DESIGN.md (sensitive, never extractable, sign only), lookup by label or id,
//! public key export, ECDSA P-256 signing and HMAC-SHA256.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use p256::ecdsa::{DerSignature, Signature, VerifyingKey};
use sha1::Digest as _;
use spki::EncodePublicKey as _;

use crate::error::HsmError;
use crate::hsm::{Hsm, ObjectKind};

/// DER of the named curve OID prime256v1 (1.2.840.10045.3.1.7), the only
/// curve the wallet uses.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Constant MACed by a new HMAC key to make its key check value (its CKA_ID).
const HMAC_CHECK_INPUT: &[u8] = b"onevisit key check value";

/// A key label, `onevisit/<purpose>/<n>` (DESIGN.md, HSM rules).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyLabel {
    purpose: String,
    generation: u32,
}

impl KeyLabel {
    /// The label of generation `generation` (1 for the first key) of `purpose`.
    pub fn new(purpose: &str, generation: u32) -> Self {
        Self {
            purpose: purpose.to_owned(),
            generation,
        }
    }

    /// Parses `onevisit/<purpose>/<n>`.
    pub fn parse(label: &str) -> Option<Self> {
        let rest = label.strip_prefix("onevisit/")?;
        let (purpose, n) = rest.rsplit_once('/')?;
        if purpose.is_empty() || purpose.contains('/') {
            return None;
        }
        Some(Self {
            purpose: purpose.to_owned(),
            generation: n.parse().ok()?,
        })
    }

    /// The purpose part.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// The generation number.
    pub fn generation(&self) -> u32 {
        self.generation
    }
}

impl std::fmt::Display for KeyLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "onevisit/{}/{}", self.purpose, self.generation)
    }
}

/// What kind of key a label names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// An ECDSA P-256 key pair; the public key as DER SubjectPublicKeyInfo.
    EcP256 {
        /// DER SubjectPublicKeyInfo.
        spki_der: Vec<u8>,
    },
    /// A generic secret (HMAC) key.
    Secret,
}

/// A key on the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID: the X.509 subject key identifier for a key pair, the key check
    /// value for a secret key.
    pub id: Vec<u8>,
    /// Key pair or secret.
    pub kind: KeyKind,
}

impl KeyInfo {
    /// CKA_ID as lowercase hex (the wallet's "key id").
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The public key of a key pair.
    pub fn verifying_key(&self) -> Option<Result<VerifyingKey, HsmError>> {
        match &self.kind {
            KeyKind::EcP256 { spki_der } => Some(
                <VerifyingKey as spki::DecodePublicKey>::from_public_key_der(spki_der)
                    .map_err(|_| HsmError::InvalidTokenData { what: "public key" }),
            ),
            KeyKind::Secret => None,
        }
    }
}

/// Security attributes of a private or secret key, as the token reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "mirrors the PKCS#11 boolean attributes one to one"
)]
pub struct KeyAttributes {
    /// CKA_TOKEN.
    pub token: bool,
    /// CKA_PRIVATE.
    pub private: bool,
    /// CKA_SENSITIVE.
    pub sensitive: bool,
    /// CKA_ALWAYS_SENSITIVE.
    pub always_sensitive: bool,
    /// CKA_EXTRACTABLE.
    pub extractable: bool,
    /// CKA_NEVER_EXTRACTABLE.
    pub never_extractable: bool,
    /// CKA_LOCAL (generated inside the token).
    pub local: bool,
    /// CKA_SIGN.
    pub sign: bool,
    /// CKA_DECRYPT.
    pub decrypt: bool,
    /// CKA_UNWRAP.
    pub unwrap: bool,
    /// CKA_DERIVE.
    pub derive: bool,
}

/// Subject key identifier of an EC public key: SHA-1 of the uncompressed
/// point, which is exactly the subjectPublicKey BIT STRING content (RFC 5280
/// 4.2.1.2, method 1).
pub fn ec_point_key_id(point: &[u8]) -> Vec<u8> {
    sha1::Sha1::digest(point).to_vec()
}

/// DER SubjectPublicKeyInfo of a P-256 point (uncompressed SEC1).
pub fn ec_point_to_spki(point: &[u8]) -> Result<Vec<u8>, HsmError> {
    let key = p256::PublicKey::from_sec1_bytes(point)
        .map_err(|_| HsmError::InvalidTokenData { what: "EC point" })?;
    let der = key
        .to_public_key_der()
        .map_err(|_| HsmError::InvalidTokenData { what: "EC point" })?;
    Ok(der.as_bytes().to_vec())
}

/// CKA_EC_POINT is a DER OCTET STRING around the SEC1 point (PKCS#11 2.40);
/// some tokens return the bare point. Accept both, return the bare point.
fn unwrap_ec_point(raw: &[u8]) -> Result<Vec<u8>, HsmError> {
    match raw {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 && rest[0] == 0x04 => Ok(rest.to_vec()),
        [0x04, ..] if raw.len() == 65 => Ok(raw.to_vec()),
        _ => Err(HsmError::InvalidTokenData {
            what: "CKA_EC_POINT",
        }),
    }
}

pub(crate) fn find_objects(
    session: &Session,
    kind: ObjectKind,
    label: &str,
) -> Result<Vec<ObjectHandle>, HsmError> {
    Ok(session.find_objects(&[
        Attribute::Class(class_of(kind)),
        Attribute::Label(label.as_bytes().to_vec()),
    ])?)
}

fn class_of(kind: ObjectKind) -> ObjectClass {
    match kind {
        ObjectKind::Private => ObjectClass::PRIVATE_KEY,
        ObjectKind::Public => ObjectClass::PUBLIC_KEY,
        ObjectKind::Secret => ObjectClass::SECRET_KEY,
    }
}

fn read_ec_point(session: &Session, public: ObjectHandle) -> Result<Vec<u8>, HsmError> {
    for attr in session.get_attributes(public, &[AttributeType::EcPoint])? {
        if let Attribute::EcPoint(raw) = attr {
            return unwrap_ec_point(&raw);
        }
    }
    Err(HsmError::InvalidTokenData {
        what: "CKA_EC_POINT",
    })
}

fn read_id(session: &Session, object: ObjectHandle) -> Result<Vec<u8>, HsmError> {
    for attr in session.get_attributes(object, &[AttributeType::Id])? {
        if let Attribute::Id(id) = attr {
            return Ok(id);
        }
    }
    Ok(Vec::new())
}

fn label_in_use(session: &Session, label: &str) -> Result<bool, HsmError> {
    Ok(!session
        .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])?
        .is_empty())
}

impl Hsm {
    /// Generates a P-256 key pair inside the token, labelled `label`, with
    /// CKA_ID = its subject key identifier. The private key is sensitive,
    /// never extractable and can only sign.
    pub fn generate_ec_key(&self, label: &KeyLabel) -> Result<KeyInfo, HsmError> {
        let label = label.to_string();
        let info = self.with_session(|_, session| {
            if label_in_use(session, &label)? {
                return Err(HsmError::KeyExists(label.clone()));
            }
            let l = label.as_bytes().to_vec();
            let public_template = [
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::EcParams(P256_PARAMS.to_vec()),
                Attribute::Verify(true),
                Attribute::Encrypt(false),
                Attribute::Wrap(false),
                Attribute::Derive(false),
                Attribute::Label(l.clone()),
            ];
            let private_template = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Decrypt(false),
                Attribute::Unwrap(false),
                Attribute::Derive(false),
                Attribute::Label(l),
            ];
            let (public, private) = session.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &public_template,
                &private_template,
            )?;
            let point = read_ec_point(session, public)?;
            // The SKI is only known once the point exists, so CKA_ID is set
            // after generation on both halves.
            let id = ec_point_key_id(&point);
            session.update_attributes(public, &[Attribute::Id(id.clone())])?;
            session.update_attributes(private, &[Attribute::Id(id.clone())])?;
            Ok(KeyInfo {
                label: label.clone(),
                id,
                kind: KeyKind::EcP256 {
                    spki_der: ec_point_to_spki(&point)?,
                },
            })
        })?;
        self.forget(&info.label);
        Ok(info)
    }

    /// Generates a 256-bit generic secret key for HMAC-SHA256 inside the
    /// token, with the same sensitivity rules; CKA_ID = its key check value
    /// (first 20 bytes of its HMAC over a fixed string).
    pub fn generate_hmac_key(&self, label: &KeyLabel) -> Result<KeyInfo, HsmError> {
        let label = label.to_string();
        let info = self.with_session(|_, session| {
            if label_in_use(session, &label)? {
                return Err(HsmError::KeyExists(label.clone()));
            }
            let template = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Verify(true),
                Attribute::Encrypt(false),
                Attribute::Decrypt(false),
                Attribute::Wrap(false),
                Attribute::Unwrap(false),
                Attribute::Derive(false),
                Attribute::Label(label.as_bytes().to_vec()),
            ];
            let key = session.generate_key(&Mechanism::GenericSecretKeyGen, &template)?;
            let mac = session.sign(&Mechanism::Sha256Hmac, key, HMAC_CHECK_INPUT)?;
            let id = mac
                .get(..20)
                .ok_or(HsmError::InvalidTokenData { what: "HMAC" })?
                .to_vec();
            session.update_attributes(key, &[Attribute::Id(id.clone())])?;
            Ok(KeyInfo {
                label: label.clone(),
                id,
                kind: KeyKind::Secret,
            })
        })?;
        self.forget(&info.label);
        Ok(info)
    }

    /// The key labelled `label`, or `None` when the token has no such key.
    pub fn find_key(&self, label: &str) -> Result<Option<KeyInfo>, HsmError> {
        self.with_session(
            |hsm, session| match hsm.object(session, ObjectKind::Private, label) {
                Ok(_) => {
                    let public = hsm.object(session, ObjectKind::Public, label)?;
                    let point = read_ec_point(session, public)?;
                    Ok(Some(KeyInfo {
                        label: label.to_owned(),
                        id: read_id(session, public)?,
                        kind: KeyKind::EcP256 {
                            spki_der: ec_point_to_spki(&point)?,
                        },
                    }))
                }
                Err(HsmError::KeyNotFound(_)) => {
                    match hsm.object(session, ObjectKind::Secret, label) {
                        Ok(h) => Ok(Some(KeyInfo {
                            label: label.to_owned(),
                            id: read_id(session, h)?,
                            kind: KeyKind::Secret,
                        })),
                        Err(HsmError::KeyNotFound(_)) => Ok(None),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            },
        )
    }

    /// Destroys every object labelled `label` (private, public or secret
    /// key) and returns how many there were; 0 when the token had none, so
    /// a destruction interrupted half-way can simply be repeated. Only for
    /// a retired key whose last certificate has expired: nothing it signed
    /// needs it any more.
    pub fn destroy_key(&self, label: &str) -> Result<usize, HsmError> {
        let destroyed = self.with_session(|_, session| {
            let mut n = 0;
            for class in [
                ObjectClass::PRIVATE_KEY,
                ObjectClass::PUBLIC_KEY,
                ObjectClass::SECRET_KEY,
            ] {
                for h in session.find_objects(&[
                    Attribute::Class(class),
                    Attribute::Label(label.as_bytes().to_vec()),
                ])? {
                    session.destroy_object(h)?;
                    n += 1;
                }
            }
            Ok(n)
        })?;
        self.forget(label);
        Ok(destroyed)
    }

    /// The private or secret key whose CKA_ID is `id`, or `None`.
    pub fn find_key_by_id(&self, id: &[u8]) -> Result<Option<KeyInfo>, HsmError> {
        let label = self.with_session(|_, session| {
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::SECRET_KEY] {
                let found =
                    session.find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])?;
                if let Some(h) = found.first() {
                    for attr in session.get_attributes(*h, &[AttributeType::Label])? {
                        if let Attribute::Label(l) = attr {
                            return Ok(Some(String::from_utf8_lossy(&l).into_owned()));
                        }
                    }
                }
            }
            Ok(None)
        })?;
        match label {
            Some(l) => self.find_key(&l),
            None => Ok(None),
        }
    }

    /// Every wallet key on the token (labels starting `onevisit/`), sorted by label.
    pub fn list_keys(&self) -> Result<Vec<KeyInfo>, HsmError> {
        let labels = self.with_session(|_, session| {
            let mut labels = Vec::new();
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::SECRET_KEY] {
                for h in session.find_objects(&[Attribute::Class(class)])? {
                    for attr in session.get_attributes(h, &[AttributeType::Label])? {
                        if let Attribute::Label(l) = attr {
                            let l = String::from_utf8_lossy(&l).into_owned();
                            if l.starts_with("onevisit/") {
                                labels.push(l);
                            }
                        }
                    }
                }
            }
            Ok(labels)
        })?;
        let mut keys = Vec::with_capacity(labels.len());
        for l in labels {
            if let Some(k) = self.find_key(&l)? {
                keys.push(k);
            }
        }
        keys.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(keys)
    }

    /// The security attributes of the private or secret key labelled `label`.
    pub fn key_attributes(&self, label: &str) -> Result<KeyAttributes, HsmError> {
        self.with_session(|hsm, session| {
            let handle = match hsm.object(session, ObjectKind::Private, label) {
                Err(HsmError::KeyNotFound(_)) => hsm.object(session, ObjectKind::Secret, label)?,
                other => other?,
            };
            let attrs = session.get_attributes(
                handle,
                &[
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Sensitive,
                    AttributeType::AlwaysSensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::Local,
                    AttributeType::Sign,
                    AttributeType::Decrypt,
                    AttributeType::Unwrap,
                    AttributeType::Derive,
                ],
            )?;
            // A missing attribute reads as the unsafe value, so a token that
            // does not report it fails the checks rather than passing them.
            let mut a = KeyAttributes {
                token: false,
                private: false,
                sensitive: false,
                always_sensitive: false,
                extractable: true,
                never_extractable: false,
                local: false,
                sign: false,
                decrypt: true,
                unwrap: true,
                derive: true,
            };
            for attr in attrs {
                match attr {
                    Attribute::Token(v) => a.token = v,
                    Attribute::Private(v) => a.private = v,
                    Attribute::Sensitive(v) => a.sensitive = v,
                    Attribute::AlwaysSensitive(v) => a.always_sensitive = v,
                    Attribute::Extractable(v) => a.extractable = v,
                    Attribute::NeverExtractable(v) => a.never_extractable = v,
                    Attribute::Local(v) => a.local = v,
                    Attribute::Sign(v) => a.sign = v,
                    Attribute::Decrypt(v) => a.decrypt = v,
                    Attribute::Unwrap(v) => a.unwrap = v,
                    Attribute::Derive(v) => a.derive = v,
                    _ => {}
                }
            }
            Ok(a)
        })
    }

    /// ECDSA P-256 over a SHA-256 digest computed by the caller (CKM_ECDSA;
    /// SoftHSM2 signs only pre-hashed input). Returns the raw signature; about
    /// half are high-S, which X.509 verifiers accept.
    pub fn sign_prehashed(&self, label: &str, digest: &[u8; 32]) -> Result<Signature, HsmError> {
        let raw = self.with_session(|hsm, session| {
            let key = hsm.object(session, ObjectKind::Private, label)?;
            Ok(session.sign(&Mechanism::Ecdsa, key, digest)?)
        })?;
        self.count_signature();
        Signature::from_slice(&raw).map_err(|_| HsmError::InvalidTokenData {
            what: "ECDSA signature",
        })
    }

    /// ECDSA P-256 with SHA-256 over `message`, DER-encoded for X.509.
    pub fn sign(&self, label: &str, message: &[u8]) -> Result<DerSignature, HsmError> {
        let digest: [u8; 32] = sha2::Sha256::digest(message).into();
        Ok(self.sign_prehashed(label, &digest)?.to_der())
    }

    /// HMAC-SHA256 of `data` with the secret key labelled `label`.
    pub fn hmac_sha256(&self, label: &str, data: &[u8]) -> Result<[u8; 32], HsmError> {
        let mac = self.with_session(|hsm, session| {
            let key = hsm.object(session, ObjectKind::Secret, label)?;
            Ok(session.sign(&Mechanism::Sha256Hmac, key, data)?)
        })?;
        mac.try_into()
            .map_err(|_| HsmError::InvalidTokenData { what: "HMAC" })
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyLabel, unwrap_ec_point};

    #[test]
    fn labels_round_trip() {
        let l = KeyLabel::new("identity-ca", 2);
        assert_eq!(l.to_string(), "onevisit/identity-ca/2");
        assert_eq!(KeyLabel::parse("onevisit/identity-ca/2"), Some(l));
        assert_eq!(KeyLabel::parse("other/identity-ca/2"), None);
        assert_eq!(KeyLabel::parse("onevisit/a/b/2"), None);
        assert_eq!(KeyLabel::parse("onevisit/root/x"), None);
    }

    #[test]
    fn ec_point_accepts_wrapped_and_bare() {
        let mut bare = vec![0x04];
        bare.extend([7u8; 64]);
        let mut wrapped = vec![0x04, 0x41];
        wrapped.extend(&bare);
        assert_eq!(unwrap_ec_point(&wrapped).ok(), Some(bare.clone()));
        assert_eq!(unwrap_ec_point(&bare).ok(), Some(bare));
        assert!(unwrap_ec_point(&[0x04, 0x01, 0x02]).is_err());
    }
}
