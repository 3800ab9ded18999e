use std::sync::Arc;

use pms_domain::config::HotelConfig;
use pms_domain::domain::HotelId;
use pms_domain::ports::{
    Condition, Index, IndexKeys, Item, ItemKey, ItemStore, KeyCondition, Partition, PortError,
    PutOutcome, Query, SystemPartition,
};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("hotel {0} already exists")]
    AlreadyExists(HotelId),
    #[error("hotel {0} is not configured")]
    NotConfigured(HotelId),
    #[error(transparent)]
    Store(#[from] PortError),
}

impl RegistryError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, RegistryError::Store(e) if e.is_retryable())
    }
}

/// Hotel configurations: `H#<hotel>` / `CONFIG`, listed through the lookup index partition
/// `S#HOTELS`.
#[derive(Clone)]
pub struct HotelRegistry {
    store: Arc<dyn ItemStore>,
}

fn key(hotel: &HotelId) -> ItemKey {
    ItemKey::hotel(hotel, "CONFIG")
}

fn item(config: &HotelConfig) -> Result<Item, PortError> {
    let item = Item::encode(key(&config.hotel_id), config)?;
    Ok(item.with_index(IndexKeys {
        lookup: Some((
            Partition::System(SystemPartition::Hotels),
            config.hotel_id.to_string(),
        )),
        ..IndexKeys::default()
    }))
}

impl HotelRegistry {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    pub async fn get(&self, hotel: &HotelId) -> Result<Option<HotelConfig>, RegistryError> {
        match self.store.get(&key(hotel)).await? {
            Some(i) => Ok(Some(i.decode()?)),
            None => Ok(None),
        }
    }

    pub async fn require(&self, hotel: &HotelId) -> Result<HotelConfig, RegistryError> {
        self.get(hotel)
            .await?
            .ok_or_else(|| RegistryError::NotConfigured(hotel.clone()))
    }

    /// Adds a hotel; an existing one is never overwritten.
    pub async fn create(&self, config: &HotelConfig) -> Result<(), RegistryError> {
        match self.store.put(item(config)?, Condition::IfAbsent).await? {
            PutOutcome::Applied => Ok(()),
            PutOutcome::Rejected { .. } => {
                Err(RegistryError::AlreadyExists(config.hotel_id.clone()))
            }
        }
    }

    pub async fn update(&self, config: &HotelConfig) -> Result<(), RegistryError> {
        self.store.put(item(config)?, Condition::Always).await?;
        Ok(())
    }

    /// Stores a changed configuration if the stored one is still the one read (its
    /// `updatedAt` is `read_at`); `false` when someone changed or removed it meanwhile.
    pub async fn replace(
        &self,
        config: &HotelConfig,
        read_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, RegistryError> {
        let expected = serde_json::to_value(read_at).map_err(|e| PortError::Encode {
            what: "hotel configuration".into(),
            message: e.to_string(),
        })?;
        let outcome = self
            .store
            .put(
                item(config)?,
                Condition::IfDataEquals {
                    field: "updatedAt".into(),
                    value: expected,
                },
            )
            .await?;
        Ok(outcome.applied())
    }

    /// Deletes the configuration (and with it the hotel's entry in the listing).
    pub async fn remove(&self, hotel: &HotelId) -> Result<(), RegistryError> {
        self.store.delete(&key(hotel)).await?;
        Ok(())
    }

    /// Every configured hotel, by id.
    pub async fn list(&self) -> Result<Vec<HotelConfig>, RegistryError> {
        let q = Query::on(
            Partition::System(SystemPartition::Hotels),
            Index::Lookup,
            KeyCondition::All,
        )
        .limit(1000);
        let keys: Vec<ItemKey> = self
            .store
            .query_all(&q)
            .await?
            .into_iter()
            .map(|i| i.key)
            .collect();
        let mut configs = self
            .store
            .batch_get(&keys)
            .await?
            .iter()
            .map(|i| i.decode::<HotelConfig>())
            .collect::<Result<Vec<_>, _>>()?;
        configs.sort_by(|a, b| a.hotel_id.cmp(&b.hotel_id));
        Ok(configs)
    }
}

/// Each hotel's retention setting, from its configuration (the default for a hotel no longer
/// configured: its records are still written by jobs already queued).
#[async_trait::async_trait]
impl crate::records::RetentionSource for HotelRegistry {
    async fn retention(
        &self,
        hotel: &HotelId,
    ) -> Result<pms_domain::config::RetentionSettings, PortError> {
        match self.store.get(&key(hotel)).await? {
            Some(i) => Ok(i.decode::<HotelConfig>()?.retention),
            None => Ok(Default::default()),
        }
    }
}
