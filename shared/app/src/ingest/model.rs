//! Partner payloads -> the canonical model. The partner-facing shapes (camelCase, documented in
//! the webhook function's OpenAPI document) are read field by field; every record a partner
//! pushes is keyed `partner:<partner system>:<their id>`, so two partner systems (or a partner
//! and the PMS) can never overwrite each other's records.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::fields::{Ctx, Obj};
use crate::records::ProvidedAvailability;
use crate::registry::PartnerSystem;
use pms_domain::domain::{
    Availability, ConfirmationNumber, ExternalId, Guest, GuestSummary, Preference,
    PreferenceSource, Provider, RecordId, Reservation, ReservationStatus, RoomNumber, RoomTypeCode,
    ValidationError,
};

/// Longest partner id we accept (leaves room for the partner prefix in an [`ExternalId`]).
const MAX_PARTNER_ID: usize = 64;
/// Longest stay a booking may describe.
const MAX_NIGHTS: i64 = 365;
/// How far in the future a source timestamp may be (clock skew). A record stamped further
/// ahead would outrank every real update after it.
const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);
/// How far ahead of now (as epoch milliseconds) a partner's `version` may be. Versions order
/// every source of a record (availability of a night is one record whoever pushes it): one far
/// in the future would outrank every later update, from any partner, for as long as it lies
/// ahead. A day leaves room for counters and clock skew, and bounds such a pin to a day.
const MAX_VERSION_AHEAD: Duration = Duration::days(1);

/// What reading needs besides the JSON.
pub(crate) struct Source<'a> {
    pub partner: &'a PartnerSystem,
    pub now: DateTime<Utc>,
}

impl Source<'_> {
    fn record_id(&self, external: &str) -> Result<RecordId, ValidationError> {
        Ok(RecordId::new(
            Provider::PARTNER,
            ExternalId::parse(format!("{}:{external}", self.partner))?,
        ))
    }
}

fn partner_id(
    o: &mut Obj<'_>,
    ctx: &mut Ctx,
    name: &'static str,
    required: bool,
) -> Option<String> {
    o.parsed(ctx, name, MAX_PARTNER_ID, required, |s| {
        ExternalId::parse(s).map(|e| e.as_str().to_owned())
    })
}

/// The ordering version: `version` if given, else `updatedAt` in epoch milliseconds, else the
/// time we received it (a later push wins).
fn version_and_time(
    o: &mut Obj<'_>,
    ctx: &mut Ctx,
    src: &Source<'_>,
) -> (u64, Option<DateTime<Utc>>) {
    let updated_at = o.datetime(ctx, "updatedAt");
    if let Some(t) = updated_at {
        if t > src.now + MAX_CLOCK_SKEW {
            ctx.error(
                o.field("updatedAt"),
                "FUTURE_TIMESTAMP",
                "must not be in the future",
            );
        }
    }
    let latest = Reservation::version_from(Some(src.now + MAX_VERSION_AHEAD));
    let version = o.uint(ctx, "version", i64::MAX as u64, false);
    if version.is_some_and(|v| v > latest) {
        ctx.error(
            o.field("version"),
            "FUTURE_VERSION",
            format!("must not be beyond now + 1 day in epoch milliseconds (at most {latest} now)"),
        );
    }
    let v =
        version.unwrap_or_else(|| Reservation::version_from(Some(updated_at.unwrap_or(src.now))));
    (v, updated_at)
}

fn email(o: &mut Obj<'_>, ctx: &mut Ctx) -> Option<String> {
    o.parsed(ctx, "email", 254, false, |s| {
        let ok = s.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !s.contains(char::is_whitespace)
        });
        if ok {
            Ok(s.to_owned())
        } else {
            Err(ValidationError::new("email", "is not an email address").with_code("INVALID_EMAIL"))
        }
    })
}

fn status(o: &mut Obj<'_>, ctx: &mut Ctx) -> Option<(ReservationStatus, String)> {
    let raw = o.string(ctx, "status", 32, true)?;
    // The partner API takes the canonical values only (the vendors' spellings are mapped by
    // their adapters), so the documented enum is exactly what is accepted.
    match ReservationStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == raw)
    {
        Some(s) => Some((s, raw)),
        None => {
            ctx.error(
                o.field("status"),
                "UNKNOWN_STATUS",
                format!(
                    "unknown status {raw:?} (expected confirmed, checked_in, checked_out, cancelled or no_show)"
                ),
            );
            None
        }
    }
}

pub(crate) fn booking(o: &mut Obj<'_>, ctx: &mut Ctx, src: &Source<'_>) -> Option<Reservation> {
    let before = ctx.errors.len();
    let external = partner_id(o, ctx, "externalId", true);
    let confirmation = o.parsed(ctx, "confirmationNumber", 64, false, |s| {
        ConfirmationNumber::parse(s)
    });
    let status = status(o, ctx);
    let arrival = o.date(ctx, "checkIn", true);
    let departure = o.date(ctx, "checkOut", true);
    let arrival_time = o.time(ctx, "arrivalTime");
    let departure_time = o.time(ctx, "departureTime");
    let guest = o.object(ctx, "guest", false, |g, ctx| {
        let id = partner_id(g, ctx, "externalId", false);
        let summary = GuestSummary {
            id: None,
            first_name: g.string(ctx, "firstName", 100, false),
            last_name: g.string(ctx, "lastName", 100, false),
            email: email(g, ctx),
            phone: g.string(ctx, "phone", 40, false),
        };
        Some((id, summary))
    });
    let room_number = o.parsed(ctx, "roomNumber", 32, false, |s| RoomNumber::parse(s));
    let room_type = o.parsed(ctx, "roomType", 64, false, |s| RoomTypeCode::parse(s));
    let adults = o.uint(ctx, "adults", 50, false);
    let children = o.uint(ctx, "children", 50, false);
    let rate_code = o.string(ctx, "rateCode", 64, false);
    let total = o.money(ctx, "total", false);
    let balance = o.money(ctx, "balance", true);
    let special_requests = o.strings(ctx, "specialRequests", 50, 500);
    let notes = o.strings(ctx, "notes", 50, 2000);
    let (version, updated_at) = version_and_time(o, ctx, src);

    if let (Some(a), Some(d)) = (arrival, departure) {
        if d <= a {
            ctx.error(
                o.field("checkOut"),
                "INVALID_DATES",
                format!("checkOut {d} must be after checkIn {a}"),
            );
        } else if a.days_until(d) > MAX_NIGHTS {
            ctx.error(
                o.field("checkOut"),
                "INVALID_DATES",
                format!("a stay may be at most {MAX_NIGHTS} nights"),
            );
        }
    }
    if ctx.errors.len() > before {
        return None;
    }
    let external = external?;
    let id = match src.record_id(&external) {
        Ok(id) => id,
        Err(e) => {
            ctx.error(o.field("externalId"), e.code, e.message);
            return None;
        }
    };
    let guest = match guest {
        Some((gid, mut summary)) => {
            summary.id = gid.and_then(|g| src.record_id(&g).ok());
            Some(summary)
        }
        None => None,
    };
    let (status, raw_status) = status?;
    let r = Reservation {
        confirmation_number: match confirmation {
            Some(c) => c,
            None => ConfirmationNumber::parse(&external).ok()?,
        },
        id,
        guest,
        room_number,
        room_type,
        arrival: arrival?,
        departure: departure?,
        expected_arrival_time: arrival_time,
        expected_departure_time: departure_time,
        status,
        raw_status,
        adults: adults.unwrap_or(1) as u32,
        children: children.unwrap_or(0) as u32,
        rate_code,
        total,
        balance,
        special_requests,
        notes,
        source_updated_at: updated_at,
        version,
        not_carried: Default::default(),
    };
    if let Err(e) = r.validate() {
        let field = match e.field {
            "departure" => "checkOut",
            "total" => "total.amount",
            other => other,
        };
        ctx.error(o.field(field), e.code, e.message);
        return None;
    }
    Some(r)
}

pub(crate) fn guest(o: &mut Obj<'_>, ctx: &mut Ctx, src: &Source<'_>) -> Option<Guest> {
    let before = ctx.errors.len();
    let external = partner_id(o, ctx, "externalId", true);
    let first_name = o.string(ctx, "firstName", 100, false);
    let last_name = o.string(ctx, "lastName", 100, false);
    let email = email(o, ctx);
    let phone = o.string(ctx, "phone", 40, false);
    let language = o.string(ctx, "language", 35, false);
    let loyalty_tier = o.string(ctx, "loyaltyTier", 64, false);
    let vip = o.boolean(ctx, "vip").unwrap_or(false);
    let preferences = o.objects(ctx, "preferences", 50, |p, ctx| {
        let pref = Preference {
            category: p.string(ctx, "category", 64, true)?,
            key: p.string(ctx, "key", 64, true)?,
            value: p.string(ctx, "value", 2000, false).unwrap_or_default(),
            source: PreferenceSource::Partner,
        };
        match pref.validate() {
            Ok(()) => Some(pref),
            Err(e) => {
                ctx.error(p.field(e.field), e.code, e.message);
                None
            }
        }
    });
    let (version, updated_at) = version_and_time(o, ctx, src);
    if ctx.errors.len() > before {
        return None;
    }
    let id = match src.record_id(&external?) {
        Ok(id) => id,
        Err(e) => {
            ctx.error(o.field("externalId"), e.code, e.message);
            return None;
        }
    };
    Some(Guest {
        id,
        external_ids: Default::default(),
        first_name,
        last_name,
        email,
        phone,
        language,
        loyalty_tier,
        vip,
        preferences,
        source_updated_at: updated_at,
        version,
    })
}

pub(crate) fn availability(
    o: &mut Obj<'_>,
    ctx: &mut Ctx,
    src: &Source<'_>,
) -> Option<ProvidedAvailability> {
    let before = ctx.errors.len();
    let date = o.date(ctx, "date", true);
    let room_type = o.parsed(ctx, "roomType", 64, true, |s| RoomTypeCode::parse(s));
    let available = o.uint(ctx, "available", 100_000, true);
    let total = o.uint(ctx, "total", 100_000, false);
    let rate = o.money(ctx, "rate", false);
    let (version, updated_at) = version_and_time(o, ctx, src);
    if ctx.errors.len() > before {
        return None;
    }
    let a = Availability {
        date: date?,
        room_type: room_type?,
        available: available? as u32,
        total: total.map(|t| t as u32),
        rate,
        source_updated_at: updated_at,
        version,
    };
    if let Err(e) = a.validate() {
        let field = if e.field == "rate" {
            "rate.amount"
        } else {
            e.field
        };
        ctx.error(o.field(field), e.code, e.message);
        return None;
    }
    Some(ProvidedAvailability {
        provider: Provider::PARTNER,
        availability: a,
    })
}

/// Reads a body that is one item or `{"items": [...]}`.
pub(crate) fn items<'v, R>(
    body: &'v Value,
    max_items: usize,
    ctx: &mut Ctx,
    mut read: impl FnMut(&mut Obj<'v>, &mut Ctx) -> Option<R>,
) -> (Vec<R>, bool) {
    let batch = body.as_object().is_some_and(|m| m.contains_key("items"));
    if !batch {
        let Some(mut obj) = Obj::of(body, "", ctx) else {
            return (Vec::new(), false);
        };
        let out = read(&mut obj, ctx);
        obj.done(ctx);
        return (out.into_iter().collect(), false);
    }
    let Some(mut root) = Obj::of(body, "", ctx) else {
        return (Vec::new(), true);
    };
    if body["items"].as_array().is_some_and(Vec::is_empty) {
        ctx.error("items".into(), "REQUIRED", "must have at least one item");
    }
    let out = root.objects(ctx, "items", max_items, &mut read);
    root.done(ctx);
    (out, true)
}
