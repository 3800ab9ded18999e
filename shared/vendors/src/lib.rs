//! The vendors this build serves. Each vendor crate declares itself (`vendor()`: name, aliases,
//! credential schema, rate limit, what its hotels need, how its adapter is built; `webhook()`:
//! its webhook parser, if it pushes any), and is registered here by one line of
//! [`registered!`]. Nothing else in the workspace names a vendor.
//!
//! A process links only what it calls: the functions that call vendors use [`all`]; the webhook
//! function uses [`webhooks`], which reaches only the parsers; the sync scheduler uses neither.

use pms_vendor_kit::pms::Vendors;
use pms_vendor_kit::webhooks::WebhookVendor;

macro_rules! registered {
    ($d:tt; $($vendor:ident as $Name:ident),* $(,)?) => {
        /// Every vendor this build serves, the mock PMS of the local stack included.
        pub fn all() -> Vendors {
            Vendors::new(vec![$($vendor::vendor()),*])
        }

        /// The vendors that push webhooks, with their parsers.
        pub fn webhooks() -> Vec<WebhookVendor> {
            [$($vendor::webhook()),*].into_iter().flatten().collect()
        }

        /// Every vendor's simulator.
        #[cfg(feature = "sim")]
        pub fn simulators() -> Vec<pms_vendor_kit::sim::SimVendor> {
            [$($vendor::sim::simulator()),*].into_iter().flatten().collect()
        }

        /// Calls `callback! { Opera, Mews, .. }` with every vendor's name as an identifier
        /// (its provider name in CamelCase), for types that must list the vendors at compile
        /// time: the GraphQL schema's `Provider` enum.
        #[macro_export]
        macro_rules! for_each_vendor {
            ($d callback:ident) => {
                $d callback! { $($Name),* }
            };
        }
    };
}

// One line per vendor: its crate, and its name as an identifier (`for_each_vendor!`).
registered!($;
    pms_opera as Opera,
    pms_mews as Mews,
    pms_cloudbeds as Cloudbeds,
    pms_mock as Mock,
);

/// The provider whose hotels accept every vendor's webhooks: the mock PMS stands in for any
/// vendor locally and in tests.
pub const STAND_IN: pms_domain::domain::Provider = pms_mock::PROVIDER;

/// The vendor that pushes webhooks under `name` (the path segment of its webhook URL).
pub fn webhook(name: &str) -> Option<WebhookVendor> {
    webhooks().into_iter().find(|w| w.provider.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_has_one_name_and_no_name_is_anothers_alias() {
        let vendors = all();
        let names = vendors.names();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for v in vendors.iter() {
            for other in vendors.iter().filter(|o| o.provider() != v.provider()) {
                assert!(!other.answers_to(v.provider().as_str()), "{}", v.provider());
            }
        }
        assert!(vendors.find("ohip").is_ok());
    }

    macro_rules! names {
        ($($Name:ident),*) => {
            [$(stringify!($Name)),*]
        };
    }

    #[test]
    fn each_vendors_identifier_is_its_name_in_camel_case() {
        let idents = for_each_vendor!(names);
        let vendors = all();
        assert_eq!(idents.len(), vendors.names().len());
        for (ident, name) in idents.iter().zip(vendors.names()) {
            let camel: String = name
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            assert_eq!(*ident, camel);
        }
    }

    #[test]
    fn webhook_vendors_are_registered_vendors() {
        let vendors = all();
        for w in webhooks() {
            assert!(vendors.get(w.provider).is_some(), "{}", w.provider);
            assert_eq!(
                webhook(w.provider.as_str()).map(|x| x.provider),
                Some(w.provider)
            );
        }
        assert!(webhook("opera").is_none());
    }
}
