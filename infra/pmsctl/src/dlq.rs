//! `pmsctl dlq list|show|redrive|abandon`: the write path's dead letters.

use clap::Subcommand;
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use pms_app::audit::{OpsAction, OpsEntry};
use pms_app::ids::OperationSelector;
use pms_app::writes::{
    DeadLetters, DlqError, DlqItem, DlqStatus, ForcedRedrive, OperationId, OperationRef,
    RedriveReport, Unrecorded, WriteRecords, WriteService,
};
use pms_domain::domain::HotelId;

use super::{audited, failure, operator, services, CtlError, CtlResult, Target};

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Lists dead letters (oldest first): the records, and messages of the write DLQ that have
    /// none (status `unrecorded`: the writer stopped before it could record the outcome).
    List {
        #[arg(long)]
        hotel: Option<String>,
        /// addReservationNote, updateGuestPreferences, postCharge, updateCheckoutTime.
        #[arg(long)]
        operation: Option<String>,
        /// pending (default, with unrecorded ones), retrying, resolved, abandoned or all.
        #[arg(long, default_value = "pending")]
        status: String,
        #[arg(long)]
        json: bool,
    },
    /// Shows one dead letter in full (JSON). Ids are `op_…` or, as partners see them,
    /// `<hotel>/op_…` (`Operation.id`).
    Show { id: String },
    /// Puts dead letters back on the write queue. A dead letter whose protecting records (its
    /// idempotency key, the record that a PMS call may have happened) are gone is refused:
    /// check the folio, then redrive it with --force, which restores them and is audited.
    Redrive {
        /// Operation ids to redrive (`op_…` or `<hotel>/op_…`).
        ids: Vec<String>,
        /// Every pending dead letter (of --hotel, if given); unprotected ones are left pending.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[arg(long, requires = "all")]
        hotel: Option<String>,
        /// Redrive the given ids even if unprotected (restores the records first).
        #[arg(long, conflicts_with = "all", requires_all = ["staff", "reason"])]
        force: bool,
        /// Who redrives (for the audit log; required with --force; default PMSCTL_STAFF or
        /// the login name).
        #[arg(long)]
        staff: Option<String>,
        /// Why (for the audit log; required with --force), e.g. what the folio showed.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Gives up on a dead letter, recording who and why.
    Abandon {
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        staff: String,
    },
}

fn status_filter(s: &str) -> CtlResult<Option<DlqStatus>> {
    Ok(Some(match s {
        "pending" => DlqStatus::Pending,
        "retrying" => DlqStatus::Retrying,
        "resolved" => DlqStatus::Resolved,
        "abandoned" => DlqStatus::Abandoned,
        "all" => return Ok(None),
        other => return Err(CtlError::Usage(format!("unknown status {other:?}"))),
    }))
}

fn dlq_failed(e: DlqError) -> CtlError {
    match e {
        DlqError::NotFound(_) => CtlError::NotFound(e.to_string()),
        DlqError::NotPending { .. } | DlqError::Unprotected { .. } => {
            CtlError::Usage(e.to_string())
        }
        DlqError::Store(_) => failure(e),
    }
}

fn age(d: &DlqItem) -> String {
    since(d.first_attempt_at)
}

fn since(at: chrono::DateTime<chrono::Utc>) -> String {
    let mins = (chrono::Utc::now() - at).num_minutes();
    if mins < 120 {
        format!("{mins}m")
    } else {
        format!("{}h", mins / 60)
    }
}

pub async fn run(cmd: DlqCommand, target: impl FnOnce() -> CtlResult<Target>) -> CtlResult<()> {
    // Input first: bad ids or flags write nothing.
    let parse_ids = |ids: &[String]| {
        ids.iter()
            .map(|i| OperationSelector::parse(i))
            .collect::<Result<Vec<_>, _>>()
    };
    match &cmd {
        DlqCommand::Show { id } | DlqCommand::Abandon { id, .. } => {
            OperationSelector::parse(id)?;
        }
        DlqCommand::Redrive {
            ids,
            all,
            staff,
            reason,
            ..
        } => {
            parse_ids(ids)?;
            if ids.is_empty() && !all {
                return Err(CtlError::Usage("give operation ids or --all".into()));
            }
            if [staff, reason]
                .iter()
                .any(|v| v.as_deref().is_some_and(|v| v.trim().is_empty()))
            {
                return Err(CtlError::Usage(
                    "--staff and --reason must not be empty".into(),
                ));
            }
        }
        DlqCommand::List { status, .. } => {
            status_filter(status)?;
        }
    }
    let svc = services(target()?).await;
    let records = WriteRecords::new(svc.store.clone(), svc.clock.clone());
    let writes = WriteService::new(
        records.clone(),
        svc.queue.clone(),
        svc.names.write_queue_url.clone(),
    );
    let dlq = DeadLetters::new(
        records.clone(),
        writes,
        svc.queue.clone(),
        svc.names.write_queue_url.clone(),
        svc.names.write_dlq_url.clone(),
    );
    match cmd {
        DlqCommand::List {
            hotel,
            operation,
            status,
            json,
        } => {
            let hotel = hotel.as_deref().map(HotelId::parse).transpose()?;
            let wanted = status_filter(&status)?;
            let items: Vec<DlqItem> = records
                .list_dlq(hotel.as_ref())
                .await
                .map_err(failure)?
                .into_iter()
                .filter(|d| wanted.is_none_or(|w| d.status == w))
                .filter(|d| operation.as_deref().is_none_or(|o| d.operation == o))
                .collect();
            // What SQS moved to the DLQ without a record is pending too.
            let unrecorded: Vec<Unrecorded> = if wanted.is_none_or(|w| w == DlqStatus::Pending) {
                dlq.census()
                    .unrecorded()
                    .await
                    .map_err(failure)?
                    .0
                    .into_iter()
                    .filter(|u| {
                        hotel
                            .as_ref()
                            .is_none_or(|h| u.message.as_ref().is_none_or(|m| &m.hotel_id == h))
                    })
                    .filter(|u| {
                        operation.as_deref().is_none_or(|o| {
                            u.message.as_ref().is_some_and(|m| m.operation.name() == o)
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            if json {
                let mut all: Vec<serde_json::Value> = items
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<Result<_, _>>()
                    .map_err(failure)?;
                for u in &unrecorded {
                    let mut v = serde_json::to_value(u).map_err(failure)?;
                    v["status"] = "unrecorded".into();
                    all.push(v);
                }
                crate::outln!("{}", serde_json::to_string_pretty(&all).map_err(failure)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.set_header([
                "id",
                "hotel",
                "operation",
                "status",
                "attempts",
                "error",
                "age",
                "last attempt",
            ]);
            for d in &items {
                table.add_row([
                    OperationRef::new(d.hotel_id.clone(), d.id.clone()).to_string(),
                    d.hotel_id.to_string(),
                    d.operation.clone(),
                    format!("{:?}", d.status).to_lowercase(),
                    d.attempts.to_string(),
                    d.error.code.clone(),
                    age(d),
                    d.last_attempt_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                ]);
            }
            for u in &unrecorded {
                let m = u.message.as_ref();
                table.add_row([
                    m.map_or_else(
                        || format!("(message {})", u.message_id),
                        |m| {
                            OperationRef::new(m.hotel_id.clone(), m.operation_id.clone())
                                .to_string()
                        },
                    ),
                    m.map_or("?".into(), |m| m.hotel_id.to_string()),
                    m.map_or("?".into(), |m| m.operation.name().to_owned()),
                    "unrecorded".into(),
                    "-".into(),
                    if m.is_some() {
                        "WRITER_STOPPED".into()
                    } else {
                        "UNREADABLE".into()
                    },
                    u.sent_at.map_or("?".into(), since),
                    "-".into(),
                ]);
            }
            crate::outln!("{table}");
            crate::outln!("{} dead letter(s)", items.len() + unrecorded.len());
            if !unrecorded.is_empty() {
                crate::outln!(
                    "{} in the write DLQ without a record (the writer stopped before it recorded the outcome; redrive one by its id, which records it first)",
                    unrecorded.len()
                );
            }
            Ok(())
        }
        DlqCommand::Show { id } => {
            let item = dead_letter(&records, &OperationSelector::parse(&id)?).await?;
            crate::outln!("{}", serde_json::to_string_pretty(&item).map_err(failure)?);
            Ok(())
        }
        DlqCommand::Redrive {
            ids,
            all,
            hotel,
            force,
            staff,
            reason,
        } => {
            let who = staff.clone().unwrap_or_else(operator);
            let forced = force.then(|| ForcedRedrive {
                staff: staff.unwrap_or_default(),
                reason: reason.clone().unwrap_or_default(),
            });
            let report = if all {
                let hotel = hotel.as_deref().map(HotelId::parse).transpose()?;
                // The whole DLQ at once where the queue service can move it; else one by one.
                let moved = match hotel {
                    None => dlq.redrive_all_by_move_task().await.map_err(dlq_failed)?,
                    Some(_) => None,
                };
                match moved {
                    Some(report) => report,
                    None => {
                        let (safe, refused) = dlq
                            .pending_by_protection(hotel.as_ref())
                            .await
                            .map_err(dlq_failed)?;
                        let ids = safe.into_iter().map(|d| d.id).collect();
                        let mut report = redrive_each(&dlq, ids, None).await?;
                        report.refused = refused;
                        report
                    }
                }
            } else {
                let mut ops = Vec::new();
                for selector in parse_ids(&ids)? {
                    // A hotel-qualified id must be that hotel's dead letter; one the writer
                    // never recorded is checked by the redrive against its message.
                    if selector.hotel.is_some() {
                        if let Some(d) = records.find_dlq(&selector.id).await.map_err(failure)? {
                            if !selector.matches_hotel(&d.hotel_id) {
                                return Err(not_found(&selector));
                            }
                        }
                    }
                    ops.push(selector.id);
                }
                redrive_each(&dlq, ops, forced.as_ref()).await?
            };
            let mut entries = Vec::new();
            // Printed as the API shows them to partners (`hotel/op_...`) when the hotel is known.
            let mut shown = Vec::new();
            for id in &report.redriven {
                let found = records.find_dlq(id).await.map_err(failure)?;
                shown.push(found.as_ref().map_or_else(
                    || id.to_string(),
                    |d| OperationRef::new(d.hotel_id.clone(), id.clone()).to_string(),
                ));
                if let Some(d) = found {
                    let mut e = OpsEntry::new(
                        &d.hotel_id,
                        &who,
                        OpsAction::DeadLetterRedriven,
                        records.now(),
                    )
                    .target(OperationRef::new(d.hotel_id.clone(), id.clone()).to_string());
                    if let Some(r) = &reason {
                        e = e.note(r.clone());
                    }
                    entries.push(e);
                }
            }
            audited(&svc, entries).await?;
            crate::outln!(
                "redriven {} ({} from the queue DLQ{})",
                report.redriven.len(),
                report.moved_from_queue,
                if report.used_move_task {
                    ", by StartMessageMoveTask"
                } else {
                    ""
                }
            );
            let mut table = Table::new();
            table.set_header(["id", "status"]);
            for id in shown {
                table.add_row([id, "retrying".to_owned()]);
            }
            crate::outln!("{table}");
            if !report.refused.is_empty() {
                let list: Vec<String> = report
                    .refused
                    .iter()
                    .map(|(id, why)| format!("{id}: {why}"))
                    .collect();
                return Err(CtlError::Usage(format!(
                    "{} dead letter(s) left pending, no longer protected against a second posting (check the folio, then redrive each with --force --staff NAME --reason WHY, or abandon it): {}",
                    list.len(),
                    list.join("; ")
                )));
            }
            Ok(())
        }
        DlqCommand::Abandon { id, reason, staff } => {
            let selector = OperationSelector::parse(&id)?;
            if reason.trim().is_empty() || staff.trim().is_empty() {
                return Err(CtlError::Usage(
                    "--reason and --staff must not be empty".into(),
                ));
            }
            let found = dead_letter(&records, &selector).await?;
            let item = dlq
                .abandon(&found.id, &reason, &staff)
                .await
                .map_err(dlq_failed)?;
            audited(
                &svc,
                [OpsEntry::new(
                    &item.hotel_id,
                    &staff,
                    OpsAction::DeadLetterAbandoned,
                    records.now(),
                )
                .target(OperationRef::new(item.hotel_id.clone(), item.id.clone()).to_string())
                .note(reason.clone())],
            )
            .await?;
            crate::outln!(
                "abandoned {} by {} ({})",
                OperationRef::new(item.hotel_id.clone(), item.id.clone()),
                staff,
                reason
            );
            Ok(())
        }
    }
}

fn not_found(selector: &OperationSelector) -> CtlError {
    match &selector.hotel {
        Some(h) => CtlError::NotFound(format!("no dead letter {h}/{}", selector.id)),
        None => CtlError::NotFound(format!("no dead letter {}", selector.id)),
    }
}

/// The dead letter an id names (of its hotel, when the id names one).
async fn dead_letter(records: &WriteRecords, selector: &OperationSelector) -> CtlResult<DlqItem> {
    match records.find_dlq(&selector.id).await.map_err(failure)? {
        Some(d) if selector.matches_hotel(&d.hotel_id) => Ok(d),
        _ => Err(not_found(selector)),
    }
}

/// Redrives dead letters one at a time, with progress (a long redrive shows how far it got,
/// and a failure stops it with the rest still pending).
async fn redrive_each(
    dlq: &DeadLetters,
    ids: Vec<OperationId>,
    forced: Option<&ForcedRedrive>,
) -> CtlResult<RedriveReport> {
    let bar = ProgressBar::new(ids.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut total = RedriveReport::default();
    for id in ids {
        bar.set_message(id.to_string());
        let r = dlq
            .redrive_with(std::slice::from_ref(&id), forced)
            .await
            .map_err(dlq_failed)?;
        total.redriven.extend(r.redriven);
        total.moved_from_queue += r.moved_from_queue;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(total)
}
