//! Mews Connector API protocol (`/api/connector/v1/...`). (Routes are added by the Mews adapter
//! work; shapes follow `vendor-specs/mews/operations/*.md`.)

use std::sync::Arc;

use axum::Router;

use super::SimContext;

pub const PREFIX: &str = "/mews";

#[derive(Default)]
pub struct State {}

pub fn router() -> Router<Arc<SimContext>> {
    Router::new()
}
