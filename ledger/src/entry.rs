//! The ledger's entries: canonical JSON, one per leaf, written and read by
//! hand (no serde) so that the bytes are exactly the ones defined here.
//!
//! Owns: the four entry types of the design and their one encoding; the
//! leaf hash of an entry is `SHA-256(0x00 || to_json())`. Trusts nothing:
//! [`Entry::parse`] accepts only the canonical encoding of a valid entry, so
//! an auditor can tell a tampered or re-serialised entry.
//!
//! # Canonical form, byte for byte
//!
//! - One JSON object, keys sorted (byte order), no white space anywhere,
//!   UTF-8, every key present and no other key:
//!   - `{"at":…,"cert_sha256":"…","issuer_key_id":"…","kind":"identity|license","serial":"…","type":"issuance"}`
//!   - `{"at":…,"reason":"…","serial":"…","type":"revocation"}`
//!   - `{"at":…,"cert_sha256":"…","event":"activated|certified|retired|destroyed","key_id":"…","purpose":"…","type":"key"}`
//!   - `{"at":…,"event":"requested|approved","purpose":"…","request_id":"…","staff_id":…,"type":"key-request"}`
//! - `at` is Unix time in seconds, a JSON integer in shortest decimal form
//!   (`-` only for negatives, no leading zeros, no fraction or exponent);
//!   `staff_id` is written the same way.
//! - Strings: `"` is written `\"`, `\` is written `\\`, each control
//!   character U+0000..U+001F is written `\u00XX` with lowercase hex (also
//!   `\n`, `\t`, ...: no short escapes), everything else (DEL, non-ASCII,
//!   U+2028) literally as UTF-8. This is RFC 8259 with a single choice per
//!   character; it differs from RFC 8785 (JCS) only in JCS's short escapes
//!   for `\b \t \n \f \r`.
//! - Values ([`Entry::validate`]): `cert_sha256` is 64 lowercase hex digits
//!   (in a `key` entry it may be empty: a key without a certificate, such as
//!   the ledger or dedup-HMAC key); `issuer_key_id`, `key_id` and `serial`
//!   are non-empty lowercase hex of even length; `kind` is `identity` or
//!   `license`; in a `key` entry `event` is `activated`, `certified`,
//!   `retired` or `destroyed` (removed from the token), in a `key-request` entry `requested` or `approved`; `reason`
//!   and `purpose` are non-empty; `request_id` is a UUID in its lowercase
//!   hyphenated text form (`8-4-4-4-12` hex digits, 36 characters);
//!   `staff_id` is at least 1.
//!
//! # Key events
//!
//! A `key` entry with `certified` records an additional certificate for a
//! key that is already active (a cross-certificate from the old root, or an
//! issuing CA re-certified under a new root); its `cert_sha256` is that new
//! certificate's. A key rotation under the two-person rule (a root
//! rotation) is first recorded as two `key-request` entries with the same
//! `request_id`, `requested` and then `approved`, by two different ops
//! staff. This module checks each
//! entry on its own: that an approval names another `staff_id` than its
//! request spans two entries, so it is left to the writer of the entries
//! (and can be checked by an auditor reading the log).

use std::collections::BTreeSet;

use crate::{Hash, leaf_hash};

/// Why a text is not a canonical ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// Not a flat JSON object of strings and integers (byte offset).
    #[error("not a ledger entry object (JSON syntax at byte {offset})")]
    Syntax {
        /// Byte offset of the problem.
        offset: usize,
    },
    /// An integer outside the 64-bit range.
    #[error("integer out of range")]
    NumberOutOfRange,
    /// A key given twice.
    #[error("duplicate key {0:?}")]
    DuplicateField(String),
    /// A key the entry type needs is absent.
    #[error("missing key {0:?}")]
    MissingField(&'static str),
    /// A key the entry type does not have.
    #[error("unknown key {0:?}")]
    UnknownField(String),
    /// A value of the wrong JSON type (string for integer or the reverse).
    #[error("key {0:?} has the wrong JSON type")]
    WrongType(&'static str),
    /// A `type` that is not `issuance`, `revocation`, `key` or `key-request`.
    #[error("unknown entry type {0:?}")]
    UnknownType(String),
    /// A value outside its field's domain (hex, kind, event, empty string,
    /// UUID form of `request_id`, `staff_id` below 1).
    #[error("invalid value for {0:?}")]
    InvalidValue(&'static str),
    /// A valid entry in other than its canonical encoding.
    #[error("entry is not in canonical form")]
    NonCanonical,
}

/// A ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A certificate was issued (`"type":"issuance"`).
    Issuance {
        /// Unix time, seconds.
        at: i64,
        /// Lowercase hex SHA-256 of the certificate's DER.
        cert_sha256: String,
        /// Lowercase hex key ID (SKI) of the issuing CA key.
        issuer_key_id: String,
        /// `identity` or `license`.
        kind: String,
        /// Lowercase hex serial number.
        serial: String,
    },
    /// A certificate was revoked (`"type":"revocation"`).
    Revocation {
        /// Unix time, seconds.
        at: i64,
        /// RFC 5280 reason name.
        reason: String,
        /// Lowercase hex serial number.
        serial: String,
    },
    /// A key was activated, certified again or retired (`"type":"key"`).
    Key {
        /// Unix time, seconds.
        at: i64,
        /// Lowercase hex SHA-256 of the key's certificate DER, or empty for
        /// a key without a certificate (ledger, dedup HMAC).
        cert_sha256: String,
        /// `activated`, `certified` (an additional certificate for an active
        /// key, such as a cross-certificate) or `retired`.
        event: String,
        /// Lowercase hex key ID (SKI).
        key_id: String,
        /// Key purpose (`identity-ca`, `ledger`, ...).
        purpose: String,
    },
    /// One step of the two-person rule for a key rotation
    /// (`"type":"key-request"`): an ops user requested it, or another one
    /// approved it.
    KeyRequest {
        /// Unix time, seconds.
        at: i64,
        /// `requested` or `approved`.
        event: String,
        /// Purpose of the key to rotate (`root`, ...).
        purpose: String,
        /// Lowercase hyphenated UUID that ties the approval to its request.
        request_id: String,
        /// Id of the ops staff account that took this step (at least 1).
        staff_id: i64,
    },
}

const ISSUANCE_KEYS: &[&str] = &[
    "at",
    "cert_sha256",
    "issuer_key_id",
    "kind",
    "serial",
    "type",
];
const REVOCATION_KEYS: &[&str] = &["at", "reason", "serial", "type"];
const KEY_KEYS: &[&str] = &["at", "cert_sha256", "event", "key_id", "purpose", "type"];
const KEY_REQUEST_KEYS: &[&str] = &["at", "event", "purpose", "request_id", "staff_id", "type"];

impl Entry {
    /// The `type` value: `issuance`, `revocation`, `key` or `key-request`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Issuance { .. } => "issuance",
            Self::Revocation { .. } => "revocation",
            Self::Key { .. } => "key",
            Self::KeyRequest { .. } => "key-request",
        }
    }

    /// The entry's time (Unix seconds).
    pub fn at(&self) -> i64 {
        match self {
            Self::Issuance { at, .. }
            | Self::Revocation { at, .. }
            | Self::Key { at, .. }
            | Self::KeyRequest { at, .. } => *at,
        }
    }

    /// The canonical JSON encoding (see the module doc).
    pub fn to_json(&self) -> String {
        let mut w = Writer::default();
        match self {
            Self::Issuance {
                at,
                cert_sha256,
                issuer_key_id,
                kind,
                serial,
            } => {
                w.int("at", *at);
                w.str("cert_sha256", cert_sha256);
                w.str("issuer_key_id", issuer_key_id);
                w.str("kind", kind);
                w.str("serial", serial);
            }
            Self::Revocation { at, reason, serial } => {
                w.int("at", *at);
                w.str("reason", reason);
                w.str("serial", serial);
            }
            Self::Key {
                at,
                cert_sha256,
                event,
                key_id,
                purpose,
            } => {
                w.int("at", *at);
                w.str("cert_sha256", cert_sha256);
                w.str("event", event);
                w.str("key_id", key_id);
                w.str("purpose", purpose);
            }
            Self::KeyRequest {
                at,
                event,
                purpose,
                request_id,
                staff_id,
            } => {
                w.int("at", *at);
                w.str("event", event);
                w.str("purpose", purpose);
                w.str("request_id", request_id);
                w.int("staff_id", *staff_id);
            }
        }
        w.str("type", self.type_name());
        w.finish()
    }

    /// The leaf hash: `SHA-256(0x00 || to_json())`.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(self.to_json().as_bytes())
    }

    /// Checks the field domains (hex fields, kind, event, non-empty
    /// strings, request id and staff id; see the module doc). The
    /// service calls it before logging an entry; [`parse`](Self::parse)
    /// applies it too.
    ///
    /// # Errors
    ///
    /// [`EntryError::InvalidValue`] naming the first bad field.
    pub fn validate(&self) -> Result<(), EntryError> {
        let check = |ok: bool, field: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(EntryError::InvalidValue(field))
            }
        };
        match self {
            Self::Issuance {
                cert_sha256,
                issuer_key_id,
                kind,
                serial,
                ..
            } => {
                check(is_sha256_hex(cert_sha256), "cert_sha256")?;
                check(is_hex(issuer_key_id), "issuer_key_id")?;
                check(matches!(kind.as_str(), "identity" | "license"), "kind")?;
                check(is_hex(serial), "serial")
            }
            Self::Revocation { reason, serial, .. } => {
                check(!reason.is_empty(), "reason")?;
                check(is_hex(serial), "serial")
            }
            Self::Key {
                cert_sha256,
                event,
                key_id,
                purpose,
                ..
            } => {
                check(
                    cert_sha256.is_empty() || is_sha256_hex(cert_sha256),
                    "cert_sha256",
                )?;
                check(
                    matches!(
                        event.as_str(),
                        "activated" | "certified" | "retired" | "destroyed"
                    ),
                    "event",
                )?;
                check(is_hex(key_id), "key_id")?;
                check(!purpose.is_empty(), "purpose")
            }
            Self::KeyRequest {
                event,
                purpose,
                request_id,
                staff_id,
                ..
            } => {
                check(matches!(event.as_str(), "requested" | "approved"), "event")?;
                check(!purpose.is_empty(), "purpose")?;
                check(is_uuid(request_id), "request_id")?;
                // Staff ids are database row ids; 0 and negatives name nobody.
                check(*staff_id >= 1, "staff_id")
            }
        }
    }

    /// Parses an entry, accepting only its canonical encoding: the text is
    /// read as JSON, the entry validated, re-encoded and compared byte for
    /// byte.
    ///
    /// # Errors
    ///
    /// An [`EntryError`]; [`EntryError::NonCanonical`] for a valid entry in
    /// another encoding (white space, key order, escapes, number form).
    pub fn parse(json: &str) -> Result<Self, EntryError> {
        let fields = Parser::new(json).document()?;
        let entry = build(&fields)?;
        entry.validate()?;
        if entry.to_json() != json {
            return Err(EntryError::NonCanonical);
        }
        Ok(entry)
    }
}

fn is_hex(text: &str) -> bool {
    !text.is_empty()
        && text.len().is_multiple_of(2)
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && is_hex(text)
}

/// The lowercase hyphenated UUID form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
/// Version and variant bits are not checked: the id only has to be one
/// spelling of one value, so that a request and its approval match by bytes.
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
        })
}

/// Writes `{"k":v,...}` with canonical strings and integers.
#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn key(&mut self, key: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        push_json_string(&mut self.out, key);
        self.out.push(':');
    }

    fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        self.out.push_str(&value.to_string());
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_json_string(&mut self.out, value);
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

fn push_json_string(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{0}'..='\u{1f}' => {
                let b = c as u32;
                out.push_str("\\u00");
                for nibble in [b >> 4, b & 0xf] {
                    // nibble < 16
                    out.push(char::from(HEX[nibble as usize]));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

enum Value {
    Str(String),
    Int(i64),
}

fn build(fields: &[(String, Value)]) -> Result<Entry, EntryError> {
    let mut seen = BTreeSet::new();
    for (key, _) in fields {
        if !seen.insert(key.as_str()) {
            return Err(EntryError::DuplicateField(key.clone()));
        }
    }
    let get = |name: &'static str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
            .ok_or(EntryError::MissingField(name))
    };
    let string = |name: &'static str| match get(name)? {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(_) => Err(EntryError::WrongType(name)),
    };
    let int = |name: &'static str| match get(name)? {
        Value::Int(i) => Ok(*i),
        Value::Str(_) => Err(EntryError::WrongType(name)),
    };
    let type_name = string("type")?;
    let keys = match type_name.as_str() {
        "issuance" => ISSUANCE_KEYS,
        "revocation" => REVOCATION_KEYS,
        "key" => KEY_KEYS,
        "key-request" => KEY_REQUEST_KEYS,
        _ => return Err(EntryError::UnknownType(type_name)),
    };
    if let Some((key, _)) = fields.iter().find(|(key, _)| !keys.contains(&key.as_str())) {
        return Err(EntryError::UnknownField(key.clone()));
    }
    Ok(match type_name.as_str() {
        "issuance" => Entry::Issuance {
            at: int("at")?,
            cert_sha256: string("cert_sha256")?,
            issuer_key_id: string("issuer_key_id")?,
            kind: string("kind")?,
            serial: string("serial")?,
        },
        "revocation" => Entry::Revocation {
            at: int("at")?,
            reason: string("reason")?,
            serial: string("serial")?,
        },
        "key-request" => Entry::KeyRequest {
            at: int("at")?,
            event: string("event")?,
            purpose: string("purpose")?,
            request_id: string("request_id")?,
            staff_id: int("staff_id")?,
        },
        _ => Entry::Key {
            at: int("at")?,
            cert_sha256: string("cert_sha256")?,
            event: string("event")?,
            key_id: string("key_id")?,
            purpose: string("purpose")?,
        },
    })
}

/// A reader for the flat JSON objects of entries: string keys, string or
/// integer values. It accepts any RFC 8259 spelling of those (white space,
/// escapes) so that the canonical check can name the problem.
struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn error(&self) -> EntryError {
        EntryError::Syntax { offset: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Result<u8, EntryError> {
        let b = self.peek().ok_or_else(|| self.error())?;
        self.pos += 1;
        Ok(b)
    }

    fn eat(&mut self, expected: u8) -> Result<(), EntryError> {
        if self.peek() == Some(expected) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn white_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn document(mut self) -> Result<Vec<(String, Value)>, EntryError> {
        self.white_space();
        self.eat(b'{')?;
        self.white_space();
        let mut fields = Vec::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.white_space();
                let key = self.string()?;
                self.white_space();
                self.eat(b':')?;
                self.white_space();
                let value = match self.peek() {
                    Some(b'"') => Value::Str(self.string()?),
                    Some(b'-' | b'0'..=b'9') => Value::Int(self.integer()?),
                    _ => return Err(self.error()),
                };
                fields.push((key, value));
                self.white_space();
                match self.next()? {
                    b',' => {}
                    b'}' => break,
                    _ => {
                        self.pos -= 1;
                        return Err(self.error());
                    }
                }
            }
        }
        self.white_space();
        if self.pos == self.bytes.len() {
            Ok(fields)
        } else {
            Err(self.error())
        }
    }

    fn integer(&mut self) -> Result<i64, EntryError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        if self.pos == digits || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(self.error());
        }
        std::str::from_utf8(self.bytes.get(start..self.pos).unwrap_or_default())
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or(EntryError::NumberOutOfRange)
    }

    fn hex4(&mut self) -> Result<u32, EntryError> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = char::from(self.next()?)
                .to_digit(16)
                .ok_or_else(|| self.error())?;
            value = value * 16 + digit;
        }
        Ok(value)
    }

    fn string(&mut self) -> Result<String, EntryError> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => match self.next()? {
                    b'"' => out.push(b'"'),
                    b'\\' => out.push(b'\\'),
                    b'/' => out.push(b'/'),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'u' => {
                        let c = self.unicode_escape()?;
                        let mut buf = [0; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => return Err(self.error()),
                },
                0x00..=0x1f => return Err(self.error()),
                b => out.push(b),
            }
        }
        // Only whole UTF-8 sequences of a &str and whole chars were copied.
        String::from_utf8(out).map_err(|_| self.error())
    }

    /// After `\u`: one escape, or a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, EntryError> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                self.eat(b'\\')?;
                self.eat(b'u')?;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(self.error());
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.error()),
            c => c,
        };
        char::from_u32(code).ok_or_else(|| self.error())
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is the assertion")]
mod tests {
    use super::*;

    const CERT: &str = "ab00000000000000000000000000000000000000000000000000000000000001";
    const JSON_ISSUANCE: &str = r#"{"at":1795000000,"cert_sha256":"ab00000000000000000000000000000000000000000000000000000000000001","issuer_key_id":"12ab","kind":"identity","serial":"0f","type":"issuance"}"#;
    const JSON_REVOCATION: &str =
        r#"{"at":1795000001,"reason":"keyCompromise","serial":"0f","type":"revocation"}"#;
    const JSON_KEY: &str = r#"{"at":0,"cert_sha256":"ab00000000000000000000000000000000000000000000000000000000000001","event":"retired","key_id":"beef","purpose":"license-ca","type":"key"}"#;
    const REQUEST_ID: &str = "6f1c2a9e-0b3d-4e5f-8a7b-9c0d1e2f3a4b";
    /// Also in tests/verifier/test_verify_ledger.py: the independent
    /// verifier must accept exactly these bytes.
    const JSON_KEY_REQUEST: &str = r#"{"at":1795000002,"event":"requested","purpose":"root","request_id":"6f1c2a9e-0b3d-4e5f-8a7b-9c0d1e2f3a4b","staff_id":7,"type":"key-request"}"#;

    fn issuance() -> Entry {
        Entry::Issuance {
            at: 1_795_000_000,
            cert_sha256: CERT.into(),
            issuer_key_id: "12ab".into(),
            kind: "identity".into(),
            serial: "0f".into(),
        }
    }

    fn revocation(reason: &str) -> Entry {
        Entry::Revocation {
            at: 1_795_000_001,
            reason: reason.into(),
            serial: "0f".into(),
        }
    }

    fn key_event() -> Entry {
        Entry::Key {
            at: 0,
            cert_sha256: CERT.into(),
            event: "retired".into(),
            key_id: "beef".into(),
            purpose: "license-ca".into(),
        }
    }

    fn key_request(event: &str, staff_id: i64) -> Entry {
        Entry::KeyRequest {
            at: 1_795_000_002,
            event: event.into(),
            purpose: "root".into(),
            request_id: REQUEST_ID.into(),
            staff_id,
        }
    }

    #[test]
    fn exact_encodings() {
        for (entry, json) in [
            (issuance(), JSON_ISSUANCE),
            (revocation("keyCompromise"), JSON_REVOCATION),
            (key_event(), JSON_KEY),
            (key_request("requested", 7), JSON_KEY_REQUEST),
        ] {
            assert_eq!(entry.to_json(), json);
            assert_eq!(Entry::parse(json).unwrap(), entry);
            assert_eq!(entry.leaf_hash(), leaf_hash(json.as_bytes()));
            entry.validate().unwrap();
        }
        let licence = Entry::Issuance {
            at: -1,
            cert_sha256: CERT.into(),
            issuer_key_id: "00".into(),
            kind: "license".into(),
            serial: "7fff".into(),
        };
        let json = licence.to_json();
        assert!(json.starts_with(r#"{"at":-1,"#));
        assert!(json.contains(r#""kind":"license""#));
        assert_eq!(Entry::parse(&json).unwrap(), licence);
        let activated = Entry::Key {
            at: i64::MAX,
            cert_sha256: CERT.into(),
            event: "activated".into(),
            key_id: "01".into(),
            purpose: "ledger".into(),
        };
        assert_eq!(Entry::parse(&activated.to_json()).unwrap(), activated);
        // A key without a certificate (ledger, dedup HMAC).
        let uncertified = Entry::Key {
            at: 1,
            cert_sha256: String::new(),
            event: "activated".into(),
            key_id: "01".into(),
            purpose: "dedup-hmac".into(),
        };
        assert_eq!(
            uncertified.to_json(),
            r#"{"at":1,"cert_sha256":"","event":"activated","key_id":"01","purpose":"dedup-hmac","type":"key"}"#
        );
        assert_eq!(Entry::parse(&uncertified.to_json()).unwrap(), uncertified);
        assert_eq!(activated.at(), i64::MAX);
        assert_eq!(activated.type_name(), "key");
        // A cross-certificate for a key that is already active.
        let certified = Entry::Key {
            at: 2,
            cert_sha256: CERT.into(),
            event: "certified".into(),
            key_id: "01".into(),
            purpose: "root".into(),
        };
        assert_eq!(
            certified.to_json(),
            r#"{"at":2,"cert_sha256":"ab00000000000000000000000000000000000000000000000000000000000001","event":"certified","key_id":"01","purpose":"root","type":"key"}"#
        );
        assert_eq!(Entry::parse(&certified.to_json()).unwrap(), certified);
    }

    #[test]
    fn key_request_round_trip() {
        let approved = key_request("approved", i64::MAX);
        let json = approved.to_json();
        assert_eq!(
            json,
            r#"{"at":1795000002,"event":"approved","purpose":"root","request_id":"6f1c2a9e-0b3d-4e5f-8a7b-9c0d1e2f3a4b","staff_id":9223372036854775807,"type":"key-request"}"#
        );
        assert_eq!(Entry::parse(&json).unwrap(), approved);
        assert_eq!(approved.type_name(), "key-request");
        assert_eq!(approved.at(), 1_795_000_002);
        assert_eq!(approved.leaf_hash(), leaf_hash(json.as_bytes()));
        let first = key_request("requested", 1);
        assert_eq!(Entry::parse(&first.to_json()).unwrap(), first);
        // Every hex digit; dashes only where they go.
        let all_digits = Entry::KeyRequest {
            at: 0,
            event: "requested".into(),
            purpose: "identity-ca".into(),
            request_id: "01234567-89ab-cdef-0123-456789abcdef".into(),
            staff_id: 2,
        };
        assert_eq!(Entry::parse(&all_digits.to_json()).unwrap(), all_digits);
    }

    #[test]
    fn invalid_key_requests_are_refused() {
        let bad = EntryError::InvalidValue;
        let with_id = |id: &str| JSON_KEY_REQUEST.replace(REQUEST_ID, id);
        let with_staff =
            |v: &str| JSON_KEY_REQUEST.replace(r#""staff_id":7"#, &format!(r#""staff_id":{v}"#));
        let cases: Vec<(String, EntryError)> = vec![
            (
                JSON_KEY_REQUEST.replace("requested", "activated"),
                bad("event"),
            ),
            (
                JSON_KEY_REQUEST.replace("requested", "certified"),
                bad("event"),
            ),
            (
                JSON_KEY_REQUEST.replace("requested", "Requested"),
                bad("event"),
            ),
            (JSON_KEY_REQUEST.replace("requested", ""), bad("event")),
            (
                JSON_KEY_REQUEST.replace(r#""root""#, r#""""#),
                bad("purpose"),
            ),
            (with_id(&REQUEST_ID.to_uppercase()), bad("request_id")),
            (
                with_id("6F1C2A9E-0b3d-4e5f-8a7b-9c0d1e2f3a4b"),
                bad("request_id"),
            ),
            (with_id(&REQUEST_ID.replace('-', "")), bad("request_id")),
            (with_id(&format!("{{{REQUEST_ID}}}")), bad("request_id")),
            (
                with_id(&format!("urn:uuid:{REQUEST_ID}")),
                bad("request_id"),
            ),
            // Dashes one place off, still 36 characters.
            (
                with_id("6f1c2a9-e0b3d-4e5f-8a7b-9c0d1e2f3a4b"),
                bad("request_id"),
            ),
            (
                with_id("6f1c2a9e-0b3d-4e5f-8a7b-9c0d1e2f3a4g"),
                bad("request_id"),
            ),
            (
                with_id("6f1c2a9e-0b3d-4e5f-8a7b-9c0d1e2f3a4"),
                bad("request_id"),
            ),
            (with_id(&format!("{REQUEST_ID}0")), bad("request_id")),
            (with_id(""), bad("request_id")),
            (with_staff("0"), bad("staff_id")),
            (with_staff("-7"), bad("staff_id")),
            (with_staff("-9223372036854775808"), bad("staff_id")),
            (with_staff(r#""7""#), EntryError::WrongType("staff_id")),
            (
                with_staff("9223372036854775808"),
                EntryError::NumberOutOfRange,
            ),
            (
                JSON_KEY_REQUEST.replace(&format!(r#""{REQUEST_ID}""#), "1"),
                EntryError::WrongType("request_id"),
            ),
            (
                JSON_KEY_REQUEST.replace(r#""staff_id":7,"#, ""),
                EntryError::MissingField("staff_id"),
            ),
            (
                JSON_KEY_REQUEST.replace(r#""at":1795000002,"#, ""),
                EntryError::MissingField("at"),
            ),
            (
                // A `key` entry's field is not a `key-request` field.
                JSON_KEY_REQUEST.replace(r#""event""#, r#""cert_sha256":"","event""#),
                EntryError::UnknownField("cert_sha256".into()),
            ),
            (
                JSON_KEY_REQUEST.replace(r#""type""#, r#""approver":8,"type""#),
                EntryError::UnknownField("approver".into()),
            ),
            (
                JSON_KEY_REQUEST.replace("key-request", "key_request"),
                EntryError::UnknownType("key_request".into()),
            ),
        ];
        for (json, want) in &cases {
            assert_eq!(Entry::parse(json).as_ref(), Err(want), "{json}");
        }
        for entry in [key_request("requested", 0), key_request("approved", -1)] {
            assert_eq!(entry.validate(), Err(bad("staff_id")));
        }
        // Fractions, exponents and booleans are not integers at all.
        for staff_id in ["7.0", "7e0", "true"] {
            let json = with_staff(staff_id);
            let err = Entry::parse(&json).unwrap_err();
            assert!(matches!(err, EntryError::Syntax { .. }), "{json}: {err:?}");
        }
    }

    #[test]
    fn non_canonical_key_requests_are_refused() {
        let cases = [
            JSON_KEY_REQUEST.replace(":", ": "),
            JSON_KEY_REQUEST.replace(",", ", "),
            format!("{JSON_KEY_REQUEST} "),
            format!("\n{JSON_KEY_REQUEST}"),
            JSON_KEY_REQUEST.replace(r#""staff_id":7"#, r#""staff_id":07"#),
            JSON_KEY_REQUEST.replace(r#""staff_id":7"#, r#""staff_id":7 "#),
            // `type` before `staff_id`.
            r#"{"at":1795000002,"event":"requested","purpose":"root","request_id":"6f1c2a9e-0b3d-4e5f-8a7b-9c0d1e2f3a4b","type":"key-request","staff_id":7}"#
                .into(),
            JSON_KEY_REQUEST.replace("key-request", r"key\u002drequest"),
            JSON_KEY_REQUEST.replace("6f1c2a9e", r"\u0036f1c2a9e"),
        ];
        for json in &cases {
            assert_eq!(Entry::parse(json), Err(EntryError::NonCanonical), "{json}");
        }
    }

    #[test]
    fn string_escaping() {
        let reason = "q\"b\\n\nc\u{1}u\u{1f}d\u{7f}é€😀\u{2028}/<>&'";
        let entry = revocation(reason);
        let json = entry.to_json();
        assert_eq!(
            json,
            "{\"at\":1795000001,\"reason\":\"q\\\"b\\\\n\\u000ac\\u0001u\\u001fd\u{7f}é€😀\u{2028}/<>&'\",\"serial\":\"0f\",\"type\":\"revocation\"}"
        );
        assert_eq!(Entry::parse(&json).unwrap(), entry);
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        let json = revocation(&all_controls).to_json();
        let expected: String = (0..0x20).map(|b| format!("\\u{b:04x}")).collect();
        assert!(json.contains(&expected));
        assert_eq!(Entry::parse(&json).unwrap(), revocation(&all_controls));
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        let nc = Err(EntryError::NonCanonical);
        let spaced = JSON_REVOCATION.replace(":", ": ");
        let cases = [
            spaced,
            format!(" {JSON_REVOCATION}"),
            format!("{JSON_REVOCATION}\n"),
            JSON_REVOCATION.replace(",", " ,"),
            // Unsorted keys.
            r#"{"reason":"keyCompromise","at":1795000001,"serial":"0f","type":"revocation"}"#
                .into(),
            r#"{"at":1795000001,"reason":"keyCompromise","type":"revocation","serial":"0f"}"#
                .into(),
            // Number forms.
            JSON_REVOCATION.replace("1795000001", "01795000001"),
            JSON_KEY.replace(r#""at":0"#, r#""at":-0"#),
            // Escape forms.
            JSON_REVOCATION.replace("keyCompromise", r"key\u0043ompromise"),
            JSON_KEY.replace("license-ca", r"license\/ca"),
            revocation("a\nb").to_json().replace(r"\u000a", r"\n"),
            revocation("a\nb").to_json().replace(r"\u000a", r"\u000A"),
            revocation("😀").to_json().replace("😀", r"\ud83d\ude00"),
        ];
        for json in &cases {
            assert_eq!(Entry::parse(json), nc, "{json}");
        }
        // The same entries, canonically, are fine.
        Entry::parse(&revocation("a\nb").to_json()).unwrap();
        assert_eq!(
            Entry::parse(&revocation("😀").to_json()).unwrap(),
            revocation("😀")
        );
    }

    #[test]
    fn invalid_entries_are_refused() {
        let cases: Vec<(String, EntryError)> = vec![
            (
                JSON_REVOCATION.replace("revocation", "rename"),
                EntryError::UnknownType("rename".into()),
            ),
            (
                r#"{"at":1,"reason":"x","serial":"0f"}"#.into(),
                EntryError::MissingField("type"),
            ),
            (
                r#"{"at":1,"serial":"0f","type":"revocation"}"#.into(),
                EntryError::MissingField("reason"),
            ),
            (
                r#"{"at":1,"extra":"x","reason":"x","serial":"0f","type":"revocation"}"#.into(),
                EntryError::UnknownField("extra".into()),
            ),
            (
                r#"{"at":1,"reason":"x","reason":"y","serial":"0f","type":"revocation"}"#.into(),
                EntryError::DuplicateField("reason".into()),
            ),
            (
                r#"{"at":"1","reason":"x","serial":"0f","type":"revocation"}"#.into(),
                EntryError::WrongType("at"),
            ),
            (
                r#"{"at":1,"reason":"x","serial":15,"type":"revocation"}"#.into(),
                EntryError::WrongType("serial"),
            ),
            (
                r#"{"at":1,"reason":"x","serial":"0f","type":7}"#.into(),
                EntryError::WrongType("type"),
            ),
            (
                JSON_ISSUANCE.replace("identity", "licence"),
                EntryError::InvalidValue("kind"),
            ),
            (
                JSON_KEY.replace("retired", "revoked"),
                EntryError::InvalidValue("event"),
            ),
            (
                // A key-request event is not a key event.
                JSON_KEY.replace("retired", "approved"),
                EntryError::InvalidValue("event"),
            ),
            (
                JSON_ISSUANCE.replace("\"0f\"", "\"0F\""),
                EntryError::InvalidValue("serial"),
            ),
            (
                JSON_ISSUANCE.replace("\"0f\"", "\"f\""),
                EntryError::InvalidValue("serial"),
            ),
            (
                JSON_ISSUANCE.replace("\"12ab\"", "\"\""),
                EntryError::InvalidValue("issuer_key_id"),
            ),
            (
                JSON_ISSUANCE.replace("ab00", "ab"),
                EntryError::InvalidValue("cert_sha256"),
            ),
            (
                JSON_KEY.replace("ab00", "AB00"),
                EntryError::InvalidValue("cert_sha256"),
            ),
            (
                JSON_KEY.replace("license-ca", ""),
                EntryError::InvalidValue("purpose"),
            ),
            (
                JSON_REVOCATION.replace("keyCompromise", ""),
                EntryError::InvalidValue("reason"),
            ),
            (
                JSON_KEY.replace(r#""at":0"#, r#""at":9223372036854775808"#),
                EntryError::NumberOutOfRange,
            ),
        ];
        for (json, want) in &cases {
            assert_eq!(Entry::parse(json).as_ref(), Err(want), "{json}");
        }
        for json in [
            "",
            "[]",
            "{",
            "{}",
            r#"{"at":1.5,"reason":"x","serial":"0f","type":"revocation"}"#,
            r#"{"at":1e3,"reason":"x","serial":"0f","type":"revocation"}"#,
            r#"{"at":+1,"reason":"x","serial":"0f","type":"revocation"}"#,
            r#"{"at":-,"reason":"x","serial":"0f","type":"revocation"}"#,
            r#"{"at":true,"reason":"x","serial":"0f","type":"revocation"}"#,
            r#"{"at":1,"reason":{"a":1},"serial":"0f","type":"revocation"}"#,
            r#"{"at":1,"reason":"x","serial":"0f","type":"revocation",}"#,
            r#"{"at":1,"reason":"x","serial":"0f","type":"revocation"}x"#,
            r#"{"at":1,"reason":"x","serial":"0f","type":"revocation"}{}"#,
            "{\"at\":1,\"reason\":\"a\nb\",\"serial\":\"0f\",\"type\":\"revocation\"}",
            r#"{"at":1,"reason":"\x","serial":"0f","type":"revocation"}"#,
            r#"{"at":1,"reason":"\ud800","serial":"0f","type":"revocation"}"#,
            r#"{"at":1,"reason":"\udc00","serial":"0f","type":"revocation"}"#,
            r#"{"at":1,"reason":"\u12","serial":"0f","type":"revocation"}"#,
            r#"{"at":1,"reason":"x,"serial":"0f","type":"revocation"}"#,
        ] {
            let err = Entry::parse(json).unwrap_err();
            assert!(
                matches!(
                    err,
                    EntryError::Syntax { .. } | EntryError::MissingField("type")
                ),
                "{json}: {err:?}"
            );
        }
    }
}
