//! The `graphql` function: partners' read API over the store and the read-through cache.
//!
//! Thin by design: [`http`] is the HTTP edge, [`auth`] turns a bearer token into the core's
//! `ReadSession`, [`query`] maps arguments and results, [`types`] mirrors the core's records,
//! and [`errors`] gives every error its partner-facing code. The rules (hotel scoping, key
//! queries, caching) live in `pms_core::reads` and `pms_core::cache`.

pub mod auth;
pub mod errors;
pub mod graphiql;
pub mod http;
pub mod query;
pub mod schema;
pub mod types;

pub use http::{GraphqlApp, MAX_BODY_BYTES};
pub use schema::{sdl, ApiSchema, MAX_COMPLEXITY, MAX_DEPTH};
