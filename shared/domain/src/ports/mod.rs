//! Ports: the narrow traits the domain depends on. `crate::aws` implements them over AWS,
//! `crate::memory` in memory (unit tests only; integration tests use the emulator).

mod clock;
mod error;
mod events;
mod queue;
mod secrets;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{PortError, PortResult, Service};
pub use events::EventBus;
pub use queue::{BatchSendFailure, MoveTask, OutgoingMessage, Queue, ReceivedMessage};
pub use secrets::{CachedSecrets, Reread, SecretStore, REREAD_INTERVAL};
pub use store::{
    Condition, Index, IndexKeys, Item, ItemKey, ItemStore, KeyCondition, Page, Partition,
    PutOutcome, Query, SystemPartition,
};
