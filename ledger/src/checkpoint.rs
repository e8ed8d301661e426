//! C2SP tlog-checkpoint bodies in C2SP signed notes, signed with ECDSA P-256
//! (signed-note signature type 0x02).
//!
//! Owns: the checkpoint text, the signed-note text format, the key ID and
//! the verification of signatures. Signing happens outside (in the HSM):
//! the service signs [`note_digest`] of [`Checkpoint::body`] with CKM_ECDSA,
//! converts r||s to DER and assembles the note with [`signature_line`].
//! Trusts: only the key (DER SubjectPublicKeyInfo) and key name its caller
//! gives to [`SignedNote::verify`]; everything in a note is checked.
//!
//! # Format, byte for byte
//!
//! Checkpoint body (c2sp.org/tlog-checkpoint): `<origin>\n<size>\n<base64
//! root>\n`, then each extension line followed by `\n`. Size is ASCII decimal
//! without leading zeros; root is the 32-byte RFC 9162 root in standard,
//! padded base64 (RFC 4648 section 4).
//!
//! Signed note (c2sp.org/signed-note): the body, one blank line (`\n`), then
//! one line per signature: `— <key name> <base64(key ID || signature)>\n`
//! (U+2014 EM DASH, space). For type 0x02, as github.com/transparency-dev/witness
//! and transparency-dev/formats implement it:
//!
//! - key ID = the first 4 bytes of SHA-256 of the key's DER
//!   SubjectPublicKeyInfo ([`note_key_id`]); the SPKI must be the canonical
//!   P-256 encoding (namedCurve, uncompressed point), the one the HSM's key
//!   exports and X.509 carries, or verification refuses the key;
//! - signature = DER ECDSA-SHA256 over the note text bytes (the body,
//!   including its final newline, without the separating blank line). High-S
//!   signatures are valid (SoftHSM2 makes them).
//!
//! The key name is the checkpoint origin (C2SP tlog-checkpoint: "the log's
//! key name in its signature line SHOULD match the origin line"; Go's
//! sumdb/note clients and C2SP witnesses look the log's key up by origin).
//! So the origin must also be a valid key name: non-empty, no Unicode white
//! space, no `+`. That is stricter than the checkpoint spec's SHOULD, on
//! purpose. A verifier key string for Go tools is [`verifier_key`].
//!
//! Parsing is strict: valid UTF-8 with no control characters but newline;
//! body lines non-empty and without trailing white space; canonical size
//! and base64; the signatures after the last blank line (so a checkpoint
//! note has exactly one blank line); every signature line well formed.
//! Signature lines of other keys (witnesses, a rotated key) are kept and
//! ignored by [`SignedNote::verify`].

use base64::{Engine as _, engine::general_purpose::STANDARD};
use p256::ecdsa::{Signature, VerifyingKey, signature::Verifier as _};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use sha2::{Digest as _, Sha256};

use crate::Hash;

/// The signed-note signature type of ECDSA signatures.
pub const SIGNATURE_TYPE_ECDSA: u8 = 0x02;

/// The most signature lines [`SignedNote::parse`] accepts (C2SP: at least 16).
pub const MAX_SIGNATURES: usize = 100;

const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a checkpoint or a note is malformed, or a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A control character other than newline.
    #[error("note contains a control character")]
    ControlCharacter,
    /// The text does not end with a newline.
    #[error("note does not end with a newline")]
    MissingFinalNewline,
    /// No blank line followed by signature lines.
    #[error("note has no signature block")]
    MissingSignatures,
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has too many signatures")]
    TooManySignatures,
    /// A signature line that is not `— <name> <base64>`.
    #[error("signature line {line} is malformed")]
    MalformedSignatureLine {
        /// 1-based line number within the signature block.
        line: usize,
    },
    /// A key name that is empty or holds white space or `+`.
    #[error("invalid key name")]
    InvalidKeyName,
    /// A checkpoint body with fewer than three lines.
    #[error("checkpoint has fewer than three lines")]
    TooFewLines,
    /// An empty body line (1-based).
    #[error("checkpoint line {line} is empty")]
    EmptyLine {
        /// 1-based line number.
        line: usize,
    },
    /// A body line ending in white space (1-based).
    #[error("checkpoint line {line} ends in white space")]
    TrailingWhitespace {
        /// 1-based line number.
        line: usize,
    },
    /// The origin is not a valid key name.
    #[error("invalid checkpoint origin")]
    InvalidOrigin,
    /// The size is not canonical ASCII decimal or does not fit in u64.
    #[error("invalid checkpoint tree size")]
    InvalidSize,
    /// The root is not canonical base64 of 32 bytes.
    #[error("invalid checkpoint root hash")]
    InvalidRoot,
    /// An extension line with a newline or control character.
    #[error("invalid checkpoint extension line")]
    InvalidExtension,
    /// The public key is not a DER SubjectPublicKeyInfo of a P-256 key.
    #[error("public key is not a P-256 SubjectPublicKeyInfo")]
    InvalidPublicKey,
    /// The SPKI is a P-256 key but not in its canonical DER encoding, so its
    /// key ID would not be the one the ledger publishes.
    #[error("public key is not in canonical SubjectPublicKeyInfo form")]
    NonCanonicalPublicKey,
    /// A signature that is not DER ECDSA.
    #[error("signature is not DER ECDSA")]
    MalformedSignature,
    /// No signature line with this key name and key ID.
    #[error("no signature by key {key_name}")]
    NoSignature {
        /// The key name looked for.
        key_name: String,
    },
    /// A signature line of the key that does not verify.
    #[error("signature by key {key_name} does not verify")]
    BadSignature {
        /// The key name whose signature failed.
        key_name: String,
    },
    /// A verified checkpoint whose origin is not the expected one.
    #[error("checkpoint origin is not the expected one")]
    OriginMismatch,
}

/// A checkpoint (c2sp.org/tlog-checkpoint): the log's tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, also the key name of its signature.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The RFC 9162 root hash at that size.
    pub root: Hash,
    /// Extension lines (not recommended; none by default).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extensions, its origin checked.
    ///
    /// # Errors
    ///
    /// [`NoteError::InvalidOrigin`] if the origin is not a valid key name.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, NoteError> {
        let checkpoint = Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        };
        checkpoint.validate()?;
        Ok(checkpoint)
    }

    /// Checks what the fields alone cannot: the origin is a valid key name
    /// and every extension line is non-empty, one line, without control
    /// characters or trailing white space. A checkpoint that passes has a
    /// [`body`](Self::body) that [`parse_body`](Self::parse_body) returns
    /// unchanged.
    ///
    /// # Errors
    ///
    /// [`NoteError::InvalidOrigin`] or [`NoteError::InvalidExtension`].
    pub fn validate(&self) -> Result<(), NoteError> {
        if !is_valid_key_name(&self.origin) {
            return Err(NoteError::InvalidOrigin);
        }
        let bad_line = |line: &String| {
            line.is_empty()
                || line.chars().any(char::is_control)
                || line.ends_with(char::is_whitespace)
        };
        if self.extensions.iter().any(bad_line) {
            return Err(NoteError::InvalidExtension);
        }
        Ok(())
    }

    /// The note text: `origin\nsize\nbase64(root)\n` and each extension line
    /// with its `\n`. Call [`validate`](Self::validate) (or build with
    /// [`new`](Self::new)) first: fields holding newlines make another text.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body (the note text), strictly.
    ///
    /// # Errors
    ///
    /// A [`NoteError`] naming the first problem found.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        if text.chars().any(|c| c != '\n' && c.is_control()) {
            return Err(NoteError::ControlCharacter);
        }
        let Some(text) = text.strip_suffix('\n') else {
            return Err(NoteError::MissingFinalNewline);
        };
        let lines: Vec<&str> = text.split('\n').collect();
        for (n, line) in lines.iter().enumerate() {
            if line.is_empty() {
                return Err(NoteError::EmptyLine { line: n + 1 });
            }
            if line.ends_with(char::is_whitespace) {
                return Err(NoteError::TrailingWhitespace { line: n + 1 });
            }
        }
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(NoteError::TooFewLines);
        };
        if !is_valid_key_name(origin) {
            return Err(NoteError::InvalidOrigin);
        }
        Ok(Self {
            origin: (*origin).to_owned(),
            size: parse_size(size)?,
            root: parse_root(root)?,
            extensions: extensions.iter().map(|l| (*l).to_owned()).collect(),
        })
    }
}

/// Canonical ASCII decimal: digits only, no leading zero but for "0".
fn parse_size(text: &str) -> Result<u64, NoteError> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(NoteError::InvalidSize);
    }
    text.parse().map_err(|_| NoteError::InvalidSize)
}

fn parse_root(text: &str) -> Result<Hash, NoteError> {
    let bytes = STANDARD.decode(text).map_err(|_| NoteError::InvalidRoot)?;
    let root = Hash::try_from(bytes.as_slice()).map_err(|_| NoteError::InvalidRoot)?;
    // The engine already refuses non-canonical padding and trailing bits;
    // comparing the re-encoding makes canonical form the rule, not a detail.
    if STANDARD.encode(root) != text {
        return Err(NoteError::InvalidRoot);
    }
    Ok(root)
}

/// Whether `name` is a valid signed-note key name (and so a valid origin
/// here): non-empty, no Unicode white space, no `+`, no control characters.
/// For checking the configured origin at start-up.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// The signed-note key ID of an ECDSA key: the first 4 bytes of SHA-256 of
/// its DER SubjectPublicKeyInfo (big-endian as a uint32).
pub fn note_key_id(spki_der: &[u8]) -> [u8; 4] {
    let digest: Hash = Sha256::digest(spki_der).into();
    let [a, b, c, d, ..] = digest;
    [a, b, c, d]
}

/// The SHA-256 digest the HSM signs (CKM_ECDSA) for a note text.
pub fn note_digest(text: &str) -> Hash {
    Sha256::digest(text.as_bytes()).into()
}

/// The verifier key string of Go's sumdb/note and transparency-dev/formats:
/// `<key name>+<key ID as 8 hex digits>+<base64(0x02 || DER SPKI)>`, for
/// publishing the ledger key to C2SP tooling and witnesses.
///
/// # Errors
///
/// [`NoteError::InvalidKeyName`], [`NoteError::InvalidPublicKey`] or
/// [`NoteError::NonCanonicalPublicKey`].
pub fn verifier_key(key_name: &str, spki_der: &[u8]) -> Result<String, NoteError> {
    if !is_valid_key_name(key_name) {
        return Err(NoteError::InvalidKeyName);
    }
    decode_key(spki_der)?;
    let id: String = note_key_id(spki_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut material = Vec::with_capacity(spki_der.len() + 1);
    material.push(SIGNATURE_TYPE_ECDSA);
    material.extend_from_slice(spki_der);
    Ok(format!("{key_name}+{id}+{}", STANDARD.encode(material)))
}

/// Decodes a P-256 SPKI and insists on its canonical encoding, since the
/// key ID hashes these exact bytes.
fn decode_key(spki_der: &[u8]) -> Result<VerifyingKey, NoteError> {
    let key =
        VerifyingKey::from_public_key_der(spki_der).map_err(|_| NoteError::InvalidPublicKey)?;
    let canonical = key
        .to_public_key_der()
        .map_err(|_| NoteError::InvalidPublicKey)?;
    if canonical.as_bytes() != spki_der {
        return Err(NoteError::NonCanonicalPublicKey);
    }
    Ok(key)
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signing key's name (for the log: the origin).
    pub key_name: String,
    /// The key ID, [`note_key_id`] for ECDSA keys.
    pub key_id: [u8; 4],
    /// The signature bytes after the key ID (DER ECDSA for our keys; any
    /// bytes for other keys' lines).
    pub signature: Vec<u8>,
}

/// The signature line for a DER ECDSA signature made (by the HSM) over
/// [`note_digest`] of the note text with the key whose DER SPKI is given.
///
/// # Errors
///
/// [`NoteError::InvalidKeyName`], [`NoteError::InvalidPublicKey`],
/// [`NoteError::NonCanonicalPublicKey`] or [`NoteError::MalformedSignature`]
/// (not DER ECDSA P-256). Whether the signature verifies is
/// [`SignedNote::verify`]'s business.
pub fn signature_line(
    key_name: &str,
    spki_der: &[u8],
    der_signature: &[u8],
) -> Result<NoteSignature, NoteError> {
    if !is_valid_key_name(key_name) {
        return Err(NoteError::InvalidKeyName);
    }
    decode_key(spki_der)?;
    Signature::from_der(der_signature).map_err(|_| NoteError::MalformedSignature)?;
    Ok(NoteSignature {
        key_name: key_name.to_owned(),
        key_id: note_key_id(spki_der),
        signature: der_signature.to_vec(),
    })
}

/// A signed note (c2sp.org/signed-note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text (for us a checkpoint body), ending in `\n`.
    pub text: String,
    /// The signature lines in order, ours and others'.
    pub signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note, strictly (see the module doc).
    ///
    /// # Errors
    ///
    /// A [`NoteError`] naming the first problem found.
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        if note.chars().any(|c| c != '\n' && c.is_control()) {
            return Err(NoteError::ControlCharacter);
        }
        if !note.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        // The text is separated from the signatures by the last blank line.
        let Some(split) = note.rfind("\n\n") else {
            return Err(NoteError::MissingSignatures);
        };
        let (text, rest) = note.split_at(split + 1);
        let block = rest
            .strip_prefix('\n')
            .and_then(|b| b.strip_suffix('\n'))
            .filter(|b| !b.is_empty())
            .ok_or(NoteError::MissingSignatures)?;
        let mut signatures = Vec::new();
        for (n, line) in block.split('\n').enumerate() {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature_line(line, n + 1)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note: text, a blank line, then one
    /// `— <key name> <base64(key ID || signature)>\n` line per signature.
    pub fn to_text(&self) -> String {
        let mut note = self.text.clone();
        note.push('\n');
        for sig in &self.signatures {
            let mut bytes = Vec::with_capacity(4 + sig.signature.len());
            bytes.extend_from_slice(&sig.key_id);
            bytes.extend_from_slice(&sig.signature);
            note.push_str(SIGNATURE_PREFIX);
            note.push_str(&sig.key_name);
            note.push(' ');
            note.push_str(&STANDARD.encode(bytes));
            note.push('\n');
        }
        note
    }

    /// Verifies the signature(s) of the P-256 key `spki_der` named
    /// `key_name`: the lines with that name and key ID must be DER
    /// ECDSA-SHA256 signatures of the text, and there must be at least one.
    /// Lines of other keys are ignored (C2SP signed-note).
    ///
    /// # Errors
    ///
    /// [`NoteError::InvalidPublicKey`], [`NoteError::NonCanonicalPublicKey`],
    /// [`NoteError::NoSignature`] or [`NoteError::BadSignature`].
    pub fn verify(&self, key_name: &str, spki_der: &[u8]) -> Result<(), NoteError> {
        let key = decode_key(spki_der)?;
        let key_id = note_key_id(spki_der);
        let mut verified = false;
        for sig in self
            .signatures
            .iter()
            .filter(|s| s.key_name == key_name && s.key_id == key_id)
        {
            let bad = || NoteError::BadSignature {
                key_name: key_name.to_owned(),
            };
            let signature = Signature::from_der(&sig.signature).map_err(|_| bad())?;
            key.verify(self.text.as_bytes(), &signature)
                .map_err(|_| bad())?;
            verified = true;
        }
        if verified {
            Ok(())
        } else {
            Err(NoteError::NoSignature {
                key_name: key_name.to_owned(),
            })
        }
    }
}

fn parse_signature_line(line: &str, n: usize) -> Result<NoteSignature, NoteError> {
    let malformed = NoteError::MalformedSignatureLine { line: n };
    let (name, encoded) = line
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(|l| l.split_once(' '))
        .ok_or_else(|| malformed.clone())?;
    if !is_valid_key_name(name) {
        return Err(NoteError::InvalidKeyName);
    }
    let bytes = STANDARD.decode(encoded).map_err(|_| malformed.clone())?;
    if STANDARD.encode(&bytes) != encoded {
        return Err(malformed);
    }
    match bytes.as_slice() {
        [a, b, c, d, signature @ ..] if !signature.is_empty() => Ok(NoteSignature {
            key_name: name.to_owned(),
            key_id: [*a, *b, *c, *d],
            signature: signature.to_vec(),
        }),
        _ => Err(malformed),
    }
}

/// Parses `note`, verifies the signature of the ledger key (`spki_der`,
/// key name = `origin`) and returns its checkpoint, whose origin must be
/// `origin`. What an offline verifier or a witness does with a checkpoint.
///
/// # Errors
///
/// Any [`NoteError`] of parsing or verification, or
/// [`NoteError::OriginMismatch`].
pub fn verify_checkpoint(
    note: &str,
    origin: &str,
    spki_der: &[u8],
) -> Result<Checkpoint, NoteError> {
    let note = SignedNote::parse(note)?;
    note.verify(origin, spki_der)?;
    let checkpoint = Checkpoint::parse_body(&note.text)?;
    if checkpoint.origin != origin {
        return Err(NoteError::OriginMismatch);
    }
    Ok(checkpoint)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is the assertion")]
mod tests {
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;
    use p256::elliptic_curve::scalar::IsHigh as _;

    use super::*;

    const ORIGIN: &str = "onevisit.local/ledger";

    fn keypair(seed: u8) -> (SigningKey, Vec<u8>) {
        let key = SigningKey::from_slice(&[seed; 32]).unwrap();
        let spki = key.verifying_key().to_public_key_der().unwrap();
        (key, spki.as_bytes().to_vec())
    }

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint::new(ORIGIN, size, [size as u8; 32]).unwrap()
    }

    /// Signs like the HSM does (SHA-256 of the text, DER), optionally
    /// forcing a high-S signature.
    fn sign(key: &SigningKey, text: &str, high_s: bool) -> Vec<u8> {
        let sig: Signature = key.sign(text.as_bytes());
        let sig = if bool::from(sig.s().is_high()) == high_s {
            sig
        } else {
            let (r, s) = sig.split_scalars();
            Signature::from_scalars(r, -s).unwrap()
        };
        assert_eq!(bool::from(sig.s().is_high()), high_s);
        sig.to_der().as_bytes().to_vec()
    }

    fn signed(cp: &Checkpoint, key: &SigningKey, spki: &[u8], high_s: bool) -> String {
        let text = cp.body();
        let line = signature_line(&cp.origin, spki, &sign(key, &text, high_s)).unwrap();
        SignedNote {
            text,
            signatures: vec![line],
        }
        .to_text()
    }

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    #[test]
    fn body_format_and_round_trip() {
        let root: Hash = std::array::from_fn(|i| i as u8);
        let cp = Checkpoint::new(ORIGIN, 1234, root).unwrap();
        assert_eq!(
            cp.body(),
            "onevisit.local/ledger\n1234\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
        );
        assert_eq!(Checkpoint::parse_body(&cp.body()).unwrap(), cp);
        let mut ext = cp.clone();
        ext.extensions = vec!["x-ext one".into(), "two".into()];
        ext.validate().unwrap();
        assert!(ext.body().ends_with("=\nx-ext one\ntwo\n"));
        assert_eq!(Checkpoint::parse_body(&ext.body()).unwrap(), ext);
        for size in [0, 1, u64::MAX] {
            let cp = checkpoint(size);
            assert_eq!(Checkpoint::parse_body(&cp.body()).unwrap(), cp);
        }
        // The example of c2sp.org/tlog-checkpoint.
        let example =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse_body(example).unwrap();
        assert_eq!(
            (cp.origin.as_str(), cp.size),
            ("example.com/behind-the-sofa", 20_852_163)
        );
        assert_eq!(cp.body(), example);
    }

    #[test]
    fn invalid_checkpoints_are_refused() {
        assert_eq!(
            Checkpoint::new("", 1, [0; 32]),
            Err(NoteError::InvalidOrigin)
        );
        assert_eq!(
            Checkpoint::new("a b", 1, [0; 32]),
            Err(NoteError::InvalidOrigin)
        );
        assert_eq!(
            Checkpoint::new("a+b", 1, [0; 32]),
            Err(NoteError::InvalidOrigin)
        );
        assert_eq!(
            Checkpoint::new("a\nb", 1, [0; 32]),
            Err(NoteError::InvalidOrigin)
        );
        for bad in ["", "two\nlines", "trailing ", "\tx"] {
            let mut cp = checkpoint(1);
            cp.extensions = vec![bad.into()];
            assert_eq!(cp.validate(), Err(NoteError::InvalidExtension), "{bad:?}");
        }
    }

    #[test]
    fn parse_body_is_strict() {
        let root = b64(&[7; 32]);
        let ok = format!("o.example/log\n5\n{root}\n");
        Checkpoint::parse_body(&ok).unwrap();
        let cases: &[(String, NoteError)] = &[
            (
                format!("o.example/log\n5\n{root}"),
                NoteError::MissingFinalNewline,
            ),
            ("o.example/log\n5\n".to_owned(), NoteError::TooFewLines),
            (
                format!("o.example/log\n\n5\n{root}\n"),
                NoteError::EmptyLine { line: 2 },
            ),
            (
                format!("o.example/log\n5\n{root}\n\n"),
                NoteError::EmptyLine { line: 4 },
            ),
            (
                format!("o.example/log \n5\n{root}\n"),
                NoteError::TrailingWhitespace { line: 1 },
            ),
            (
                format!("o.example/log\n5 \n{root}\n"),
                NoteError::TrailingWhitespace { line: 2 },
            ),
            (
                format!("o.example/log\n5\n{root}\next \n"),
                NoteError::TrailingWhitespace { line: 4 },
            ),
            (
                format!("o.example/log\r\n5\n{root}\n"),
                NoteError::ControlCharacter,
            ),
            (format!("o example\n5\n{root}\n"), NoteError::InvalidOrigin),
            (format!("o+example\n5\n{root}\n"), NoteError::InvalidOrigin),
            (
                format!("o.example/log\n05\n{root}\n"),
                NoteError::InvalidSize,
            ),
            (
                format!("o.example/log\n00\n{root}\n"),
                NoteError::InvalidSize,
            ),
            (
                format!("o.example/log\n+5\n{root}\n"),
                NoteError::InvalidSize,
            ),
            (
                format!("o.example/log\n-1\n{root}\n"),
                NoteError::InvalidSize,
            ),
            (
                format!("o.example/log\n 5\n{root}\n"),
                NoteError::InvalidSize,
            ),
            (
                format!("o.example/log\n0x5\n{root}\n"),
                NoteError::InvalidSize,
            ),
            (
                format!("o.example/log\n18446744073709551616\n{root}\n"),
                NoteError::InvalidSize,
            ),
            (
                format!("o.example/log\n5\n{}\n", b64(&[7; 31])),
                NoteError::InvalidRoot,
            ),
            (
                format!("o.example/log\n5\n{}\n", b64(&[7; 33])),
                NoteError::InvalidRoot,
            ),
            (
                format!("o.example/log\n5\n{}\n", root.trim_end_matches('=')),
                NoteError::InvalidRoot,
            ),
            (
                format!("o.example/log\n5\n{}\n", root.replace("c=", "d=")),
                NoteError::InvalidRoot,
            ),
            (
                format!("o.example/log\n5\n{}\n", root.replace('B', "-")),
                NoteError::InvalidRoot,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Checkpoint::parse_body(text).as_ref(), Err(want), "{text:?}");
        }
        // Sanity: the non-canonical root really decodes leniently.
        assert!(root.ends_with("c="));
    }

    #[test]
    fn signed_note_round_trip_and_verify() {
        let (key, spki) = keypair(1);
        for high_s in [false, true] {
            let cp = checkpoint(42);
            let text = signed(&cp, &key, &spki, high_s);
            assert!(text.starts_with(&cp.body()));
            assert!(text.contains("\n\n\u{2014} onevisit.local/ledger "));
            let note = SignedNote::parse(&text).unwrap();
            assert_eq!(note.text, cp.body());
            assert_eq!(note.signatures.len(), 1);
            assert_eq!(note.signatures[0].key_id, note_key_id(&spki));
            assert_eq!(note.to_text(), text);
            note.verify(ORIGIN, &spki).unwrap();
            assert_eq!(verify_checkpoint(&text, ORIGIN, &spki).unwrap(), cp);
        }
    }

    #[test]
    fn key_id_is_truncated_sha256_of_spki() {
        let (_, spki) = keypair(1);
        let digest = Sha256::digest(&spki);
        assert_eq!(
            note_key_id(&spki),
            [digest[0], digest[1], digest[2], digest[3]]
        );
        let vkey = verifier_key(ORIGIN, &spki).unwrap();
        let [name, id, material] = vkey.splitn(3, '+').collect::<Vec<_>>()[..] else {
            unreachable!("three parts")
        };
        assert_eq!(name, ORIGIN);
        assert_eq!(id.len(), 8);
        assert_eq!(STANDARD.decode(material).unwrap()[1..], spki[..]);
    }

    #[test]
    fn wrong_key_tampering_and_wrong_id_fail() {
        let (key, spki) = keypair(1);
        let (other, other_spki) = keypair(2);
        let cp = checkpoint(42);
        let text = signed(&cp, &key, &spki, false);
        let note = SignedNote::parse(&text).unwrap();
        let no_sig = Err(NoteError::NoSignature {
            key_name: ORIGIN.into(),
        });
        let bad_sig = Err(NoteError::BadSignature {
            key_name: ORIGIN.into(),
        });
        // Another key: its ID matches no line.
        assert_eq!(note.verify(ORIGIN, &other_spki), no_sig);
        // Another name.
        assert!(matches!(
            note.verify("other.example/log", &spki),
            Err(NoteError::NoSignature { .. })
        ));
        // Tampered body: size, root, origin kept (so the name still matches).
        for tampered in [
            text.replacen("\n42\n", "\n43\n", 1),
            text.replacen("KioqKio", "KioqKiO", 1),
        ] {
            assert_ne!(tampered, text);
            assert_eq!(
                SignedNote::parse(&tampered).unwrap().verify(ORIGIN, &spki),
                bad_sig
            );
            assert_eq!(
                verify_checkpoint(&tampered, ORIGIN, &spki).map(|_| ()),
                bad_sig
            );
        }
        // A wrong key ID on our line: the signature is no longer ours.
        let mut wrong_id = note.clone();
        wrong_id.signatures[0].key_id[0] ^= 1;
        assert_eq!(wrong_id.verify(ORIGIN, &spki), no_sig);
        // A line claiming the other key's ID and name is checked and fails.
        let mut claimed = note.clone();
        claimed.signatures[0].key_id = note_key_id(&other_spki);
        assert_eq!(claimed.verify(ORIGIN, &other_spki), bad_sig);
        // Signed by the other key under our line: fails.
        let mut forged = note.clone();
        forged.signatures[0].signature = sign(&other, &note.text, false);
        assert_eq!(forged.verify(ORIGIN, &spki), bad_sig);
        // Trailing bytes after the DER signature.
        let mut trailing = note.clone();
        trailing.signatures[0].signature.push(0);
        assert_eq!(trailing.verify(ORIGIN, &spki), bad_sig);
        // One good and one bad line of the same key: the note is refused.
        let mut mixed = note.clone();
        mixed.signatures.push(forged.signatures[0].clone());
        assert_eq!(mixed.verify(ORIGIN, &spki), bad_sig);
        // Origin other than the key name the verifier expects.
        let elsewhere = Checkpoint::new("elsewhere.example/log", 42, [42; 32]).unwrap();
        let text = signed(&elsewhere, &key, &spki, false);
        let note = SignedNote::parse(&text).unwrap();
        let mut renamed = note.clone();
        renamed.signatures[0].key_name = ORIGIN.into();
        renamed.verify(ORIGIN, &spki).unwrap();
        assert_eq!(
            verify_checkpoint(&renamed.to_text(), ORIGIN, &spki),
            Err(NoteError::OriginMismatch)
        );
    }

    #[test]
    fn other_signatures_are_kept_and_ignored() {
        let (key, spki) = keypair(1);
        let cp = checkpoint(7);
        let mut text = signed(&cp, &key, &spki, true);
        let witness = format!("\u{2014} witness.example/w1 {}\n", b64(&[9; 72]));
        text.insert_str(cp.body().len() + 1, &witness);
        let note = SignedNote::parse(&text).unwrap();
        assert_eq!(note.signatures.len(), 2);
        assert_eq!(note.signatures[0].key_name, "witness.example/w1");
        assert_eq!(note.to_text(), text);
        note.verify(ORIGIN, &spki).unwrap();
        // The same name with another key ID is someone else's line: ignored.
        let impostor = format!("\u{2014} {ORIGIN} {}\n", b64(&[9; 72]));
        let text = format!("{text}{impostor}");
        SignedNote::parse(&text)
            .unwrap()
            .verify(ORIGIN, &spki)
            .unwrap();
    }

    #[test]
    fn malformed_notes_are_refused() {
        let (key, spki) = keypair(1);
        let good = signed(&checkpoint(3), &key, &spki, false);
        let body = checkpoint(3).body();
        let line = &good[body.len() + 1..];
        let sig = format!("\u{2014} w.example {}", b64(&[1; 40]));
        let cases: Vec<(String, NoteError)> = vec![
            (good.trim_end().to_owned(), NoteError::MissingFinalNewline),
            (body.clone(), NoteError::MissingSignatures),
            (format!("{body}\n"), NoteError::MissingSignatures),
            (format!("{good}\n"), NoteError::MissingSignatures),
            (format!("{body}\n{line}\n"), NoteError::MissingSignatures),
            (
                format!("{body}\n{}", line.replace('\u{2014}', "-")),
                NoteError::MalformedSignatureLine { line: 1 },
            ),
            (
                format!("{body}\n{}", line.replacen(' ', "", 1)),
                NoteError::MalformedSignatureLine { line: 1 },
            ),
            (
                format!("{body}\n{}", line.replacen(' ', "  ", 1)),
                NoteError::InvalidKeyName,
            ),
            (
                format!("{body}\n{}", line.replace(".local", "+local")),
                NoteError::InvalidKeyName,
            ),
            (
                format!("{body}\n{}", line.replace('\n', " \n")),
                NoteError::MalformedSignatureLine { line: 1 },
            ),
            (
                format!("{body}\n{line}{}\n", sig.replace('=', "")),
                NoteError::MalformedSignatureLine { line: 2 },
            ),
            (
                format!("{body}\n{line}\u{2014} w.example {}\n", b64(&[1; 4])),
                NoteError::MalformedSignatureLine { line: 2 },
            ),
            (
                format!("{body}\n{line}\u{2014} w.example\n"),
                NoteError::MalformedSignatureLine { line: 2 },
            ),
            (
                format!("{body}\n{line}\u{2014} w.example !!!!\n"),
                NoteError::MalformedSignatureLine { line: 2 },
            ),
            (
                good.replace("ledger\n", "ledger\r\n"),
                NoteError::ControlCharacter,
            ),
            (
                good.replace("ledger\n", "ledger\u{0}\n"),
                NoteError::ControlCharacter,
            ),
        ];
        for (text, want) in &cases {
            assert_eq!(SignedNote::parse(text).as_ref(), Err(want), "{text:?}");
        }
        // The body of a note must itself be a strict checkpoint: a second
        // blank line makes the text end in an empty line.
        let double = good.replacen("\n\n", "\n\n\n", 1);
        let note = SignedNote::parse(&double).unwrap();
        assert_eq!(
            Checkpoint::parse_body(&note.text),
            Err(NoteError::EmptyLine { line: 4 })
        );
        assert!(verify_checkpoint(&double, ORIGIN, &spki).is_err());
        // Signature count limit.
        let many = format!("{body}\n{}", format!("{sig}\n").repeat(MAX_SIGNATURES + 1));
        assert_eq!(SignedNote::parse(&many), Err(NoteError::TooManySignatures));
        let enough = format!("{body}\n{}", format!("{sig}\n").repeat(MAX_SIGNATURES));
        assert_eq!(
            SignedNote::parse(&enough).unwrap().signatures.len(),
            MAX_SIGNATURES
        );
    }

    #[test]
    fn keys_and_signature_lines_are_checked() {
        let (key, spki) = keypair(1);
        let der = sign(&key, "x\n", false);
        assert!(signature_line(ORIGIN, &spki, &der).is_ok());
        assert_eq!(
            signature_line("bad name", &spki, &der),
            Err(NoteError::InvalidKeyName)
        );
        assert_eq!(
            signature_line(ORIGIN, &spki, &der[..der.len() - 1]),
            Err(NoteError::MalformedSignature)
        );
        assert_eq!(
            signature_line(ORIGIN, b"not a key", &der),
            Err(NoteError::InvalidPublicKey)
        );
        // The same key with a compressed point: decodes, but its key ID
        // would differ from the published one, so it is refused.
        let point = key.verifying_key().to_sec1_point(true);
        let compressed = point.as_bytes();
        let mut alt = vec![0x30, 0x39];
        alt.extend_from_slice(&spki[2..2 + 21]);
        alt.extend_from_slice(&[0x03, 0x22, 0x00]);
        alt.extend_from_slice(compressed);
        assert!(VerifyingKey::from_public_key_der(&alt).is_ok());
        let note = SignedNote {
            text: "x\n".into(),
            signatures: vec![],
        };
        assert_eq!(
            note.verify(ORIGIN, &alt),
            Err(NoteError::NonCanonicalPublicKey)
        );
        assert_eq!(
            note.verify(ORIGIN, &spki[1..]),
            Err(NoteError::InvalidPublicKey)
        );
        assert!(matches!(
            note.verify(ORIGIN, &spki),
            Err(NoteError::NoSignature { .. })
        ));
    }

    // Interoperability: notes and keys from transparency-dev/formats
    // note/note_verifier_test.go (Sigstore Rekor and Pixel 6 logs, ECDSA P-256,
    // signed by Go's crypto/ecdsa and checked there with golang.org/x/mod/sumdb/note).
    const REKOR_KEY: &str = "rekor.sigstore.dev+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=";
    const REKOR_NOTE: &str = "Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n\n\u{2014} rekor.sigstore.dev wNI9ajBEAiARInWIWyCdyG27CO6LPnPekyw20qO0YJfoaPaowGp/XgIgc+qEHS3+GKVClgqq20uDLet7MCoTURUCRdxwWBHHufk=\n";
    const PIXEL_KEY: &str = "pixel6_transparency_log+91c16e30+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+4x0Jk1yTwvLFI9A4NDdGZcX0aiWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8=";
    const PIXEL_NOTE: &str = "DEFAULT\n10\nbsWRucJU5xJPHb5eBdOm6+DM+VelCZBuvtI3sHERJ9Y=\n\n\u{2014} pixel6_transparency_log kcFuMDBFAiEAhqMAP8P6qf6QxtUJhzMhbN+MbZ9dwfUHzGQJmffJHtoCIGD0cNe47dHWBoPwYdgBCepB06/+g5O1FmYjXl06owL4\n";

    #[test]
    fn go_ecdsa_notes_verify() {
        for (vkey, text, origin, size) in [
            (REKOR_KEY, REKOR_NOTE, "Rekor", 798_034),
            (PIXEL_KEY, PIXEL_NOTE, "DEFAULT", 10),
        ] {
            let [name, _, material] = vkey.splitn(3, '+').collect::<Vec<_>>()[..] else {
                unreachable!("three parts")
            };
            let material = STANDARD.decode(material).unwrap();
            assert_eq!(material[0], SIGNATURE_TYPE_ECDSA);
            let spki = &material[1..];
            assert_eq!(verifier_key(name, spki).unwrap(), vkey);
            let note = SignedNote::parse(text).unwrap();
            assert_eq!(note.to_text(), text);
            note.verify(name, spki).unwrap();
            let cp = Checkpoint::parse_body(&note.text).unwrap();
            assert_eq!((cp.origin.as_str(), cp.size), (origin, size));
            assert_eq!(cp.body(), note.text);
            let tampered = text.replacen(&size.to_string(), &(size + 1).to_string(), 1);
            assert!(matches!(
                SignedNote::parse(&tampered).unwrap().verify(name, spki),
                Err(NoteError::BadSignature { .. })
            ));
            assert!(matches!(
                note.verify("bananas.sigstore.dev", spki),
                Err(NoteError::NoSignature { .. })
            ));
        }
    }
}
