//! Identifier newtypes shared by several tables, and the macros that give the
//! crate's text-backed enums and newtypes their SQL conversions.
//!
//! Identifiers are parsed into canonical form (lowercase hex, lowercase UUID)
//! on the way in; values read back from the database are trusted, since the
//! migrations' CHECK constraints hold them to the same form.

use std::fmt;

use diesel::sql_types::{BigInt, Text};

use crate::error::InvalidId;

/// Implements `ToSql`/`FromSql` for a newtype over `$inner` with SQL type
/// `$sql`, generic over every backend whose `$inner` supports `$sql`
/// (SQLite, PostgreSQL and the derived `MultiBackend`).
macro_rules! sql_newtype {
    ($ty:ident, $inner:ty, $sql:ty, $borrowed:ty) => {
        impl<DB> diesel::serialize::ToSql<$sql, DB> for $ty
        where
            DB: diesel::backend::Backend,
            $borrowed: diesel::serialize::ToSql<$sql, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <$borrowed as diesel::serialize::ToSql<$sql, DB>>::to_sql(&self.0, out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<$sql, DB> for $ty
        where
            DB: diesel::backend::Backend,
            $inner: diesel::deserialize::FromSql<$sql, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                <$inner as diesel::deserialize::FromSql<$sql, DB>>::from_sql(bytes).map(Self)
            }
        }
    };
}

/// Declares a `#[non_exhaustive]` enum stored as TEXT, with `as_str`,
/// `Display`, `FromStr` and the SQL conversions. The strings are the ones the
/// migrations' CHECK constraints allow.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database (and used on the wire).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::error::InvalidId::new(stringify!($name), s)),
                }
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    DB,
                >>::from_sql(bytes)?;
                Ok(text.parse::<$name>()?)
            }
        }
    };
}

pub(crate) use text_enum;

/// Declares a newtype over a canonical lowercase hex string.
macro_rules! hex_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = Text)]
        pub struct $name(String);

        impl $name {
            /// Lowercase hex of `bytes`.
            ///
            /// Returns an error when `bytes` is empty.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidId> {
                if bytes.is_empty() {
                    return Err(InvalidId::new(stringify!($name), ""));
                }
                Ok(Self(hex_lower(bytes)))
            }

            /// Parses hex text (either case) into canonical lowercase form.
            ///
            /// Returns an error unless `hex` is a non-empty, even-length
            /// string of hex digits.
            pub fn parse(hex: &str) -> Result<Self, InvalidId> {
                let ok = !hex.is_empty()
                    && hex.len() % 2 == 0
                    && hex.bytes().all(|b| b.is_ascii_hexdigit());
                if ok {
                    Ok(Self(hex.to_ascii_lowercase()))
                } else {
                    Err(InvalidId::new(stringify!($name), hex))
                }
            }

            /// The lowercase hex text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        sql_newtype!($name, String, Text, str);
    };
}

hex_id!(
    /// Identifier of a key as it appears on the wire and in the ledger: the
    /// lowercase hex X.509 subject key identifier (= CKA_ID) of a key pair, or
    /// the check value of the HMAC secret. Column `keys.key_id`, and every
    /// `issuer_key_id` / `key_id` that refers to it.
    KeyId
);

hex_id!(
    /// A certificate serial number as lowercase hex of its DER integer bytes.
    /// Reserved in `issuance_intents` before the HSM signs; primary key of
    /// `credentials`.
    Serial
);

/// Row id of a key in the `keys` table (not the [`KeyId`] that appears on
/// the wire).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = BigInt)]
pub struct KeyRowId(pub i64);

sql_newtype!(KeyRowId, i64, BigInt, i64);

impl fmt::Display for KeyRowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Row id of a staff account; recorded as `created_by` on everything staff do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = BigInt)]
pub struct StaffId(pub i64);

sql_newtype!(StaffId, i64, BigInt, i64);

impl fmt::Display for StaffId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Identity id: a UUID in lowercase hyphenated form, the same for every
/// certificate of one person (it is the certificates' subject serialNumber).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = Text)]
pub struct IdentityId(String);

sql_newtype!(IdentityId, String, Text, str);

impl IdentityId {
    /// Parses a hyphenated UUID (either case) into lowercase form.
    ///
    /// Returns an error unless `text` is `8-4-4-4-12` hex digits.
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        let ok = text.len() == 36
            && text.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        if ok {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(InvalidId::new("IdentityId", text))
        }
    }

    /// The UUID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for IdentityId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{IdentityId, KeyId, Serial};

    #[test]
    fn hex_ids_are_canonical_lowercase() {
        assert_eq!(
            Serial::parse("0A1b").map(|s| s.to_string()),
            Ok("0a1b".to_owned())
        );
        assert_eq!(
            KeyId::from_bytes(&[0x00, 0xff, 0x10]).map(|k| k.to_string()),
            Ok("00ff10".to_owned())
        );
        assert!(Serial::parse("").is_err());
        assert!(Serial::parse("abc").is_err());
        assert!(Serial::parse("zz").is_err());
        assert!(KeyId::from_bytes(&[]).is_err());
    }

    #[test]
    fn identity_ids_are_hyphenated_uuids() {
        let id = IdentityId::parse("67E55044-10B1-426F-9247-BB680E5FE0C8");
        assert_eq!(
            id.map(|i| i.to_string()),
            Ok("67e55044-10b1-426f-9247-bb680e5fe0c8".to_owned())
        );
        assert!(IdentityId::parse("67e5504410b1426f9247bb680e5fe0c8").is_err());
        assert!(IdentityId::parse("67e55044-10b1-426f-9247-bb680e5fe0cx").is_err());
    }
}
