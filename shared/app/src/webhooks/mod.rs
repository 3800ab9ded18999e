//! Vendor webhooks: thin change notices (Mews general webhooks, Cloudbeds webhooks) parsed into
//! the entities they name (the vendor crates' `webhook` parsers), made durable and turned into
//! refresh jobs ([`WebhookIntake`]), and remembered so a repeat changes nothing
//! ([`WebhookDeliveries`]).

mod deliveries;
mod intake;

pub use deliveries::{
    Begin, DeliveryRecord, DeliveryStatus, WebhookDeliveries, DELIVERY_RETENTION, MAX_ITEM_BYTES,
};
pub use intake::{IntakeError, IntakeOutcome, WebhookIntake};
pub use pms_vendor_kit::webhooks::*;
