use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::events::DomainEvent;
use crate::ports::{EventBus, PortResult};

/// Records published events.
#[derive(Default)]
pub struct MemoryBus {
    events: Mutex<Vec<DomainEvent>>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn events(&self) -> Vec<DomainEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, events: &[DomainEvent]) -> PortResult<()> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(events);
        Ok(())
    }
}
