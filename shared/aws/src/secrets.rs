//! The secrets port over Secrets Manager.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};

use super::errors::port_error;
use pms_domain::ports::{PortResult, SecretStore, Service};

const SERVICE: Service = Service::SecretsManager;

#[derive(Clone)]
pub struct SecretsManagerStore {
    client: Client,
}

impl SecretsManagerStore {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, name: &str) -> PortResult<Option<SecretString>> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => Ok(out
                .secret_string()
                .map(|s| SecretString::from(s.to_owned()))),
            Err(e) => {
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception())
                {
                    return Ok(None);
                }
                Err(port_error(SERVICE, e))
            }
        }
    }

    async fn put(&self, name: &str, value: &SecretString) -> PortResult<()> {
        let created = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value.expose_secret())
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                self.client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value.expose_secret())
                    .send()
                    .await
                    .map_err(|e| port_error(SERVICE, e))?;
                Ok(())
            }
            Err(e) => Err(port_error(SERVICE, e)),
        }
    }

    async fn delete(&self, name: &str) -> PortResult<()> {
        match self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(port_error(SERVICE, e)),
        }
    }
}
