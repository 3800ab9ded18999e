//! Partner event subscriptions as staff (`pmsctl subscription`) and partners (GraphQL, with the
//! `subscribe` scope) manage them: [`pms_subscriptions::Subscriptions`] with every change
//! audited (who, what, never the secret). Partners reach it through [`partner`], which
//! authorizes each hotel first.

mod partner;

pub use partner::{
    subscription_id, PartnerSubscriptionError, PartnerSubscriptions, Rotated, SubscriptionSession,
};
/// What transports map (so they need no dependency of their own on the registry's crate).
pub use pms_subscriptions::registry::{MAX_PER_HOTEL, ROTATION_OVERLAP};
pub use pms_subscriptions::{
    Created, SigningSecret, Subscription, SubscriptionError, SubscriptionId, TargetPolicy,
};

use std::sync::Arc;

use pms_domain::domain::events::EventType;
use pms_domain::domain::HotelId;
use pms_domain::ports::{Clock, ItemStore, SecretStore};
use pms_subscriptions::Subscriptions;

use crate::audit::{AuditLog, OpsAction, OpsEntry};
use crate::runtime::Services;

#[derive(Clone)]
pub struct SubscriptionService {
    subs: Subscriptions,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
}

/// Until when the secret before `s`'s last rotation still signs deliveries (`None`: never
/// rotated; a time past means it no longer does).
pub fn previous_secret_until(s: &Subscription) -> Option<chrono::DateTime<chrono::Utc>> {
    s.secret_rotated_at.map(|t| t + ROTATION_OVERLAP)
}

/// Where this process may deliver (and so which URLs it accepts): a process whose AWS endpoint
/// is on loopback (`AWS_ENDPOINT_URL`, the local stack) may use a receiver on loopback.
pub fn policy_from_env() -> TargetPolicy {
    TargetPolicy::for_endpoint(std::env::var("AWS_ENDPOINT_URL").ok().as_deref())
}

impl SubscriptionService {
    pub fn new(services: &Services, policy: TargetPolicy) -> Self {
        Self::from_parts(
            services.store.clone(),
            services.secrets.clone(),
            services.clock.clone(),
            services.names.secrets_prefix.clone(),
            policy,
        )
    }

    /// From the ports alone (unit tests use in-memory ones).
    pub fn from_parts(
        store: Arc<dyn ItemStore>,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
        secrets_prefix: impl Into<String>,
        policy: TargetPolicy,
    ) -> Self {
        Self {
            subs: Subscriptions::new(
                store.clone(),
                secrets,
                clock.clone(),
                secrets_prefix,
                policy,
            ),
            audit: AuditLog::new(store, clock.clone()),
            clock,
        }
    }

    pub fn registry(&self) -> &Subscriptions {
        &self.subs
    }

    async fn audit(
        &self,
        s: &Subscription,
        actor: &str,
        action: OpsAction,
        note: Option<String>,
    ) -> Result<(), SubscriptionError> {
        let mut e =
            OpsEntry::new(&s.hotel_id, actor, action, self.clock.now()).target(s.reference());
        if let Some(n) = note {
            e = e.note(n);
        }
        Ok(self.audit.record(&e).await?)
    }

    pub async fn create(
        &self,
        hotel: &HotelId,
        url: &str,
        events: Vec<EventType>,
        actor: &str,
    ) -> Result<Created, SubscriptionError> {
        let created = self.subs.create(hotel, url, events, actor).await?;
        let s = &created.subscription;
        let names: Vec<&str> = s.events.iter().map(|e| e.as_str()).collect();
        self.audit(
            s,
            actor,
            OpsAction::SubscriptionCreated,
            Some(format!("{} for {}", s.url, names.join(","))),
        )
        .await?;
        Ok(created)
    }

    pub async fn set_enabled(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
        enabled: bool,
        actor: &str,
        reason: Option<String>,
    ) -> Result<Subscription, SubscriptionError> {
        let why = reason.map(|r| format!("{actor}: {r}"));
        let s = self
            .subs
            .set_enabled(hotel, id, enabled, why.clone())
            .await?;
        let action = if enabled {
            OpsAction::SubscriptionEnabled
        } else {
            OpsAction::SubscriptionDisabled
        };
        self.audit(&s, actor, action, why).await?;
        Ok(s)
    }

    pub async fn rotate_secret(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
        actor: &str,
    ) -> Result<SigningSecret, SubscriptionError> {
        Ok(self.rotate(hotel, id, actor).await?.1)
    }

    /// [`Self::rotate_secret`], with the subscription as it is after it (its
    /// `secret_rotated_at` says until when the previous secret signs).
    pub async fn rotate(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
        actor: &str,
    ) -> Result<(Subscription, SigningSecret), SubscriptionError> {
        let secret = self.subs.rotate_secret(hotel, id).await?;
        let s = self.subs.get(hotel, id).await?;
        self.audit(
            &s,
            actor,
            OpsAction::SubscriptionSecretRotated,
            Some("the previous secret signs for 24 hours more".into()),
        )
        .await?;
        Ok((s, secret))
    }

    pub async fn delete(
        &self,
        hotel: &HotelId,
        id: &SubscriptionId,
        actor: &str,
    ) -> Result<Subscription, SubscriptionError> {
        let s = self.subs.delete(hotel, id).await?;
        self.audit(
            &s,
            actor,
            OpsAction::SubscriptionDeleted,
            Some(s.url.clone()),
        )
        .await?;
        Ok(s)
    }
}
