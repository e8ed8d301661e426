//! Integration tests of the bridge against a real SoftHSM2 token, one fresh
//! token per test (nextest runs each test in its own process).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::sync::Arc;

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{DerSignature, Signature};
use pkcs11_bridge::{Hsm, HsmConfig, HsmError, KeyKind, KeyLabel, Pin, ec_point_key_id};
use signature::{Keypair as _, Signer as _};
use spki::DecodePublicKey as _;
use wallet_testkit::{SoftHsmToken, USER_PIN};

fn open(token: &SoftHsmToken) -> Arc<Hsm> {
    Arc::new(
        Hsm::open(HsmConfig {
            module: token.module(),
            token_label: token.label().to_owned(),
            pin: Pin::new(USER_PIN),
        })
        .expect("open token"),
    )
}

fn spki_point(spki_der: &[u8]) -> Vec<u8> {
    let spki = spki::SubjectPublicKeyInfoRef::try_from(spki_der).unwrap();
    spki.subject_public_key.raw_bytes().to_vec()
}

#[test]
fn generated_key_pair_has_the_design_attributes() {
    let token = SoftHsmToken::new("bridge-attrs");
    let hsm = open(&token);
    let info = hsm
        .generate_ec_key(&KeyLabel::new("identity-ca", 1))
        .unwrap();
    assert_eq!(info.label, "onevisit/identity-ca/1");
    let KeyKind::EcP256 { spki_der } = &info.kind else {
        panic!("not a key pair")
    };
    // CKA_ID is the X.509 SKI: SHA-1 of the subjectPublicKey bits.
    assert_eq!(info.id, ec_point_key_id(&spki_point(spki_der)));
    assert_eq!(info.id.len(), 20);

    let a = hsm.key_attributes("onevisit/identity-ca/1").unwrap();
    assert!(
        a.token && a.private && a.sensitive && a.always_sensitive,
        "{a:?}"
    );
    assert!(!a.extractable && a.never_extractable && a.local, "{a:?}");
    assert!(a.sign && !a.decrypt && !a.unwrap && !a.derive, "{a:?}");

    // Found again by label and by id, with the same public key.
    assert_eq!(
        hsm.find_key("onevisit/identity-ca/1").unwrap(),
        Some(info.clone())
    );
    assert_eq!(hsm.find_key_by_id(&info.id).unwrap(), Some(info.clone()));
    assert_eq!(hsm.find_key("onevisit/identity-ca/2").unwrap(), None);
    // A second key with the same label is refused, not duplicated.
    assert!(matches!(
        hsm.generate_ec_key(&KeyLabel::new("identity-ca", 1)),
        Err(HsmError::KeyExists(_))
    ));
}

#[test]
fn hmac_key_is_sensitive_and_deterministic() {
    let token = SoftHsmToken::new("bridge-hmac");
    let hsm = open(&token);
    let info = hsm
        .generate_hmac_key(&KeyLabel::new("dedup-hmac", 1))
        .unwrap();
    assert_eq!(info.kind, KeyKind::Secret);
    assert_eq!(info.id.len(), 20);
    let a = hsm.key_attributes(&info.label).unwrap();
    assert!(
        a.token && a.private && a.sensitive && a.always_sensitive,
        "{a:?}"
    );
    assert!(!a.extractable && a.never_extractable && a.local, "{a:?}");
    assert!(a.sign && !a.decrypt && !a.unwrap && !a.derive, "{a:?}");

    let m1 = hsm.hmac_sha256(&info.label, b"AB1234567").unwrap();
    let m2 = hsm.hmac_sha256(&info.label, b"AB1234567").unwrap();
    let m3 = hsm.hmac_sha256(&info.label, b"AB1234568").unwrap();
    assert_eq!(m1, m2);
    assert_ne!(m1, m3);
    // The key id is the key check value: the MAC of a fixed string.
    let kcv = hsm
        .hmac_sha256(&info.label, b"onevisit key check value")
        .unwrap();
    assert_eq!(info.id, kcv[..20]);

    let keys = hsm.list_keys().unwrap();
    assert_eq!(keys, vec![info]);
}

#[test]
fn hsm_signatures_verify_with_p256() {
    let token = SoftHsmToken::new("bridge-sign");
    let hsm = open(&token);
    hsm.generate_ec_key(&KeyLabel::new("root", 1)).unwrap();
    let signer = hsm.signer("onevisit/root/1").unwrap();
    let vk = signer.verifying_key();
    let info = hsm.find_key("onevisit/root/1").unwrap().unwrap();
    let KeyKind::EcP256 { spki_der } = info.kind else {
        panic!()
    };
    assert_eq!(
        p256::ecdsa::VerifyingKey::from_public_key_der(&spki_der).unwrap(),
        vk
    );

    let mut high_s = 0;
    for i in 0..64u32 {
        let msg = format!("message {i}");
        let der: DerSignature = signer.try_sign(msg.as_bytes()).unwrap();
        let sig = Signature::from_der(der.as_bytes()).unwrap();
        vk.verify(msg.as_bytes(), &sig)
            .expect("HSM signature verifies");
        assert!(vk.verify(b"another message", &sig).is_err());
        if sig.normalize_s() != sig {
            high_s += 1;
        }
    }
    // SoftHSM2 does not normalise S: a fair share of signatures are high-S,
    // which is why signature bytes are never used as identifiers.
    assert!(high_s > 0, "expected some high-S signatures");
    assert!(matches!(
        hsm.signer("onevisit/root/9"),
        Err(HsmError::KeyNotFound(_))
    ));
}

#[test]
fn eight_threads_sign_concurrently() {
    let token = SoftHsmToken::new("bridge-threads");
    let hsm = open(&token);
    hsm.generate_ec_key(&KeyLabel::new("license-ca", 1))
        .unwrap();
    let signer = hsm.signer("onevisit/license-ca/1").unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let signer = signer.clone();
            std::thread::spawn(move || {
                let vk = signer.verifying_key();
                for i in 0..100 {
                    let msg = format!("thread {t} message {i}");
                    let der: DerSignature = signer.try_sign(msg.as_bytes()).unwrap();
                    let sig = Signature::from_der(der.as_bytes()).unwrap();
                    vk.verify(msg.as_bytes(), &sig).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("signing thread");
    }
    // Sessions are pooled: never more than one per concurrent caller.
    let idle = hsm.idle_sessions();
    assert!((1..=8).contains(&idle), "idle sessions: {idle}");
}

#[test]
fn recovers_after_the_token_is_logged_out() {
    let token = SoftHsmToken::new("bridge-logout");
    let hsm = open(&token);
    hsm.generate_ec_key(&KeyLabel::new("root", 1)).unwrap();
    hsm.sign("onevisit/root/1", b"before").unwrap();

    // Another user of the same module logs the token out: login is
    // token-wide, so every pooled session loses its login.
    let ctx = cryptoki::context::Pkcs11::new(token.module()).unwrap();
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == "bridge-logout")
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    session.logout().unwrap();
    drop(session);

    hsm.sign("onevisit/root/1", b"after logout")
        .expect("recovers by logging in again");
    hsm.check().expect("ready again");
}

#[test]
fn recovers_after_the_module_is_finalised() {
    let token = SoftHsmToken::new("bridge-finalize");
    let hsm = open(&token);
    hsm.generate_ec_key(&KeyLabel::new("ledger", 1)).unwrap();
    hsm.generate_hmac_key(&KeyLabel::new("dedup-hmac", 1))
        .unwrap();
    let mac = hsm.hmac_sha256("onevisit/dedup-hmac/1", b"x").unwrap();
    hsm.sign("onevisit/ledger/1", b"before").unwrap();

    // Every session and object handle dies with the module.
    hsm.danger_finalize_module().unwrap();
    hsm.sign("onevisit/ledger/1", b"after")
        .expect("re-initialises and signs");
    assert_eq!(hsm.hmac_sha256("onevisit/dedup-hmac/1", b"x").unwrap(), mac);

    // And again from many threads at once: exactly one re-initialisation wins.
    hsm.danger_finalize_module().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let hsm = Arc::clone(&hsm);
            std::thread::spawn(move || hsm.sign("onevisit/ledger/1", b"concurrent").map(|_| ()))
        })
        .collect();
    for t in threads {
        t.join().unwrap().expect("concurrent recovery");
    }
    hsm.check().unwrap();
}

#[test]
fn bad_settings_give_clear_errors_without_the_pin() {
    let token = SoftHsmToken::new("bridge-errors");
    let secret = "wrong-pin-4711";
    let cfg = |module, label: &str, pin: &str| HsmConfig {
        module,
        token_label: label.to_owned(),
        pin: Pin::new(pin),
    };

    let e = Hsm::open(cfg(token.module(), "bridge-errors", secret)).unwrap_err();
    assert!(matches!(e, HsmError::BadPin { .. }), "{e:?}");
    let e = Hsm::open(cfg(token.module(), "no-such-token", USER_PIN)).unwrap_err();
    assert!(matches!(e, HsmError::TokenNotFound { .. }), "{e:?}");
    assert!(
        e.to_string().contains("bridge-errors"),
        "lists present tokens: {e}"
    );
    let e = Hsm::open(cfg(
        "/nonexistent/libpkcs11.so".into(),
        "bridge-errors",
        USER_PIN,
    ))
    .unwrap_err();
    assert!(matches!(e, HsmError::ModuleLoad { .. }), "{e:?}");
    let e = Hsm::open(cfg("/etc/hostname".into(), "bridge-errors", USER_PIN)).unwrap_err();
    assert!(matches!(e, HsmError::ModuleLoad { .. }), "{e:?}");

    let config = cfg(token.module(), "bridge-errors", secret);
    let shown = format!("{config:?}");
    assert!(!shown.contains(secret), "{shown}");
    let hsm = open(&token);
    assert!(!format!("{hsm:?}").contains(USER_PIN));
}

#[test]
fn a_destroyed_key_is_gone_and_destroying_again_is_harmless() {
    let token = SoftHsmToken::new("bridge-destroy");
    let hsm = open(&token);
    hsm.generate_ec_key(&KeyLabel::new("ocsp", 1)).unwrap();
    hsm.generate_ec_key(&KeyLabel::new("ocsp", 2)).unwrap();
    // Sign once so a handle is cached, then destroy.
    hsm.sign("onevisit/ocsp/1", b"x").unwrap();
    assert_eq!(
        hsm.destroy_key("onevisit/ocsp/1").unwrap(),
        2,
        "private and public key"
    );
    assert_eq!(hsm.find_key("onevisit/ocsp/1").unwrap(), None);
    assert!(matches!(
        hsm.sign("onevisit/ocsp/1", b"x"),
        Err(HsmError::KeyNotFound(_))
    ));
    assert_eq!(hsm.destroy_key("onevisit/ocsp/1").unwrap(), 0);
    // The other generation is untouched.
    hsm.sign("onevisit/ocsp/2", b"x").unwrap();
    let labels: Vec<String> = hsm
        .list_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.label)
        .collect();
    assert_eq!(labels, ["onevisit/ocsp/2"]);
}
