//! `pmsctl hotel add|get|list`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use comfy_table::Table;
use pms_app::registry::RegistryError;
use pms_domain::config::HotelConfig;
use pms_domain::domain::{Currency, HotelId, PropertyTz};
use secrecy::SecretString;
use url::Url;

use super::{failure, services, CtlError, CtlResult, Target};

#[derive(Debug, Subcommand)]
pub enum HotelCommand {
    /// Adds a hotel: its credentials go to Secrets Manager, its configuration to DynamoDB.
    Add(Box<AddArgs>),
    /// Prints a hotel's configuration as JSON (exit 3 when it does not exist).
    Get {
        #[arg(long)]
        hotel: String,
    },
    /// Lists configured hotels.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Our id for the hotel (letters, digits, - and _).
    #[arg(long)]
    pub hotel: String,
    #[arg(long)]
    pub name: Option<String>,
    /// A vendor this build serves (opera, mews, cloudbeds or mock; aliases such as ohip too).
    #[arg(long)]
    pub provider: String,
    /// IANA time zone of the property, e.g. Europe/Prague.
    #[arg(long)]
    pub time_zone: String,
    /// ISO 4217 currency of the folios.
    #[arg(long, default_value = "EUR")]
    pub currency: String,
    /// Vendor API root: OHIP gateway, Mews platform address, Cloudbeds API URL (or a simulator).
    #[arg(long)]
    pub base_url: Option<String>,
    /// The hotel's id at the vendor (OHIP hotel code, Cloudbeds propertyID, Mews enterprise).
    #[arg(long)]
    pub property_id: Option<String>,
    /// Mews service id for reservations and orders.
    #[arg(long)]
    pub service_id: Option<String>,
    /// Default revenue center / transaction code for charges.
    #[arg(long)]
    pub revenue_center: Option<String>,
    /// OHIP external system code (business events).
    #[arg(long)]
    pub external_system: Option<String>,
    /// Mews tax rate code applied to posted charges, e.g. US-DC-G.
    #[arg(long)]
    pub tax_code: Option<String>,
    /// A credential as KEY=VALUE (repeatable), with the vendor's keys (opera clientId,
    /// clientSecret, appKey [scope | username, password]; mews clientToken, accessToken;
    /// cloudbeds apiKey); a missing or unknown key is named.
    #[arg(long = "credential", value_name = "KEY=VALUE")]
    pub credentials: Vec<String>,
    /// A JSON object of credentials (keeps secrets out of shell history).
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Add it disabled (no scheduled syncs, no partner access).
    #[arg(long)]
    pub disabled: bool,
}

/// Everything `hotel add` needs, validated before anything is written.
struct NewHotel {
    config: HotelConfig,
    /// The secret to store (none for a vendor that needs no credentials).
    credentials: Option<SecretString>,
}

fn parse_add(args: &AddArgs) -> CtlResult<NewHotel> {
    let hotel = HotelId::parse(&args.hotel)?;
    let vendors = pms_vendors::all();
    let vendor = vendors.find(&args.provider)?;
    let tz = PropertyTz::parse(&args.time_zone)?;
    let currency = Currency::parse(&args.currency)?;
    let mut pairs: Vec<(String, SecretString)> = Vec::new();
    if let Some(path) = &args.credentials_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", path.display())))?;
        let obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).map_err(|_| {
                CtlError::Usage(format!(
                    "{} is not a JSON object of credentials",
                    path.display()
                ))
            })?;
        for (k, v) in obj {
            let value = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            pairs.push((k, SecretString::from(value)));
        }
    }
    for c in &args.credentials {
        let (k, v) = c
            .split_once('=')
            .ok_or_else(|| CtlError::Usage("a credential must be KEY=VALUE".into()))?;
        pairs.push((k.trim().to_owned(), SecretString::from(v.to_owned())));
    }
    if vendor.needs_credentials() && pairs.is_empty() {
        return Err(CtlError::Usage(format!(
            "missing credentials: a {} hotel needs --credential KEY=VALUE or --credentials-file ({})",
            vendor.provider(),
            vendor.credential_keys().join(", ")
        )));
    }
    let credentials = vendor.credentials_from_pairs(&pairs)?;
    let now = chrono::Utc::now();
    let mut config = vendor.new_config(
        hotel.clone(),
        args.name.clone().unwrap_or_else(|| hotel.to_string()),
        tz,
        currency,
        now,
    );
    config.enabled = !args.disabled;
    if let Some(u) = &args.base_url {
        config.vendor.base_url = Some(
            Url::parse(u).map_err(|e| CtlError::Usage(format!("invalid base URL {u:?}: {e}")))?,
        );
    }
    config.vendor.property_id = args.property_id.clone();
    config.vendor.service_id = args.service_id.clone();
    config.vendor.default_revenue_center = args.revenue_center.clone();
    config.vendor.external_system_code = args.external_system.clone();
    config.vendor.tax_code = args.tax_code.clone();
    vendor.check_config(&config)?;
    Ok(NewHotel {
        config,
        credentials,
    })
}

pub async fn run(cmd: HotelCommand, target: impl FnOnce() -> CtlResult<Target>) -> CtlResult<()> {
    match cmd {
        HotelCommand::Add(args) => {
            // All input is checked before the stack is touched: bad input writes nothing.
            let new = parse_add(&args)?;
            let svc = services(target()?).await;
            let id = new.config.hotel_id.clone();
            if svc.hotels.get(&id).await.map_err(failure)?.is_some() {
                return Err(CtlError::Usage(format!("hotel {id} already exists")));
            }
            if let Some(creds) = &new.credentials {
                use pms_domain::ports::SecretStore;
                svc.secrets
                    .put(&svc.adapters.credentials_secret(&id), creds)
                    .await
                    .map_err(failure)?;
            }
            match svc.hotels.create(&new.config).await {
                Ok(()) => {}
                Err(RegistryError::AlreadyExists(h)) => {
                    return Err(CtlError::Usage(format!("hotel {h} already exists")))
                }
                Err(e) => return Err(failure(e)),
            }
            crate::outln!(
                "added hotel {id} ({}, {}, {})",
                new.config.provider,
                new.config.time_zone,
                new.config.currency
            );
            Ok(())
        }
        HotelCommand::Get { hotel } => {
            let id = HotelId::parse(&hotel)?;
            let svc = services(target()?).await;
            match svc.hotels.get(&id).await.map_err(failure)? {
                Some(c) => {
                    crate::outln!("{}", serde_json::to_string_pretty(&c).map_err(failure)?);
                    Ok(())
                }
                None => Err(CtlError::NotFound(format!("hotel {id} is not configured"))),
            }
        }
        HotelCommand::List { json } => {
            let svc = services(target()?).await;
            let hotels = svc.hotels.list().await.map_err(failure)?;
            if json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&hotels).map_err(failure)?
                );
            } else {
                let mut table = Table::new();
                table.set_header([
                    "hotel",
                    "name",
                    "provider",
                    "time zone",
                    "currency",
                    "enabled",
                    "base URL",
                ]);
                for h in &hotels {
                    table.add_row([
                        h.hotel_id.to_string(),
                        h.name.clone(),
                        h.provider.to_string(),
                        h.time_zone.to_string(),
                        h.currency.to_string(),
                        h.enabled.to_string(),
                        h.vendor
                            .base_url
                            .as_ref()
                            .map(|u| u.to_string())
                            .unwrap_or_default(),
                    ]);
                }
                crate::outln!("{table}");
            }
            Ok(())
        }
    }
}
