//! The mock PMS: the local stack's `demo` hotel's PMS and the unit tests' (see [`MockPms`]).
//! A process that serves the demo hotel registers it like any vendor ([`vendor`]); it needs no
//! stored credentials.

mod mock;

pub use mock::*;

use std::sync::Arc;

use pms_domain::domain::Provider;
use pms_domain::pms::PmsAdapter;
use pms_vendor_kit::pms::Vendor;

/// The mock PMS, as a process registers it: one shared mock hotel per configured hotel.
pub fn vendor() -> Vendor {
    Vendor::without_credentials(
        Provider::Mock,
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
