//! In-memory adapters of the ports, with the same semantics as the AWS ones (conditions, expiry
//! re-checks, cursors bound to partitions). For unit tests of domain logic; integration tests
//! run against the emulator instead.

mod bus;
mod queue;
mod secrets;
mod store;

pub use bus::MemoryBus;
pub use queue::MemoryQueue;
pub use secrets::MemorySecrets;
pub use store::MemoryStore;
