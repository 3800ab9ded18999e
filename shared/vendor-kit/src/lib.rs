//! What a vendor crate builds its adapter with: the HTTP client that classifies failures and
//! paces requests ([`pms::http`]), the distributed rate limiter ([`pms::ratelimit`]), response
//! decoders for fuzzing and example tests ([`pms::decode`], feature `testing`), the adapter
//! factory and the registration a vendor declares itself with ([`pms::Vendor`]), the parts of a
//! credential schema ([`registry`]) and the webhook notices a vendor's parser produces
//! ([`webhooks`]).

pub mod pms;
pub mod registry {
    //! Vendor credentials, as stored in each hotel's secret: the parts each vendor's credential
    //! schema is built from.
    mod credentials;

    pub use credentials::{parse_secret, secret_json, stored_provider, CredentialPairs};
}
#[cfg(feature = "sim")]
pub mod sim;
pub mod webhooks;
