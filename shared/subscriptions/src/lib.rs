//! Partner event subscriptions (issue "Partners hear about changes"): who hears about what
//! ([`model`], [`registry`]: a hotel's subscriptions and their signing secrets), what a delivery
//! is signed with ([`signing`], the Standard Webhooks scheme, so receivers verify with existing
//! libraries) and where a delivery may go ([`target`]: `https` only, never into our network).

pub mod deliver;
pub mod deliveries;
pub mod model;
pub mod registry;
pub mod signing;
pub mod target;

pub use deliveries::{DeliveryLog, DeliveryRecord, DeliveryRef, DeliveryStatus};
pub use model::{Subscription, SubscriptionId, SubscriptionRef};
pub use registry::{parse_events, Created, SubscriptionError, Subscriptions};
pub use signing::{signature_header, SigningSecret};
pub use target::{Target, TargetError, TargetPolicy};
