//! The schema, assembled in one place: roots, limits and the authentication step. Mutations
//! arrive in a later change as a `MutationRoot` here; until then the root is empty.

use async_graphql::{EmptyMutation, EmptySubscription, Schema};
use pms_core::reads::PartnerReads;
use pms_core::registry::TokenService;

use crate::auth::AuthGate;
use crate::query::QueryRoot;

pub type ApiSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// Deepest selection nesting accepted. GraphiQL's own introspection query nests 15 levels; no
/// data query needs more than 6.
pub const MAX_DEPTH: usize = 16;
/// Largest query complexity accepted: a full page of 100 bookings with every field fits; a
/// query asking the PMS for more than 20 entities does not (see `query::PMS_FIELD_COST`).
pub const MAX_COMPLEXITY: usize = 5000;
/// Recursion limit of the parser, against deeply nested input values.
pub const MAX_RECURSION: usize = 32;

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, EmptyMutation, EmptySubscription> {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(MAX_RECURSION)
}

/// The schema the function serves.
pub fn build(reads: PartnerReads, tokens: TokenService) -> ApiSchema {
    builder().extension(AuthGate::new(tokens, reads)).finish()
}

/// The schema's SDL (`schema.graphql` is this, committed).
pub fn sdl() -> String {
    builder().finish().sdl()
}
