//! The local stack's vendor demo hotels: one hotel per simulated vendor, configured against the
//! simulator `pms-local up` runs, so every adapter's real code path (auth, pagination, rate
//! limits, mapping) is exercised locally.

use std::collections::BTreeMap;

use pms_app::names::ResourceNames;
use pms_domain::domain::HotelId;
use pms_domain::ports::SecretStore;

use pms_sim::{setup, Provider, SimConfig, Simulator};
use pmsctl::{services, Target};

use super::REGION;

/// Default port of the simulator in the local stack.
pub const SIM_PORT: u16 = 7070;

/// Our id for the demo hotel of a simulated vendor.
pub fn hotel_id(vendor: Provider) -> String {
    format!("demo-{vendor}")
}

/// Registers (or keeps) one hotel per vendor, against the first simulated property of each.
/// Returns provider -> hotel id for the hotels that exist afterwards; problems are warnings,
/// since the stack is useful without them.
pub async fn seed_vendor_hotels(
    endpoint: &str,
    contract: &BTreeMap<String, String>,
    sim: &Simulator,
    config: &SimConfig,
) -> BTreeMap<String, String> {
    let mut seeded = BTreeMap::new();
    let names = match ResourceNames::from_lookup(|k| contract.get(k).cloned()) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "the stack's environment is incomplete; no vendor demo hotels");
            return seeded;
        }
    };
    let svc = services(Target {
        names,
        endpoint: Some(endpoint.to_owned()),
        region: Some(REGION.to_owned()),
    })
    .await;
    for vendor in pms_sim::providers() {
        let Some(property) = config.properties.get(&vendor).and_then(|p| p.first()) else {
            continue;
        };
        let id = hotel_id(vendor);
        let hotel = match HotelId::parse(&id) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, hotel = %id, "invalid demo hotel id");
                continue;
            }
        };
        let (hotel_config, credentials) =
            match setup::hotel_for(vendor, property, &sim.vendor_url(vendor), hotel.clone()) {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, hotel = %id, "cannot configure the demo hotel");
                    continue;
                }
            };
        match svc.hotels.get(&hotel).await {
            Ok(Some(_)) => {
                tracing::info!(hotel = %id, "vendor demo hotel exists");
                seeded.insert(vendor.to_string(), id);
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, hotel = %id, "cannot read the hotel registry");
                continue;
            }
        }
        // Credentials first: a hotel that exists can always build its adapter.
        let secret = svc.adapters.credentials_secret(&hotel);
        if let Err(e) = svc.secrets.put(&secret, &credentials).await {
            tracing::warn!(error = %e, hotel = %id, "cannot store the demo hotel's credentials");
            continue;
        }
        match svc.hotels.create(&hotel_config).await {
            Ok(()) => {
                tracing::info!(hotel = %id, vendor = ?vendor, "vendor demo hotel added");
                seeded.insert(vendor.to_string(), id);
            }
            Err(e) => tracing::warn!(error = %e, hotel = %id, "cannot add the demo hotel"),
        }
    }
    seeded
}
