//! The `graphql` function: partners' API: reads over the store and the read-through cache,
//! writes through the write queue, event subscriptions.
//!
//! Thin by design: [`http`] is the HTTP edge, [`auth`] turns a bearer token into the core's
//! `ReadSession`, `WriteSession` and `SubscriptionSession` before anything else, [`limits`]
//! bounds what a query may cost before the engine validates it, [`query`] and [`mutation`] map
//! arguments and results, [`types`], [`write_types`] and [`subscription_types`] mirror the
//! core's records, and [`errors`] gives every error its partner-facing code. The rules (hotel
//! scoping, key queries, caching, idempotency, queueing, URL checks) live in `pms_app::reads`,
//! `pms_app::cache`, `pms_app::writes` and `pms_app::subscriptions`.

pub mod auth;
mod context;
pub mod errors;
pub mod graphiql;
pub mod http;
pub mod limits;
pub mod mutation;
pub mod query;
pub mod schema;
pub mod subscription_types;
pub mod types;
pub mod write_types;

pub use http::{GraphqlApp, MAX_BODY_BYTES};
pub use schema::{sdl, ApiSchema, MAX_COMPLEXITY, MAX_DEPTH};
