//! Distinguished names for the certificates this crate issues: CA names and
//! holder names.
//!
//! Names are built attribute by attribute (never parsed from an RFC 4514
//! string), so user-supplied text cannot inject extra RDNs. Holder names are
//! read back by position and type only; nothing else is accepted.

use const_oid::db::rfc4519::{COMMON_NAME, ORGANIZATION_NAME, SERIAL_NUMBER};
use der::{
    Decode, Encode, Tag, Tagged,
    asn1::{Any, PrintableStringRef, Utf8StringRef},
};
use x509_cert::{
    attr::AttributeTypeAndValue,
    name::{Name, RdnSequence, RelativeDistinguishedName},
};

use crate::CertError;

/// RFC 5280 Appendix A upper bound for commonName and organizationName
/// (`ub-common-name`, `ub-organization-name`), in characters.
pub const UB_NAME_CHARS: usize = 64;

/// RFC 5280 Appendix A upper bound for serialNumber (`ub-serial-number`).
pub const UB_SERIAL_NUMBER_CHARS: usize = 64;

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

/// A holder's subject: `CN=<full name>, serialNumber=<identity id>` in this
/// RDN order (commonName first), commonName as UTF8String and serialNumber as
/// PrintableString (X.520 allows no other string type for it), one
/// attribute per RDN and nothing else.
///
/// # Errors
/// [`CertError::InvalidName`] if either value is empty, too long
/// ([`UB_NAME_CHARS`], [`UB_SERIAL_NUMBER_CHARS`]), has surrounding white
/// space or a control character, or if the identity id has a character
/// outside PrintableString (`A-Z a-z 0-9 '()+,-./:=?` and space).
pub(crate) fn holder_name(full_name: &str, identity_id: &str) -> Result<Name, CertError> {
    check_value("commonName", full_name)?;
    check_value("serialNumber", identity_id)?;
    let printable = PrintableStringRef::new(identity_id).map_err(|_| {
        CertError::InvalidName("serialNumber has a character outside PrintableString".into())
    })?;
    let serial = AttributeTypeAndValue {
        oid: SERIAL_NUMBER,
        value: Any::encode_from(&printable)?,
    };
    let rdns = vec![
        single_rdn(COMMON_NAME, full_name)?,
        RelativeDistinguishedName::try_from(vec![serial])?,
    ];
    Ok(Name::from_der(&RdnSequence::from(rdns).to_der()?)?)
}

/// Reads `(commonName, serialNumber)` from a name of exactly the
/// [`holder_name`] form. Values are returned as found (possibly empty or too
/// long: the lint judges those).
///
/// # Errors
/// A human-readable reason when the name has any other shape.
pub(crate) fn read_holder_name(name: &Name) -> Result<(String, String), String> {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let [cn, serial] = rdns.as_slice() else {
        return Err(format!(
            "{} RDNs, expected commonName then serialNumber",
            rdns.len()
        ));
    };
    let single = |rdn: &RelativeDistinguishedName, what: &str| match rdn
        .iter()
        .collect::<Vec<_>>()
        .as_slice()
    {
        [atv] => Ok((*atv).clone()),
        _ => Err(format!("{what} RDN must hold exactly one attribute")),
    };
    let cn = single(cn, "first")?;
    let serial = single(serial, "second")?;
    if cn.oid != COMMON_NAME || serial.oid != SERIAL_NUMBER {
        return Err(format!(
            "attributes {} and {}, expected commonName then serialNumber",
            cn.oid, serial.oid
        ));
    }
    if cn.value.tag() != Tag::Utf8String || serial.value.tag() != Tag::PrintableString {
        return Err("commonName must be UTF8String and serialNumber PrintableString".into());
    }
    let cn = Utf8StringRef::try_from(&cn.value).map_err(|e| format!("commonName: {e}"))?;
    let serial =
        PrintableStringRef::try_from(&serial.value).map_err(|e| format!("serialNumber: {e}"))?;
    Ok((cn.as_str().to_owned(), serial.as_str().to_owned()))
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
    fn holder_name_is_cn_then_printable_serial_number() -> Result<(), CertError> {
        let id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        let name = holder_name("Zhang Wěi", id)?;
        let atvs: Vec<_> = name.iter().collect();
        assert_eq!(atvs.len(), 2);
        assert_eq!(atvs[0].oid, COMMON_NAME);
        assert_eq!(atvs[0].value.tag(), Tag::Utf8String);
        assert_eq!(atvs[1].oid, SERIAL_NUMBER);
        assert_eq!(atvs[1].value.tag(), Tag::PrintableString);
        assert_eq!(
            read_holder_name(&name).map_err(CertError::InvalidName)?,
            ("Zhang Wěi".to_owned(), id.to_owned())
        );
        Ok(())
    }

    #[test]
    fn holder_name_rejects_bad_values() {
        for (cn, id) in [
            ("", "id-1"),
            ("Name", ""),
            ("Name", "id_1"),
            ("Name", "id@1"),
            ("Name", "ïd"),
            (" Name", "id-1"),
            ("Na\u{7}me", "id-1"),
        ] {
            assert!(
                matches!(holder_name(cn, id), Err(CertError::InvalidName(_))),
                "{cn:?} / {id:?}"
            );
        }
        let long = "x".repeat(UB_SERIAL_NUMBER_CHARS + 1);
        assert!(holder_name("Name", &long).is_err());
    }

    #[test]
    fn read_holder_name_refuses_other_shapes() -> Result<(), CertError> {
        assert!(read_holder_name(&ca_name("CN", "Org")?).is_err());
        assert!(read_holder_name(&Name::default()).is_err());
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
