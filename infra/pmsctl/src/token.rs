//! `pmsctl token create|revoke`.

use clap::Subcommand;
use pms_core::domain::HotelId;
use pms_core::registry::Scope;
use secrecy::ExposeSecret;

use super::{failure, services, CtlError, CtlResult, Target};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a partner token and prints it once; only its keyed hash is stored.
    Create {
        /// A hotel the token may see (repeatable).
        #[arg(long = "hotel", required = true)]
        hotels: Vec<String>,
        /// read, write or ingest (repeatable; default read).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long, default_value = "partner")]
        label: String,
        /// Print `{"tokenId":..,"token":..}`.
        #[arg(long)]
        json: bool,
    },
    /// Revokes a token by id.
    Revoke {
        #[arg(long)]
        token_id: String,
    },
}

pub async fn run(cmd: TokenCommand, target: impl FnOnce() -> CtlResult<Target>) -> CtlResult<()> {
    match cmd {
        TokenCommand::Create {
            hotels,
            scopes,
            label,
            json,
        } => {
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
            let (plain, record) = svc
                .tokens
                .create(hotels, scopes, &label)
                .await
                .map_err(failure)?;
            if json {
                crate::outln!(
                    "{}",
                    serde_json::json!({"tokenId": record.token_id, "token": plain.expose_secret()})
                );
            } else {
                crate::outln!("token id: {}", record.token_id);
                crate::outln!("token:    {}", plain.expose_secret());
                crate::outln!("(shown once; only its hash is stored)");
            }
            Ok(())
        }
        TokenCommand::Revoke { token_id } => {
            let svc = services(target()?).await;
            if svc.tokens.revoke(&token_id).await.map_err(failure)? {
                crate::outln!("revoked {token_id}");
                Ok(())
            } else {
                Err(CtlError::NotFound(format!("no token {token_id}")))
            }
        }
    }
}
