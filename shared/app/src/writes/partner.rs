//! The partner write API's logic, behind one facade like the read side's: [`PartnerWrites`]
//! (one per process) opens a [`WriteSession`] per request for a verified [`Principal`]. Every
//! submission names a hotel and is authorized for it first (scope `write`, the token's hotel
//! list), then checked against the hotel (currency, the provider of a guest id) and its vendor's
//! capabilities, so nothing the vendor cannot do is ever queued. Transports map arguments and
//! results only.

use std::sync::Arc;

use super::model::{OperationRecord, OperationRef, WriteOperation};
use super::records::WriteRecords;
use super::service::{SubmitError, WriteService};
use crate::reads::{HotelAccess, ReadError};
use crate::registry::{HotelRegistry, Principal, Scope};
use crate::runtime::Services;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{HotelId, Preference, Provider, RecordId, ValidationError};
use pms_domain::ports::{Clock, ItemStore, PortError, Queue};
use pms_vendor_kit::pms::AdapterFactory;

/// Why a partner write (or an operation lookup) failed. [`WriteError::code`] is the stable code
/// partners see; [`WriteError::public_message`] what they read (`Display` is for logs).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The token lacks the scope or does not cover the hotel. Says nothing about the hotel.
    #[error("the credential does not allow this")]
    Forbidden,
    #[error("hotel {0} is not configured")]
    HotelNotConfigured(HotelId),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The hotel's PMS cannot do this; refused before anything is queued.
    #[error("{what} is not supported by {provider}")]
    Unsupported {
        provider: Provider,
        what: &'static str,
    },
    /// The idempotency key was used for a different request.
    #[error("this idempotency key was used for a different request")]
    Conflict,
    /// The hotel's adapter cannot be built (credentials missing or unreadable).
    #[error("the hotel's PMS connection is not usable: {0}")]
    Connection(String),
    #[error(transparent)]
    Store(PortError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl WriteError {
    pub fn code(&self) -> &'static str {
        match self {
            WriteError::Forbidden => "FORBIDDEN",
            WriteError::HotelNotConfigured(_) => "NOT_FOUND",
            WriteError::Invalid(_) => "BAD_USER_INPUT",
            WriteError::Unsupported { .. } => "UNSUPPORTED",
            WriteError::Conflict => "IDEMPOTENCY_CONFLICT",
            WriteError::Connection(_) | WriteError::Store(_) | WriteError::Internal(_) => {
                "INTERNAL"
            }
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            WriteError::Store(e) => e.is_retryable(),
            // Credentials are re-read after the secret cache expires.
            WriteError::Connection(_) => true,
            _ => false,
        }
    }

    /// Safe to return to a partner: no store, vendor or credential detail.
    pub fn public_message(&self) -> String {
        match self {
            WriteError::Forbidden => "this credential does not allow writes to that hotel".into(),
            WriteError::Connection(_) | WriteError::Store(_) | WriteError::Internal(_) => {
                "internal error".into()
            }
            other => other.to_string(),
        }
    }

    /// The input field an error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            WriteError::Invalid(v) => Some(v.field),
            _ => None,
        }
    }
}

impl From<ReadError> for WriteError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Forbidden => WriteError::Forbidden,
            ReadError::HotelNotConfigured(h) => WriteError::HotelNotConfigured(h),
            ReadError::Invalid(v) => WriteError::Invalid(v),
            ReadError::Store(p) => WriteError::Store(p),
            other => WriteError::Internal(other.to_string()),
        }
    }
}

impl WriteError {
    fn from_submit(e: SubmitError, provider: Provider) -> Self {
        match e {
            SubmitError::Invalid(v) => WriteError::Invalid(v),
            SubmitError::Unsupported { operation } => WriteError::Unsupported {
                provider,
                what: operation,
            },
            SubmitError::Conflict => WriteError::Conflict,
            SubmitError::Store(p) => WriteError::Store(p),
        }
    }
}

impl From<PortError> for WriteError {
    fn from(e: PortError) -> Self {
        WriteError::Store(e)
    }
}

struct Inner {
    service: WriteService,
    hotels: HotelRegistry,
    adapters: Arc<AdapterFactory>,
}

/// The write side, built once per process.
#[derive(Clone)]
pub struct PartnerWrites {
    inner: Arc<Inner>,
}

impl PartnerWrites {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        queue: Arc<dyn Queue>,
        write_queue_url: impl Into<String>,
        adapters: Arc<AdapterFactory>,
    ) -> Self {
        let records = WriteRecords::new(store.clone(), clock);
        Self {
            inner: Arc::new(Inner {
                service: WriteService::new(records, queue, write_queue_url),
                hotels: HotelRegistry::new(store),
                adapters,
            }),
        }
    }

    pub fn from_services(services: &Services) -> Self {
        Self::new(
            services.store.clone(),
            services.clock.clone(),
            services.queue.clone(),
            services.names.write_queue_url.clone(),
            services.adapters.clone(),
        )
    }

    /// The writes one verified caller may make.
    pub fn session(&self, principal: Principal) -> WriteSession {
        WriteSession {
            access: HotelAccess::new(principal, self.inner.hotels.clone()),
            writes: self.clone(),
        }
    }
}

/// One caller's writes. Every method authorizes the hotel it names before anything else.
pub struct WriteSession {
    writes: PartnerWrites,
    access: HotelAccess,
}

impl WriteSession {
    pub fn principal(&self) -> &Principal {
        self.access.principal()
    }

    fn service(&self) -> &WriteService {
        &self.writes.inner.service
    }

    /// Queues `operation` for `hotel` and answers its operation at once (`queued`, or the first
    /// submission's state when the idempotency key was seen before).
    pub async fn submit(
        &self,
        hotel: &HotelId,
        operation: WriteOperation,
        idempotency_key: Option<&str>,
        correlation_id: &str,
    ) -> Result<OperationRecord, WriteError> {
        let config = self.access.authorize(hotel, Scope::Write).await?;
        self.submit_authorized(&config, operation, idempotency_key, correlation_id)
            .await
    }

    /// Replaces preferences on a guest profile. `guest` is the guest's record id
    /// (`<provider>:<id>`, as reads return it), which must be of the hotel's PMS.
    pub async fn update_guest_preferences(
        &self,
        hotel: &HotelId,
        guest: &RecordId,
        preferences: Vec<Preference>,
        idempotency_key: Option<&str>,
        correlation_id: &str,
    ) -> Result<OperationRecord, WriteError> {
        let config = self.access.authorize(hotel, Scope::Write).await?;
        if guest.provider() != config.provider {
            return Err(ValidationError::new(
                "guestId",
                format!("is not a guest of this hotel's PMS ({})", config.provider),
            )
            .into());
        }
        // The profile must be this hotel's (vendors' profiles can be a whole chain's): asked of
        // the PMS before anything is queued, within the read deadline.
        let adapter = self
            .writes
            .inner
            .adapters
            .adapter_for(&config)
            .await
            .map_err(|e| WriteError::Connection(e.to_string()))?;
        // A PMS that cannot do it at all is refused as such below, without a call.
        if adapter.capabilities().update_preferences {
            let until = tokio::time::Instant::now() + crate::reads::READ_DEADLINE;
            let external = guest.external().clone();
            match crate::reads::by_deadline(until, async { adapter.get_guest(&external).await })
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) | Err(pms_domain::pms::PmsError::NotFound { .. }) => {
                    return Err(
                        ValidationError::new("guestId", "is not a guest of this hotel").into(),
                    )
                }
                Err(e) => return Err(WriteError::Connection(e.to_string())),
            }
        }
        let operation = WriteOperation::UpdateGuestPreferences {
            guest_id: guest.external().clone(),
            preferences,
        };
        self.submit_authorized(&config, operation, idempotency_key, correlation_id)
            .await
    }

    async fn submit_authorized(
        &self,
        config: &HotelConfig,
        operation: WriteOperation,
        idempotency_key: Option<&str>,
        correlation_id: &str,
    ) -> Result<OperationRecord, WriteError> {
        if let WriteOperation::PostCharge { charge, .. } = &operation {
            // Folios are in the hotel's currency; a charge in another would only be refused by
            // the PMS later, from the queue.
            if charge.amount.currency != config.currency {
                return Err(ValidationError::new(
                    "currency",
                    format!("must be the hotel's currency, {}", config.currency),
                )
                .into());
            }
        }
        let adapter = self
            .writes
            .inner
            .adapters
            .adapter_for(config)
            .await
            .map_err(|e| WriteError::Connection(e.to_string()))?;
        let capabilities = adapter.capabilities();
        self.service()
            .submit(
                &config.hotel_id,
                operation,
                idempotency_key,
                &self.principal().token_id,
                correlation_id,
                &capabilities,
            )
            .await
            .map_err(|e| WriteError::from_submit(e, config.provider))
    }

    /// An operation of a hotel the caller may read or write.
    pub async fn operation(&self, r: &OperationRef) -> Result<Option<OperationRecord>, WriteError> {
        let scope = if self.principal().has(Scope::Write) {
            Scope::Write
        } else {
            Scope::Read
        };
        self.access.authorize(&r.hotel, scope).await?;
        Ok(self.service().operation(&r.hotel, &r.id).await?)
    }
}
