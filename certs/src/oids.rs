//! Object identifiers of the OneVisit Wallet project: the project arc and
//! the policy and extension OIDs under it.
//!
//! The arc is derived, without any registration, from the project UUID
//! [`PROJECT_UUID`]. DESIGN.md asks for the X.667 form `2.25.<uuid as
//! integer>` ([`UUID_ARC_TEXT`]), but that arc cannot be used here:
//! `const-oid` (and therefore `x509-cert`) holds each arc in a `u32` and
//! deliberately refuses larger ones (RustCrypto/formats#1984), so a
//! certificate carrying a `2.25.<uuid>` extension could not even be decoded by
//! this crate, the service or the offline verifier. Botan and some releases
//! of pyca/cryptography refuse such OIDs as well.
//!
//! The arc used instead is the GUID-based one under Microsoft's
//! `1.2.840.113556.1.8000.2554` ("adhoc, GUID based, customer use";
//! allocations are implicit): the same UUID split into seven chunks
//! (4, 4, 4, 4, 4, 6 and 6 hex digits), each written in decimal. Every arc fits
//! in 32 bits, so stock X.509 tools of every kind read it.
//!
//! Allocations under [`ARC`]: `.1` certificate policies (`.1.1` identity,
//! `.1.2` licence), `.2` certificate extensions (`.2.1` the licence
//! extension).

use const_oid::ObjectIdentifier;

/// The arc in dotted form; a macro so the child OIDs can be `concat!`ed at
/// compile time.
macro_rules! project_arc {
    () => {
        "1.2.840.113556.1.8000.2554.1217.53817.1796.19528.46638.7559119.5844275"
    };
}

/// The UUID the project arc is derived from.
pub const PROJECT_UUID: &str = "04c1d239-0704-4c48-b62e-7357cf592d33";

/// The X.667 form of the project UUID as an OID. Documentation only: it is
/// not representable as an [`ObjectIdentifier`] (see the module docs).
pub const UUID_ARC_TEXT: &str = "2.25.6323289101030506400951587970141990195";

/// The project arc in dotted form.
pub const ARC_TEXT: &str = project_arc!();

/// The project arc.
pub const ARC: ObjectIdentifier = ObjectIdentifier::new_unwrap(project_arc!());

/// Certificate policy of identity certificates (`ARC.1.1`).
pub const IDENTITY_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap(concat!(project_arc!(), ".1.1"));

/// Certificate policy of licence certificates (`ARC.1.2`).
pub const LICENCE_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap(concat!(project_arc!(), ".1.2"));

/// The licence certificate extension holding `LicenceInfo` (`ARC.2.1`).
pub const LICENCE_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap(concat!(project_arc!(), ".2.1"));

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;
    use x509_cert::ext::Extension;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn arc_is_the_guid_form_of_the_project_uuid() -> TestResult {
        let hex: String = PROJECT_UUID.chars().filter(|c| *c != '-').collect();
        let mut arc = String::from("1.2.840.113556.1.8000.2554");
        for (start, end) in [
            (0, 4),
            (4, 8),
            (8, 12),
            (12, 16),
            (16, 20),
            (20, 26),
            (26, 32),
        ] {
            let chunk = hex.get(start..end).ok_or("UUID too short")?;
            arc.push_str(&format!(".{}", u32::from_str_radix(chunk, 16)?));
        }
        assert_eq!(arc, ARC_TEXT);
        assert_eq!(ARC.to_string(), ARC_TEXT);
        Ok(())
    }

    #[test]
    fn children_sit_under_the_arc() {
        for (oid, suffix) in [
            (IDENTITY_POLICY, ".1.1"),
            (LICENCE_POLICY, ".1.2"),
            (LICENCE_INFO, ".2.1"),
        ] {
            assert!(oid.starts_with(ARC));
            assert_eq!(oid.to_string(), format!("{ARC_TEXT}{suffix}"));
        }
    }

    /// Why the X.667 arc is not used: `const-oid` refuses it both as text and
    /// as DER, so a certificate carrying it would not decode. If this test
    /// starts failing, `const-oid` has learnt big arcs and the choice can be
    /// revisited.
    #[test]
    fn uuid_arc_is_not_representable() -> TestResult {
        let uuid = u128::from_str_radix(&PROJECT_UUID.replace('-', ""), 16)?;
        assert_eq!(format!("2.25.{uuid}"), UUID_ARC_TEXT);
        assert!(ObjectIdentifier::new(UUID_ARC_TEXT).is_err());

        // The DER of the same OID: 2.25 is the single octet 0x69, then the
        // UUID in base 128, most significant group first.
        let mut groups = Vec::new();
        let mut rest = uuid;
        loop {
            groups.push(u8::try_from(rest & 0x7f)?);
            rest >>= 7;
            if rest == 0 {
                break;
            }
        }
        let mut der = vec![0x06, 0, 0x69];
        for (i, group) in groups.iter().enumerate().rev() {
            der.push(if i == 0 { *group } else { group | 0x80 });
        }
        der[1] = u8::try_from(der.len() - 2)?;
        let decoded: Result<ObjectIdentifier, _> = Decode::from_der(&der);
        assert!(decoded.is_err());

        // So an extension with that OID (and with it the certificate) would
        // not decode.
        let mut extension = vec![0x30, 0];
        extension.extend_from_slice(&der);
        extension.extend_from_slice(&[0x04, 0x00]);
        extension[1] = u8::try_from(extension.len() - 2)?;
        assert!(Extension::from_der(&extension).is_err());
        // The same extension under the arc in use decodes.
        let ours = Extension {
            extn_id: LICENCE_INFO,
            critical: false,
            extn_value: der::asn1::OctetString::new(Vec::new())?,
        };
        assert_eq!(Extension::from_der(&der::Encode::to_der(&ours)?)?, ours);
        Ok(())
    }
}
