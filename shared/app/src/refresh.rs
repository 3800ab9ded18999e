//! Refreshing entities that thin events name: fetch each from the hotel's PMS once, through the
//! adapter the factory gives for the hotel, and store it with the same merge rule as the sync
//! ([`Merger`]). One entity that cannot be fetched does not stop the others; the report says
//! which failed, and [`crate::processor::JobProcessor`] decides how they are retried.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::jobs::{JobError, JobSource, RefreshJob};
use crate::records::{MergeReport, Merger, ProvidedRoom};
use crate::registry::HotelRegistry;
use crate::webhooks::WebhookDeliveries;
use pms_domain::domain::{Guest, Provider, Reservation};
use pms_domain::pms::{EntityRef, PmsError, Refreshed};
use pms_vendor_kit::pms::AdapterFactory;

/// One entity that could not be refreshed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityFailure {
    pub entity: EntityRef,
    pub code: &'static str,
    pub retryable: bool,
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    /// The failure says the PMS is unhealthy (`crate::health::counts`).
    #[serde(skip)]
    pub unhealthy: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshReport {
    pub provider: Option<Provider>,
    pub fetched: usize,
    pub created: usize,
    pub updated: usize,
    /// Fetched but not written: unchanged, or older than what is stored.
    pub not_applied: usize,
    /// The vendor no longer has these (deleted or merged away); stored copies are left as
    /// they are, since a thin event cannot say what the deletion means.
    pub gone: Vec<EntityRef>,
    pub failed: Vec<EntityFailure>,
    pub events: usize,
}

impl RefreshReport {
    /// Entities dealt with for good (stored, found unchanged, or gone).
    pub fn succeeded(&self) -> usize {
        self.created + self.updated + self.not_applied + self.gone.len()
    }

    fn absorb(&mut self, merge: &MergeReport) {
        self.created += merge.created();
        self.updated += merge.updated();
        self.not_applied += merge.unchanged();
        self.events += merge.events.len();
    }
}

#[derive(Clone)]
pub struct RefreshService {
    hotels: HotelRegistry,
    adapters: Arc<AdapterFactory>,
    merger: Merger,
    deliveries: WebhookDeliveries,
}

impl RefreshService {
    pub fn new(
        hotels: HotelRegistry,
        adapters: Arc<AdapterFactory>,
        merger: Merger,
        deliveries: WebhookDeliveries,
    ) -> Self {
        Self {
            hotels,
            adapters,
            merger,
            deliveries,
        }
    }

    pub async fn run(&self, job: &RefreshJob) -> Result<RefreshReport, JobError> {
        let hotel = &job.hotel;
        let config = self.hotels.require(hotel).await?;
        tracing::Span::current().record("provider", config.provider.as_str());
        if let JobSource::Webhook {
            provider,
            delivery_id,
            dedupe,
        } = &job.source
        {
            // Before fetching: a repeat of this delivery that arrives from now on may carry a
            // change this fetch could miss, so it must get its own refresh.
            self.deliveries
                .refresh_started(hotel, *provider, delivery_id, *dedupe)
                .await?;
        }
        let adapter = match self.adapters.adapter_for(&config).await {
            Ok(a) => a,
            Err(e) => {
                if matches!(e, PmsError::Unauthorized { .. }) {
                    self.adapters.invalidate(hotel).await;
                }
                return Err(e.into());
            }
        };
        let results = adapter.fetch_entities(&job.entities).await;

        let mut report = RefreshReport {
            provider: Some(adapter.provider()),
            fetched: results.len(),
            ..RefreshReport::default()
        };
        let mut reservations: Vec<Reservation> = Vec::new();
        let mut guests: Vec<Guest> = Vec::new();
        let mut rooms: Vec<ProvidedRoom> = Vec::new();
        let mut unauthorized = false;
        for (entity, result) in results {
            match result {
                Ok(Refreshed::Reservation(r)) => reservations.push(*r),
                Ok(Refreshed::Guest(g)) => guests.push(*g),
                Ok(Refreshed::Room(room)) => rooms.push(ProvidedRoom {
                    provider: adapter.provider(),
                    room: *room,
                }),
                Ok(Refreshed::Gone) => report.gone.push(entity),
                Err(e) => {
                    unauthorized |= matches!(e, PmsError::Unauthorized { .. });
                    tracing::warn!(
                        entity_kind = ?entity.kind,
                        entity_id = %entity.id,
                        code = e.code(),
                        retryable = e.is_retryable(),
                        request_id = e.request_id(),
                        "entity refresh failed"
                    );
                    report.failed.push(EntityFailure {
                        entity,
                        code: e.code(),
                        retryable: e.is_retryable(),
                        retry_after: e.retry_after(),
                        unhealthy: crate::health::counts(&e),
                    });
                }
            }
        }
        if unauthorized {
            // Credentials may have been rotated: the retry re-reads them.
            self.adapters.invalidate(hotel).await;
        }
        let correlation = Some(job.correlation_id.as_str());
        // Guests first: a booking written after its guest extends the guest's retention to its
        // own (records::retention); written before it, it would find no guest to extend.
        if !guests.is_empty() {
            let m = self.merger.merge(hotel, guests, correlation).await?;
            report.absorb(&m);
        }
        if !reservations.is_empty() {
            let m = self.merger.merge(hotel, reservations, correlation).await?;
            report.absorb(&m);
        }
        if !rooms.is_empty() {
            let m = self.merger.merge(hotel, rooms, correlation).await?;
            report.absorb(&m);
        }
        Ok(report)
    }
}
