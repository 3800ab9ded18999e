//! What a vendor crate builds its adapter with: the HTTP client that classifies failures and
//! paces requests ([`pms::http`]), the distributed rate limiter ([`pms::ratelimit`]), response
//! decoders for fuzzing and example tests ([`pms::decode`], feature `testing`), the adapter
//! factory a vendor registers with ([`pms::Vendor`]), vendor credentials ([`registry`]) and
//! the webhook notices a vendor's parser produces ([`webhooks`]).

pub mod pms;
pub mod registry {
    //! Vendor credentials, as stored in each hotel's secret.
    mod credentials;

    pub use credentials::{OperaGrant, VendorCredentials};
}
pub mod webhooks;
