//! What a vendor's simulator is built on (feature `sim`): the vendor-neutral hotel data every
//! protocol renders ([`data`]), the guard every simulated request passes (counters, injected
//! faults, the vendor's real rate limit: [`guard`]), and the shared [`SimContext`]. A vendor
//! crate's `sim` module serves its protocol over these and declares itself as a [`SimVendor`];
//! `pms-sim` mounts every registered one on one port with an admin API.

pub mod data;
pub mod guard;

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use chrono_tz::Tz;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use pms_domain::config::HotelConfig;
use pms_domain::domain::Provider;

pub use data::{
    IdStyle, ReservationPatch, RoomPatch, SimHotel, SimHousekeeping, SimSize, SimStatus,
};
pub use guard::{Denied, FaultConfig, Limits, VendorCounters};

use guard::Guard;

/// One simulated property of a vendor and the credentials the simulator accepts for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertySetup {
    pub property_id: String,
    pub time_zone: Tz,
    pub currency: String,
    pub currency_exponent: u32,
    /// The vendor's credential keys and values (and simulator settings of the property, such
    /// as OHIP's `externalSystemCode` or Mews' `serviceId`).
    pub credentials: BTreeMap<String, String>,
}

impl PropertySetup {
    pub fn credential(&self, key: &str) -> Option<String> {
        self.credentials.get(key).cloned()
    }
}

/// Builds a credentials map from pairs.
pub fn creds(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A vendor's simulator, as its crate declares it (`sim::simulator()`).
#[derive(Clone, Copy)]
pub struct SimVendor {
    pub provider: Provider,
    /// Where its API is mounted on the simulator (`/mews`).
    pub prefix: &'static str,
    /// The API root an adapter is configured with, below the simulator's address (the prefix,
    /// or a path under it).
    pub api_root: &'static str,
    /// How its ids look.
    pub id_style: IdStyle,
    /// Keeps its generated data apart from other vendors' under one seed.
    pub data_salt: u64,
    /// The request limit it enforces (requests, window in ms): the vendor's published one.
    pub limit: (usize, u64),
    /// Its protocol's routes, mounted under `prefix`.
    pub router: fn() -> axum::Router<Arc<SimContext>>,
    /// Admin routes of its own (OHIP: expire tokens), under `/_admin/{provider}`.
    pub admin: Option<fn() -> axum::Router<Arc<SimContext>>>,
    /// The property a default simulator serves.
    pub default_property: fn() -> PropertySetup,
    /// The vendor settings of a hotel configured against one of its properties (service ids,
    /// revenue centres, tax codes the simulated property knows).
    pub configure: fn(&mut HotelConfig, &PropertySetup),
    /// Called when the admin API changes or adds a reservation ("at the PMS"), with the change
    /// (`NEW RESERVATION`, `UPDATE RESERVATION`): OHIP queues a business event.
    pub on_reservation_change: Option<fn(&SimContext, &str, &data::SimReservation, &str)>,
}

/// What every simulated vendor's property setup, limits and data are made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimConfig {
    pub seed: u64,
    pub size: SimSize,
    pub limits: Limits,
    /// Lifetime of the OAuth tokens a simulator issues (OHIP's real one is 3600 s).
    #[serde(alias = "ohipTokenTtlSecs")]
    pub token_ttl_secs: u64,
    pub properties: BTreeMap<Provider, Vec<PropertySetup>>,
    /// Properties of a vendor (by property id) that form one chain: their guest profiles (OPERA
    /// profiles, Mews customers) are the chain's, readable by id through any member's
    /// credentials, as at the real vendors. Properties in no chain keep their guests to
    /// themselves.
    #[serde(default)]
    pub chains: BTreeMap<Provider, Vec<String>>,
}

impl SimConfig {
    /// Each vendor's default property and real limit.
    pub fn for_vendors(vendors: &[SimVendor]) -> Self {
        let mut limits = Limits::default();
        let mut properties = BTreeMap::new();
        for v in vendors {
            limits.set(v.provider, v.limit.0, v.limit.1);
            properties.insert(v.provider, vec![(v.default_property)()]);
        }
        Self {
            seed: 42,
            size: SimSize::default(),
            limits,
            token_ttl_secs: 3600,
            properties,
            chains: BTreeMap::new(),
        }
    }

    /// The first property of a vendor (what a default simulator serves).
    pub fn property(&self, vendor: Provider) -> Option<&PropertySetup> {
        self.properties.get(&vendor).and_then(|p| p.first())
    }
}

/// A vendor simulator's own state (tokens, captured requests), one per context, made on first
/// use.
pub trait SimState: Default + Send + Sync + 'static {
    /// Forgets what the admin API's reset forgets.
    fn reset(&self) {}
}

struct StateEntry {
    value: Arc<dyn Any + Send + Sync>,
    reset: Box<dyn Fn() + Send + Sync>,
}

/// Shared state of the running simulator.
pub struct SimContext {
    pub config: SimConfig,
    vendors: Vec<SimVendor>,
    guard: Mutex<Guard>,
    hotels: Mutex<HashMap<(Provider, String), SimHotel>>,
    rng: Mutex<Xoshiro256PlusPlus>,
    states: Mutex<HashMap<TypeId, StateEntry>>,
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn seed_hotels(config: &SimConfig, vendors: &[SimVendor]) -> HashMap<(Provider, String), SimHotel> {
    let now = Utc::now();
    let mut out = HashMap::new();
    for v in vendors {
        let Some(props) = config.properties.get(&v.provider) else {
            continue;
        };
        for (i, p) in props.iter().enumerate() {
            let seed = config.seed ^ (v.data_salt << 32) ^ i as u64;
            let hotel = SimHotel::seeded(
                &p.property_id,
                p.time_zone,
                &p.currency,
                p.currency_exponent,
                config.size,
                seed,
                v.id_style,
                now,
            );
            out.insert((v.provider, p.property_id.clone()), hotel);
        }
        // Numeric ids are per property; a chain's profiles share one id space (GUIDs are
        // unique already).
        if v.id_style == IdStyle::Guid {
            continue;
        }
        for (k, property) in config
            .chains
            .get(&v.provider)
            .into_iter()
            .flatten()
            .enumerate()
            .skip(1)
        {
            if let Some(h) = out.get_mut(&(v.provider, property.clone())) {
                h.renumber_guests(&format!("{}", k + 1));
            }
        }
    }
    out
}

impl SimContext {
    pub fn new(config: SimConfig, vendors: Vec<SimVendor>) -> Self {
        Self {
            guard: Mutex::new(Guard::new(config.limits.clone())),
            hotels: Mutex::new(seed_hotels(&config, &vendors)),
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(config.seed)),
            states: Mutex::new(HashMap::new()),
            vendors,
            config,
        }
    }

    pub fn vendors(&self) -> &[SimVendor] {
        &self.vendors
    }

    /// A vendor simulator's own state.
    pub fn state<T: SimState>(&self) -> Arc<T> {
        let mut states = lock(&self.states);
        let entry = states.entry(TypeId::of::<T>()).or_insert_with(|| {
            let value = Arc::new(T::default());
            let for_reset = value.clone();
            StateEntry {
                value,
                reset: Box::new(move || for_reset.reset()),
            }
        });
        // The entry under T's TypeId always holds a T.
        entry
            .value
            .clone()
            .downcast::<T>()
            .unwrap_or_else(|_| Arc::new(T::default()))
    }

    /// Runs the guard for a request: counts it, waits any injected latency, and says whether it
    /// is refused (rate limit, storm, injected error or timeout). Call first in every handler.
    pub async fn admit(
        &self,
        vendor: Provider,
        endpoint: &str,
        rate_key: &str,
    ) -> Result<(), Denied> {
        let roll: f64 = lock(&self.rng).random();
        let (delay, denied) =
            lock(&self.guard).check(vendor, endpoint, rate_key, Instant::now(), roll);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match denied {
            Some(d) => Err(d),
            None => Ok(()),
        }
    }

    /// Whether reads of this entity are set to fail.
    pub fn entity_fails(&self, vendor: Provider, id: &str) -> bool {
        lock(&self.guard).entity_fails(vendor, id)
    }

    pub fn count(&self, vendor: Provider, f: impl FnOnce(&mut VendorCounters)) {
        f(lock(&self.guard).counters_mut(vendor));
    }

    pub fn property(&self, vendor: Provider, property_id: &str) -> Option<&PropertySetup> {
        self.config
            .properties
            .get(&vendor)?
            .iter()
            .find(|p| p.property_id == property_id)
    }

    /// The property whose credential `key` has `value` (e.g. the Mews access token).
    pub fn property_by_credential(
        &self,
        vendor: Provider,
        key: &str,
        value: &str,
    ) -> Option<&PropertySetup> {
        self.config
            .properties
            .get(&vendor)?
            .iter()
            .find(|p| p.credentials.get(key).is_some_and(|v| v == value))
    }

    /// The properties whose guest profiles `property`'s credentials read: itself first, then
    /// the other members of its chain.
    pub fn chain_of(&self, vendor: Provider, property: &str) -> Vec<String> {
        let mut out = vec![property.to_owned()];
        if let Some(chain) = self.config.chains.get(&vendor) {
            if chain.iter().any(|p| p == property) {
                out.extend(chain.iter().filter(|p| *p != property).cloned());
            }
        }
        out
    }

    /// Runs `f` on a property's data.
    pub fn with_hotel<R>(
        &self,
        vendor: Provider,
        property_id: &str,
        f: impl FnOnce(&mut SimHotel) -> R,
    ) -> Option<R> {
        lock(&self.hotels)
            .get_mut(&(vendor, property_id.to_owned()))
            .map(f)
    }

    /// Every vendor's counters (zero for a vendor not called yet).
    pub fn counters(&self) -> BTreeMap<Provider, VendorCounters> {
        let mut c = lock(&self.guard).counters.clone();
        for v in &self.vendors {
            c.entry(v.provider).or_default();
        }
        c
    }

    /// Whether any vendor's faults ask for requests to finish when their client has gone.
    pub fn finishes_abandoned(&self) -> bool {
        lock(&self.guard)
            .faults
            .values()
            .any(|f| f.finish_abandoned)
    }

    /// Replaces a vendor's faults; a storm under way goes on.
    pub fn set_faults(&self, vendor: Provider, mut faults: FaultConfig) {
        let mut g = lock(&self.guard);
        faults.storm_until = g.faults.get(&vendor).and_then(|f| f.storm_until);
        g.faults.insert(vendor, faults);
    }

    pub fn clear_faults(&self) {
        lock(&self.guard).faults.clear();
    }

    /// A 429 storm on a vendor for `seconds`.
    pub fn storm(&self, vendor: Provider, seconds: u64, retry_after_secs: u64) {
        let mut g = lock(&self.guard);
        let f = g.faults.entry(vendor).or_default();
        f.storm_until = Some(Instant::now() + std::time::Duration::from_secs(seconds));
        f.storm_retry_after_secs = retry_after_secs;
    }

    /// Tells the vendor's simulator that a reservation changed at the PMS.
    pub fn reservation_changed(
        &self,
        vendor: Provider,
        property: &str,
        r: &data::SimReservation,
        change: &str,
    ) {
        if let Some(hook) = self
            .vendors
            .iter()
            .find(|v| v.provider == vendor)
            .and_then(|v| v.on_reservation_change)
        {
            hook(self, property, r, change);
        }
    }

    /// Back to the seeded data, no faults, zero counters, vendor states reset.
    pub fn reset(&self) {
        *lock(&self.hotels) = seed_hotels(&self.config, &self.vendors);
        *lock(&self.guard) = Guard::new(self.config.limits.clone());
        for entry in lock(&self.states).values() {
            (entry.reset)();
        }
    }
}
