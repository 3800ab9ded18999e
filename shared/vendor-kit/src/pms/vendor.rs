//! A vendor as a process registers it: what the rest of the system needs to know about a PMS,
//! declared by the vendor's own crate (`pub fn vendor() -> Vendor`) so that adding one changes
//! no other crate. The list a build serves is `pms-vendors`'.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::registry::CredentialPairs;
use pms_domain::config::{HotelConfig, RateLimitSettings};
use pms_domain::domain::{Currency, HotelId, PropertyTz, Provider, ValidationError};
use pms_domain::pms::{PmsAdapter, PmsResult};
use pms_domain::ports::{CachedSecrets, Clock, ItemStore};

/// What vendor adapters are built with./// What vendor adapters are built with.
#[derive(Clone)]
pub struct AdapterDeps {
    pub clock: Arc<dyn Clock>,
    /// The shared table, for state that must hold across Lambda instances (rate limits).
    pub store: Option<Arc<dyn ItemStore>>,
    pub http: reqwest::Client,
    pub secrets: Arc<CachedSecrets>,
    pub credentials_secret: String,
    /// Replaces the hotel's retry policy (the writer retries through the queue instead).
    pub retry_override: Option<pms_domain::pms::RetryPolicy>,
    /// Which share of the hotel's rate-limit budget the adapters draw from.
    pub priority: super::ratelimit::Priority,
    /// What the sync stored, for list reads that skip lookups of unchanged records.
    pub stored: Option<Arc<dyn super::known::StoredReservations>>,
}

impl AdapterDeps {
    /// The policy vendor calls run under: the override, else the hotel's configured one.
    pub fn retry_policy(&self, config: &HotelConfig) -> pms_domain::pms::RetryPolicy {
        self.retry_override
            .clone()
            .unwrap_or_else(|| config.retry.clone().into())
    }
}

/// Builds a hotel's adapter from its configuration and its stored credentials secret (the
/// vendor parses its own shape).
pub type VendorBuilder = Arc<
    dyn Fn(&HotelConfig, &SecretString, &AdapterDeps) -> PmsResult<Arc<dyn PmsAdapter>>
        + Send
        + Sync,
>;

/// Builds an adapter that needs no stored credentials (the mock PMS of the local demo hotel).
pub type CredentialFreeBuilder =
    Arc<dyn Fn(&HotelConfig, &AdapterDeps) -> PmsResult<Arc<dyn PmsAdapter>> + Send + Sync>;

/// A vendor's credential schema: how the CLI's `key=value` pairs become the stored secret,
/// and how a stored secret is checked.
#[derive(Clone, Copy)]
pub struct CredentialSchema {
    /// Every key the vendor accepts (for help and to refuse typos).
    pub keys: &'static [&'static str],
    /// The secret to store, from the given pairs; names the first missing or unknown key.
    pub from_pairs: fn(&CredentialPairs<'_>) -> Result<SecretString, ValidationError>,
    /// Whether a stored secret has this vendor's shape.
    pub check: fn(&SecretString) -> Result<(), ValidationError>,
}

#[derive(Clone)]
pub(crate) enum Build {
    WithCredentials(CredentialSchema, VendorBuilder),
    WithoutCredentials(CredentialFreeBuilder),
}

/// One PMS vendor: its name, the settings a hotel of it needs, its published rate limit, its
/// credential schema and how its adapter is built.
#[derive(Clone)]
pub struct Vendor {
    provider: Provider,
    aliases: &'static [&'static str],
    rate_limit: Option<RateLimitSettings>,
    needs_base_url: bool,
    needs_property_id: bool,
    pub(crate) build: Build,
}

impl Vendor {
    /// A vendor whose hotels store credentials in their secret. Its hotels need a base URL and
    /// a property id unless said otherwise.
    pub fn new(provider: Provider, credentials: CredentialSchema, builder: VendorBuilder) -> Self {
        Self {
            provider,
            aliases: &[],
            rate_limit: None,
            needs_base_url: true,
            needs_property_id: true,
            build: Build::WithCredentials(credentials, builder),
        }
    }

    /// A vendor whose adapter is built from the hotel's configuration alone (no base URL, no
    /// property id needed).
    pub fn without_credentials(provider: Provider, builder: CredentialFreeBuilder) -> Self {
        Self {
            provider,
            aliases: &[],
            rate_limit: None,
            needs_base_url: false,
            needs_property_id: false,
            build: Build::WithoutCredentials(builder),
        }
    }

    /// Other names people use for it (`ohip` for OPERA Cloud), accepted by the CLI.
    pub fn with_aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// The vendor's published rate limit, which new hotels start with.
    pub fn with_rate_limit(mut self, requests: u32, per_seconds: u32) -> Self {
        self.rate_limit = Some(RateLimitSettings {
            requests,
            per_seconds,
        });
        self
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Whether `name` (any case) is this vendor's name or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        let name = name.trim();
        self.provider.as_str().eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    pub fn default_rate_limit(&self) -> Option<RateLimitSettings> {
        self.rate_limit.clone()
    }

    pub fn needs_credentials(&self) -> bool {
        matches!(self.build, Build::WithCredentials(..))
    }

    /// The credential keys the vendor accepts (empty when it needs none).
    pub fn credential_keys(&self) -> &'static [&'static str] {
        match &self.build {
            Build::WithCredentials(schema, _) => schema.keys,
            Build::WithoutCredentials(_) => &[],
        }
    }

    /// The secret to store for a hotel of this vendor, from `key=value` pairs (`None` for a
    /// vendor that needs no credentials).
    pub fn credentials_from_pairs(
        &self,
        pairs: &[(String, SecretString)],
    ) -> Result<Option<SecretString>, ValidationError> {
        // A stored secret used as a credentials file names its vendor: that is fine when it is
        // this one.
        let mut given: Vec<(String, SecretString)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            if k == "provider" {
                use secrecy::ExposeSecret as _;
                if !self.answers_to(v.expose_secret()) {
                    return Err(ValidationError::new(
                        "provider",
                        format!(
                            "the credentials are for another vendor than {}",
                            self.provider
                        ),
                    ));
                }
                continue;
            }
            given.push((k.clone(), v.clone()));
        }
        let pairs = given.as_slice();
        match &self.build {
            Build::WithCredentials(schema, _) => {
                let pairs = CredentialPairs::new(self.provider, pairs);
                pairs.only(schema.keys)?;
                (schema.from_pairs)(&pairs).map(Some)
            }
            Build::WithoutCredentials(_) if pairs.is_empty() => Ok(None),
            Build::WithoutCredentials(_) => Err(ValidationError::new(
                "credentials",
                format!("a {} hotel takes no credentials", self.provider),
            )),
        }
    }

    /// Whether a stored secret is this vendor's credentials.
    pub fn check_credentials(&self, secret: &SecretString) -> Result<(), ValidationError> {
        match &self.build {
            Build::WithCredentials(schema, _) => (schema.check)(secret),
            Build::WithoutCredentials(_) => Ok(()),
        }
    }

    /// A new hotel of this vendor, with its published rate limit.
    pub fn new_config(
        &self,
        hotel: HotelId,
        name: impl Into<String>,
        time_zone: PropertyTz,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> HotelConfig {
        let mut config = HotelConfig::new(hotel, name, self.provider, time_zone, currency, now);
        config.rate_limit = self.default_rate_limit();
        config
    }

    /// The configuration's own rules and this vendor's: what its hotels must say.
    pub fn check_config(&self, config: &HotelConfig) -> Result<(), ValidationError> {
        config.validate()?;
        if config.provider != self.provider {
            return Err(ValidationError::new(
                "provider",
                format!("{} is configured for {}", config.hotel_id, config.provider),
            ));
        }
        if self.needs_base_url && config.vendor.base_url.is_none() {
            return Err(ValidationError::new(
                "baseUrl",
                format!("a {} hotel needs the vendor's base URL", self.provider),
            ));
        }
        // Its id scopes every request, so a portfolio token can never read another property.
        if self.needs_property_id
            && config
                .vendor
                .property_id
                .as_deref()
                .is_none_or(|p| p.trim().is_empty())
        {
            return Err(ValidationError::new(
                "propertyId",
                format!(
                    "a {} hotel needs its property id at the vendor",
                    self.provider
                ),
            ));
        }
        Ok(())
    }
}

/// The vendors a build serves, found by name or alias.
#[derive(Clone, Default)]
pub struct Vendors(Vec<Vendor>);

impl Vendors {
    pub fn new(vendors: Vec<Vendor>) -> Self {
        Self(vendors)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Vendor> {
        self.0.iter()
    }

    /// The vendor named `name` (or an alias of it), or an error listing the known names.
    pub fn find(&self, name: &str) -> Result<&Vendor, ValidationError> {
        self.0.iter().find(|v| v.answers_to(name)).ok_or_else(|| {
            ValidationError::new(
                "provider",
                format!(
                    "unknown provider {:?} (this build serves {})",
                    name.chars().take(40).collect::<String>(),
                    self.names().join(", ")
                ),
            )
        })
    }

    pub fn get(&self, provider: Provider) -> Option<&Vendor> {
        self.0.iter().find(|v| v.provider == provider)
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|v| v.provider.as_str()).collect()
    }
}

impl IntoIterator for Vendors {
    type Item = Vendor;
    type IntoIter = std::vec::IntoIter<Vendor>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::pms::PmsError;

    fn cloudbeds_like() -> Vendor {
        fn from_pairs(p: &CredentialPairs<'_>) -> Result<SecretString, ValidationError> {
            let mut m = serde_json::Map::new();
            m.insert("apiKey".into(), p.need("apiKey")?.into());
            Ok(crate::registry::secret_json(
                Provider::named("cloudbeds"),
                m,
            ))
        }
        fn check(_: &SecretString) -> Result<(), ValidationError> {
            Ok(())
        }
        let schema = CredentialSchema {
            keys: &["apiKey"],
            from_pairs,
            check,
        };
        let build: VendorBuilder = Arc::new(|_, _, _| {
            Err(PmsError::Configuration {
                message: "not built in this test".into(),
            })
        });
        Vendor::new(Provider::named("cloudbeds"), schema, build)
            .with_aliases(&["cb"])
            .with_rate_limit(5, 1)
    }

    #[test]
    fn a_vendor_is_found_by_name_or_alias_and_unknown_names_list_the_known() {
        let vendors = Vendors::new(vec![cloudbeds_like()]);
        assert!(vendors.find("CloudBeds").is_ok());
        assert!(vendors.find("cb").is_ok());
        let err = vendors.find("protel").err().unwrap();
        assert!(err.message.contains("cloudbeds"), "{}", err.message);
    }

    #[test]
    fn a_vendors_hotels_need_what_it_declares() {
        let v = cloudbeds_like();
        let mut c = v.new_config(
            HotelId::parse("h1").unwrap(),
            "H",
            PropertyTz::parse("Europe/Prague").unwrap(),
            Currency::eur(),
            Utc::now(),
        );
        assert_eq!(c.rate_limit.as_ref().unwrap().requests, 5);
        assert_eq!(v.check_config(&c).unwrap_err().field, "baseUrl");
        c.vendor.base_url = Some("https://api.cloudbeds.com".parse().unwrap());
        assert_eq!(v.check_config(&c).unwrap_err().field, "propertyId");
        c.vendor.property_id = Some("  ".into());
        assert_eq!(v.check_config(&c).unwrap_err().field, "propertyId");
        c.vendor.property_id = Some("318267".into());
        assert!(v.check_config(&c).is_ok());
    }

    #[test]
    fn credentials_refuse_unknown_keys_and_name_missing_ones() {
        let v = cloudbeds_like();
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, SecretString)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), SecretString::from(v.to_string())))
                .collect()
        };
        assert!(v
            .credentials_from_pairs(&pairs(&[("apiKey", "k")]))
            .unwrap()
            .is_some());
        assert_eq!(
            v.credentials_from_pairs(&pairs(&[])).unwrap_err().field,
            "apiKey"
        );
        assert!(v
            .credentials_from_pairs(&pairs(&[("apiKey", "k"), ("apikey", "k")]))
            .is_err());
        // A stored secret as a file names its vendor.
        assert!(v
            .credentials_from_pairs(&pairs(&[("provider", "cloudbeds"), ("apiKey", "k")]))
            .unwrap()
            .is_some());
        assert_eq!(
            v.credentials_from_pairs(&pairs(&[("provider", "mews"), ("apiKey", "k")]))
                .unwrap_err()
                .field,
            "provider"
        );
    }
}
