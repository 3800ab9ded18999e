//! The mutation root: each resolver parses its arguments into the core's types and submits the
//! write through the caller's [`WriteSession`] (which authorizes the hotel, checks the vendor
//! can do it, derives the idempotency key and queues it). Every mutation answers at once with
//! the queued [`Operation`]. The subscription mutations go through the caller's
//! `SubscriptionSession` (scope `subscribe`) and answer at once.

use async_graphql::{Context, Object, Result, ID};
use pms_app::writes::{WriteError, WriteOperation};
use pms_domain::domain::{
    Charge, CheckoutChange, ConfirmationNumber, Currency, HotelId, Money, RecordId, ValidationError,
};

use crate::context::{
    correlation, input_path, subscription_error, subscription_session, write_error, write_session,
};
use crate::errors;
use crate::limits::{PMS_FIELD_COST, SUBSCRIPTION_CHANGE_COST};
use crate::subscription_types::{EventSubscription, SubscriptionSecret};
use crate::types::Date;
use crate::write_types::*;

/// Every mutation costs what a PMS read costs: each ends in a PMS call, so one request cannot
/// queue more than 20 writes.
pub struct MutationRoot;

fn invalid(e: ValidationError) -> async_graphql::Error {
    errors::from_write(
        WriteError::Invalid(e.clone()),
        Some(input_path(e.field)),
        "",
    )
}

fn parse<T>(r: std::result::Result<T, ValidationError>) -> Result<T> {
    r.map_err(invalid)
}

fn hotel(id: &ID) -> Result<HotelId> {
    parse(HotelId::parse(id.as_str()))
}

/// The hotel and subscription a subscription mutation names.
fn subscription_ref(
    ctx: &Context<'_>,
    hotel_id: &ID,
    id: &ID,
) -> Result<(HotelId, pms_app::subscriptions::SubscriptionId)> {
    let h = hotel(hotel_id)?;
    let id = pms_app::subscriptions::subscription_id(&h, id.as_str())
        .map_err(|e| subscription_error(ctx, e))?;
    Ok((h, id))
}

async fn submit(
    ctx: &Context<'_>,
    hotel: &HotelId,
    operation: WriteOperation,
    idempotency_key: Option<String>,
) -> Result<Operation> {
    let op = write_session(ctx)?
        .submit(
            hotel,
            operation,
            idempotency_key.as_deref(),
            correlation(ctx),
        )
        .await
        .map_err(|e| write_error(ctx, e))?;
    Ok(op.into())
}

#[Object]
impl MutationRoot {
    /// Adds a note to a reservation.
    ///
    /// Every mutation is queued and answers at once with the operation (`QUEUED`, or the
    /// first submission's state for a repeated request); poll `operation(id:)` for the outcome.
    /// `idempotencyKey` (1 to 128 of letters, digits, `- _ . :`) makes retries safe: the same
    /// key with the same arguments returns the same operation (and queues nothing more), with
    /// other arguments it is refused (`IDEMPOTENCY_CONFLICT`). Keys are yours alone: another
    /// partner's same key is another key. Without one, every request is a new operation: two
    /// identical charges are two charges, so send a key with anything you may retry.
    /// A write the hotel's PMS cannot do is refused at once (`UNSUPPORTED`).
    #[graphql(complexity = "PMS_FIELD_COST + child_complexity")]
    async fn add_reservation_note(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        confirmation_number: String,
        note: NoteInput,
        idempotency_key: Option<String>,
    ) -> Result<Operation> {
        let h = hotel(&hotel_id)?;
        let confirmation = parse(ConfirmationNumber::parse(confirmation_number))?;
        let operation = WriteOperation::AddReservationNote {
            confirmation,
            note: note.into(),
        };
        submit(ctx, &h, operation, idempotency_key).await
    }

    /// Adds or replaces preferences on a guest profile (1 to 50). `guestId` is `Guest.id`.
    /// Not supported by Cloudbeds.
    #[graphql(complexity = "PMS_FIELD_COST + child_complexity")]
    async fn update_guest_preferences(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        guest_id: ID,
        preferences: Vec<PreferenceInput>,
        idempotency_key: Option<String>,
    ) -> Result<Operation> {
        let h = hotel(&hotel_id)?;
        let guest: RecordId = guest_id.as_str().parse().map_err(|e: ValidationError| {
            invalid(ValidationError {
                field: "guestId",
                ..e
            })
        })?;
        let op = write_session(ctx)?
            .update_guest_preferences(
                &h,
                &guest,
                preferences.into_iter().map(Into::into).collect(),
                idempotency_key.as_deref(),
                correlation(ctx),
            )
            .await
            .map_err(|e| write_error(ctx, e))?;
        Ok(op.into())
    }

    /// Posts a charge to a reservation's folio. A charge is never posted twice: retries use
    /// the vendor's own duplicate protection (Cloudbeds) or look for the charge's reference on
    /// the folio first (OPERA, Mews). When that cannot be settled, the operation ends
    /// `DEAD_LETTERED` with `OUTCOME_UNKNOWN` (the charge may exist at the PMS) and the hotel's
    /// staff resolve it; do not post it again under another key.
    #[graphql(complexity = "PMS_FIELD_COST + child_complexity")]
    async fn post_charge(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        confirmation_number: String,
        charge: ChargeInput,
        idempotency_key: Option<String>,
    ) -> Result<Operation> {
        let h = hotel(&hotel_id)?;
        let confirmation = parse(ConfirmationNumber::parse(confirmation_number))?;
        let currency = parse(
            Currency::parse(&charge.currency).map_err(|e| ValidationError {
                field: "currency",
                ..e
            }),
        )?;
        let operation = WriteOperation::PostCharge {
            confirmation,
            charge: Charge {
                amount: Money::new(charge.amount_minor, currency),
                description: charge.description,
                revenue_center: charge.revenue_center,
                // Empty: derived from the idempotency key by the core.
                reference: charge.reference.unwrap_or_default(),
            },
        };
        submit(ctx, &h, operation, idempotency_key).await
    }

    /// Moves a reservation's departure: the date, and the time of a late checkout where the PMS
    /// records one (Cloudbeds cannot: a `time` there is `UNSUPPORTED`).
    #[graphql(complexity = "PMS_FIELD_COST + child_complexity")]
    async fn update_checkout_time(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        confirmation_number: String,
        departure_date: Date,
        time: Option<LocalTime>,
        idempotency_key: Option<String>,
    ) -> Result<Operation> {
        let h = hotel(&hotel_id)?;
        let confirmation = parse(ConfirmationNumber::parse(confirmation_number))?;
        let operation = WriteOperation::UpdateCheckout {
            confirmation,
            change: CheckoutChange {
                date: departure_date.0,
                time: time.map(|t| t.0),
            },
        };
        submit(ctx, &h, operation, idempotency_key).await
    }

    /// Subscribes `url` to the hotel's events of these types (for tokens with the `subscribe`
    /// scope on the hotel). `events`: `pms.booking.synced`, `pms.booking.checked_in`,
    /// `pms.booking.checked_out`, `pms.booking.cancelled`, `pms.guest.synced`,
    /// `pms.room.status_changed`, `pms.availability.synced`. `url` must be `https` and reach a
    /// public address. Answers the subscription with its signing secret, which is never shown
    /// again. A hotel has at most 25 subscriptions.
    #[graphql(complexity = "SUBSCRIPTION_CHANGE_COST + child_complexity")]
    async fn create_subscription(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        url: String,
        events: Vec<String>,
    ) -> Result<SubscriptionSecret> {
        let h = hotel(&hotel_id)?;
        let made = subscription_session(ctx)?
            .create(&h, &url, &events)
            .await
            .map_err(|e| subscription_error(ctx, e))?;
        Ok(made.into())
    }

    /// Stops deliveries to it (events meanwhile are not delivered later). `reason` (at most
    /// 500 characters) is kept with it, in `disabledReason`.
    #[graphql(complexity = "SUBSCRIPTION_CHANGE_COST + child_complexity")]
    async fn disable_subscription(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        id: ID,
        reason: Option<String>,
    ) -> Result<EventSubscription> {
        let (h, id) = subscription_ref(ctx, &hotel_id, &id)?;
        let s = subscription_session(ctx)?
            .set_enabled(&h, &id, false, reason)
            .await
            .map_err(|e| subscription_error(ctx, e))?;
        Ok(s.into())
    }

    /// Starts deliveries again (also after your receiver answered 410).
    #[graphql(complexity = "SUBSCRIPTION_CHANGE_COST + child_complexity")]
    async fn enable_subscription(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        id: ID,
    ) -> Result<EventSubscription> {
        let (h, id) = subscription_ref(ctx, &hotel_id, &id)?;
        let s = subscription_session(ctx)?
            .set_enabled(&h, &id, true, None)
            .await
            .map_err(|e| subscription_error(ctx, e))?;
        Ok(s.into())
    }

    /// A new signing secret, answered once. The previous one keeps signing deliveries for 24
    /// hours (`previousSecretValidUntil`): each delivery carries both signatures until then,
    /// so your receivers can change secrets without missing one.
    #[graphql(complexity = "SUBSCRIPTION_CHANGE_COST + child_complexity")]
    async fn rotate_subscription_secret(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        id: ID,
    ) -> Result<SubscriptionSecret> {
        let (h, id) = subscription_ref(ctx, &hotel_id, &id)?;
        let rotated = subscription_session(ctx)?
            .rotate_secret(&h, &id)
            .await
            .map_err(|e| subscription_error(ctx, e))?;
        Ok(rotated.into())
    }

    /// Deletes it and its secret; answers it as it was.
    #[graphql(complexity = "SUBSCRIPTION_CHANGE_COST + child_complexity")]
    async fn delete_subscription(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        id: ID,
    ) -> Result<EventSubscription> {
        let (h, id) = subscription_ref(ctx, &hotel_id, &id)?;
        let s = subscription_session(ctx)?
            .delete(&h, &id)
            .await
            .map_err(|e| subscription_error(ctx, e))?;
        Ok(s.into())
    }
}
