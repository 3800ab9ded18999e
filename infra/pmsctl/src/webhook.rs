//! `pmsctl webhook secret|partner-key`: a hotel's ingestion credentials
//! (`<prefix>/hotels/<hotel>/webhook` in Secrets Manager).

use clap::Subcommand;
use pms_app::audit::{OpsAction, OpsEntry};
use pms_app::registry::{IngestCredentials, IngestKeys, PartnerSystem};
use pms_domain::domain::{HotelId, Provider};
use pms_domain::ports::SecretStore;
use secrecy::ExposeSecret;

use super::{audited, failure, operator, services, CtlError, CtlResult, Target};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Creates or rotates the hotel's webhook secret and prints the webhook URLs to register
    /// with the vendor. The old secret stops working (warm functions may accept it for up to
    /// five minutes, their secret cache lifetime).
    Secret {
        #[arg(long)]
        hotel: String,
        /// The API's base URL (API Gateway stage URL, or the local function URL).
        #[arg(long, env = "PMS_API_URL")]
        base_url: Option<String>,
        /// Print `{"hotel":..,"urls":{..}}`.
        #[arg(long)]
        json: bool,
    },
    /// Creates or rotates the provider key of a partner system for the hotel (sent as
    /// `X-Provider-Key` with partner pushes), and prints it once.
    PartnerKey {
        #[arg(long)]
        hotel: String,
        /// The partner system's id (letters, digits, - and _), e.g. acme-booking.
        #[arg(long)]
        partner: String,
        #[arg(long)]
        json: bool,
    },
}

/// The webhook paths of a hotel for the vendors it can receive from: its own vendor's, or
/// every vendor's for a hotel of the stand-in (the mock PMS).
fn webhook_urls(
    base: &str,
    hotel: &HotelId,
    provider: Provider,
    secret: &str,
) -> Vec<(Provider, String)> {
    let base = base.trim_end_matches('/');
    pms_vendors::webhooks()
        .into_iter()
        .filter(|w| w.provider == provider || provider == pms_vendors::STAND_IN)
        .map(|w| {
            let v = w.provider;
            (v, format!("{base}/v1/webhooks/{v}/{hotel}/{secret}"))
        })
        .collect()
}

pub async fn run(cmd: WebhookCommand, target: impl FnOnce() -> CtlResult<Target>) -> CtlResult<()> {
    match cmd {
        WebhookCommand::Secret {
            hotel,
            base_url,
            json,
        } => {
            let id = HotelId::parse(&hotel)?;
            let svc = services(target()?).await;
            let config = svc
                .hotels
                .get(&id)
                .await
                .map_err(failure)?
                .ok_or_else(|| CtlError::Usage(format!("hotel {id} is not configured")))?;
            if webhook_urls("", &id, config.provider, "").is_empty() {
                return Err(CtlError::Usage(format!(
                    "hotel {id} runs {}, which sends no HTTP webhooks",
                    config.provider
                )));
            }
            let secrets: std::sync::Arc<dyn SecretStore> = svc.secrets.clone();
            let keys = IngestKeys::new(secrets, svc.names.secrets_prefix.clone());
            let mut credentials = keys
                .get(&id)
                .await
                .map_err(failure)?
                .unwrap_or_else(IngestCredentials::default);
            let secret = credentials.rotate_webhook_secret();
            keys.put(&id, &credentials).await.map_err(failure)?;
            audited(
                &svc,
                [OpsEntry::new(
                    &id,
                    &operator(),
                    OpsAction::WebhookSecretRotated,
                    svc.clock.now(),
                )],
            )
            .await?;
            let base = base_url.unwrap_or_else(|| "<api-base-url>".into());
            let urls = webhook_urls(&base, &id, config.provider, secret.expose_secret());
            if json {
                let map: serde_json::Map<String, serde_json::Value> = urls
                    .iter()
                    .map(|(p, u)| (p.to_string(), serde_json::json!(u)))
                    .collect();
                println!("{}", serde_json::json!({"hotel": id, "urls": map}));
            } else {
                println!(
                    "webhook secret of {id} set (secret {})",
                    keys.secret_name(&id)
                );
                for (p, u) in &urls {
                    println!("{p:<10} {u}");
                }
                println!(
                    "(register the URL with the vendor; it is the credential, keep it secret)"
                );
            }
            if config.vendor.property_id.is_none() {
                eprintln!(
                    "warning: {id} has no vendor property id: every webhook will be refused \
                     (PROPERTY_NOT_CONFIGURED) until one is configured"
                );
            }
            Ok(())
        }
        WebhookCommand::PartnerKey {
            hotel,
            partner,
            json,
        } => {
            let id = HotelId::parse(&hotel)?;
            let partner = PartnerSystem::parse(&partner)?;
            let svc = services(target()?).await;
            if svc.hotels.get(&id).await.map_err(failure)?.is_none() {
                return Err(CtlError::Usage(format!("hotel {id} is not configured")));
            }
            let secrets: std::sync::Arc<dyn SecretStore> = svc.secrets.clone();
            let keys = IngestKeys::new(secrets, svc.names.secrets_prefix.clone());
            let mut credentials = keys
                .get(&id)
                .await
                .map_err(failure)?
                .unwrap_or_else(IngestCredentials::default);
            let key = credentials.rotate_partner_key(&partner);
            keys.put(&id, &credentials).await.map_err(failure)?;
            audited(
                &svc,
                [OpsEntry::new(
                    &id,
                    &operator(),
                    OpsAction::PartnerKeyRotated,
                    svc.clock.now(),
                )
                .target(partner.to_string())],
            )
            .await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"hotel": id, "partner": partner.as_str(), "providerKey": key.expose_secret()})
                );
            } else {
                println!(
                    "provider key of {partner} for {id}: {}",
                    key.expose_secret()
                );
                println!("(shown once; send it as X-Provider-Key)");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_hotels_provider() {
        let h = HotelId::parse("h1").unwrap();
        let u = webhook_urls(
            "https://api.example.test/",
            &h,
            Provider::named("mews"),
            "s",
        );
        assert_eq!(
            u,
            [(
                Provider::named("mews"),
                "https://api.example.test/v1/webhooks/mews/h1/s".to_string()
            )]
        );
        assert_eq!(webhook_urls("x", &h, Provider::named("mock"), "s").len(), 2);
        assert!(webhook_urls("x", &h, Provider::named("opera"), "s").is_empty());
    }
}
