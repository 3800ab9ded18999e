//! The event bus port over EventBridge.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::errors::port_error;
use pms_domain::domain::events::{DomainEvent, EVENT_SOURCE};
use pms_domain::ports::{EventBus, PortError, PortResult, Service};

const SERVICE: Service = Service::EventBridge;
/// PutEvents takes at most 10 entries.
const PUT_BATCH: usize = 10;
const ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus: String,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    pub fn from_config(config: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self::new(Client::new(config), bus)
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[DomainEvent]) -> PortResult<()> {
        for chunk in events.chunks(PUT_BATCH) {
            let mut pending: Vec<&DomainEvent> = chunk.iter().collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                let entries: Vec<PutEventsRequestEntry> = pending
                    .iter()
                    .map(|e| {
                        // An event that does not encode (a bug) fails the publish: an empty
                        // detail would only be refused by EventBridge as if it were an outage.
                        let detail = serde_json::to_string(e).map_err(|err| PortError::Encode {
                            what: format!("{} event", e.event_type.as_str()),
                            message: err.to_string(),
                        })?;
                        Ok(PutEventsRequestEntry::builder()
                            .event_bus_name(&self.bus)
                            .source(EVENT_SOURCE)
                            .detail_type(e.event_type.as_str())
                            .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(
                                e.occurred_at.timestamp_millis(),
                            ))
                            .resources(format!("hotel/{}", e.hotel_id))
                            .detail(detail)
                            .build())
                    })
                    .collect::<PortResult<_>>()?;
                let out = self
                    .client
                    .put_events()
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| port_error(SERVICE, e))?;
                if out.failed_entry_count() == 0 {
                    break;
                }
                // Entries answer in request order; keep the ones that failed.
                let failed: Vec<&DomainEvent> = out
                    .entries()
                    .iter()
                    .zip(pending.iter())
                    .filter(|(r, _)| r.error_code().is_some())
                    .map(|(_, e)| *e)
                    .collect();
                if attempt >= ATTEMPTS {
                    return Err(PortError::Unavailable {
                        service: SERVICE,
                        message: format!("{} events not accepted", failed.len()),
                    });
                }
                pending = failed;
                tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
            }
        }
        Ok(())
    }
}
