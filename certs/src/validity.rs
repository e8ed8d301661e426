//! Certificate validity periods: turning caller-supplied times into RFC 5280
//! `Time` values and fitting a period inside an issuer's.
//!
//! Time is always a parameter here; nothing reads the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{
    DateTime,
    asn1::{GeneralizedTime, UtcTime},
};
use x509_cert::{
    Certificate,
    time::{Time, Validity},
};

use crate::CertError;

/// notBefore and notAfter of `cert` as Unix seconds (saturating at the
/// `i64` range, which no certificate time reaches).
pub fn validity_unix(cert: &Certificate) -> (i64, i64) {
    let v = cert.tbs_certificate().validity();
    let secs = |t: &Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    (secs(&v.not_before), secs(&v.not_after))
}

/// RFC 5280 4.1.2.5 time for `at`, truncated to whole seconds (fractional
/// seconds are forbidden): UTCTime through 2049, GeneralizedTime from 2050.
///
/// # Errors
/// [`CertError::InvalidValidity`] before 1970 or after 9999.
pub fn rfc5280_time(at: SystemTime) -> Result<Time, CertError> {
    let since_epoch = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CertError::InvalidValidity("time before 1970".into()))?;
    let date = DateTime::from_unix_duration(Duration::from_secs(since_epoch.as_secs()))
        .map_err(|e| CertError::InvalidValidity(format!("time out of range: {e}")))?;
    // Choose explicitly rather than rely on x509-cert's fallback, so the rule
    // is visible (and tested) here.
    if date.year() <= UtcTime::MAX_YEAR {
        Ok(Time::UtcTime(UtcTime::from_date_time(date)?))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(date)))
    }
}

/// Validity from `not_before` to `not_after`, both inclusive per RFC 5280.
///
/// The order is not checked here: the profile lint rejects an empty period
/// before anything is signed, with the same error as any other profile break.
///
/// # Errors
/// [`CertError::InvalidValidity`] if either time cannot be encoded.
pub fn validity(not_before: SystemTime, not_after: SystemTime) -> Result<Validity, CertError> {
    Ok(Validity::new(
        rfc5280_time(not_before)?,
        rfc5280_time(not_after)?,
    ))
}

/// The requested period cut down to lie inside the issuer's validity:
/// `not_before` is raised to the issuer's `notBefore` and `not_after` lowered
/// to the issuer's `notAfter`. A subordinate that outlives its issuer would be
/// unverifiable for the rest of its life, so clamping is what the operator
/// meant; the result can be read back from the issued certificate.
///
/// # Errors
/// [`CertError::InvalidValidity`] if a time cannot be encoded.
pub fn clamp_to_issuer(
    not_before: SystemTime,
    not_after: SystemTime,
    issuer: &Certificate,
) -> Result<Validity, CertError> {
    let issuer_validity = issuer.tbs_certificate().validity();
    let issuer_nb = issuer_validity.not_before.to_system_time();
    let issuer_na = issuer_validity.not_after.to_system_time();
    validity(not_before.max(issuer_nb), not_after.min(issuer_na))
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;

    fn at(s: &str) -> Result<SystemTime, CertError> {
        Ok(s.parse::<DateTime>()?.to_system_time())
    }

    #[test]
    fn utc_time_through_2049_generalized_from_2050() -> Result<(), CertError> {
        let last_utc = rfc5280_time(at("2049-12-31T23:59:59Z")?)?;
        assert!(matches!(last_utc, Time::UtcTime(_)));
        assert_eq!(last_utc.to_der()?, b"\x17\x0d491231235959Z");

        let first_gen = rfc5280_time(at("2050-01-01T00:00:00Z")?)?;
        assert!(matches!(first_gen, Time::GeneralTime(_)));
        assert_eq!(first_gen.to_der()?, b"\x18\x0f20500101000000Z");
        Ok(())
    }

    #[test]
    fn fractional_seconds_are_dropped() -> Result<(), CertError> {
        let t = at("2030-06-01T12:00:00Z")? + Duration::from_millis(999);
        assert_eq!(rfc5280_time(t)?.to_der()?, b"\x17\x0d300601120000Z");
        Ok(())
    }

    #[test]
    fn before_epoch_is_rejected() {
        let t = UNIX_EPOCH - Duration::from_secs(1);
        assert!(matches!(
            rfc5280_time(t),
            Err(CertError::InvalidValidity(_))
        ));
    }
}
