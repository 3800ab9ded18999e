//! Hotel configurations for the simulated properties: what `pms-local` seeds as the demo hotels
//! of each vendor, and what tests and the load tool register to talk to a simulator.

use chrono::Utc;
use pms_domain::config::{HotelConfig, RateLimitSettings};
use pms_domain::domain::{Currency, HotelId, PropertyTz, Provider, ValidationError};
use pms_vendor_kit::registry::VendorCredentials;
use secrecy::SecretString;

use super::{PropertySetup, Vendor};

/// The provider a simulated vendor stands in for.
pub fn provider(vendor: Vendor) -> Provider {
    match vendor {
        Vendor::Ohip => Provider::Opera,
        Vendor::Mews => Provider::Mews,
        Vendor::Cloudbeds => Provider::Cloudbeds,
    }
}

/// A hotel configured against a simulated property (vendor defaults: OHIP transaction code
/// 5016 and business events as `SIMEXT`, a Mews accounting category and tax code, a Cloudbeds
/// item category), with the vendor's real rate limit, and its credentials.
pub fn hotel_for(
    vendor: Vendor,
    property: &PropertySetup,
    vendor_base_url: &str,
    hotel_id: HotelId,
) -> Result<(HotelConfig, VendorCredentials), ValidationError> {
    let provider = provider(vendor);
    let tz = PropertyTz::parse(property.time_zone.name())?;
    let currency = Currency::parse(&property.currency)?;
    let mut config = HotelConfig::new(
        hotel_id,
        format!("Simulated {provider} hotel {}", property.property_id),
        provider,
        tz,
        currency,
        Utc::now(),
    );
    config.vendor.base_url = Some(
        vendor_base_url
            .parse()
            .map_err(|_| ValidationError::new("baseUrl", "is not a URL"))?,
    );
    config.vendor.property_id = Some(property.property_id.clone());
    config.rate_limit = RateLimitSettings::default_for(provider);
    let cred = |k: &str| property.credentials.get(k).cloned();
    match vendor {
        Vendor::Ohip => {
            config.vendor.external_system_code = cred("externalSystemCode");
            config.vendor.default_revenue_center = Some("5016".into());
        }
        Vendor::Mews => {
            config.vendor.service_id = cred("serviceId");
            config.vendor.default_revenue_center =
                Some("90eff5aa-36b4-4689-80c0-ab3a00bb412e".into());
            config.vendor.tax_code = Some("US-HI-G".into());
        }
        Vendor::Cloudbeds => {
            config.vendor.default_revenue_center = Some("Guest services".into());
        }
    }
    config.validate()?;
    let keys: &[&str] = match vendor {
        Vendor::Ohip => &["clientId", "clientSecret", "appKey"],
        Vendor::Mews => &["clientToken", "accessToken"],
        Vendor::Cloudbeds => &["apiKey"],
    };
    let pairs: Vec<(String, SecretString)> = keys
        .iter()
        .filter_map(|k| cred(k).map(|v| (k.to_string(), SecretString::from(v))))
        .collect();
    let credentials = VendorCredentials::from_pairs(provider, &pairs)?;
    Ok((config, credentials))
}
