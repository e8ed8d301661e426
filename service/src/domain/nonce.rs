//! Challenge nonces that need no database write to hand out: each nonce
//! carries its counter, expiry and audience digest under an HMAC whose key is
//! derived, one per hour, in the HSM from the `dedup-hmac` key, so any
//! instance sharing the token can check a nonce another one made. Only
//! consumption is stored (single use); this module is the pure part.
//!
//! Why not a random nonce stored at creation, as before: that was a
//! group-committed write, and a wait for its fsync, on every challenge,
//! for a row whose only job was to be found again by the presentation.

use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Format byte of a MAC'd nonce.
const VERSION: u8 = 1;
/// Random bytes per nonce: uniqueness only, the MAC makes it unforgeable.
const RANDOM_LEN: usize = 16;
/// Bytes of the audience digest carried in the nonce.
const AUDIENCE_LEN: usize = 16;
/// The MAC'd part: version, random, counter, expiry, audience digest.
const BODY_LEN: usize = 1 + RANDOM_LEN + 8 + 8 + AUDIENCE_LEN;
/// Bytes of a whole nonce: the body and a full HMAC-SHA256 tag.
const NONCE_LEN: usize = BODY_LEN + 32;
/// Seconds per key epoch.
const EPOCH_SECS: i64 = 3600;
/// Epoch keys kept in memory: the current hour, the next, and a spare.
const KEPT_EPOCHS: usize = 3;

/// A nonce's epoch key: HMAC-SHA256 key bytes, derived in the HSM.
pub type EpochKey = Zeroizing<[u8; 32]>;

/// The HSM input that derives the key of `epoch`. The same HSM key also
/// MACs national ids (upper-case letters and digits only) and the bridge's
/// key check value (`onevisit key check value`, public as the key's id):
/// with its `/` and NUL, no derivation input can ever equal either.
pub fn derivation_input(epoch: i64) -> Vec<u8> {
    let mut input = b"onevisit/challenge-key/v1\0".to_vec();
    input.extend_from_slice(&epoch.to_be_bytes());
    input
}

/// The key epoch of a nonce that expires at `expires_at` (unix seconds):
/// the hour it expires in.
pub fn epoch_of(expires_at: i64) -> i64 {
    (expires_at - 1).div_euclid(EPOCH_SECS)
}

/// What the clock says of a nonce that claims to expire at `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Not expired: its MAC is checked with the key of this epoch.
    Open(i64),
    /// Expired. Its MAC is not checked: that would take old epochs' keys,
    /// which an attacker could make the HSM derive one after another.
    Expired,
    /// Expires later than any nonce made by now could, even by an instance
    /// whose clock runs `skew` seconds ahead: not one of ours.
    TooLate,
}

/// Where a nonce expiring at `expires_at` stands at `now`, for nonces that
/// live `ttl` seconds and instances whose clocks differ by up to `skew`.
/// So only the current and the next epoch's keys are ever derived.
pub fn window(expires_at: i64, now: i64, ttl: i64, skew: i64) -> Window {
    if expires_at <= now {
        Window::Expired
    } else if expires_at > now.saturating_add(ttl).saturating_add(skew) {
        Window::TooLate
    } else {
        Window::Open(epoch_of(expires_at))
    }
}

/// What a nonce claims before its MAC is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The counter (staff id) it was made for.
    pub counter: i64,
    /// Unix second it expires at.
    pub expires_at: i64,
    audience: [u8; AUDIENCE_LEN],
    body: [u8; BODY_LEN],
    tag: [u8; 32],
}

impl Claims {
    /// Whether it was made for `audience`.
    pub fn is_for(&self, audience: &str) -> bool {
        self.audience == audience_digest(audience)
    }

    /// Whether `key` made its MAC (constant time).
    pub fn authentic(&self, key: &EpochKey) -> bool {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_slice());
        ring::hmac::verify(&key, &self.body, &self.tag).is_ok()
    }
}

fn audience_digest(audience: &str) -> [u8; AUDIENCE_LEN] {
    let d = Sha256::new()
        .chain_update(b"onevisit/challenge-audience/v1\0")
        .chain_update(audience.as_bytes())
        .finalize();
    let mut out = [0u8; AUDIENCE_LEN];
    out.copy_from_slice(&d[..AUDIENCE_LEN]);
    out
}

/// A nonce for `counter` and `audience`, expiring at `expires_at`, MAC'd
/// with the key of [`epoch_of`]`(expires_at)`.
pub fn mint(
    key: &EpochKey,
    random: [u8; RANDOM_LEN],
    counter: i64,
    audience: &str,
    expires_at: i64,
) -> String {
    let mut body = [0u8; BODY_LEN];
    body[0] = VERSION;
    body[1..17].copy_from_slice(&random);
    body[17..25].copy_from_slice(&counter.to_be_bytes());
    body[25..33].copy_from_slice(&expires_at.to_be_bytes());
    body[33..].copy_from_slice(&audience_digest(audience));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_slice());
    let tag = ring::hmac::sign(&key, &body);
    let mut nonce = body.to_vec();
    nonce.extend_from_slice(tag.as_ref());
    URL_SAFE_NO_PAD.encode(nonce)
}

/// A MAC'd nonce's claims, or `None` when `nonce` is not one (a stored
/// nonce of the previous format, or garbage). Checks nothing.
pub fn parse(nonce: &str) -> Option<Claims> {
    // Cheap refusal before decoding anything of unbounded size.
    if nonce.len() != (NONCE_LEN * 4).div_ceil(3) {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(nonce).ok()?;
    if raw.len() != NONCE_LEN || raw[0] != VERSION {
        return None;
    }
    let mut body = [0u8; BODY_LEN];
    body.copy_from_slice(&raw[..BODY_LEN]);
    let mut tag = [0u8; 32];
    tag.copy_from_slice(&raw[BODY_LEN..]);
    let mut audience = [0u8; AUDIENCE_LEN];
    audience.copy_from_slice(&body[33..]);
    Some(Claims {
        counter: i64::from_be_bytes(body[17..25].try_into().ok()?),
        expires_at: i64::from_be_bytes(body[25..33].try_into().ok()?),
        audience,
        body,
        tag,
    })
}

/// The last few epoch keys, so the HSM derives each one once per process.
#[derive(Default)]
pub struct EpochKeys(Mutex<Vec<(i64, EpochKey)>>);

impl std::fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|k| k.len()).unwrap_or(0);
        write!(f, "EpochKeys({n} kept)")
    }
}

impl EpochKeys {
    /// The key of `epoch`, if it is kept.
    pub fn get(&self, epoch: i64) -> Option<EpochKey> {
        let kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.iter()
            .find(|(e, _)| *e == epoch)
            .map(|(_, k)| k.clone())
    }

    /// Keeps `key` for `epoch`, dropping the oldest beyond [`KEPT_EPOCHS`].
    pub fn put(&self, epoch: i64, key: EpochKey) {
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.iter().any(|(e, _)| *e == epoch) {
            return;
        }
        kept.push((epoch, key));
        kept.sort_by_key(|(e, _)| std::cmp::Reverse(*e));
        kept.truncate(KEPT_EPOCHS);
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests")]

    use super::*;

    fn key(b: u8) -> EpochKey {
        Zeroizing::new([b; 32])
    }

    #[test]
    fn a_minted_nonce_parses_back_and_is_authentic_only_under_its_key() {
        let n = mint(&key(7), [1; 16], 42, "counter-7", 1_800_000_300);
        let c = parse(&n).expect("parses");
        assert_eq!((c.counter, c.expires_at), (42, 1_800_000_300));
        assert!(c.is_for("counter-7"));
        assert!(!c.is_for("counter-8"));
        assert!(c.authentic(&key(7)));
        assert!(!c.authentic(&key(8)));
    }

    #[test]
    fn any_changed_byte_breaks_the_mac() {
        let n = mint(&key(7), [1; 16], 42, "counter-7", 1_800_000_300);
        let raw = URL_SAFE_NO_PAD.decode(&n).expect("base64");
        for i in 1..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let claims = parse(&URL_SAFE_NO_PAD.encode(&bad)).expect("same shape");
            assert!(
                !claims.authentic(&key(7)),
                "byte {i} flipped still verifies"
            );
        }
    }

    #[test]
    fn other_shapes_are_not_mac_nonces() {
        // A stored nonce of the previous format: 32 random bytes.
        assert_eq!(parse(&URL_SAFE_NO_PAD.encode([9u8; 32])), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse(&"A".repeat(108)), None, "version byte 0");
        assert_eq!(parse(&"!".repeat(108)), None, "not base64url");
        let n = mint(&key(7), [1; 16], 42, "a", 100);
        assert_eq!(parse(&format!("{n}A")), None);
        assert_eq!(parse(&n[1..]), None);
    }

    #[test]
    fn epochs_are_the_hour_of_expiry_and_inputs_differ_per_epoch() {
        assert_eq!(epoch_of(3600), 0);
        assert_eq!(epoch_of(3601), 1);
        assert_eq!(epoch_of(7200), 1);
        assert_ne!(derivation_input(1), derivation_input(2));
        // Never a national id (upper-case letters and digits).
        assert!(
            !derivation_input(0)
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_ne!(derivation_input(0), b"onevisit key check value");
    }

    #[test]
    fn only_unexpired_nonces_within_ttl_and_skew_are_checked() {
        let now = 1_800_000_000;
        assert_eq!(window(now, now, 300, 60), Window::Expired);
        assert_eq!(window(i64::MIN, now, 300, 60), Window::Expired);
        assert_eq!(
            window(now + 1, now, 300, 60),
            Window::Open(epoch_of(now + 1))
        );
        assert_eq!(
            window(now + 360, now, 300, 60),
            Window::Open(epoch_of(now + 360))
        );
        assert_eq!(window(now + 361, now, 300, 60), Window::TooLate);
        assert_eq!(
            window(i64::MAX, i64::MAX - 1, 300, 60),
            Window::Open(epoch_of(i64::MAX))
        );
        // Whatever a nonce claims, at most two epochs are ever open.
        let epochs: std::collections::BTreeSet<i64> = (now - 10_000..now + 10_000)
            .filter_map(|e| match window(e, now, 300, 60) {
                Window::Open(epoch) => Some(epoch),
                _ => None,
            })
            .collect();
        assert!(epochs.len() <= 2, "{epochs:?}");
    }

    #[test]
    fn a_nonce_expiring_on_the_hour_is_checked_with_the_hour_before() {
        // Minted at 10:55 for 11:00; checked at 10:59: one epoch both times.
        let expires = 3600 * 11;
        let n = mint(&key(1), [2; 16], 5, "desk", expires);
        let claims = parse(&n).expect("parses");
        assert_eq!(
            window(claims.expires_at, expires - 60, 300, 60),
            Window::Open(10)
        );
        assert_eq!(epoch_of(expires), 10);
        assert_eq!(window(claims.expires_at, expires, 300, 60), Window::Expired);
    }

    #[test]
    fn epoch_keys_keep_the_newest_few() {
        let keys = EpochKeys::default();
        for e in 0..5 {
            keys.put(e, key(u8::try_from(e).unwrap_or(0)));
        }
        assert!(keys.get(0).is_none() && keys.get(1).is_none());
        assert_eq!(keys.get(4).map(|k| k[0]), Some(4));
        assert_eq!(keys.get(2).map(|k| k[0]), Some(2));
        keys.put(4, key(99));
        assert_eq!(
            keys.get(4).map(|k| k[0]),
            Some(4),
            "first key of an epoch stays"
        );
        assert_eq!(format!("{keys:?}"), "EpochKeys(3 kept)");
    }
}
