//! The schema, assembled in one place: roots and the engine's limits. Authentication and the
//! pre-parse limits run before the engine sees a request (see `http` and `limits`).

use async_graphql::{EmptySubscription, Schema};

use crate::mutation::MutationRoot;
use crate::query::QueryRoot;

pub type ApiSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest selection nesting accepted. GraphiQL's own introspection query nests 15 levels; no
/// data query needs more than 6.
pub const MAX_DEPTH: usize = 16;
/// Largest query complexity accepted: a full page of 100 bookings with every field fits; a
/// query asking the PMS for more than 20 entities does not (see `limits::PMS_FIELD_COST`).
pub const MAX_COMPLEXITY: usize = 5000;
/// Recursion limit of the parser, against deeply nested input values.
pub const MAX_RECURSION: usize = 32;

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(MAX_RECURSION)
}

/// The schema the function serves. Its resolvers find the caller's sessions in the request's
/// data, which only an authenticated request carries.
pub fn build() -> ApiSchema {
    builder().finish()
}

/// The schema's SDL (`schema.graphql` is this, committed).
pub fn sdl() -> String {
    builder().finish().sdl()
}
