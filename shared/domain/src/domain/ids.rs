//! Validated identifiers. Every value that crosses a boundary (HTTP, queue, vendor, store key)
//! is parsed into one of these, so the rest of the code never re-validates and no key can be
//! built from an unchecked string (store keys embed these values between `#` separators).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ValidationError;

fn check_token(
    field: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        return Err(ValidationError::new(
            field,
            format!("contains a character that is not allowed: {c:?}"),
        ));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:expr, $allowed:expr) => {
        string_id!($(#[$meta])* $name, $field, $max, $allowed, |_: &'static str, _: &str| Ok(()));
    };
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:expr, $allowed:expr, $check:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
                let value = value.into();
                let trimmed = value.trim();
                check_token($field, trimmed, $max, $allowed)?;
                let check: fn(&'static str, &str) -> Result<(), ValidationError> = $check;
                check($field, trimmed)?;
                Ok(Self(trimmed.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

fn slug_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Printable, no separators used in store keys (`#`), no whitespace or control characters.
fn printable_char(c: char) -> bool {
    (c.is_ascii_graphic() && c != '#') || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
}

/// Characters a URL gives a meaning to (path separators, query and fragment delimiters,
/// percent-escapes, form encoding) or that need quoting in one.
const URL_SIGNIFICANT: &str = "/\\?#%&=+;\"'<>`{}|^[]";

/// What vendor ids and confirmation numbers may hold: they end up in vendor URLs (as a path
/// segment, a query value), so nothing a URL gives a meaning to is accepted.
fn external_char(c: char) -> bool {
    printable_char(c) && !URL_SIGNIFICANT.contains(c)
}

/// A value that would be a path step (`.`, `..`) if used as a segment.
fn refuse_dot_segments(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.chars().all(|c| c == '.') {
        return Err(ValidationError::new(field, "must not be `.` or `..`"));
    }
    Ok(())
}

string_id!(
    /// Our id for a hotel (tenant). Lower/upper ASCII letters, digits, `-` and `_`, at most 64.
    HotelId,
    "hotelId",
    64,
    slug_char
);

string_id!(
    /// A vendor's identifier for an entity (Mews GUID, OHIP id, Cloudbeds numeric id). Never a
    /// path step (`.`, `..`) nor anything a URL gives a meaning to (`/ ? % & = + ;`...).
    ExternalId,
    "externalId",
    128,
    external_char,
    refuse_dot_segments
);

string_id!(
    /// The confirmation number a guest quotes (OHIP `Confirmation`, Mews `Number`, Cloudbeds id).
    /// Same characters as [`ExternalId`].
    ConfirmationNumber,
    "confirmationNumber",
    64,
    external_char,
    refuse_dot_segments
);

string_id!(
    /// A room's number or name as the property labels it ("101", "A-12", "Suite 1": Mews
    /// resource names may hold spaces).
    RoomNumber,
    "roomNumber",
    32,
    |c: char| printable_char(c) || c == ' '
);

string_id!(
    /// A room type code (OHIP room type, Mews resource category, Cloudbeds room type name).
    RoomTypeCode,
    "roomType",
    64,
    |c: char| printable_char(c) || c == ' '
);

/// The source system of a record: the PMS a hotel runs, named by its vendor crate (each
/// declares its own `PROVIDER`, so adding a vendor changes nothing here), or
/// [`Provider::PARTNER`] for records partner systems push through REST ingestion, which is a
/// record source only, never a hotel's PMS.
///
/// A short lowercase name held inline, so it stays `Copy` and allocation-free in keys and ids.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Provider {
    len: u8,
    name: [u8; Provider::MAX_LEN],
}

impl Provider {
    /// Longest provider name.
    pub const MAX_LEN: usize = 15;

    /// Records partners push through REST ingestion.
    pub const PARTNER: Provider = Provider::named("partner");

    /// A provider from a name written in the code (a vendor crate's `PROVIDER`); an invalid
    /// name fails the build when used in a `const`.
    pub const fn named(name: &'static str) -> Provider {
        match Self::from_bytes(name.as_bytes()) {
            Some(p) => p,
            None => panic!("a provider name is 2 to 15 of a-z, 0-9 and _, starting with a letter"),
        }
    }

    const fn from_bytes(b: &[u8]) -> Option<Provider> {
        if b.len() < 2 || b.len() > Self::MAX_LEN || !b[0].is_ascii_lowercase() {
            return None;
        }
        let mut name = [0u8; Self::MAX_LEN];
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
                return None;
            }
            name[i] = c;
            i += 1;
        }
        Some(Provider {
            len: b.len() as u8,
            name,
        })
    }

    /// Parses a provider name (case-insensitive). Whether a vendor of that name is available
    /// is the vendor registry's question, not this type's.
    pub fn parse(s: &str) -> Result<Provider, ValidationError> {
        let lower = s.trim().to_ascii_lowercase();
        Self::from_bytes(lower.as_bytes()).ok_or_else(|| {
            ValidationError::new(
                "provider",
                format!(
                    "{:?} is not a provider name (2 to 15 of a-z, 0-9 and _)",
                    s.chars().take(40).collect::<String>()
                ),
            )
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `from_bytes`).
        std::str::from_utf8(&self.name[..self.len as usize]).unwrap_or_default()
    }

    /// Whether a hotel can run this provider as its PMS.
    pub fn is_pms(self) -> bool {
        self != Provider::PARTNER
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bare name, as the enum it replaced printed a bare variant (logs and test labels).
impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Provider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Provider::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Our id of a canonical record: `{provider}:{external id}`, stable across syncs and webhooks.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordId {
    provider: Provider,
    external: ExternalId,
}

impl RecordId {
    pub fn new(provider: Provider, external: ExternalId) -> Self {
        Self { provider, external }
    }
    pub fn provider(&self) -> Provider {
        self.provider
    }
    pub fn external(&self) -> &ExternalId {
        &self.external
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.external)
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

impl FromStr for RecordId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (provider, external) = s
            .split_once(':')
            .ok_or_else(|| ValidationError::new("id", "expected `provider:externalId`"))?;
        Ok(Self::new(provider.parse()?, ExternalId::parse(external)?))
    }
}

impl TryFrom<String> for RecordId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<RecordId> for String {
    fn from(value: RecordId) -> String {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotel_id_rejects_separators_and_blanks() {
        assert!(HotelId::parse("grand-plaza_01").is_ok());
        assert!(HotelId::parse("").is_err());
        assert!(HotelId::parse("a#b").is_err());
        assert!(HotelId::parse("a b").is_err());
        assert!(HotelId::parse("x".repeat(65)).is_err());
        assert_eq!(HotelId::parse("  h1 ").unwrap().as_str(), "h1");
    }

    #[test]
    fn external_ids_allow_guids_and_reject_hash() {
        assert!(ExternalId::parse("bfee2c44-1f84-4326-a862-5289598f6e2d").is_ok());
        assert!(ExternalId::parse("601917-0").is_ok());
        assert!(ExternalId::parse("a#b").is_err());
    }

    #[test]
    fn path_traversal_and_url_significant_ids_are_refused() {
        for bad in [
            "..",
            ".",
            "...",
            "../profiles",
            "a/b",
            "a\\b",
            "a?b=1",
            "a%2e%2e",
            "a&b",
            "a+b",
            "a;b",
            "a b",
            "x\"y",
            "<a>",
        ] {
            let e = ExternalId::parse(bad).unwrap_err();
            assert_eq!(e.field, "externalId", "{bad}");
            assert!(ConfirmationNumber::parse(bad).is_err(), "{bad}");
            assert!(format!("opera:{bad}").parse::<RecordId>().is_err(), "{bad}");
        }
        // Dots, colons and dashes inside an id are fine (ingested ids are `partner:id`).
        for good in ["a.b", "v1.2..3", "crm:42", "C-1_2", "żluć"] {
            assert!(ExternalId::parse(good).is_ok(), "{good}");
        }
        assert!("mews:..".parse::<RecordId>().is_err());
    }

    #[test]
    fn provider_names_are_short_lowercase_tokens() {
        assert_eq!("MEWS".parse::<Provider>().unwrap(), Provider::named("mews"));
        assert_eq!(Provider::named("apaleo").to_string(), "apaleo");
        for bad in ["", "x", "9lives", "me ws", "mews:1", "a_name_far_too_long"] {
            assert_eq!(
                bad.parse::<Provider>().unwrap_err().field,
                "provider",
                "{bad}"
            );
        }
        let json = serde_json::to_string(&Provider::PARTNER).unwrap();
        assert_eq!(json, "\"partner\"");
        assert_eq!(
            serde_json::from_str::<Provider>(&json).unwrap(),
            Provider::PARTNER
        );
        assert!(!Provider::PARTNER.is_pms());
    }

    #[test]
    fn record_id_round_trips() {
        let id: RecordId = "mews:abc-1".parse().unwrap();
        assert_eq!(id.provider(), Provider::named("mews"));
        assert_eq!(id.to_string(), "mews:abc-1");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"mews:abc-1\"");
    }
}
