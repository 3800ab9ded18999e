//! Cloudbeds API v1.3 protocol (`/api/v1.3/...`). (Routes are added by the Cloudbeds adapter
//! work; shapes follow `vendor-specs/cloudbeds/pms-v1.3-openapi.yaml`.)

use std::sync::Arc;

use axum::Router;

use super::SimContext;

pub const PREFIX: &str = "/cloudbeds";
/// What a hotel's `baseUrl` points at (the Cloudbeds API root).
pub const API_ROOT: &str = "/cloudbeds/api/v1.3";

#[derive(Default)]
pub struct State {}

pub fn router() -> Router<Arc<SimContext>> {
    Router::new()
}
