//! The catalog of licence types and one-visit services (`certs/catalog.toml`).
//!
//! Parsed and checked in one step: a [`Catalog`] only exists if every entry
//! is valid, so callers never re-check ids, prefixes or references. No I/O:
//! the caller reads the file (path from `WALLET_CATALOG`) and passes the text.
//! The text is trusted as configuration (an operator wrote it) but not for
//! its form: unknown keys and every broken rule are errors naming the entry.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// The requirement id that stands for the holder's identity certificate in
/// a service's `requires`; it can never be a licence type id.
pub const IDENTITY: &str = "identity";

/// A licence type: who issues it, what it says, how long it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceType {
    /// Catalog key, `[a-z0-9-]+`; written into `LicenceInfo.licenceType`.
    pub id: String,
    /// Human-readable name.
    pub title: String,
    /// The department whose officers issue this type.
    pub department: String,
    /// Attribute names every licence of this type carries, `[a-z0-9_]+`,
    /// unique, in catalog order.
    pub required_attributes: Vec<String>,
    /// Default validity in days (`1..=max_validity_days`).
    pub validity_days: u32,
    /// Longest validity an officer may ask for, in days.
    pub max_validity_days: u32,
    /// Licence number prefix, `[A-Z]{2,5}`, unique among types.
    pub number_prefix: String,
}

/// A one-visit service: what a counter needs to see to serve a citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneVisitService {
    /// Catalog key, `[a-z0-9-]+`.
    pub id: String,
    /// Human-readable name.
    pub title: String,
    /// [`IDENTITY`] and/or licence type ids, non-empty, no repeats, in
    /// catalog order.
    pub requires: Vec<String>,
}

/// `certs/catalog.toml` as built into the binary, for a service started
/// without the file at hand.
pub const BUILT_IN: &str = include_str!("../catalog.toml");

/// A checked catalog. Iteration is in id order.
#[derive(Debug, Clone)]
pub struct Catalog {
    licence_types: BTreeMap<String, LicenceType>,
    services: BTreeMap<String, OneVisitService>,
}

/// Why a catalog was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// Not TOML, or not the catalog's shape (missing or unknown keys, wrong
    /// types); the TOML error says where.
    #[error("catalog is not valid: {0}")]
    Parse(#[from] toml::de::Error),

    /// One entry breaks a rule.
    #[error("catalog entry `{entry}`: {problem}")]
    Invalid {
        /// The entry, e.g. `license_types.business` or
        /// `services.hotel-opening`.
        entry: String,
        /// What is wrong with it.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    license_types: BTreeMap<String, RawLicenceType>,
    services: BTreeMap<String, RawService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicenceType {
    title: String,
    department: String,
    required_attributes: Vec<String>,
    validity_days: u32,
    max_validity_days: u32,
    number_prefix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    title: String,
    requires: Vec<String>,
}

impl Catalog {
    /// Parses and checks a catalog.
    ///
    /// Rules: licence type and service ids are non-empty `[a-z0-9-]`, and no
    /// licence type is called [`IDENTITY`]; titles and departments are
    /// non-empty without surrounding white space; required attributes are a
    /// non-empty list of unique `[a-z0-9_]+` names; `1 <= validity_days <=
    /// max_validity_days`; number prefixes are `[A-Z]{2,5}` and unique; a
    /// service requires a non-empty list, without repeats, of [`IDENTITY`]
    /// and known licence type ids.
    ///
    /// # Errors
    /// [`CatalogError::Parse`] for bad TOML, unknown or missing keys;
    /// [`CatalogError::Invalid`] naming the first entry that breaks a rule.
    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog = toml::from_str(text)?;

        let mut licence_types = BTreeMap::new();
        let mut prefixes: BTreeMap<String, String> = BTreeMap::new();
        for (id, raw) in raw.license_types {
            let licence_type = check_licence_type(id, raw)?;
            if let Some(other) =
                prefixes.insert(licence_type.number_prefix.clone(), licence_type.id.clone())
            {
                return Err(invalid(
                    &format!("license_types.{}", licence_type.id),
                    format!(
                        "number_prefix {:?} is already used by `license_types.{other}`",
                        licence_type.number_prefix
                    ),
                ));
            }
            licence_types.insert(licence_type.id.clone(), licence_type);
        }

        let mut services = BTreeMap::new();
        for (id, raw) in raw.services {
            let service = check_service(id, raw, &licence_types)?;
            services.insert(service.id.clone(), service);
        }

        Ok(Catalog {
            licence_types,
            services,
        })
    }

    /// The licence type with this id.
    #[must_use]
    pub fn licence_type(&self, id: &str) -> Option<&LicenceType> {
        self.licence_types.get(id)
    }

    /// The one-visit service with this id.
    #[must_use]
    pub fn service(&self, id: &str) -> Option<&OneVisitService> {
        self.services.get(id)
    }

    /// All licence types, in id order.
    pub fn licence_types(&self) -> impl Iterator<Item = &LicenceType> {
        self.licence_types.values()
    }

    /// All one-visit services, in id order.
    pub fn services(&self) -> impl Iterator<Item = &OneVisitService> {
        self.services.values()
    }
}

fn invalid(entry: &str, problem: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        entry: entry.to_owned(),
        problem: problem.into(),
    }
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_text(entry: &str, field: &str, value: &str) -> Result<(), CatalogError> {
    if value.trim().is_empty() {
        return Err(invalid(entry, format!("{field} is empty")));
    }
    if value.trim() != value {
        return Err(invalid(
            entry,
            format!("{field} has leading or trailing white space"),
        ));
    }
    Ok(())
}

fn check_licence_type(id: String, raw: RawLicenceType) -> Result<LicenceType, CatalogError> {
    let entry = format!("license_types.{id}");
    if !is_id(&id) {
        return Err(invalid(&entry, "id must be non-empty [a-z0-9-]"));
    }
    if id == IDENTITY {
        return Err(invalid(
            &entry,
            format!("`{IDENTITY}` is reserved for the identity certificate"),
        ));
    }
    check_text(&entry, "title", &raw.title)?;
    check_text(&entry, "department", &raw.department)?;

    if raw.required_attributes.is_empty() {
        return Err(invalid(&entry, "required_attributes is empty"));
    }
    let mut seen = BTreeSet::new();
    for name in &raw.required_attributes {
        if !is_attribute_name(name) {
            return Err(invalid(
                &entry,
                format!("attribute {name:?} must be non-empty [a-z0-9_]"),
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(invalid(
                &entry,
                format!("attribute {name:?} is listed twice"),
            ));
        }
    }

    if raw.validity_days == 0 || raw.validity_days > raw.max_validity_days {
        return Err(invalid(
            &entry,
            format!(
                "validity_days {} must be between 1 and max_validity_days {}",
                raw.validity_days, raw.max_validity_days
            ),
        ));
    }

    let prefix_ok = (2..=5).contains(&raw.number_prefix.len())
        && raw.number_prefix.bytes().all(|b| b.is_ascii_uppercase());
    if !prefix_ok {
        return Err(invalid(
            &entry,
            format!("number_prefix {:?} must be [A-Z]{{2,5}}", raw.number_prefix),
        ));
    }

    Ok(LicenceType {
        id,
        title: raw.title,
        department: raw.department,
        required_attributes: raw.required_attributes,
        validity_days: raw.validity_days,
        max_validity_days: raw.max_validity_days,
        number_prefix: raw.number_prefix,
    })
}

fn check_service(
    id: String,
    raw: RawService,
    licence_types: &BTreeMap<String, LicenceType>,
) -> Result<OneVisitService, CatalogError> {
    let entry = format!("services.{id}");
    if !is_id(&id) {
        return Err(invalid(&entry, "id must be non-empty [a-z0-9-]"));
    }
    check_text(&entry, "title", &raw.title)?;
    if raw.requires.is_empty() {
        return Err(invalid(&entry, "requires is empty"));
    }
    let mut seen = BTreeSet::new();
    for requirement in &raw.requires {
        if requirement != IDENTITY && !licence_types.contains_key(requirement) {
            return Err(invalid(
                &entry,
                format!(
                    "requires {requirement:?}, which is neither `{IDENTITY}` nor a licence type"
                ),
            ));
        }
        if !seen.insert(requirement.as_str()) {
            return Err(invalid(&entry, format!("requires {requirement:?} twice")));
        }
    }
    Ok(OneVisitService {
        id,
        title: raw.title,
        requires: raw.requires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const REAL: &str = BUILT_IN;

    #[test]
    fn real_catalog_matches_the_design() -> TestResult {
        let catalog = Catalog::from_toml(REAL)?;

        let ids: Vec<_> = catalog.licence_types().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["business", "food-service", "sanitation"]);
        let expect = [
            (
                "business",
                "market-regulation",
                &["company_name", "unified_social_credit_code", "scope"][..],
                1826,
                3652,
                "BUS",
            ),
            (
                "sanitation",
                "health",
                &["premises", "inspector"][..],
                365,
                730,
                "SAN",
            ),
            (
                "food-service",
                "market-regulation",
                &["premises", "category"][..],
                1095,
                1826,
                "FSV",
            ),
        ];
        for (id, department, attributes, days, max_days, prefix) in expect {
            let t = catalog.licence_type(id).ok_or(id)?;
            assert_eq!(t.id, id);
            assert!(!t.title.is_empty());
            assert_eq!(t.department, department);
            assert_eq!(t.required_attributes, attributes);
            assert_eq!((t.validity_days, t.max_validity_days), (days, max_days));
            assert_eq!(t.number_prefix, prefix);
        }

        let services: Vec<_> = catalog.services().map(|s| s.id.as_str()).collect();
        assert_eq!(services, ["hotel-opening", "restaurant-opening"]);
        let hotel = catalog.service("hotel-opening").ok_or("hotel-opening")?;
        assert_eq!(hotel.requires, ["identity", "business", "sanitation"]);
        let restaurant = catalog
            .service("restaurant-opening")
            .ok_or("restaurant-opening")?;
        assert_eq!(
            restaurant.requires,
            ["identity", "business", "food-service"]
        );

        assert!(catalog.licence_type(IDENTITY).is_none());
        assert!(catalog.service("business").is_none());
        Ok(())
    }

    /// The real catalog with one line replaced.
    fn with(old: &str, new: &str) -> Result<String, String> {
        if REAL.contains(old) {
            Ok(REAL.replacen(old, new, 1))
        } else {
            Err(format!("{old:?} not in catalog.toml"))
        }
    }

    fn expect_invalid(text: &str, entry: &str, needle: &str) -> TestResult {
        match Catalog::from_toml(text) {
            Err(CatalogError::Invalid { entry: e, problem }) if e == entry => {
                assert!(problem.contains(needle), "{problem:?} lacks {needle:?}");
                Ok(())
            }
            other => Err(format!("expected {entry} to be invalid, got {other:?}").into()),
        }
    }

    #[test]
    fn each_rule_names_the_entry() -> TestResult {
        let business = "license_types.business";
        expect_invalid(
            &with("[license_types.sanitation]", "[license_types.Sanitation]")?,
            "license_types.Sanitation",
            "[a-z0-9-]",
        )?;
        expect_invalid(
            &with("[license_types.sanitation]", "[license_types.identity]")?,
            "license_types.identity",
            "reserved",
        )?;
        expect_invalid(
            &with("department = \"market-regulation\"", "department = \" \"")?,
            business,
            "department is empty",
        )?;
        expect_invalid(
            &with("title = \"Business licence\"", "title = \"\"")?,
            business,
            "title is empty",
        )?;
        expect_invalid(
            &with(
                "required_attributes = [\"company_name\", \"unified_social_credit_code\", \"scope\"]",
                "required_attributes = []",
            )?,
            business,
            "required_attributes is empty",
        )?;
        expect_invalid(
            &with("\"unified_social_credit_code\"", "\"company_name\"")?,
            business,
            "twice",
        )?;
        expect_invalid(
            &with("\"unified_social_credit_code\"", "\"Credit-Code\"")?,
            business,
            "[a-z0-9_]",
        )?;
        expect_invalid(
            &with("validity_days = 1826", "validity_days = 0")?,
            business,
            "between 1 and",
        )?;
        expect_invalid(
            &with("validity_days = 1826", "validity_days = 3653")?,
            business,
            "between 1 and",
        )?;
        expect_invalid(
            &with("number_prefix = \"BUS\"", "number_prefix = \"B\"")?,
            business,
            "[A-Z]{2,5}",
        )?;
        expect_invalid(
            &with("number_prefix = \"BUS\"", "number_prefix = \"BUSINE\"")?,
            business,
            "[A-Z]{2,5}",
        )?;
        expect_invalid(
            &with("number_prefix = \"BUS\"", "number_prefix = \"bus\"")?,
            business,
            "[A-Z]{2,5}",
        )?;
        // Types are checked in id order: food-service comes after business.
        expect_invalid(
            &with("number_prefix = \"FSV\"", "number_prefix = \"BUS\"")?,
            "license_types.food-service",
            "already used by `license_types.business`",
        )?;
        Ok(())
    }

    #[test]
    fn service_rules_name_the_service() -> TestResult {
        let hotel = "services.hotel-opening";
        expect_invalid(
            &with("[services.hotel-opening]", "[services.hotel_opening]")?,
            "services.hotel_opening",
            "[a-z0-9-]",
        )?;
        expect_invalid(
            &with(
                "requires = [\"identity\", \"business\", \"sanitation\"]",
                "requires = []",
            )?,
            hotel,
            "requires is empty",
        )?;
        expect_invalid(
            &with(
                "requires = [\"identity\", \"business\", \"sanitation\"]",
                "requires = [\"identity\", \"casino\"]",
            )?,
            hotel,
            "\"casino\"",
        )?;
        expect_invalid(
            &with(
                "requires = [\"identity\", \"business\", \"sanitation\"]",
                "requires = [\"identity\", \"business\", \"identity\"]",
            )?,
            hotel,
            "twice",
        )?;
        expect_invalid(
            &with("title = \"Open a hotel\"", "title = \" Open a hotel\"")?,
            hotel,
            "white space",
        )?;
        Ok(())
    }

    #[test]
    fn unknown_or_missing_keys_are_parse_errors() -> TestResult {
        for text in [
            with(
                "number_prefix = \"BUS\"",
                "number_prefix = \"BUS\"\ncolour = \"red\"",
            )?,
            with("[license_types.business]", "[licence_types.business]")?,
            with("validity_days = 1826\n", "")?,
            with("validity_days = 1826", "validity_days = -1")?,
            with("validity_days = 1826", "validity_days = \"1826\"")?,
            "[services]\n".to_owned(),
            "not toml at all [".to_owned(),
        ] {
            let result = Catalog::from_toml(&text);
            assert!(matches!(result, Err(CatalogError::Parse(_))), "{result:?}");
        }
        // Empty sections are allowed: a catalog may list no services.
        let catalog = Catalog::from_toml("[license_types]\n[services]\n")?;
        assert_eq!(catalog.licence_types().count(), 0);
        Ok(())
    }
}
