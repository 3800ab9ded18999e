//! Hotel configurations for the simulated properties: what `pms-local` seeds as the demo hotels
//! of each vendor, and what tests and the load tool register to talk to a simulator.

use chrono::Utc;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{Currency, HotelId, PropertyTz, Provider, ValidationError};
use secrecy::SecretString;

use super::PropertySetup;

/// A hotel configured against a simulated property, with the vendor's published rate limit,
/// the vendor settings its simulator knows (`SimVendor::configure`), and the credentials
/// secret to store for it.
pub fn hotel_for(
    vendor: Provider,
    property: &PropertySetup,
    vendor_base_url: &str,
    hotel_id: HotelId,
) -> Result<(HotelConfig, SecretString), ValidationError> {
    let vendors = pms_vendors::all();
    let registered = vendors.find(vendor.as_str())?;
    let tz = PropertyTz::parse(property.time_zone.name())?;
    let currency = Currency::parse(&property.currency)?;
    let mut config = registered.new_config(
        hotel_id,
        format!("Simulated {vendor} hotel {}", property.property_id),
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
    if let Some(sim) = super::vendors().into_iter().find(|v| v.provider == vendor) {
        (sim.configure)(&mut config, property);
    }
    registered.check_config(&config)?;
    // The property's entries that are credentials (the rest are simulator settings).
    let pairs: Vec<(String, SecretString)> = registered
        .credential_keys()
        .iter()
        .filter_map(|k| {
            property
                .credential(k)
                .map(|v| (k.to_string(), SecretString::from(v)))
        })
        .collect();
    let credentials = registered
        .credentials_from_pairs(&pairs)?
        .ok_or_else(|| ValidationError::new("provider", format!("{vendor} is not simulated")))?;
    Ok((config, credentials))
}
