//! `pmsctl hotel add|get|list|update|disable|enable|remove|credentials`: a hotel's life, each
//! change audited (`pmsctl audit list`).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use comfy_table::Table;
use pms_app::audit::{FieldChange, OpsAction};
use pms_app::lifecycle::{set_path, HotelLifecycle, LifecycleError};
use pms_domain::config::HotelConfig;
use pms_domain::domain::{Currency, HotelId, PropertyTz, Provider};
use secrecy::SecretString;
use url::Url;

use super::{failure, operator, services, CtlError, CtlResult, Target};

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
    /// Changes a hotel's configuration: the flags of `add`, and any stored field with
    /// --set PATH=VALUE (e.g. cache.reservationTTL=600, sync.arrivals.enabled=false).
    /// Validated as `add` validates; every function uses it from its next request.
    Update(Box<UpdateArgs>),
    /// Stops serving a hotel: no scheduled syncs, partner access refused. Data is kept.
    Disable {
        #[arg(long)]
        hotel: String,
        /// Why (for the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Serves a disabled hotel again.
    Enable {
        #[arg(long)]
        hotel: String,
    },
    /// Removes a hotel's configuration (its data and secrets are kept), or with --purge also
    /// deletes every item and secret of the hotel (its audit entries are kept). Asks to type
    /// the hotel id, or takes it as --confirm.
    Remove {
        #[arg(long)]
        hotel: String,
        #[arg(long)]
        purge: bool,
        /// The hotel id again, to confirm without a prompt (scripts).
        #[arg(long)]
        confirm: Option<String>,
    },
    /// A hotel's vendor credentials.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Replaces the hotel's vendor credentials (rotation) from a JSON file, e.g.
    /// {"clientToken": "...", "accessToken": "..."}; every function uses them from its next
    /// request. The values are never printed or audited, only which fields were set.
    Set {
        #[arg(long)]
        hotel: String,
        #[arg(long)]
        credentials_file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[arg(long)]
    pub hotel: String,
    #[arg(long)]
    pub name: Option<String>,
    /// A new PMS (the hotel moved): needs its credentials (--credentials-file) too.
    #[arg(long, requires = "credentials_file")]
    pub provider: Option<String>,
    #[arg(long)]
    pub time_zone: Option<String>,
    #[arg(long)]
    pub currency: Option<String>,
    #[arg(long)]
    pub base_url: Option<String>,
    #[arg(long)]
    pub property_id: Option<String>,
    #[arg(long)]
    pub service_id: Option<String>,
    #[arg(long)]
    pub revenue_center: Option<String>,
    #[arg(long)]
    pub external_system: Option<String>,
    #[arg(long)]
    pub tax_code: Option<String>,
    /// Any stored field, by its dotted camelCase path, to a JSON value (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// The new provider's credentials (with --provider).
    #[arg(long, requires = "provider")]
    pub credentials_file: Option<PathBuf>,
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

/// Credential pairs from a JSON file and KEY=VALUE arguments, shaped by the vendor's credential
/// schema (none for a vendor that needs none), with the names of the fields given (for the
/// audit log, never values).
fn read_credentials(
    provider: Provider,
    file: Option<&Path>,
    args: &[String],
) -> CtlResult<Option<(SecretString, Vec<String>)>> {
    let mut pairs: Vec<(String, SecretString)> = Vec::new();
    if let Some(path) = file {
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
    for c in args {
        let (k, v) = c
            .split_once('=')
            .ok_or_else(|| CtlError::Usage("a credential must be KEY=VALUE".into()))?;
        pairs.push((k.trim().to_owned(), SecretString::from(v.to_owned())));
    }
    let vendors = pms_vendors::all();
    let vendor = vendors.find(provider.as_str())?;
    if vendor.needs_credentials() && pairs.is_empty() {
        return Err(CtlError::Usage(format!(
            "missing credentials: a {} hotel needs --credential KEY=VALUE or --credentials-file ({})",
            vendor.provider(),
            vendor.credential_keys().join(", ")
        )));
    }
    let fields = pairs.iter().map(|(k, _)| k.clone()).collect();
    Ok(vendor
        .credentials_from_pairs(&pairs)?
        .map(|secret| (secret, fields)))
}
fn lifecycle_failed(e: LifecycleError) -> CtlError {
    match e {
        LifecycleError::NotConfigured(_) => CtlError::NotFound(e.to_string()),
        LifecycleError::AlreadyExists(_) | LifecycleError::Invalid(_) => {
            CtlError::Usage(e.to_string())
        }
        LifecycleError::Conflict(_) | LifecycleError::Store(_) => failure(e),
    }
}

/// Applies `update`'s flags to a configuration (the same parsing as `add`).
fn apply_update(args: &UpdateArgs, c: &mut HotelConfig) -> CtlResult<()> {
    if let Some(n) = &args.name {
        c.name = n.clone();
    }
    let vendors = pms_vendors::all();
    if let Some(p) = &args.provider {
        let v = vendors.find(p)?;
        if v.provider() != c.provider {
            c.provider = v.provider();
            c.rate_limit = v.default_rate_limit();
        }
    }
    if let Some(tz) = &args.time_zone {
        c.time_zone = PropertyTz::parse(tz)?;
    }
    if let Some(cur) = &args.currency {
        c.currency = Currency::parse(cur)?;
    }
    if let Some(u) = &args.base_url {
        c.vendor.base_url = Some(
            Url::parse(u).map_err(|e| CtlError::Usage(format!("invalid base URL {u:?}: {e}")))?,
        );
    }
    let text = |v: &Option<String>, field: &mut Option<String>| {
        if let Some(v) = v {
            // An empty value clears the field.
            *field = Some(v.clone()).filter(|v| !v.trim().is_empty());
        }
    };
    text(&args.property_id, &mut c.vendor.property_id);
    text(&args.service_id, &mut c.vendor.service_id);
    text(&args.revenue_center, &mut c.vendor.default_revenue_center);
    text(&args.external_system, &mut c.vendor.external_system_code);
    text(&args.tax_code, &mut c.vendor.tax_code);
    for s in &args.sets {
        let (path, value) = s
            .split_once('=')
            .ok_or_else(|| CtlError::Usage("--set takes PATH=VALUE".into()))?;
        set_path(c, path, value)?;
    }
    match vendors.get(c.provider) {
        Some(v) => v.check_config(c)?,
        None => c.validate()?,
    }
    Ok(())
}

fn print_changes(hotel: &HotelId, changes: &[FieldChange]) {
    if changes.is_empty() {
        crate::outln!("hotel {hotel}: nothing changed");
        return;
    }
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref().map_or_else(|| "-".to_owned(), |v| v.to_string())
    };
    for c in changes {
        crate::outln!("{hotel} {}: {} -> {}", c.field, show(&c.from), show(&c.to));
    }
}

/// The operator confirms a removal by typing the hotel id (or giving it as --confirm).
fn confirmed(hotel: &HotelId, purge: bool, confirm: Option<&str>) -> CtlResult<()> {
    let typed = match confirm {
        Some(c) => c.trim().to_owned(),
        None if std::io::stdin().is_terminal() => {
            eprintln!(
                "{} hotel {hotel}{}: type its id to confirm:",
                if purge { "purge" } else { "remove" },
                if purge {
                    " (deletes its bookings, guests, rooms, records and secrets; audit entries are kept)"
                } else {
                    " (its data and secrets are kept)"
                }
            );
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CtlError::Usage(format!("no confirmation: {e}")))?;
            line.trim().to_owned()
        }
        None => {
            return Err(CtlError::Usage(format!(
                "confirm with --confirm {hotel} (no terminal to ask on)"
            )))
        }
    };
    if typed != hotel.as_str() {
        return Err(CtlError::Usage(format!(
            "not confirmed ({typed:?} is not {hotel}): nothing was removed"
        )));
    }
    Ok(())
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
    let credentials = read_credentials(
        vendor.provider(),
        args.credentials_file.as_deref(),
        &args.credentials,
    )?
    .map(|(c, _)| c);
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
            HotelLifecycle::new(&svc)
                .add(&new.config, new.credentials.as_ref(), &operator())
                .await
                .map_err(lifecycle_failed)?;
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
            // Each hotel's PMS circuit breaker (absent: closed, nothing counted).
            let ids: Vec<HotelId> = hotels.iter().map(|h| h.hotel_id.clone()).collect();
            let breakers = svc.breakers.get_many(&ids).await.map_err(failure)?;
            let now = svc.clock.now();
            let health = |h: &HotelConfig| {
                breakers
                    .get(&h.hotel_id)
                    .cloned()
                    .unwrap_or_default()
                    .view(now)
            };
            if json {
                let mut out = Vec::with_capacity(hotels.len());
                for h in &hotels {
                    let mut v = serde_json::to_value(h).map_err(failure)?;
                    v["health"] = serde_json::to_value(health(h)).map_err(failure)?;
                    out.push(v);
                }
                crate::outln!("{}", serde_json::to_string_pretty(&out).map_err(failure)?);
            } else {
                let mut table = Table::new();
                table.set_header([
                    "hotel",
                    "name",
                    "provider",
                    "time zone",
                    "currency",
                    "enabled",
                    "health",
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
                        health(h).summary(),
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
        HotelCommand::Update(args) => {
            let id = HotelId::parse(&args.hotel)?;
            // Bad flags or a configuration that does not validate fail inside the edit, before
            // anything is written.
            let credentials = match &args.provider {
                Some(p) => read_credentials(p.parse()?, args.credentials_file.as_deref(), &[])?,
                None => None,
            };
            let svc = services(target()?).await;
            let life = HotelLifecycle::new(&svc);
            let who = operator();
            let mut bad = None;
            let changes = life
                .update(&id, &who, OpsAction::HotelUpdated, None, |c| {
                    apply_update(&args, c).map_err(|e| {
                        bad = Some(e);
                        pms_domain::domain::ValidationError::new("update", "refused")
                    })
                })
                .await;
            if let Some(e) = bad {
                return Err(e);
            }
            let changes = changes.map_err(lifecycle_failed)?;
            if let Some((creds, fields)) = credentials {
                life.set_credentials(&id, &creds, &fields, &who)
                    .await
                    .map_err(lifecycle_failed)?;
                crate::outln!("{id}: credentials replaced");
            }
            print_changes(&id, &changes);
            Ok(())
        }
        HotelCommand::Disable { hotel, reason } => {
            let id = HotelId::parse(&hotel)?;
            let svc = services(target()?).await;
            let changes = HotelLifecycle::new(&svc)
                .update(
                    &id,
                    &operator(),
                    OpsAction::HotelDisabled,
                    reason.as_deref(),
                    |c| {
                        c.enabled = false;
                        Ok(())
                    },
                )
                .await
                .map_err(lifecycle_failed)?;
            crate::outln!(
                "hotel {id} {}: no scheduled syncs, partner access refused",
                if changes.is_empty() {
                    "was already disabled"
                } else {
                    "disabled"
                }
            );
            Ok(())
        }
        HotelCommand::Enable { hotel } => {
            let id = HotelId::parse(&hotel)?;
            let svc = services(target()?).await;
            let changes = HotelLifecycle::new(&svc)
                .update(&id, &operator(), OpsAction::HotelEnabled, None, |c| {
                    c.enabled = true;
                    Ok(())
                })
                .await
                .map_err(lifecycle_failed)?;
            crate::outln!(
                "hotel {id} {}",
                if changes.is_empty() {
                    "was already enabled"
                } else {
                    "enabled"
                }
            );
            Ok(())
        }
        HotelCommand::Remove {
            hotel,
            purge,
            confirm,
        } => {
            let id = HotelId::parse(&hotel)?;
            let svc = services(target()?).await;
            if !purge && svc.hotels.get(&id).await.map_err(failure)?.is_none() {
                return Err(CtlError::NotFound(format!("hotel {id} is not configured")));
            }
            confirmed(&id, purge, confirm.as_deref())?;
            let removal = HotelLifecycle::new(&svc)
                .remove(&id, purge, &operator())
                .await
                .map_err(lifecycle_failed)?;
            if purge {
                crate::outln!(
                    "purged hotel {id}: {} item(s) and {} secret(s) deleted (audit entries kept)",
                    removal.items_deleted,
                    removal.secrets_deleted
                );
            } else {
                crate::outln!(
                    "removed hotel {id}: its data and secrets are kept (`hotel remove --purge` deletes them)"
                );
            }
            crate::outln!(
                "partner tokens naming {id} are refused for it; revoke them with `pmsctl token revoke`"
            );
            Ok(())
        }
        HotelCommand::Credentials(CredentialsCommand::Set {
            hotel,
            credentials_file,
        }) => {
            let id = HotelId::parse(&hotel)?;
            let svc = services(target()?).await;
            let config = svc
                .hotels
                .get(&id)
                .await
                .map_err(failure)?
                .ok_or_else(|| CtlError::NotFound(format!("hotel {id} is not configured")))?;
            let Some((creds, fields)) =
                read_credentials(config.provider, Some(&credentials_file), &[])?
            else {
                return Err(CtlError::Usage(format!(
                    "hotel {id} runs {}, which takes no credentials",
                    config.provider
                )));
            };
            HotelLifecycle::new(&svc)
                .set_credentials(&id, &creds, &fields, &operator())
                .await
                .map_err(lifecycle_failed)?;
            crate::outln!(
                "credentials of {id} replaced ({}); every function uses them from its next request",
                fields.join(", ")
            );
            Ok(())
        }
    }
}
