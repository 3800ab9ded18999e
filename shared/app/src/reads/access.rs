//! Who may read what: a partner token names its hotels and scopes, and every read goes through
//! [`HotelAccess::authorize`] before it touches a hotel's data. A disabled hotel refuses partner
//! access altogether (reads, writes and their operations), as its ingestion does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::ReadError;
use crate::registry::{HotelRegistry, Principal, Scope};
use pms_domain::config::HotelConfig;
use pms_domain::domain::HotelId;

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
        if !config.enabled || !self.principal.grants(&config) {
            return Err(ReadError::Forbidden);
        }
        // The request's log lines name the hotel and its PMS (the last one, for a query
        // naming several).
        let span = tracing::Span::current();
        span.record("hotel", hotel.as_str());
        span.record("provider", config.provider.as_str());
        let config = Arc::new(config);
        self.lock().insert(hotel.clone(), config.clone());
        Ok(config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HotelId, Arc<HotelConfig>>> {
        self.authorized.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use pms_domain::domain::{Currency, PropertyTz, Provider};
    use pms_domain::memory::MemoryStore;
    use pms_domain::ports::SystemClock;

    #[tokio::test]
    async fn a_disabled_hotel_refuses_partner_access() {
        let hotels = HotelRegistry::new(Arc::new(MemoryStore::new(Arc::new(SystemClock))));
        let h = HotelId::parse("h1").unwrap();
        let mut config = HotelConfig::new(
            h.clone(),
            "H",
            Provider::named("mock"),
            PropertyTz::parse("Europe/Prague").unwrap(),
            Currency::eur(),
            Utc::now(),
        );
        config.enabled = false;
        hotels.create(&config).await.unwrap();
        let principal = Principal {
            token_id: "t".into(),
            hotels: vec![h.clone()],
            scopes: vec![Scope::Read, Scope::Write],
            issued_at: Utc::now(),
        };
        let access = HotelAccess::new(principal.clone(), hotels.clone());
        for scope in [Scope::Read, Scope::Write] {
            assert!(matches!(
                access.authorize(&h, scope).await,
                Err(ReadError::Forbidden)
            ));
        }
        config.enabled = true;
        hotels.update(&config).await.unwrap();
        let access = HotelAccess::new(principal, hotels);
        assert!(access.authorize(&h, Scope::Read).await.is_ok());
    }

    #[tokio::test]
    async fn a_hotel_removed_and_added_again_does_not_open_to_its_old_tokens() {
        let hotels = HotelRegistry::new(Arc::new(MemoryStore::new(Arc::new(SystemClock))));
        let h = HotelId::parse("h1").unwrap();
        let config = |at| {
            HotelConfig::new(
                h.clone(),
                "H",
                Provider::named("mock"),
                PropertyTz::parse("Europe/Prague").unwrap(),
                Currency::eur(),
                at,
            )
        };
        let first = Utc::now() - chrono::Duration::days(30);
        hotels.create(&config(first)).await.unwrap();
        let token = |issued_at| Principal {
            token_id: "t".into(),
            hotels: vec![h.clone()],
            scopes: vec![Scope::Read],
            issued_at,
        };
        let old = token(first + chrono::Duration::days(1));
        assert!(HotelAccess::new(old.clone(), hotels.clone())
            .authorize(&h, Scope::Read)
            .await
            .is_ok());

        hotels.remove(&h).await.unwrap();
        let again = Utc::now();
        hotels.create(&config(again)).await.unwrap();
        assert!(matches!(
            HotelAccess::new(old, hotels.clone())
                .authorize(&h, Scope::Read)
                .await,
            Err(ReadError::Forbidden)
        ));
        // A token issued for the new hotel works.
        assert!(HotelAccess::new(token(again), hotels)
            .authorize(&h, Scope::Read)
            .await
            .is_ok());
    }
}
