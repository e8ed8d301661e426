//! ECDSA P-256 / SHA-256 verification on the hot paths (CSR proof of
//! possession, the post-sign self-check, chain links, holder signatures,
//! the check of each ledger checkpoint the HSM signs),
//! done by `ring`: about five times the rate of RustCrypto `p256` on the
//! same core (BENCHMARKS.md). Keys are still parsed and checked by `p256`.

use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;

/// True when `signature` (DER) over `message` verifies under `key`. High-S
/// signatures are accepted, as X.509 verifiers accept them (SoftHSM2 makes
/// them).
pub(crate) fn verify(key: &VerifyingKey, message: &[u8], signature: &DerSignature) -> bool {
    let point = key.to_sec1_point(false);
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        point.as_bytes(),
    )
    .verify(message, signature.as_bytes())
    .is_ok()
}

/// True when the DER `signature` over `message` verifies under the P-256
/// key whose DER SubjectPublicKeyInfo is `spki_der` (false for a key or
/// signature that does not parse). For the service's checks of signatures
/// its HSM just made, such as each ledger checkpoint's.
pub fn verify_p256(spki_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match (
        VerifyingKey::from_public_key_der(spki_der),
        DerSignature::from_bytes(signature),
    ) {
        (Ok(key), Ok(signature)) => verify(&key, message, &signature),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::{Signer as _, Verifier as _};

    use super::*;

    #[test]
    fn agrees_with_p256_including_high_s() {
        let key = SigningKey::from_slice(&[3u8; 32]).unwrap_or_else(|_| unreachable!());
        let vk = *key.verifying_key();
        for i in 0..64u8 {
            let msg = [i; 40];
            let sig: p256::ecdsa::Signature = key.sign(&msg);
            // Both the low-S form and its high-S twin verify.
            let (r, s) = sig.split_scalars();
            let high =
                p256::ecdsa::Signature::from_scalars(r, -*s).unwrap_or_else(|_| unreachable!());
            for s in [sig, high] {
                let der = s.to_der();
                assert_eq!(verify(&vk, &msg, &der), vk.verify(&msg, &der).is_ok());
                assert!(verify(&vk, &msg, &der));
            }
            assert!(!verify(&vk, &[i ^ 1; 40], &sig.to_der()));
        }
    }

    #[test]
    fn verify_p256_takes_an_spki_and_refuses_what_does_not_parse() {
        use p256::pkcs8::EncodePublicKey as _;
        let key = SigningKey::from_slice(&[5u8; 32]).unwrap_or_else(|_| unreachable!());
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .unwrap_or_else(|_| unreachable!());
        let sig: p256::ecdsa::Signature = key.sign(b"note text\n");
        let der = sig.to_der();
        assert!(verify_p256(spki.as_bytes(), b"note text\n", der.as_bytes()));
        assert!(!verify_p256(
            spki.as_bytes(),
            b"note text!\n",
            der.as_bytes()
        ));
        assert!(!verify_p256(
            &spki.as_bytes()[1..],
            b"note text\n",
            der.as_bytes()
        ));
        assert!(!verify_p256(
            spki.as_bytes(),
            b"note text\n",
            &der.as_bytes()[1..]
        ));
    }
}
