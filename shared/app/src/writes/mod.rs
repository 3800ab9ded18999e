//! Writes to the PMS (notes, preferences, charges, checkout changes): submitted by GraphQL
//! mutations, queued, and executed by the writer under an idempotency state machine, so a PMS
//! outage loses nothing and a charge is never posted twice.

mod census;
mod executor;
mod model;
mod partner;
mod records;
mod redrive;
mod service;

pub use census::{CensusReport, DeadLetterCensus, Unrecorded};
pub use executor::{AfterPmsCall, Disposition, ExecuteError, Executor, UNKNOWN_OUTCOME_SETTLE};
pub use model::{
    derive_charge_reference, partner_scope, IdempotencyKey, OperationId, OperationRecord,
    OperationRef, OperationStatus, RecordedError, WriteMessage, WriteOperation, MAX_NOT_STARTED,
};
pub use partner::{PartnerWrites, WriteError, WriteSession};
pub use records::{
    Acquired, AuditEntry, AuditResult, DlqItem, DlqStatus, IdempotencyState, Intent,
    KeyRegistration, WriteRecords, AUDIT_RETENTION_DAYS, IDEMPOTENCY_RETENTION_DAYS,
};
pub use redrive::{DeadLetters, DlqError, ForcedRedrive, RedriveReport};
pub use service::{
    BatchReport, DeliveryOutcome, DeliveryResult, QueueDelivery, SubmitError, WriteService,
};

#[cfg(test)]
mod tests;
