//! The item store contract against DynamoDB on moto's server: conditional create, version
//! ordering, TTL'd items invisible though still stored, GSI date ranges, batch upserts of 1 000
//! items, hotel isolation, atomic counters. The same suite runs on the in-memory store.

use std::sync::Arc;

use pms_aws::DynamoStore;
use pms_domain::ports::{Clock, ItemStore};
use pms_testkit::store_contract as contract;
use pms_tests::TestStack;

fn factory(stack: &TestStack) -> impl Fn(Arc<dyn Clock>) -> Arc<dyn ItemStore> + Send + Sync {
    let client = stack.dynamodb();
    let table = stack.table_name().to_owned();
    move |clock| {
        Arc::new(DynamoStore::new(client.clone(), table.clone(), clock)) as Arc<dyn ItemStore>
    }
}

#[tokio::test]
async fn conditional_create() {
    let stack = TestStack::new().await;
    contract::conditional_create(&factory(&stack)).await;
}

#[tokio::test]
async fn version_ordering_never_moves_back() {
    let stack = TestStack::new().await;
    contract::version_ordering(&factory(&stack)).await;
}

#[tokio::test]
async fn state_transitions() {
    let stack = TestStack::new().await;
    contract::state_transitions(&factory(&stack)).await;
}

#[tokio::test]
async fn ttl_items_are_invisible_after_expiry_but_still_stored() {
    let stack = TestStack::new().await;
    contract::ttl_expiry(&factory(&stack)).await;
}

#[tokio::test]
async fn gsi_date_range_query_pages_in_order() {
    let stack = TestStack::new().await;
    contract::date_range_query(&factory(&stack)).await;
}

#[tokio::test]
async fn batch_upsert_of_1000_items() {
    let stack = TestStack::new().await;
    contract::batch_upsert_1000(&factory(&stack)).await;
}

#[tokio::test]
async fn hotel_isolation() {
    let stack = TestStack::new().await;
    contract::hotel_isolation(&factory(&stack)).await;
}

#[tokio::test]
async fn atomic_increment_across_concurrent_callers() {
    let stack = TestStack::new().await;
    contract::atomic_increment(&factory(&stack)).await;
}
