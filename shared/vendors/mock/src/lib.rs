//! The mock PMS: the local stack's `demo` hotel's PMS and the unit tests' (see [`MockPms`]).
//! A process that serves the demo hotel registers it like any vendor ([`vendor`]); it needs no
//! stored credentials.

mod mock;

pub use mock::*;

use std::sync::Arc;

use pms_domain::domain::Provider;
use pms_domain::pms::PmsAdapter;
use pms_vendor_kit::pms::Vendor;

/// The mock PMS, as records, keys and configurations name it.
pub const PROVIDER: Provider = Provider::named("mock");

/// The mock PMS, as a build registers it: one shared mock hotel per configured hotel.
pub fn vendor() -> Vendor {
    Vendor::without_credentials(
        PROVIDER,
        Arc::new(|config, deps| {
            let pms = MockPms::shared(
                &config.hotel_id,
                config.time_zone,
                config.currency,
                deps.clock.clone(),
            );
            Ok(Arc::new(MockAdapter::new(pms)) as Arc<dyn PmsAdapter>)
        }),
    )
}

/// The mock PMS receives no webhooks of its own; its hotels accept any vendor's (they stand in
/// for any vendor locally and in tests).
pub fn webhook() -> Option<pms_vendor_kit::webhooks::WebhookVendor> {
    None
}

/// No simulator: the mock PMS runs in process.
#[cfg(feature = "sim")]
pub mod sim {
    pub fn simulator() -> Option<pms_vendor_kit::sim::SimVendor> {
        None
    }
}
