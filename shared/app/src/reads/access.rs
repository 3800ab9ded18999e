//! Who may read what: a partner token names its hotels and scopes, and every read goes through
//! [`HotelAccess::authorize`] before it touches a hotel's data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::ReadError;
use crate::config::HotelConfig;
use crate::domain::HotelId;
use crate::registry::{HotelRegistry, Principal, Scope};

/// The access of one caller (one request): its principal, and the configurations of the hotels
/// it has been authorized for so far (a query naming a hotel ten times reads it once).
pub(crate) struct HotelAccess {
    principal: Principal,
    hotels: HotelRegistry,
    authorized: Mutex<HashMap<HotelId, Arc<HotelConfig>>>,
}

impl HotelAccess {
    pub(crate) fn new(principal: Principal, hotels: HotelRegistry) -> Self {
        Self {
            principal,
            hotels,
            authorized: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The hotel's configuration, if the caller may use `scope` on it.
    ///
    /// The scope and the token's hotel list are checked before anything is read, so a hotel
    /// outside the token answers `Forbidden` whether or not it exists; only a hotel inside it
    /// can answer "not configured".
    pub(crate) async fn authorize(
        &self,
        hotel: &HotelId,
        scope: Scope,
    ) -> Result<Arc<HotelConfig>, ReadError> {
        if !self.principal.has(scope) || !self.principal.can_see(hotel) {
            return Err(ReadError::Forbidden);
        }
        if let Some(c) = self.lock().get(hotel) {
            return Ok(c.clone());
        }
        let config = self
            .hotels
            .get(hotel)
            .await
            .map_err(|e| match e {
                crate::registry::RegistryError::Store(p) => ReadError::from(p),
                other => ReadError::Internal(other.to_string()),
            })?
            .ok_or_else(|| ReadError::HotelNotConfigured(hotel.clone()))?;
        let config = Arc::new(config);
        self.lock().insert(hotel.clone(), config.clone());
        Ok(config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HotelId, Arc<HotelConfig>>> {
        self.authorized.lock().unwrap_or_else(|p| p.into_inner())
    }
}
