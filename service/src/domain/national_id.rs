//! National ID numbers: normalised so that one person typed two ways is one
//! key, then MACed inside the HSM. The clear number lives only in a
//! zeroizing buffer for the length of a request and never in `Debug`.

use unicode_normalization::UnicodeNormalization as _;
use zeroize::Zeroizing;

use super::DomainError;

/// A normalised national ID number (NFKC, no white space or dashes,
/// uppercase ASCII letters and digits).
pub struct NationalId(Zeroizing<String>);

impl std::fmt::Debug for NationalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NationalId(<redacted>)")
    }
}

/// Dash-like characters people type inside ID numbers.
fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}'
    )
}

impl NationalId {
    /// Normalises `raw`: Unicode NFKC (full-width digits become ASCII), drop
    /// white space and dashes, uppercase. What remains must be 4 to 32 ASCII
    /// letters and digits.
    pub fn normalise(raw: &str) -> Result<Self, DomainError> {
        let mut out = Zeroizing::new(String::with_capacity(raw.len()));
        for c in raw.nfkc() {
            if c.is_whitespace() || is_dash(c) {
                continue;
            }
            out.extend(c.to_uppercase());
        }
        if !(4..=32).contains(&out.len())
            || !out
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(DomainError::invalid(
                "invalid-national-id",
                "the national ID must be 4 to 32 letters and digits (spaces and dashes are ignored)",
            ));
        }
        Ok(Self(out))
    }

    /// The bytes the dedup key MACs.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::NationalId;

    #[test]
    fn one_person_typed_differently_is_one_key() {
        let forms = [
            "ab-123 456 7x",
            "AB1234567X",
            "ＡＢ１２３４５６７ｘ",
            "AB\u{2013}123\u{00A0}4567X",
            " ab 1234567x\n",
        ];
        for f in forms {
            assert_eq!(
                NationalId::normalise(f).unwrap().as_bytes(),
                b"AB1234567X",
                "{f:?}"
            );
        }
    }

    #[test]
    fn rejects_junk_and_never_shows_the_number() {
        for bad in [
            "",
            "12",
            "AB12*34",
            "AB12345678901234567890123456789012345",
            "Ä1234567",
        ] {
            assert!(NationalId::normalise(bad).is_err(), "{bad:?}");
        }
        let id = NationalId::normalise("AB1234567X").unwrap();
        assert!(!format!("{id:?}").contains("1234567"));
    }
}
