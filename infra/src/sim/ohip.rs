//! OHIP (OPERA Cloud) protocol: OAuth tokens, rsv, crm, csh, hsk, int. (Routes are added by the
//! OHIP adapter work; paths follow `vendor-specs/ohip/*.json`.)

use std::sync::Arc;

use axum::Router;

use super::SimContext;

pub const PREFIX: &str = "/ohip";

/// Issued tokens and their expiry.
#[derive(Default)]
pub struct State {
    tokens: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl State {
    /// Makes every issued token invalid now (the next call with one gets 401).
    pub fn expire_all(&self) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn reset(&self) {
        self.expire_all();
    }
}

pub fn router() -> Router<Arc<SimContext>> {
    Router::new()
}
