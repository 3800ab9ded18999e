//! The query root: each resolver parses its arguments into the core's validated types, calls
//! the caller's [`ReadSession`] (which authorizes the hotel), and maps the result.

use async_graphql::{Context, Object, Result, ID};
use pms_app::reads::{BookingRef, PageRequest, ReadError, ReadSession, DEFAULT_PAGE_SIZE};
use pms_app::writes::OperationRef;
use pms_domain::domain::{
    ConfirmationNumber, GuestQuery, HotelId, RecordId, RoomNumber, RoomTypeCode, ValidationError,
};

use crate::context::{subscription_error, subscription_session, write_error, write_session};
use crate::errors::{self, Code, CorrelationId};
use crate::limits::{LIST_ESTIMATE, PMS_FIELD_COST};
use crate::subscription_types::EventSubscription;
use crate::types::*;
use crate::write_types::Operation;

pub struct QueryRoot;

fn session<'a>(ctx: &Context<'a>) -> Result<&'a ReadSession> {
    // Only the authentication gate puts a session in the context.
    ctx.data::<ReadSession>()
        .map_err(|_| errors::error(Code::Unauthenticated, "a bearer token is required"))
}

fn read_error(ctx: &Context<'_>, e: ReadError) -> async_graphql::Error {
    let correlation = ctx
        .data::<CorrelationId>()
        .map(|c| c.0.as_str())
        .unwrap_or("");
    errors::from_read(e, correlation)
}

fn parse<T>(r: std::result::Result<T, ValidationError>) -> Result<T> {
    r.map_err(errors::invalid)
}

fn hotel(id: &ID) -> Result<HotelId> {
    parse(HotelId::parse(id.as_str()))
}

#[Object]
impl QueryRoot {
    /// A hotel's stored bookings as a connection (`first` at most 100, default 20). With an
    /// arrival or departure range they are ordered by that date, otherwise by provider and id.
    #[graphql(
        complexity = "first.map_or(DEFAULT_PAGE_SIZE as usize, |n| n.max(0) as usize) * child_complexity + 1"
    )]
    async fn bookings(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        filter: Option<BookingFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<BookingsConnection> {
        let h = hotel(&hotel_id)?;
        let first = match first {
            Some(n) if n < 1 => {
                return Err(errors::invalid(ValidationError::new(
                    "first",
                    "must be at least 1",
                )))
            }
            other => other.map(|n| n as u32),
        };
        let filter = filter.unwrap_or_default().into();
        let page = PageRequest { first, after };
        let c = session(ctx)?
            .bookings(&h, &filter, &page)
            .await
            .map_err(|e| read_error(ctx, e))?;
        Ok(BookingsConnection::new(&h, c))
    }

    /// A booking by its global id (`Booking.id`).
    async fn booking(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Booking>> {
        let r = parse(BookingRef::parse(id.as_str()))?;
        match session(ctx)?
            .booking(&r)
            .await
            .map_err(|e| read_error(ctx, e))?
        {
            Some(b) => Ok(Some(Booking::new(&r.hotel, b))),
            None => Err(errors::not_found(format!("booking {r}"))),
        }
    }

    /// The stored booking with this confirmation number. When numbers coincide across
    /// providers: the one of `provider`, else of the hotel's current provider, else the newest.
    async fn booking_by_confirmation(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        confirmation_number: String,
        provider: Option<Provider>,
    ) -> Result<Option<Booking>> {
        let h = hotel(&hotel_id)?;
        let c = parse(ConfirmationNumber::parse(confirmation_number))?;
        match session(ctx)?
            .booking_by_confirmation(&h, &c, provider.map(Into::into))
            .await
            .map_err(|e| read_error(ctx, e))?
        {
            Some(b) => Ok(Some(Booking::new(&h, b))),
            None => Err(errors::not_found(format!("booking {c}"))),
        }
    }

    /// Rooms free per night and room type, `from` to `to` inclusive (at most 366 days; one
    /// date: `from` = `to`). `source` chooses whose figures, never mixed: `PMS` (the default)
    /// is the hotel's PMS as the sync's `availability` feed last read it, `UNSUPPORTED` where
    /// the PMS has no availability read (OPERA); `PARTNER` is what partners pushed. Every item
    /// says its `source` and `provider`.
    #[graphql(complexity = "LIST_ESTIMATE * child_complexity + 1")]
    async fn availability(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        from: Date,
        to: Date,
        room_type: Option<String>,
        #[graphql(default_with = "AvailabilitySource::Pms")] source: AvailabilitySource,
    ) -> Result<Vec<Availability>> {
        let h = hotel(&hotel_id)?;
        let room_type = room_type.map(RoomTypeCode::parse).transpose();
        let room_type = parse(room_type)?;
        let session = session(ctx)?;
        let list: Vec<Availability> = match source {
            AvailabilitySource::Pms => session
                .pms_availability(&h, from.0, to.0, room_type.as_ref())
                .await
                .map(|l| l.into_iter().map(Into::into).collect()),
            AvailabilitySource::Partner => session
                .availability(&h, from.0, to.0, room_type.as_ref())
                .await
                .map(|l| l.into_iter().map(Into::into).collect()),
        }
        .map_err(|e| read_error(ctx, e))?;
        Ok(list)
    }

    /// Expected arrivals (not cancelled, not no-show) on `date`, by default today in the hotel's
    /// time zone.
    #[graphql(complexity = "LIST_ESTIMATE * child_complexity + 1")]
    async fn arrivals(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        date: Option<Date>,
    ) -> Result<DayBookings> {
        let h = hotel(&hotel_id)?;
        let (d, list) = session(ctx)?
            .arrivals(&h, date.map(|d| d.0))
            .await
            .map_err(|e| read_error(ctx, e))?;
        Ok(DayBookings::new(&h, d, list))
    }

    /// Expected departures on `date`, by default today in the hotel's time zone.
    #[graphql(complexity = "LIST_ESTIMATE * child_complexity + 1")]
    async fn departures(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        date: Option<Date>,
    ) -> Result<DayBookings> {
        let h = hotel(&hotel_id)?;
        let (d, list) = session(ctx)?
            .departures(&h, date.map(|d| d.0))
            .await
            .map_err(|e| read_error(ctx, e))?;
        Ok(DayBookings::new(&h, d, list))
    }

    /// Stays checked in today (in the hotel's time zone) that arrived within the last 30 days.
    #[graphql(complexity = "LIST_ESTIMATE * child_complexity + 1")]
    async fn in_house(&self, ctx: &Context<'_>, hotel_id: ID) -> Result<DayBookings> {
        let h = hotel(&hotel_id)?;
        let (d, list) = session(ctx)?
            .in_house(&h)
            .await
            .map_err(|e| read_error(ctx, e))?;
        Ok(DayBookings::new(&h, d, list))
    }

    /// A guest profile from the PMS, through the cache (`guestTTL`). `id` is `Guest.id`.
    #[graphql(complexity = "PMS_FIELD_COST + child_complexity")]
    async fn guest(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        id: ID,
    ) -> Result<Option<CachedValue<Guest>>> {
        let h = hotel(&hotel_id)?;
        let id: RecordId = parse(id.as_str().parse())?;
        match session(ctx)?
            .guest(&h, &id)
            .await
            .map_err(|e| read_error(ctx, e))?
        {
            Some(c) => Ok(Some(CachedValue::map(c, Into::into))),
            None => Err(errors::not_found(format!("guest {id}"))),
        }
    }

    /// Guests matching every criterion given (at least one), from the PMS through the cache.
    #[graphql(complexity = "PMS_FIELD_COST + LIST_ESTIMATE * child_complexity")]
    async fn search_guests(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        name: Option<String>,
        email: Option<String>,
        phone: Option<String>,
    ) -> Result<CachedValue<GuestList>> {
        let h = hotel(&hotel_id)?;
        let found = session(ctx)?
            .search_guests(&h, GuestQuery { name, email, phone })
            .await
            .map_err(|e| read_error(ctx, e))?;
        Ok(CachedValue::map(found, |g| GuestList {
            guests: g.into_iter().map(Into::into).collect(),
        }))
    }

    /// A reservation as the PMS has it now, through the cache (`reservationTTL`).
    #[graphql(complexity = "PMS_FIELD_COST + child_complexity")]
    async fn reservation(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        confirmation_number: String,
    ) -> Result<Option<CachedValue<Booking>>> {
        let h = hotel(&hotel_id)?;
        let c = parse(ConfirmationNumber::parse(confirmation_number))?;
        match session(ctx)?
            .reservation(&h, &c)
            .await
            .map_err(|e| read_error(ctx, e))?
        {
            Some(r) => Ok(Some(CachedValue::map(r, |r| Booking::new(&h, r)))),
            None => Err(errors::not_found(format!("reservation {c}"))),
        }
    }

    /// One room's status from the PMS, through the cache (`roomStatusTTL`).
    #[graphql(complexity = "PMS_FIELD_COST + child_complexity")]
    async fn room_status(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        room: String,
    ) -> Result<Option<CachedValue<RoomStatus>>> {
        let h = hotel(&hotel_id)?;
        let room = parse(RoomNumber::parse(room))?;
        match session(ctx)?
            .room_status(&h, &room)
            .await
            .map_err(|e| read_error(ctx, e))?
        {
            Some(r) => Ok(Some(CachedValue::map(r, Into::into))),
            None => Err(errors::not_found(format!("room {room}"))),
        }
    }

    /// Every room's status from the PMS, through the cache (`roomStatusTTL`).
    #[graphql(complexity = "PMS_FIELD_COST + LIST_ESTIMATE * child_complexity")]
    async fn room_statuses(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
    ) -> Result<CachedValue<RoomStatusList>> {
        let h = hotel(&hotel_id)?;
        let rooms = session(ctx)?
            .room_statuses(&h)
            .await
            .map_err(|e| read_error(ctx, e))?;
        Ok(CachedValue::map(rooms, |r| RoomStatusList {
            rooms: r.into_iter().map(Into::into).collect(),
        }))
    }

    /// A reservation's folio balance from the PMS, through the cache (`reservationTTL`).
    #[graphql(complexity = "PMS_FIELD_COST + child_complexity")]
    async fn balance(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        confirmation_number: String,
    ) -> Result<Option<CachedValue<Money>>> {
        let h = hotel(&hotel_id)?;
        let c = parse(ConfirmationNumber::parse(confirmation_number))?;
        match session(ctx)?
            .balance(&h, &c)
            .await
            .map_err(|e| read_error(ctx, e))?
        {
            Some(m) => Ok(Some(CachedValue::map(m, Into::into))),
            None => Err(errors::not_found(format!("reservation {c}"))),
        }
    }

    /// The hotel's latest sync runs, newest first (`last`: 1 to 100).
    #[graphql(complexity = "last.max(0) as usize * child_complexity + 1")]
    async fn sync_runs(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        #[graphql(default = 10)] last: i32,
    ) -> Result<Vec<SyncRun>> {
        let h = hotel(&hotel_id)?;
        let last = u32::try_from(last).unwrap_or(0);
        let runs = session(ctx)?
            .sync_runs(&h, last)
            .await
            .map_err(|e| read_error(ctx, e))?;
        Ok(runs.into_iter().map(Into::into).collect())
    }

    /// A write operation by its id (`Operation.id`), with its outcome once the writer ran it.
    /// For tokens with the `read` or `write` scope on its hotel.
    async fn operation(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Operation>> {
        let r = parse(OperationRef::parse(id.as_str()))?;
        match write_session(ctx)?
            .operation(&r)
            .await
            .map_err(|e| write_error(ctx, e))?
        {
            Some(op) => Ok(Some(op.into())),
            None => Err(errors::not_found(format!("operation {r}"))),
        }
    }

    /// The PMS adapter's live health check and the latest sync outcome.
    #[graphql(complexity = "PMS_FIELD_COST + child_complexity")]
    async fn health(&self, ctx: &Context<'_>, hotel_id: ID) -> Result<Health> {
        let h = hotel(&hotel_id)?;
        let health = session(ctx)?
            .health(&h)
            .await
            .map_err(|e| read_error(ctx, e))?;
        Ok(Health::new(&h, health))
    }

    /// The hotel's event subscriptions, oldest first (for tokens with the `subscribe` scope on
    /// it). Their secrets are never answered again.
    #[graphql(complexity = "pms_app::subscriptions::MAX_PER_HOTEL * child_complexity + 1")]
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
    ) -> Result<Vec<EventSubscription>> {
        let h = hotel(&hotel_id)?;
        let list = subscription_session(ctx)?
            .list(&h)
            .await
            .map_err(|e| subscription_error(ctx, e))?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// One event subscription; `id` is `EventSubscription.id` or the subscription id alone.
    async fn subscription(
        &self,
        ctx: &Context<'_>,
        hotel_id: ID,
        id: ID,
    ) -> Result<Option<EventSubscription>> {
        let h = hotel(&hotel_id)?;
        let id = pms_app::subscriptions::subscription_id(&h, id.as_str())
            .map_err(|e| subscription_error(ctx, e))?;
        let s = subscription_session(ctx)?
            .get(&h, &id)
            .await
            .map_err(|e| subscription_error(ctx, e))?;
        Ok(Some(s.into()))
    }
}
