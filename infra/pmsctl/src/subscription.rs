//! `pmsctl subscription create|list|show|disable|enable|rotate-secret|delete|deliveries|
//! redeliver`: partner event subscriptions (signed webhooks of a hotel's events) and their
//! deliveries. Every change is audited; a signing secret is printed once, when made or rotated.

use clap::Subcommand;
use comfy_table::Table;
use pms_app::deliveries::{DeliveryError, DeliveryService};
use pms_app::subscriptions::SubscriptionService;
use pms_domain::domain::HotelId;
use pms_subscriptions::{
    parse_events, DeliveryRecord, DeliveryRef, DeliveryStatus, Subscription, SubscriptionError,
    SubscriptionId, SubscriptionRef, TargetPolicy,
};
use serde_json::json;

use super::{failure, operator, services, CtlError, CtlResult, Target};

#[derive(Debug, Subcommand)]
pub enum SubscriptionCommand {
    /// Subscribes a URL to a hotel's events; prints its id and signing secret (once).
    Create {
        #[arg(long)]
        hotel: String,
        /// https URL (plain http to loopback only on a local stack).
        #[arg(long)]
        url: String,
        /// Event types, comma-separated: pms.booking.synced, pms.booking.checked_in,
        /// pms.booking.checked_out, pms.booking.cancelled, pms.guest.synced,
        /// pms.room.status_changed, pms.availability.synced.
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// A hotel's subscriptions (every hotel's without --hotel).
    List {
        #[arg(long)]
        hotel: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One subscription, as `hotel/sub_...` (or `--hotel H sub_...`), as JSON.
    Show {
        id: String,
        #[arg(long)]
        hotel: Option<String>,
    },
    /// Stops deliveries (events meanwhile are not delivered later).
    Disable {
        id: String,
        #[arg(long)]
        hotel: Option<String>,
        #[arg(long)]
        reason: String,
    },
    Enable {
        id: String,
        #[arg(long)]
        hotel: Option<String>,
    },
    /// A new signing secret, printed once; the old one keeps signing for 24 hours.
    RotateSecret {
        id: String,
        #[arg(long)]
        hotel: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Deletes it and its secret.
    Delete {
        id: String,
        #[arg(long)]
        hotel: Option<String>,
    },
    /// A hotel's deliveries, newest first (kept 7 days when delivered, 14 when not).
    Deliveries {
        #[arg(long)]
        hotel: String,
        /// Only this subscription's (`sub_...`).
        #[arg(long)]
        subscription: Option<String>,
        /// Only dead letters: retries spent, or the subscription disabled or deleted meanwhile.
        #[arg(long)]
        failed: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Sends deliveries again on a fresh retry schedule: one (`hotel/sub_.../<event id>`), or
    /// every failed one of a hotel (`--failed --hotel H [--subscription S]`).
    Redeliver {
        delivery: Option<String>,
        #[arg(long)]
        hotel: Option<String>,
        #[arg(long)]
        subscription: Option<String>,
        #[arg(long)]
        failed: bool,
    },
}

fn delivery_row(d: &DeliveryRecord) -> serde_json::Value {
    json!({
        "id": d.reference(),
        "eventType": d.event.event_type.as_str(),
        "entityId": d.event.entity_id,
        "version": d.event.version,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "totalAttempts": d.total_attempts,
        "lastStatus": d.last_status,
        "lastError": d.last_error,
        "nextAttemptAt": d.next_attempt_at,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
    })
}

fn delivery_usage(e: DeliveryError) -> CtlError {
    match e {
        DeliveryError::NotFound(_) => CtlError::NotFound(e.to_string()),
        DeliveryError::Subscription(e) => usage(e),
        e => failure(e),
    }
}

fn usage(e: SubscriptionError) -> CtlError {
    match e {
        SubscriptionError::NotFound(_) => CtlError::NotFound(e.to_string()),
        e if e.is_retryable() || matches!(e, SubscriptionError::Port(_)) => failure(e),
        e => CtlError::Usage(e.to_string()),
    }
}

/// `hotel/sub_...`, or `sub_...` with `--hotel` (which must agree when both name a hotel).
fn reference(id: &str, hotel: Option<&str>) -> CtlResult<(HotelId, SubscriptionId)> {
    let r = SubscriptionRef::parse(id).map_err(CtlError::Usage)?;
    let flag = hotel.map(HotelId::parse).transpose()?;
    match (r.hotel, flag) {
        (Some(a), Some(b)) if a != b => Err(CtlError::NotFound(format!(
            "subscription {id} is not one of hotel {b}'s"
        ))),
        (Some(h), _) | (None, Some(h)) => Ok((h, r.id)),
        (None, None) => Err(CtlError::Usage(format!(
            "name the hotel: {} as hotel/{}, or --hotel",
            r.id, r.id
        ))),
    }
}

fn describe(s: &Subscription) -> serde_json::Value {
    json!({
        "id": s.reference(),
        "hotelId": s.hotel_id,
        "url": s.url,
        "events": s.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "enabled": s.enabled,
        "disabledReason": s.disabled_reason,
        "createdBy": s.created_by,
        "createdAt": s.created_at,
        "updatedAt": s.updated_at,
        "secretRotatedAt": s.secret_rotated_at,
        "failingSince": s.failing_since,
    })
}

pub async fn run(
    cmd: SubscriptionCommand,
    target: impl FnOnce() -> CtlResult<Target>,
) -> CtlResult<()> {
    let target = target()?;
    let policy = TargetPolicy::for_endpoint(
        target
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .as_deref(),
    );
    let svc = services(target).await;
    let subs = SubscriptionService::new(&svc, policy);
    let who = operator();
    let staff = format!("staff:{who}");
    match cmd {
        SubscriptionCommand::Create {
            hotel,
            url,
            events,
            json,
        } => {
            let hotel = HotelId::parse(&hotel)?;
            let events = parse_events(&events).map_err(usage)?;
            if svc.hotels.get(&hotel).await.map_err(failure)?.is_none() {
                return Err(CtlError::Usage(format!("hotel {hotel} is not configured")));
            }
            let made = subs
                .create(&hotel, &url, events, &staff)
                .await
                .map_err(usage)?;
            let s = &made.subscription;
            if json {
                let mut v = describe(s);
                v["secret"] = json!(made.secret.expose());
                crate::outln!("{v}");
            } else {
                crate::outln!("subscription: {}", s.reference());
                crate::outln!("secret:       {}", made.secret.expose());
                crate::outln!("(shown once; verify deliveries with it, see README)");
            }
        }
        SubscriptionCommand::List { hotel, json } => {
            let hotels = match hotel {
                Some(h) => vec![HotelId::parse(&h)?],
                None => svc
                    .hotels
                    .list()
                    .await
                    .map_err(failure)?
                    .into_iter()
                    .map(|c| c.hotel_id)
                    .collect(),
            };
            let mut all = Vec::new();
            for h in &hotels {
                all.extend(subs.registry().list(h).await.map_err(usage)?);
            }
            if json {
                crate::outln!("{}", json!(all.iter().map(describe).collect::<Vec<_>>()));
            } else {
                let mut table = Table::new();
                table.set_header(["id", "url", "events", "enabled", "updated"]);
                for s in &all {
                    table.add_row([
                        s.reference(),
                        s.url.clone(),
                        s.events
                            .iter()
                            .map(|e| e.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        match &s.disabled_reason {
                            _ if s.enabled => "yes".to_owned(),
                            Some(r) => format!("no ({r})"),
                            None => "no".to_owned(),
                        },
                        s.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    ]);
                }
                crate::outln!("{table}");
            }
        }
        SubscriptionCommand::Show { id, hotel } => {
            let (h, id) = reference(&id, hotel.as_deref())?;
            let s = subs.registry().get(&h, &id).await.map_err(usage)?;
            crate::outln!("{:#}", describe(&s));
        }
        SubscriptionCommand::Disable { id, hotel, reason } => {
            let (h, id) = reference(&id, hotel.as_deref())?;
            let s = subs
                .set_enabled(&h, &id, false, &staff, Some(reason))
                .await
                .map_err(usage)?;
            crate::outln!("{} disabled", s.reference());
        }
        SubscriptionCommand::Enable { id, hotel } => {
            let (h, id) = reference(&id, hotel.as_deref())?;
            let s = subs
                .set_enabled(&h, &id, true, &staff, None)
                .await
                .map_err(usage)?;
            crate::outln!("{} enabled", s.reference());
        }
        SubscriptionCommand::RotateSecret { id, hotel, json } => {
            let (h, id) = reference(&id, hotel.as_deref())?;
            let secret = subs.rotate_secret(&h, &id, &staff).await.map_err(usage)?;
            if json {
                crate::outln!(
                    "{}",
                    json!({"id": format!("{h}/{id}"), "secret": secret.expose()})
                );
            } else {
                crate::outln!("secret: {}", secret.expose());
                crate::outln!("(shown once; the previous secret also signs for 24 hours)");
            }
        }
        SubscriptionCommand::Delete { id, hotel } => {
            let (h, id) = reference(&id, hotel.as_deref())?;
            let s = subs.delete(&h, &id, &staff).await.map_err(usage)?;
            crate::outln!("{} deleted", s.reference());
        }
        SubscriptionCommand::Deliveries {
            hotel,
            subscription,
            failed,
            limit,
            json,
        } => {
            let h = HotelId::parse(&hotel)?;
            let sub = subscription
                .map(|s| reference(&s, Some(h.as_str())).map(|(_, id)| id))
                .transpose()?;
            let deliveries = DeliveryService::new(&svc, policy);
            let mut list = deliveries
                .log()
                .list(&h, sub.as_ref())
                .await
                .map_err(failure)?;
            if failed {
                list.retain(|d| matches!(d.status, DeliveryStatus::Failed));
            }
            list.truncate(limit);
            if json {
                crate::outln!(
                    "{}",
                    json!(list.iter().map(delivery_row).collect::<Vec<_>>())
                );
            } else {
                let mut table = Table::new();
                table.set_header([
                    "id", "event", "version", "status", "attempts", "last", "updated",
                ]);
                for d in &list {
                    table.add_row([
                        d.reference(),
                        d.event.event_type.as_str().to_owned(),
                        d.event.version.to_string(),
                        d.status.as_str().to_owned(),
                        d.attempts.to_string(),
                        d.last_error
                            .clone()
                            .or_else(|| d.last_status.map(|s| s.to_string()))
                            .unwrap_or_default(),
                        d.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    ]);
                }
                crate::outln!("{table}");
            }
        }
        SubscriptionCommand::Redeliver {
            delivery,
            hotel,
            subscription,
            failed,
        } => {
            let deliveries = DeliveryService::new(&svc, policy);
            let refs: Vec<DeliveryRef> = match (delivery, failed) {
                (Some(d), false) => vec![DeliveryRef::parse(&d).map_err(CtlError::Usage)?],
                (None, true) => {
                    let h = HotelId::parse(
                        hotel
                            .as_deref()
                            .ok_or_else(|| CtlError::Usage("--failed needs --hotel".into()))?,
                    )?;
                    let sub = subscription
                        .map(|s| reference(&s, Some(h.as_str())).map(|(_, id)| id))
                        .transpose()?;
                    deliveries
                        .log()
                        .list(&h, sub.as_ref())
                        .await
                        .map_err(failure)?
                        .into_iter()
                        .filter(|d| d.status == DeliveryStatus::Failed)
                        .map(|d| DeliveryRef {
                            hotel: d.hotel_id,
                            subscription: d.subscription_id,
                            event_id: d.event_id,
                        })
                        .collect()
                }
                _ => {
                    return Err(CtlError::Usage(
                        "name one delivery (hotel/sub_.../<event id>), or --failed --hotel H"
                            .into(),
                    ))
                }
            };
            for r in &refs {
                let d = deliveries
                    .redeliver(r, &staff)
                    .await
                    .map_err(delivery_usage)?;
                crate::outln!("{} queued again", d.reference());
            }
            if refs.is_empty() {
                crate::outln!("no failed deliveries");
            }
        }
    }
    Ok(())
}
