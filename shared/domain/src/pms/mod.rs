//! What every PMS adapter is: the trait, its error, the retry policy vendor calls run under and
//! the deadline they work to.

pub mod adapter;
pub mod deadline;
pub mod error;
pub mod retry;
pub mod trace;

pub use adapter::{
    ChangeWindow, EntityKind, EntityRef, Fetched, ItemFailure, ListRead, Page, PageCursor,
    PmsAdapter, Refreshed,
};
pub use error::{classify_transport, PmsError, PmsResult, UnavailableCause, DEFAULT_RETRYABLE};
pub use retry::{RetryPolicy, RetrySettings};
