//! PMS adapters: the trait, its error, the retry policy, and the implementations.

mod adapter;
mod error;
pub mod mock;
mod retry;

pub use adapter::{ChangeWindow, Fetched, ItemFailure, PmsAdapter};
pub use error::{classify_transport, PmsError, PmsResult, UnavailableCause, DEFAULT_RETRYABLE};
pub use retry::{RetryPolicy, RetrySettings};
