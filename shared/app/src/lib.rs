//! The application: every use case of the integration layer over the ports and the PMS adapter
//! trait. Records and their one merge rule ([`records`]), partner ingestion ([`ingest`]),
//! webhook intake ([`webhooks`]), the sync (jobs, refreshes, scheduled feeds and their runs),
//! partner reads and writes with the read-through cache, the registry of hotels, tokens and
//! keys, and the [`runtime::Services`] a process wires them from. It names no vendor and no AWS
//! service: the processes register the vendors they serve and build the ports.

pub mod audit;
pub mod cache;
pub mod deliveries;
pub mod health;
pub mod ids;
pub mod ingest;
pub mod jobs;
pub mod lifecycle;
pub mod names;
pub mod obs;
pub mod processor;
pub mod reads;
pub mod records;
pub mod refresh;
pub mod registry;
pub mod runtime;
pub mod subscriptions;
pub mod sync;
pub mod sync_dlq;
pub mod sync_runs;
pub mod webhooks;
pub mod writes;
