//! The item store contract against DynamoDB (moto): the same suite the in-memory store passes.

use std::sync::Arc;

use pms_aws::DynamoStore;
use pms_domain::ports::{Clock, ItemStore};
use pms_testkit::store_contract;
use pms_tests::TestStack;

#[tokio::test]
async fn dynamo_store_passes_the_contract() {
    let stack = TestStack::new().await;
    let (config, table) = (stack.sdk_config.clone(), stack.table_name().to_owned());
    store_contract::run_all(&move |clock: Arc<dyn Clock>| {
        Arc::new(DynamoStore::from_config(&config, &table, clock)) as Arc<dyn ItemStore>
    })
    .await;
}
