//! `pmsctl token create|revoke|migrate`.

use clap::Subcommand;
use pms_app::audit::{OpsAction, OpsEntry};
use pms_app::registry::Scope;
use pms_domain::domain::HotelId;
use secrecy::ExposeSecret;

use super::{audited, failure, operator, services, CtlError, CtlResult, Target};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a partner token and prints it once; only its keyed hash is stored.
    Create {
        /// A hotel the token may see (repeatable).
        #[arg(long = "hotel", required = true)]
        hotels: Vec<String>,
        /// read, write, ingest or subscribe (repeatable; default read).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long, default_value = "partner")]
        label: String,
        /// Refuse the token after this long: a number and a unit, `d` (days), `h` or `m`,
        /// e.g. `90d`. Without it the token is valid until revoked.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// Print `{"tokenId":..,"token":..,"expiresAt":..}`.
        #[arg(long)]
        json: bool,
    },
    /// Revokes a token by id.
    Revoke {
        #[arg(long)]
        token_id: String,
    },
    /// Moves tokens created by earlier versions (one shared partition) to a partition each;
    /// run once after upgrading. Tokens not moved are refused.
    Migrate,
}

/// The longest expiry `--expires-in` takes.
const MAX_EXPIRES_IN_DAYS: i64 = 5 * 365;

/// `90d`, `12h`, `30m`: a positive whole number and a unit, at most five years.
fn parse_expires_in(text: &str) -> CtlResult<chrono::Duration> {
    let bad = || {
        CtlError::Usage(format!(
            "invalid --expires-in {text:?}: use a positive number and d, h or m, e.g. 90d (at most {MAX_EXPIRES_IN_DAYS}d)"
        ))
    };
    let text = text.trim();
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) || number.len() > 9 {
        return Err(bad());
    }
    let n: i64 = number.parse().map_err(|_| bad())?;
    let d = match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        _ => return Err(bad()),
    };
    if n == 0 || d > chrono::Duration::days(MAX_EXPIRES_IN_DAYS) {
        return Err(bad());
    }
    Ok(d)
}

pub async fn run(cmd: TokenCommand, target: impl FnOnce() -> CtlResult<Target>) -> CtlResult<()> {
    match cmd {
        TokenCommand::Create {
            hotels,
            scopes,
            label,
            expires_in,
            json,
        } => {
            let expires_in = expires_in.as_deref().map(parse_expires_in).transpose()?;
            let hotels = hotels
                .iter()
                .map(HotelId::parse)
                .collect::<Result<Vec<_>, _>>()?;
            let mut scopes = scopes
                .iter()
                .map(|s| s.parse::<Scope>())
                .collect::<Result<Vec<_>, _>>()?;
            if scopes.is_empty() {
                scopes.push(Scope::Read);
            }
            let svc = services(target()?).await;
            for h in &hotels {
                if svc.hotels.get(h).await.map_err(failure)?.is_none() {
                    return Err(CtlError::Usage(format!("hotel {h} is not configured")));
                }
            }
            let expires_at = expires_in.map(|d| svc.clock.now() + d);
            let (plain, record) = svc
                .tokens
                .create_expiring(hotels, scopes, &label, expires_at)
                .await
                .map_err(failure)?;
            let expires = record.expires_at.map(|t| t.to_rfc3339());
            let who = operator();
            let scopes: Vec<String> = record.scopes.iter().map(|s| format!("{s:?}")).collect();
            let note = format!(
                "label {:?}, scopes {}, expires {}",
                record.label,
                scopes.join(" ").to_lowercase(),
                expires.as_deref().unwrap_or("never")
            );
            audited(
                &svc,
                record.hotels.iter().map(|h| {
                    OpsEntry::new(h, &who, OpsAction::TokenCreated, record.created_at)
                        .target(record.token_id.clone())
                        .note(note.clone())
                }),
            )
            .await?;
            if json {
                crate::outln!(
                    "{}",
                    serde_json::json!({"tokenId": record.token_id, "token": plain.expose_secret(),
                                       "expiresAt": expires})
                );
            } else {
                crate::outln!("token id: {}", record.token_id);
                crate::outln!("token:    {}", plain.expose_secret());
                crate::outln!(
                    "expires:  {}",
                    expires.as_deref().unwrap_or("never (until revoked)")
                );
                crate::outln!("(shown once; only its hash is stored)");
            }
            Ok(())
        }
        TokenCommand::Revoke { token_id } => {
            let svc = services(target()?).await;
            match svc
                .tokens
                .revoke_returning(&token_id)
                .await
                .map_err(failure)?
            {
                Some(record) => {
                    let who = operator();
                    let at = record.revoked_at.unwrap_or_else(|| svc.clock.now());
                    audited(
                        &svc,
                        record.hotels.iter().map(|h| {
                            OpsEntry::new(h, &who, OpsAction::TokenRevoked, at)
                                .target(record.token_id.clone())
                        }),
                    )
                    .await?;
                    crate::outln!("revoked {token_id}");
                    Ok(())
                }
                None => Err(CtlError::NotFound(format!("no token {token_id}"))),
            }
        }
        TokenCommand::Migrate => {
            let svc = services(target()?).await;
            let moved = svc.tokens.migrate_legacy().await.map_err(failure)?;
            crate::outln!("moved {moved} token(s) to a partition each");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_takes_days_hours_and_minutes() {
        assert_eq!(parse_expires_in("90d").unwrap(), chrono::Duration::days(90));
        assert_eq!(
            parse_expires_in("12h").unwrap(),
            chrono::Duration::hours(12)
        );
        assert_eq!(
            parse_expires_in("30m").unwrap(),
            chrono::Duration::minutes(30)
        );
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "90",
            "90w",
            "1.5d",
            "9999999999d",
            "1826d",
            " d",
        ] {
            assert!(parse_expires_in(bad).is_err(), "{bad:?}");
        }
        assert!(parse_expires_in("1825d").is_ok());
    }
}
