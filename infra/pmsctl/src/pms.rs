//! `pmsctl pms <operation>`: asks a hotel's PMS through its adapter and prints the canonical
//! answer as JSON: the record (exit 0), `null` when the PMS has no such thing (exit 0), or the
//! typed error (exit 1). Reads only: writes go through the write queue (GraphQL mutations),
//! where they are idempotent and audited.

use chrono::{DateTime, Duration, Utc};
use clap::Subcommand;
use pms_app::ids::vendor_id;
use pms_domain::domain::{BusinessDate, ConfirmationNumber, GuestQuery, HotelId, RoomNumber};
use pms_domain::pms::{ChangeWindow, PmsError};
use serde::Serialize;

use super::{failure, services, CtlError, CtlResult, Target};

#[derive(Debug, Subcommand)]
pub enum PmsCommand {
    /// The adapter's health check.
    Health(HotelArg),
    /// What the hotel's vendor supports.
    Capabilities(HotelArg),
    GetGuest {
        #[command(flatten)]
        hotel: HotelArg,
        /// The vendor's guest / profile id, or `Guest.id` as the API shows it
        /// (`<provider>:<id>`).
        #[arg(long)]
        id: String,
    },
    SearchGuests {
        #[command(flatten)]
        hotel: HotelArg,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
    },
    GetReservation {
        #[command(flatten)]
        hotel: HotelArg,
        #[arg(long)]
        confirmation: String,
    },
    /// A reservation by the vendor's own id (what webhooks carry), or as the API shows it:
    /// `Booking.recordId` (`<provider>:<id>`) or `Booking.id` (`<hotel>/<provider>:<id>`).
    GetReservationById {
        #[command(flatten)]
        hotel: HotelArg,
        #[arg(long)]
        id: String,
    },
    /// Arrivals on a property-local date (default: today in the hotel's zone).
    Arrivals {
        #[command(flatten)]
        hotel: HotelArg,
        #[arg(long)]
        date: Option<String>,
    },
    Departures {
        #[command(flatten)]
        hotel: HotelArg,
        #[arg(long)]
        date: Option<String>,
    },
    InHouse(HotelArg),
    Balance {
        #[command(flatten)]
        hotel: HotelArg,
        #[arg(long)]
        confirmation: String,
    },
    /// Looks for a charge we posted, by our reference.
    FindCharge {
        #[command(flatten)]
        hotel: HotelArg,
        #[arg(long)]
        confirmation: String,
        #[arg(long)]
        reference: String,
    },
    RoomStatus {
        #[command(flatten)]
        hotel: HotelArg,
        #[arg(long)]
        room: String,
    },
    RoomStatuses(HotelArg),
    /// Rooms free per property-local night and room type, straight from the PMS (what the
    /// `availability` feed stores); `UNSUPPORTED` on OPERA.
    Availability {
        #[command(flatten)]
        hotel: HotelArg,
        /// First night (default: today in the hotel's zone).
        #[arg(long)]
        from: Option<String>,
        /// Last night (default: the first).
        #[arg(long)]
        to: Option<String>,
    },
    /// Reservations changed in a window (the vendor's delta mechanism).
    Changed {
        #[command(flatten)]
        hotel: HotelArg,
        /// RFC 3339 instant, or an age such as 90m, 6h, 2d.
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct HotelArg {
    #[arg(long)]
    pub hotel: String,
}

fn instant(value: &str, now: DateTime<Utc>) -> CtlResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let (num, unit) = value.split_at(value.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| {
        CtlError::Usage(format!(
            "{value:?} is neither an RFC 3339 instant nor an age like 6h"
        ))
    })?;
    let age = match unit {
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => {
            return Err(CtlError::Usage(format!(
                "unknown unit in {value:?} (use m, h or d)"
            )))
        }
    };
    Ok(now - age)
}

/// The typed error as printed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrintedError {
    code: &'static str,
    message: String,
    retryable: bool,
    request_id: Option<String>,
}

fn print_json<T: Serialize>(value: &T) -> CtlResult<()> {
    crate::outln!("{}", serde_json::to_string_pretty(value).map_err(failure)?);
    Ok(())
}

fn pms_failed(e: PmsError) -> CtlError {
    let printed = PrintedError {
        code: e.code(),
        message: e.to_string(),
        retryable: e.is_retryable(),
        request_id: e.request_id().map(str::to_owned),
    };
    let _ = print_json(&serde_json::json!({ "error": printed }));
    CtlError::Failure(format!("{} ({})", e, e.code()))
}

impl PmsCommand {
    fn hotel(&self) -> &str {
        match self {
            PmsCommand::Health(h)
            | PmsCommand::Capabilities(h)
            | PmsCommand::InHouse(h)
            | PmsCommand::RoomStatuses(h) => &h.hotel,
            PmsCommand::GetGuest { hotel, .. }
            | PmsCommand::SearchGuests { hotel, .. }
            | PmsCommand::GetReservation { hotel, .. }
            | PmsCommand::GetReservationById { hotel, .. }
            | PmsCommand::Arrivals { hotel, .. }
            | PmsCommand::Departures { hotel, .. }
            | PmsCommand::Balance { hotel, .. }
            | PmsCommand::FindCharge { hotel, .. }
            | PmsCommand::RoomStatus { hotel, .. }
            | PmsCommand::Changed { hotel, .. }
            | PmsCommand::Availability { hotel, .. } => &hotel.hotel,
        }
    }
}

pub async fn run(cmd: PmsCommand, target: impl FnOnce() -> CtlResult<Target>) -> CtlResult<()> {
    let hotel = HotelId::parse(cmd.hotel())?;
    // Input is checked before any call.
    let parsed_date = |d: &Option<String>| d.as_deref().map(BusinessDate::parse).transpose();
    let svc = services(target()?).await;
    let config = svc
        .hotels
        .get(&hotel)
        .await
        .map_err(failure)?
        .ok_or_else(|| CtlError::Usage(format!("hotel {hotel} is not configured")))?;
    let adapter = svc
        .adapters
        .adapter_for(&config)
        .await
        .map_err(pms_failed)?;
    let today = config.time_zone.business_date(Utc::now());
    match cmd {
        PmsCommand::Health(_) => print_json(&adapter.health_check().await),
        PmsCommand::Capabilities(_) => print_json(&adapter.capabilities()),
        PmsCommand::GetGuest { id, .. } => {
            let id = vendor_id(&hotel, config.provider, &id)?;
            print_json(&adapter.get_guest(&id).await.map_err(pms_failed)?)
        }
        PmsCommand::SearchGuests {
            name, email, phone, ..
        } => {
            let q = GuestQuery { name, email, phone };
            q.validate()?;
            print_json(&adapter.search_guests(&q).await.map_err(pms_failed)?)
        }
        PmsCommand::GetReservation { confirmation, .. } => {
            let c = ConfirmationNumber::parse(confirmation)?;
            print_json(&adapter.get_reservation(&c).await.map_err(pms_failed)?)
        }
        PmsCommand::GetReservationById { id, .. } => {
            let id = vendor_id(&hotel, config.provider, &id)?;
            print_json(
                &adapter
                    .get_reservation_by_id(&id)
                    .await
                    .map_err(pms_failed)?,
            )
        }
        PmsCommand::Arrivals { date, .. } => {
            let d = parsed_date(&date)?.unwrap_or(today);
            print_json(&adapter.arrivals(d).await.map_err(pms_failed)?)
        }
        PmsCommand::Departures { date, .. } => {
            let d = parsed_date(&date)?.unwrap_or(today);
            print_json(&adapter.departures(d).await.map_err(pms_failed)?)
        }
        PmsCommand::InHouse(_) => print_json(&adapter.in_house().await.map_err(pms_failed)?),
        PmsCommand::Balance { confirmation, .. } => {
            let c = ConfirmationNumber::parse(confirmation)?;
            match adapter.get_balance(&c).await {
                Ok(m) => print_json(&m),
                Err(PmsError::NotFound { .. }) => print_json(&serde_json::Value::Null),
                Err(e) => Err(pms_failed(e)),
            }
        }
        PmsCommand::FindCharge {
            confirmation,
            reference,
            ..
        } => {
            let c = ConfirmationNumber::parse(confirmation)?;
            print_json(
                &adapter
                    .find_charge(&c, &reference)
                    .await
                    .map_err(pms_failed)?,
            )
        }
        PmsCommand::RoomStatus { room, .. } => {
            let r = RoomNumber::parse(room)?;
            print_json(&adapter.room_status(&r).await.map_err(pms_failed)?)
        }
        PmsCommand::RoomStatuses(_) => {
            print_json(&adapter.room_statuses().await.map_err(pms_failed)?)
        }
        PmsCommand::Availability { from, to, .. } => {
            let from = parsed_date(&from)?.unwrap_or(today);
            let to = parsed_date(&to)?.unwrap_or(from);
            print_json(&adapter.availability(from, to).await.map_err(pms_failed)?)
        }
        PmsCommand::Changed { since, until, .. } => {
            let now = Utc::now();
            let from = instant(&since, now)?;
            let to = until
                .as_deref()
                .map(|u| instant(u, now))
                .transpose()?
                .unwrap_or(now);
            if from > to {
                return Err(CtlError::Usage("--since must be before --until".into()));
            }
            print_json(
                &adapter
                    .reservations_changed(ChangeWindow { from, to })
                    .await
                    .map_err(pms_failed)?,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(instant("6h", now).unwrap(), now - Duration::hours(6));
        assert_eq!(
            instant("2026-11-30T00:00:00Z", now).unwrap().to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
        assert!(instant("6y", now).is_err());
        assert!(instant("soon", now).is_err());
    }
}
