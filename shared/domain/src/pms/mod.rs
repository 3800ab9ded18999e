//! What every PMS adapter is: the trait, its error and the retry policy vendor calls run under.

pub mod adapter;
pub mod error;
pub mod retry;

pub use adapter::{
    ChangeWindow, EntityKind, EntityRef, Fetched, ItemFailure, PmsAdapter, Refreshed,
};
pub use error::{classify_transport, PmsError, PmsResult, UnavailableCause, DEFAULT_RETRYABLE};
pub use retry::{RetryPolicy, RetrySettings};
