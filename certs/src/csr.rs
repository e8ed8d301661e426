//! PKCS#10 certification requests from holders: parsing, the key policy and
//! the proof of possession.
//!
//! Trusts nothing in the request. The only thing taken from it is the
//! public key, and only once the request's own signature verifies under that
//! key; the requested subject, attributes and extensions are ignored (the CA
//! decides what goes into a certificate). The key comes back re-encoded in
//! the one form this crate issues for (uncompressed P-256 point, named
//! curve), so a valid request always yields a key the profile lint accepts.

use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use const_oid::{
    ObjectIdentifier,
    db::{
        DB,
        rfc5912::{ECDSA_WITH_SHA_256, ID_EC_PUBLIC_KEY, SECP_256_R_1},
    },
};
use der::{
    Decode, Encode, Sequence,
    asn1::{AnyRef, BitStringRef},
    referenced::OwnedToRef,
};
use p256::ecdsa::{DerSignature, VerifyingKey};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoOwned};
use x509_cert::request::CertReqInfo;

/// Largest request accepted, in bytes of input (PEM or base64 text). A P-256
/// request is well under 1 KiB; the limit bounds work done on hostile input.
pub const MAX_CSR_INPUT: usize = 16 * 1024;

/// PEM labels accepted for a request (RFC 7468 section 7, and the legacy label
/// some tools still write).
const PEM_LABELS: [&str; 2] = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

/// Standard base64 alphabet; padding may be present or not (it carries no
/// information, and the DER inside is parsed strictly anyway).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a certification request was refused.
///
/// Policy: the messages describe the input, never this service's internals,
/// so a caller may show them to the requester.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The input is longer than [`MAX_CSR_INPUT`] bytes.
    #[error("certification request larger than {MAX_CSR_INPUT} bytes")]
    TooLarge,

    /// Not a PEM or base64 PKCS#10 request in strict DER.
    #[error("malformed certification request: {0}")]
    Malformed(String),

    /// The request's key is not an ECDSA P-256 key.
    #[error("unsupported key in certification request: {0}")]
    UnsupportedKey(String),

    /// The request is not signed with ecdsa-with-SHA256, or its signature does
    /// not verify under its own key (no proof of possession).
    #[error("certification request signature is not a valid ecdsa-with-SHA256 proof of possession")]
    BadSignature,
}

/// A request whose signature verified under its own key.
///
/// Only this crate makes one (it is `#[non_exhaustive]`), so holding a
/// `VerifiedCsr` means the proof of possession was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCsr {
    /// The requester's P-256 key, as an uncompressed point with the
    /// prime256v1 named curve: ready to be a certificate's subject key.
    pub spki: SubjectPublicKeyInfoOwned,
}

/// The outer request with the signed part kept as raw bytes, so the
/// signature is checked over exactly what the requester signed.
#[derive(Sequence)]
struct SignedRequest<'a> {
    info: AnyRef<'a>,
    algorithm: AlgorithmIdentifierRef<'a>,
    signature: BitStringRef<'a>,
}

/// Parses a PKCS#10 request and checks its key and proof of possession.
///
/// `input` is either PEM (label `CERTIFICATE REQUEST` or `NEW CERTIFICATE
/// REQUEST`, surrounding white space allowed, CRLF or LF) or the standard
/// base64 of the DER request (white space anywhere is ignored). The DER must
/// be strict and complete (no trailing bytes).
///
/// # Errors
/// [`CsrError::TooLarge`] for input over [`MAX_CSR_INPUT`] bytes;
/// [`CsrError::Malformed`] for anything that is not such a request;
/// [`CsrError::UnsupportedKey`] for a key other than id-ecPublicKey on
/// prime256v1 (or a point not on that curve);
/// [`CsrError::BadSignature`] for a signature algorithm other than
/// ecdsa-with-SHA256 (without parameters) or a signature that does not verify
/// under the request's key.
pub fn verify_csr(input: &[u8]) -> Result<VerifiedCsr, CsrError> {
    if input.len() > MAX_CSR_INPUT {
        return Err(CsrError::TooLarge);
    }
    let text = std::str::from_utf8(input)
        .map_err(|_| CsrError::Malformed("input is not text (PEM or base64)".into()))?;
    let der = decode_text(text)?;

    let request = SignedRequest::from_der(&der).map_err(malformed)?;
    let info_der = request.info.to_der().map_err(malformed)?;
    let info = CertReqInfo::from_der(&info_der).map_err(malformed)?;

    let key = p256_key(&info.public_key)?;

    // RFC 5758 3.2: the parameters of ecdsa-with-SHA256 MUST be absent.
    if request.algorithm.oid != ECDSA_WITH_SHA_256 || request.algorithm.parameters.is_some() {
        return Err(CsrError::BadSignature);
    }
    let signature = request
        .signature
        .as_bytes()
        .and_then(|bytes| DerSignature::from_bytes(bytes).ok())
        .ok_or(CsrError::BadSignature)?;
    if !crate::ecdsa::verify(&key, &info_der, &signature) {
        return Err(CsrError::BadSignature);
    }

    let spki = SubjectPublicKeyInfoOwned::from_key(&key)
        .map_err(|e| CsrError::Malformed(format!("public key cannot be re-encoded: {e}")))?;
    Ok(VerifiedCsr { spki })
}

fn malformed(e: der::Error) -> CsrError {
    CsrError::Malformed(e.to_string())
}

/// PEM or bare base64 to DER bytes.
fn decode_text(text: &str) -> Result<Vec<u8>, CsrError> {
    let text = text.trim();
    let body = if text.starts_with("-----BEGIN ") {
        pem_body(text)?
    } else {
        text
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(CsrError::Malformed("empty input".into()));
    }
    BASE64
        .decode(compact)
        .map_err(|e| CsrError::Malformed(format!("bad base64: {e}")))
}

/// The base64 body of a single PEM block with an accepted label. No explicit
/// headers (RFC 1421 `Proc-Type` and the like) and nothing after the block.
fn pem_body(text: &str) -> Result<&str, CsrError> {
    let bad = |why: &str| CsrError::Malformed(format!("bad PEM: {why}"));
    let (first, rest) = text.split_once('\n').ok_or_else(|| bad("no body"))?;
    let label = first
        .trim_end()
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| bad("malformed BEGIN line"))?;
    if !PEM_LABELS.contains(&label) {
        return Err(bad(&format!(
            "label {label:?}, expected CERTIFICATE REQUEST"
        )));
    }
    let end_line = format!("-----END {label}-----");
    let (body, after) = rest.rsplit_once('\n').ok_or_else(|| bad("no END line"))?;
    if after.trim_end() != end_line {
        return Err(bad("missing or mismatched END line, or data after it"));
    }
    if body.contains('-') || body.contains(':') {
        return Err(bad("unexpected header or second block"));
    }
    Ok(body)
}

/// The request's key, if it is an ECDSA P-256 key on the curve.
fn p256_key(spki: &SubjectPublicKeyInfoOwned) -> Result<VerifyingKey, CsrError> {
    let name = |oid: &ObjectIdentifier| match DB.by_oid(oid) {
        Some(name) => format!("{oid} ({name})"),
        None => oid.to_string(),
    };
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(CsrError::UnsupportedKey(format!(
            "key algorithm {}; only ECDSA P-256 (id-ecPublicKey, prime256v1)",
            name(&spki.algorithm.oid)
        )));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
        .ok_or_else(|| {
            CsrError::UnsupportedKey("EC key without a named curve; only prime256v1".into())
        })?;
    if curve != SECP_256_R_1 {
        return Err(CsrError::UnsupportedKey(format!(
            "EC curve {}; only prime256v1 (P-256)",
            name(&curve)
        )));
    }
    VerifyingKey::try_from(spki.owned_to_ref())
        .map_err(|_| CsrError::UnsupportedKey("not a valid P-256 public key point".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestResult;
    use base64::engine::general_purpose::STANDARD;
    use der::{DecodePem, EncodePem, pem::LineEnding};
    use p256::{
        ecdsa::{SigningKey, signature::Signer},
        elliptic_curve::Generate,
    };
    use spki::SignatureBitStringEncoding;
    use std::str::FromStr;
    use x509_cert::{
        builder::{Builder, RequestBuilder},
        name::Name,
        request::CertReq,
    };

    /// `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes
    /// -subj /CN=x` (signed with ecdsa-with-SHA256, OpenSSL's default).
    const P384_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIIBBDCBiwIBADAMMQowCAYDVQQDDAF4MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE
jDiQSzpxYCKzPmMvIwJUScFt36PsM2gnSWG9OWPH01CWQuhy6xaM0vM+2qOG5+/X
Umduw3/PvOugVmzNybLjdPDgnrWxFS9dTXwSPvhCdoBLFdOk4vdxARAh7xBKPbDh
oAAwCgYIKoZIzj0EAwIDaAAwZQIxAL9AyTlS/cRN5VdHhov4WwDjjJyP6jsvyqOd
13gbrG8LrQBhC5/CajbBwob+HniUywIwYFHYh0+JHQmrQqHf+FSP56fZq5ETybuJ
OM6Md4kp2cUMWd9gVeuPayJTG0WZoPyj
-----END CERTIFICATE REQUEST-----
";

    /// `openssl req -new -newkey ed25519 -nodes -subj /CN=x`.
    const ED25519_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIGLMD8CAQAwDDEKMAgGA1UEAwwBeDAqMAUGAytlcAMhALztLl8eBlwf3ibt9POj
MnPsQarsq+GgI7rC8lqDxi/2oAAwBQYDK2VwA0EAG0bi26tljmmIEGVgNpZg7lqw
beKW6gT4zCY+/ahqXtjVXjfZnQ++bpoYY3hhfkZVRpGV3FaUF+34vdDmKjvnBw==
-----END CERTIFICATE REQUEST-----
";

    /// `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
    /// -subj "/CN=Ignored Name/O=Ignored"`: what a stock tool sends.
    const OPENSSL_P256_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIHkMIGLAgEAMCkxFTATBgNVBAMMDElnbm9yZWQgTmFtZTEQMA4GA1UECgwHSWdu
b3JlZDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABPmkVIKFUCoS+J6LOPqdI+Kc
KmHXsRQ3EZ0OvX/Jc0Oz45F5whaneMtnG68CUWo4cEYbt8Pc18xNVfJDftmnLGCg
ADAKBggqhkjOPQQDAgNIADBFAiBP2WKb4qypjdTuXLB1SqNTOvLtkGWBe1EGPbGA
BbTxrAIhAPy2D+/zy444uWdjJLo3oOT53073NEZhLL7qdiIAHEco
-----END CERTIFICATE REQUEST-----
";

    /// A request made by x509-cert's builder with a fresh P-256 key.
    fn built_request() -> Result<(SigningKey, CertReq), Box<dyn std::error::Error>> {
        let key = SigningKey::generate();
        let builder = RequestBuilder::new(Name::from_str("CN=Holder Device,O=Whatever")?)?;
        let request = builder.build::<_, DerSignature>(&key)?;
        Ok((key, request))
    }

    fn expected_spki(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, spki::Error> {
        SubjectPublicKeyInfoOwned::from_key(key.verifying_key())
    }

    #[test]
    fn accepts_pem_with_either_label_and_line_ending() -> TestResult {
        let (key, request) = built_request()?;
        let pem = request.to_pem(LineEnding::LF)?;
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
        assert_eq!(verify_csr(pem.as_bytes())?.spki, expected_spki(&key)?);

        let crlf = request.to_pem(LineEnding::CRLF)?;
        assert_eq!(verify_csr(crlf.as_bytes())?.spki, expected_spki(&key)?);

        let legacy = pem.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
        let padded = format!("\n  {legacy}\n\n");
        assert_eq!(verify_csr(padded.as_bytes())?.spki, expected_spki(&key)?);
        Ok(())
    }

    #[test]
    fn accepts_base64_der_with_white_space() -> TestResult {
        let (key, request) = built_request()?;
        let b64 = STANDARD.encode(request.to_der()?);
        assert_eq!(verify_csr(b64.as_bytes())?.spki, expected_spki(&key)?);

        let wrapped: String = b64
            .as_bytes()
            .chunks(60)
            .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
            .collect();
        assert_eq!(verify_csr(wrapped.as_bytes())?.spki, expected_spki(&key)?);

        let unpadded = b64.trim_end_matches('=');
        assert_eq!(verify_csr(unpadded.as_bytes())?.spki, expected_spki(&key)?);
        Ok(())
    }

    #[test]
    fn accepts_an_openssl_request_and_ignores_its_subject() -> TestResult {
        let verified = verify_csr(OPENSSL_P256_CSR.as_bytes())?;
        let request = CertReq::from_pem(OPENSSL_P256_CSR)?;
        assert_eq!(verified.spki, request.info.public_key);
        Ok(())
    }

    /// A compressed point is a valid P-256 key; it comes back uncompressed,
    /// the form the certificate profile requires.
    #[test]
    fn compressed_key_is_returned_uncompressed() -> TestResult {
        let key = SigningKey::generate();
        let uncompressed = expected_spki(&key)?;
        let point = key.verifying_key().to_sec1_point(true);
        let info = CertReqInfo {
            version: x509_cert::request::Version::V1,
            subject: Name::from_str("CN=compressed")?,
            public_key: SubjectPublicKeyInfoOwned {
                algorithm: uncompressed.algorithm.clone(),
                subject_public_key: der::asn1::BitString::from_bytes(point.as_bytes())?,
            },
            attributes: Default::default(),
        };
        let signature: DerSignature = key.try_sign(&info.to_der()?)?;
        let request = CertReq {
            info,
            algorithm: spki::AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA_256,
                parameters: None,
            },
            signature: signature.to_bitstring()?,
        };
        let sent = request.info.public_key.subject_public_key.raw_bytes();
        assert!(matches!(sent.first(), Some(0x02 | 0x03)) && sent.len() == 33);
        let verified = verify_csr(STANDARD.encode(request.to_der()?).as_bytes())?;
        assert_eq!(verified.spki, uncompressed);
        assert_eq!(verified.spki.subject_public_key.raw_bytes()[0], 0x04);
        Ok(())
    }

    #[test]
    fn rejects_garbage_and_truncation() -> TestResult {
        for input in [
            &b""[..],
            b"   \n",
            b"hello world",
            b"!!!!",
            b"\xff\xfe\x00",
            b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE-----\n",
        ] {
            let result = verify_csr(input);
            assert!(
                matches!(result, Err(CsrError::Malformed(_))),
                "{input:?}: {result:?}"
            );
        }

        let (_, request) = built_request()?;
        let der = request.to_der()?;
        let truncated = STANDARD.encode(&der[..der.len() - 1]);
        let result = verify_csr(truncated.as_bytes());
        assert!(matches!(result, Err(CsrError::Malformed(_))), "{result:?}");

        let mut trailing = der.clone();
        trailing.push(0);
        let result = verify_csr(STANDARD.encode(&trailing).as_bytes());
        assert!(matches!(result, Err(CsrError::Malformed(_))), "{result:?}");

        // Two blocks, or text after the block.
        let pem = request.to_pem(LineEnding::LF)?;
        for input in [format!("{pem}{pem}"), format!("{pem}trailer\n")] {
            let result = verify_csr(input.as_bytes());
            assert!(matches!(result, Err(CsrError::Malformed(_))), "{result:?}");
        }
        Ok(())
    }

    #[test]
    fn rejects_oversized_input_before_parsing() -> TestResult {
        let (_, request) = built_request()?;
        let pem = request.to_pem(LineEnding::LF)?;
        let mut big = " ".repeat(MAX_CSR_INPUT + 1 - pem.len());
        big.push_str(&pem);
        assert_eq!(big.len(), MAX_CSR_INPUT + 1);
        assert!(matches!(
            verify_csr(big.as_bytes()),
            Err(CsrError::TooLarge)
        ));
        // One byte less is parsed as usual.
        assert!(verify_csr(&big.as_bytes()[1..]).is_ok());
        Ok(())
    }

    #[test]
    fn rejects_other_keys() -> TestResult {
        for (pem, wanted) in [(P384_CSR, "1.3.132.0.34"), (ED25519_CSR, "1.3.101.112")] {
            match verify_csr(pem.as_bytes()) {
                Err(CsrError::UnsupportedKey(why)) => assert!(why.contains(wanted), "{why}"),
                other => {
                    return Err(
                        format!("expected UnsupportedKey for {wanted}, got {other:?}").into(),
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn rejects_a_flipped_signature_bit() -> TestResult {
        let (_, request) = built_request()?;
        let der = request.to_der()?;
        // The last byte belongs to the signature's s value.
        let mut flipped = der.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        let result = verify_csr(STANDARD.encode(&flipped).as_bytes());
        assert!(matches!(result, Err(CsrError::BadSignature)), "{result:?}");

        // A flipped bit in the signed part breaks it too.
        let subject_at = der
            .windows(b"Holder Device".len())
            .position(|w| w == b"Holder Device")
            .ok_or("subject not found")?;
        let mut tampered = der;
        tampered[subject_at] ^= 0x01;
        let result = verify_csr(STANDARD.encode(&tampered).as_bytes());
        assert!(matches!(result, Err(CsrError::BadSignature)), "{result:?}");
        Ok(())
    }

    #[test]
    fn rejects_another_signature_algorithm_or_signer() -> TestResult {
        let (_, request) = built_request()?;
        let mut sha384 = request.clone();
        sha384.algorithm.oid = const_oid::db::rfc5912::ECDSA_WITH_SHA_384;
        let result = verify_csr(STANDARD.encode(sha384.to_der()?).as_bytes());
        assert!(matches!(result, Err(CsrError::BadSignature)), "{result:?}");

        // Signed by a key other than the one it carries: no proof of
        // possession.
        let other = SigningKey::generate();
        let signature: DerSignature = other.try_sign(&request.info.to_der()?)?;
        let mut foreign = request;
        foreign.signature = signature.to_bitstring()?;
        let result = verify_csr(STANDARD.encode(foreign.to_der()?).as_bytes());
        assert!(matches!(result, Err(CsrError::BadSignature)), "{result:?}");
        Ok(())
    }
}
