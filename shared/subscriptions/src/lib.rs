//! Partner event subscriptions (issue "Partners hear about changes"): what a delivery is signed
//! with ([`signing`], the Standard Webhooks scheme, so receivers verify with existing libraries)
//! and where a delivery may go ([`target`]: `https` only, never into our own network).

pub mod signing;
pub mod target;
