//! The schema, assembled in one place: roots, limits and the authentication step.

use async_graphql::{EmptySubscription, Schema};
use pms_core::reads::PartnerReads;
use pms_core::registry::TokenService;
use pms_core::writes::PartnerWrites;

use crate::auth::AuthGate;
use crate::mutation::MutationRoot;
use crate::query::QueryRoot;

pub type ApiSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest selection nesting accepted. GraphiQL's own introspection query nests 15 levels; no
/// data query needs more than 6.
pub const MAX_DEPTH: usize = 16;
/// Largest query complexity accepted: a full page of 100 bookings with every field fits; a
/// query asking the PMS for more than 20 entities does not (see `query::PMS_FIELD_COST`).
pub const MAX_COMPLEXITY: usize = 5000;
/// Recursion limit of the parser, against deeply nested input values.
pub const MAX_RECURSION: usize = 32;

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(MAX_RECURSION)
}

/// The schema the function serves.
pub fn build(reads: PartnerReads, writes: PartnerWrites, tokens: TokenService) -> ApiSchema {
    builder()
        .extension(AuthGate::new(tokens, reads, writes))
        .finish()
}

/// The schema's SDL (`schema.graphql` is this, committed).
pub fn sdl() -> String {
    builder().finish().sdl()
}
