//! Event subscriptions as partners manage them (GraphQL, scope `subscribe`): one
//! [`SubscriptionSession`] per request for a verified [`Principal`]. Every call authorizes its
//! hotel first (the scope, the token's hotels, the hotel enabled: as reads and writes do), and
//! every change is audited with the partner's token id as the actor. Transports map arguments
//! and results only.

use pms_domain::domain::{HotelId, ValidationError};
use pms_subscriptions::{
    parse_events, Created, SigningSecret, Subscription, SubscriptionError, SubscriptionId,
    SubscriptionRef, TargetPolicy,
};

use super::SubscriptionService;
use crate::reads::{HotelAccess, ReadError};
use crate::registry::{HotelRegistry, Principal, Scope};
use crate::runtime::Services;

/// Why a partner's subscription request failed. [`Self::code`] is the stable code partners
/// see, [`Self::public_message`] what they read (`Display` is for logs).
#[derive(Debug, thiserror::Error)]
pub enum PartnerSubscriptionError {
    /// The token lacks the `subscribe` scope or does not cover the hotel. Says nothing about
    /// the hotel.
    #[error("the credential does not allow this")]
    Forbidden,
    #[error("hotel {0} is not configured")]
    HotelNotConfigured(HotelId),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl PartnerSubscriptionError {
    /// `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT` or `INTERNAL`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Forbidden => "FORBIDDEN",
            Self::HotelNotConfigured(_) => "NOT_FOUND",
            Self::Invalid(_) => "BAD_USER_INPUT",
            Self::Subscription(e) => match e {
                SubscriptionError::Url(_)
                | SubscriptionError::NoEvents
                | SubscriptionError::UnknownEvent(_)
                | SubscriptionError::TooMany(_) => "BAD_USER_INPUT",
                SubscriptionError::NotFound(_) => "NOT_FOUND",
                SubscriptionError::SecretMissing(_) | SubscriptionError::Port(_) => "INTERNAL",
            },
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// Whether the same request may succeed later (a store hiccup, a host that did not
    /// resolve).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Subscription(e) if e.is_retryable())
    }

    /// Safe to return to a partner: what was wrong with the request, never a store detail.
    pub fn public_message(&self) -> String {
        match self {
            Self::Forbidden => {
                "this credential does not allow managing that hotel's subscriptions (scope subscribe)"
                    .into()
            }
            other if other.code() == "INTERNAL" => "internal error".into(),
            other => other.to_string(),
        }
    }

    /// The argument an error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid(v) => Some(v.field),
            Self::Subscription(SubscriptionError::Url(_)) => Some("url"),
            Self::Subscription(
                SubscriptionError::NoEvents | SubscriptionError::UnknownEvent(_),
            ) => Some("events"),
            _ => None,
        }
    }
}

impl From<ReadError> for PartnerSubscriptionError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Forbidden => Self::Forbidden,
            ReadError::HotelNotConfigured(h) => Self::HotelNotConfigured(h),
            ReadError::Invalid(v) => Self::Invalid(v),
            ReadError::Store(p) => Self::Subscription(SubscriptionError::Port(p)),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// A subscription id as a partner sends it for `hotel`: `sub_…`, or the `hotel/sub_…` the API
/// answers (whose hotel must then be `hotel`).
pub fn subscription_id(
    hotel: &HotelId,
    text: &str,
) -> Result<SubscriptionId, PartnerSubscriptionError> {
    let r = SubscriptionRef::parse(text).map_err(|m| ValidationError::new("id", m))?;
    match r.hotel {
        Some(h) if &h != hotel => Err(ValidationError::new(
            "id",
            format!("names hotel {h}, not {hotel} (the hotelId given)"),
        )
        .into()),
        _ => Ok(r.id),
    }
}

/// A rotated secret: the new one (shown once) and the subscription after the rotation.
pub struct Rotated {
    pub subscription: Subscription,
    pub secret: SigningSecret,
}

/// The partner side, built once per process.
#[derive(Clone)]
pub struct PartnerSubscriptions {
    service: SubscriptionService,
    hotels: HotelRegistry,
}

impl PartnerSubscriptions {
    pub fn new(service: SubscriptionService, hotels: HotelRegistry) -> Self {
        Self { service, hotels }
    }

    /// `policy`: which URLs this environment accepts (`super::policy_from_env`).
    pub fn from_services(services: &Services, policy: TargetPolicy) -> Self {
        Self::new(
            SubscriptionService::new(services, policy),
            services.hotels.clone(),
        )
    }

    /// What one verified caller may do.
    pub fn session(&self, principal: Principal) -> SubscriptionSession {
        SubscriptionSession {
            access: HotelAccess::new(principal, self.hotels.clone()),
            service: self.service.clone(),
        }
    }
}

/// One caller's subscription requests. Every method authorizes the hotel it names first.
pub struct SubscriptionSession {
    access: HotelAccess,
    service: SubscriptionService,
}

impl SubscriptionSession {
    pub fn principal(&self) -> &Principal {
        self.access.principal()
    }

    /// The audit log's actor: the token's id, as the writer's audit names partners.
    fn actor(&self) -> &str {
        &self.access.principal().token_id
    }

    async fn authorize(&self, hotel: &HotelId) -> Result<(), PartnerSubscriptionError> {
        self.access.authorize(hotel, Scope::Subscribe).await?;
        Ok(())
    }

    /// Subscribes `url` to the hotel's events of these types (names such as
    /// `pms.booking.checked_in`); answers the subscription and its secret, shown only now.
    pub async fn create(
        &self,
        hotel: &HotelId,
        url: &str,
        events: &[String],
    ) -> Result<Created, PartnerSubscriptionError> {
        self.authorize(hotel).await?;
        let events = parse_events(events)?;
        Ok(self
            .service
            .create(hotel, url, events, self.actor())
            .await?)
    }

    /// The hotel's subscriptions, oldest first.
    pub async fn list(
        &self,
        hotel: &HotelId,
    ) -> Result<Vec<Subscription>, PartnerSubscriptionError> {
        self.authorize(hotel).await?;
        let mut all = self.service.registry().list(hotel).await?;
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    pub async fn get(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
    ) -> Result<Subscription, PartnerSubscriptionError> {
        self.authorize(hotel).await?;
        Ok(self.service.registry().get(hotel, id).await?)
    }

    /// Enables or disables it; `reason` is kept with a disabled one, after the token's id.
    pub async fn set_enabled(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
        enabled: bool,
        reason: Option<String>,
    ) -> Result<Subscription, PartnerSubscriptionError> {
        self.authorize(hotel).await?;
        let reason = match reason.map(|r| r.trim().to_owned()) {
            Some(r) if r.chars().count() > 500 => {
                return Err(ValidationError::new("reason", "is longer than 500 characters").into())
            }
            Some(r) if !r.is_empty() => Some(r),
            // Who disabled it is kept even without a reason.
            _ if !enabled => Some("disabled by the partner".to_owned()),
            _ => None,
        };
        Ok(self
            .service
            .set_enabled(hotel, id, enabled, self.actor(), reason)
            .await?)
    }

    /// A new secret; the previous one keeps signing for 24 hours.
    pub async fn rotate_secret(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
    ) -> Result<Rotated, PartnerSubscriptionError> {
        self.authorize(hotel).await?;
        let (subscription, secret) = self.service.rotate(hotel, id, self.actor()).await?;
        Ok(Rotated {
            subscription,
            secret,
        })
    }

    /// Deletes it and its secret; answers it as it was.
    pub async fn delete(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
    ) -> Result<Subscription, PartnerSubscriptionError> {
        self.authorize(hotel).await?;
        Ok(self.service.delete(hotel, id, self.actor()).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;

    use super::*;
    use crate::audit::{AuditLog, AuditRecord, KindFilter, OpsAction};
    use pms_domain::config::HotelConfig;
    use pms_domain::domain::{Currency, PropertyTz, Provider};
    use pms_domain::memory::{MemorySecrets, MemoryStore};
    use pms_domain::ports::{ItemStore, ManualClock};

    struct World {
        partner: PartnerSubscriptions,
        audit: AuditLog,
        clock: Arc<ManualClock>,
        a: HotelId,
        b: HotelId,
    }

    async fn world() -> World {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let store: Arc<dyn ItemStore> = Arc::new(MemoryStore::new(clock.clone()));
        let hotels = HotelRegistry::new(store.clone());
        let (a, b) = (HotelId::parse("a1").unwrap(), HotelId::parse("b1").unwrap());
        for h in [&a, &b] {
            hotels
                .create(&HotelConfig::new(
                    h.clone(),
                    "H",
                    Provider::named("mock"),
                    PropertyTz::parse("Europe/Prague").unwrap(),
                    Currency::eur(),
                    Utc::now() - chrono::Duration::hours(1),
                ))
                .await
                .unwrap();
        }
        let service = SubscriptionService::from_parts(
            store.clone(),
            Arc::new(MemorySecrets::default()),
            clock.clone(),
            "pms/test",
            TargetPolicy::AllowLoopback,
        );
        World {
            partner: PartnerSubscriptions::new(service, hotels),
            audit: AuditLog::new(store, clock.clone()),
            clock,
            a,
            b,
        }
    }

    fn session(w: &World, scopes: &[Scope]) -> SubscriptionSession {
        w.partner.session(Principal {
            token_id: "tok-a".into(),
            hotels: vec![w.a.clone()],
            scopes: scopes.to_vec(),
            issued_at: Utc::now(),
        })
    }

    fn events() -> Vec<String> {
        vec!["pms.booking.checked_in".into()]
    }

    #[tokio::test]
    async fn only_the_subscribe_scope_on_a_granted_hotel_manages_subscriptions() {
        let w = world().await;
        let url = "https://127.0.0.1/hook";
        let reader = session(&w, &[Scope::Read, Scope::Write, Scope::Ingest]);
        let e = reader.create(&w.a, url, &events()).await.err().unwrap();
        assert_eq!(e.code(), "FORBIDDEN");
        assert!(e.public_message().contains("subscribe"), "{e}");
        assert_eq!(reader.list(&w.a).await.unwrap_err().code(), "FORBIDDEN");

        let s = session(&w, &[Scope::Subscribe]);
        let made = s.create(&w.a, url, &events()).await.unwrap();
        let id = made.subscription.id.clone();
        assert_eq!(made.subscription.created_by, "tok-a");
        // Hotel B is not the token's: refused before anything is read, as an unknown hotel.
        for hotel in [&w.b, &HotelId::parse("nowhere").unwrap()] {
            assert_eq!(s.list(hotel).await.unwrap_err().code(), "FORBIDDEN");
            assert_eq!(
                s.create(hotel, url, &events()).await.err().unwrap().code(),
                "FORBIDDEN"
            );
            assert_eq!(s.delete(hotel, &id).await.unwrap_err().code(), "FORBIDDEN");
        }
        assert_eq!(s.list(&w.a).await.unwrap().len(), 1);
        // A second later, so the audit log orders the two entries.
        w.clock.advance(chrono::Duration::seconds(1));
        let off = s.set_enabled(&w.a, &id, false, None).await.unwrap();
        assert_eq!(
            off.disabled_reason.as_deref(),
            Some("tok-a: disabled by the partner")
        );

        // Every change is in the hotel's audit log with the token as the actor.
        let page = w
            .audit
            .list(std::slice::from_ref(&w.a), KindFilter::Ops, None, None, 10)
            .await
            .unwrap();
        let actions: Vec<(OpsAction, String)> = page
            .records
            .iter()
            .filter_map(|r| match r {
                AuditRecord::Ops(e) => Some((e.action, e.actor.clone())),
                AuditRecord::Write(_) => None,
            })
            .collect();
        assert_eq!(
            actions,
            [
                (OpsAction::SubscriptionDisabled, "tok-a".to_owned()),
                (OpsAction::SubscriptionCreated, "tok-a".to_owned()),
            ]
        );
    }

    #[tokio::test]
    async fn bad_requests_name_the_argument() {
        let w = world().await;
        let s = session(&w, &[Scope::Subscribe]);
        let e = s
            .create(&w.a, "http://hooks.example.com/x", &events())
            .await
            .err()
            .unwrap();
        assert_eq!(
            (e.code(), e.field(), e.public_message().as_str()),
            ("BAD_USER_INPUT", Some("url"), "url: the URL must be https")
        );
        let e = s
            .create(&w.a, "https://127.0.0.1/x", &["pms.booking.moved".into()])
            .await
            .err()
            .unwrap();
        assert_eq!((e.code(), e.field()), ("BAD_USER_INPUT", Some("events")));
        assert!(e.public_message().contains("pms.booking.moved"), "{e}");

        let missing = SubscriptionId::generate();
        let e = s.get(&w.a, &missing).await.unwrap_err();
        assert_eq!(e.code(), "NOT_FOUND");

        assert_eq!(
            subscription_id(&w.a, &format!("a1/{missing}")).unwrap(),
            missing
        );
        let e = subscription_id(&w.a, &format!("b1/{missing}")).unwrap_err();
        assert_eq!((e.code(), e.field()), ("BAD_USER_INPUT", Some("id")));
        assert_eq!(
            subscription_id(&w.a, "sub_x").unwrap_err().field(),
            Some("id")
        );
    }
}
