//! `pmsctl audit list`: PMS writes (who, what, when, outcome, correlation id, vendor request
//! id) and what staff did (redrives, abandons, hotel and credential changes, tokens, key
//! rotations), newest first, a page at a time.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use comfy_table::Table;
use pms_app::audit::{AuditLog, AuditRecord, KindFilter};
use pms_domain::domain::HotelId;

use super::{failure, services, CtlError, CtlResult, Target};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Audit entries, newest first. Without --hotel, every configured hotel's; a removed
    /// hotel's entries are listed with --hotel.
    List {
        #[arg(long)]
        hotel: Option<String>,
        /// Only entries younger than this age (90m, 24h, 7d) or after this RFC 3339 instant.
        #[arg(long)]
        since: Option<String>,
        /// write (PMS write attempts) or ops (what staff did); both by default.
        #[arg(long)]
        kind: Option<String>,
        /// Entries per page.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// The next page: what the previous page printed as its continuation.
        #[arg(long)]
        before: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// An RFC 3339 instant, or an age such as 90m, 24h, 7d before `now`.
fn instant(value: &str, now: DateTime<Utc>, flag: &str) -> CtlResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || {
        CtlError::Usage(format!(
            "invalid {flag} {value:?}: an RFC 3339 instant or an age like 90m, 24h, 7d"
        ))
    };
    let (num, unit) = value.split_at(value.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    if n <= 0 || n > 3650 * 24 * 60 {
        return Err(bad());
    }
    let age = match unit {
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => return Err(bad()),
    };
    Ok(now - age)
}

fn row(r: &AuditRecord) -> [String; 8] {
    let at = r.at().format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    match r {
        AuditRecord::Write(e) => [
            at,
            e.hotel_id.to_string(),
            "write".into(),
            e.actor.clone(),
            format!(
                "{} {}/{} #{}",
                e.operation, e.hotel_id, e.operation_id, e.attempt
            ),
            match &e.error {
                Some(err) => format!("{:?} {}", e.result, err.code).to_lowercase(),
                None => format!("{:?}", e.result).to_lowercase(),
            },
            e.correlation_id.clone().unwrap_or_default(),
            e.vendor_request_id.clone().unwrap_or_default(),
        ],
        AuditRecord::Ops(e) => {
            let mut what = e.action.as_str().to_owned();
            if let Some(t) = &e.target {
                what.push(' ');
                what.push_str(t);
            }
            let changed: Vec<&str> = e.changes.iter().map(|c| c.field.as_str()).collect();
            let detail = match (&e.note, changed.is_empty()) {
                (Some(n), true) => n.clone(),
                (Some(n), false) => format!("{n}; changed: {}", changed.join(", ")),
                (None, false) => format!("changed: {}", changed.join(", ")),
                (None, true) => String::new(),
            };
            [
                at,
                e.hotel_id.to_string(),
                "ops".into(),
                e.actor.clone(),
                what,
                detail,
                String::new(),
                String::new(),
            ]
        }
    }
}

pub async fn run(cmd: AuditCommand, target: impl FnOnce() -> CtlResult<Target>) -> CtlResult<()> {
    let AuditCommand::List {
        hotel,
        since,
        kind,
        limit,
        before,
        json,
    } = cmd;
    let now = Utc::now();
    let hotel = hotel.as_deref().map(HotelId::parse).transpose()?;
    let since = since
        .as_deref()
        .map(|s| instant(s, now, "--since"))
        .transpose()?;
    let before = before
        .as_deref()
        .map(|b| instant(b, now, "--before"))
        .transpose()?;
    let kind = match kind.as_deref() {
        None => KindFilter::All,
        Some("write") => KindFilter::Write,
        Some("ops") => KindFilter::Ops,
        Some(other) => {
            return Err(CtlError::Usage(format!(
                "unknown --kind {other:?} (write or ops)"
            )))
        }
    };
    if limit == 0 || limit > 1000 {
        return Err(CtlError::Usage("--limit must be 1 to 1000".into()));
    }
    let svc = services(target()?).await;
    let hotels = match hotel {
        Some(h) => vec![h],
        None => svc
            .hotels
            .list()
            .await
            .map_err(failure)?
            .into_iter()
            .map(|c| c.hotel_id)
            .collect(),
    };
    let log = AuditLog::new(svc.store.clone(), svc.clock.clone());
    let page = log
        .list(&hotels, kind, since, before, limit)
        .await
        .map_err(failure)?;
    let next = page
        .next_before
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "entries": page.records,
                "nextBefore": next,
            }))
            .map_err(failure)?
        );
        return Ok(());
    }
    let mut table = Table::new();
    table.set_header([
        "at (UTC)",
        "hotel",
        "kind",
        "who",
        "what",
        "outcome / detail",
        "correlation id",
        "vendor request id",
    ]);
    for r in &page.records {
        table.add_row(row(r));
    }
    crate::outln!("{table}");
    match next {
        Some(n) => crate::outln!(
            "{} entr{}; older ones: --before {n}",
            page.records.len(),
            if page.records.len() == 1 { "y" } else { "ies" }
        ),
        None => crate::outln!(
            "{} entr{}",
            page.records.len(),
            if page.records.len() == 1 { "y" } else { "ies" }
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_ages_and_instants() {
        let now = Utc::now();
        assert_eq!(
            instant("24h", now, "--since").unwrap(),
            now - chrono::Duration::hours(24)
        );
        assert!(instant("2026-12-01T00:00:00.123Z", now, "--before").is_ok());
        for bad in ["", "h", "0h", "-1d", "3w", "soon"] {
            assert!(instant(bad, now, "--since").is_err(), "{bad}");
        }
    }
}
