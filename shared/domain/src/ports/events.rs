use async_trait::async_trait;

use super::PortResult;
use crate::domain::events::DomainEvent;

/// Where domain events go (EventBridge in AWS).
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes every event or fails; partial failures are retried inside the adapter and an
    /// error means some events may not have been published (callers retry the whole unit,
    /// consumers dedupe by the deterministic event id).
    async fn publish(&self, events: &[DomainEvent]) -> PortResult<()>;
}
