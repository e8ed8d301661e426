//! Distinguished names for the CA certificates this crate issues.
//!
//! Names are built attribute by attribute (never parsed from an RFC 4514
//! string), so user-supplied text cannot inject extra RDNs.

use const_oid::db::rfc4519::{COMMON_NAME, ORGANIZATION_NAME};
use der::{
    Decode, Encode,
    asn1::{Any, Utf8StringRef},
};
use x509_cert::{
    attr::AttributeTypeAndValue,
    name::{Name, RdnSequence, RelativeDistinguishedName},
};

use crate::CertError;

/// RFC 5280 Appendix A upper bound for commonName and organizationName
/// (`ub-common-name`, `ub-organization-name`), in characters.
pub const UB_NAME_CHARS: usize = 64;

/// `O=<organization>, CN=<common_name>` (RDN order: O first, as X.500
/// orders from the most general), both UTF8String as RFC 5280 4.1.2.4 asks
/// of new certificates. No countryName: the service is not tied to one
/// country code and RFC 5280 does not require one.
///
/// # Errors
/// [`CertError::InvalidName`] if a value is empty, longer than
/// [`UB_NAME_CHARS`] characters, has surrounding white space or contains a
/// control character.
pub fn ca_name(common_name: &str, organization: &str) -> Result<Name, CertError> {
    check_value("organizationName", organization)?;
    check_value("commonName", common_name)?;
    let rdns = vec![
        single_rdn(ORGANIZATION_NAME, organization)?,
        single_rdn(COMMON_NAME, common_name)?,
    ];
    // `Name`'s inner sequence is crate-private in x509-cert, so go through DER.
    Ok(Name::from_der(&RdnSequence::from(rdns).to_der()?)?)
}

fn check_value(attribute: &str, value: &str) -> Result<(), CertError> {
    let chars = value.chars().count();
    if chars == 0 {
        return Err(CertError::InvalidName(format!("{attribute} is empty")));
    }
    if chars > UB_NAME_CHARS {
        return Err(CertError::InvalidName(format!(
            "{attribute} has {chars} characters, at most {UB_NAME_CHARS} allowed"
        )));
    }
    if value.trim() != value {
        return Err(CertError::InvalidName(format!(
            "{attribute} has leading or trailing white space"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(CertError::InvalidName(format!(
            "{attribute} contains a control character"
        )));
    }
    Ok(())
}

fn single_rdn(
    oid: der::asn1::ObjectIdentifier,
    value: &str,
) -> Result<RelativeDistinguishedName, CertError> {
    let atv = AttributeTypeAndValue {
        oid,
        value: Any::encode_from(&Utf8StringRef::new(value)?)?,
    };
    Ok(RelativeDistinguishedName::try_from(vec![atv])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Tag, Tagged};

    #[test]
    fn ca_name_is_o_then_cn_in_utf8() -> Result<(), CertError> {
        let name = ca_name("OneVisit Root CA", "OneVisit Wallet")?;
        assert_eq!(name.to_string(), "CN=OneVisit Root CA,O=OneVisit Wallet");
        let atvs: Vec<_> = name.iter().collect();
        assert_eq!(atvs.len(), 2);
        assert_eq!(atvs[0].oid, ORGANIZATION_NAME);
        assert_eq!(atvs[1].oid, COMMON_NAME);
        assert!(atvs.iter().all(|a| a.value.tag() == Tag::Utf8String));
        assert!(name.iter_rdn().all(|rdn| rdn.len() == 1));
        Ok(())
    }

    #[test]
    fn ca_name_keeps_non_ascii_and_separators_literal() -> Result<(), CertError> {
        let name = ca_name("Übung, CN=evil", "市场监管")?;
        assert_eq!(name.iter().count(), 2);
        Ok(())
    }

    #[test]
    fn ca_name_rejects_bad_values() {
        for (cn, o) in [
            ("", "Org"),
            ("CA", ""),
            (" CA", "Org"),
            ("CA\n", "Org"),
            ("C\u{0}A", "Org"),
        ] {
            assert!(
                matches!(ca_name(cn, o), Err(CertError::InvalidName(_))),
                "{cn:?} / {o:?}"
            );
        }
        let long = "x".repeat(UB_NAME_CHARS + 1);
        assert!(matches!(
            ca_name(&long, "Org"),
            Err(CertError::InvalidName(_))
        ));
        let max = "é".repeat(UB_NAME_CHARS);
        assert!(ca_name(&max, "Org").is_ok());
    }
}
