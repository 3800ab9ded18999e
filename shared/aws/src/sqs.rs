//! The queue port over SQS.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use chrono::{TimeZone, Utc};

use super::errors::port_error;
use pms_domain::ports::{
    BatchSendFailure, MoveTask, OutgoingMessage, PortError, PortResult, Queue, ReceivedMessage,
    Service,
};

const SERVICE: Service = Service::Sqs;
const SEND_BATCH: usize = 10;
const SEND_ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
}

impl SqsQueue {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn queue_arn(&self, url: &str) -> PortResult<String> {
        self.client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, e))
            .map(|o| {
                o.attributes()
                    .and_then(|a| a.get(&QueueAttributeName::QueueArn))
                    .cloned()
                    .unwrap_or_default()
            })
    }
}

fn attributes(m: &OutgoingMessage) -> PortResult<Option<HashMap<String, MessageAttributeValue>>> {
    if m.attributes.is_empty() {
        return Ok(None);
    }
    m.attributes
        .iter()
        .map(|(k, v)| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map(|a| (k.clone(), a))
                .map_err(|e| PortError::Rejected {
                    service: SERVICE,
                    message: e.to_string(),
                })
        })
        .collect::<PortResult<HashMap<_, _>>>()
        .map(Some)
}

fn delay_seconds(d: Option<Duration>) -> Option<i32> {
    // SQS allows at most 15 minutes of delay.
    d.map(|d| d.as_secs().min(900) as i32)
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, queue_url: &str, message: OutgoingMessage) -> PortResult<String> {
        let out = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(&message.body)
            .set_delay_seconds(delay_seconds(message.delay))
            .set_message_attributes(attributes(&message)?)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    async fn send_batch(
        &self,
        queue_url: &str,
        messages: Vec<OutgoingMessage>,
    ) -> PortResult<Vec<BatchSendFailure>> {
        let mut failures = Vec::new();
        let indexed: Vec<(usize, OutgoingMessage)> = messages.into_iter().enumerate().collect();
        for chunk in indexed.chunks(SEND_BATCH) {
            let mut pending: Vec<&(usize, OutgoingMessage)> = chunk.iter().collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                let entries = pending
                    .iter()
                    .map(|(i, m)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(&m.body)
                            .set_delay_seconds(delay_seconds(m.delay))
                            .set_message_attributes(attributes(m)?)
                            .build()
                            .map_err(|e| PortError::Rejected {
                                service: SERVICE,
                                message: e.to_string(),
                            })
                    })
                    .collect::<PortResult<Vec<_>>>()?;
                let resp = self
                    .client
                    .send_message_batch()
                    .queue_url(queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await;
                let resp = match resp {
                    Ok(r) => r,
                    Err(e) => {
                        let err = port_error(SERVICE, e);
                        if err.is_retryable() && attempt < SEND_ATTEMPTS {
                            tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
                            continue;
                        }
                        return Err(err);
                    }
                };
                let mut retry = Vec::new();
                for f in resp.failed() {
                    let idx: usize = f.id().parse().unwrap_or(usize::MAX);
                    let Some(entry) = pending.iter().find(|(i, _)| *i == idx) else {
                        continue;
                    };
                    // Sender faults are our bug (too large, bad attribute): do not retry them.
                    if !f.sender_fault() && attempt < SEND_ATTEMPTS {
                        retry.push(*entry);
                    } else {
                        failures.push(BatchSendFailure {
                            index: idx,
                            error: PortError::Rejected {
                                service: SERVICE,
                                message: format!(
                                    "{}: {}",
                                    f.code(),
                                    f.message().unwrap_or("no message")
                                ),
                            },
                        });
                    }
                }
                pending = retry;
                if !pending.is_empty() {
                    tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
                }
            }
        }
        Ok(failures)
    }

    async fn receive(
        &self,
        queue_url: &str,
        max_messages: u32,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(max_messages.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .set_visibility_timeout(visibility_timeout.map(|d| d.as_secs() as i32))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| port_error(SERVICE, e))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| {
                let sys = m.attributes();
                let get = |k: MessageSystemAttributeName| sys.and_then(|a| a.get(&k)).cloned();
                ReceivedMessage {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count: get(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1),
                    sent_at: get(MessageSystemAttributeName::SentTimestamp)
                        .and_then(|v| v.parse::<i64>().ok())
                        .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                    attributes: m
                        .message_attributes()
                        .map(|a| {
                            a.iter()
                                .filter_map(|(k, v)| {
                                    v.string_value().map(|s| (k.clone(), s.to_owned()))
                                })
                                .collect::<BTreeMap<_, _>>()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> PortResult<()> {
        self.client
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, e))?;
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            // SQS caps visibility at 12 hours.
            .visibility_timeout(timeout.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, e))?;
        Ok(())
    }

    async fn move_task(&self, dlq_url: &str) -> PortResult<Option<MoveTask>> {
        let arn = self.queue_arn(dlq_url).await?;
        let out = match self
            .client
            .list_message_move_tasks()
            .source_arn(arn)
            .max_results(1)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                // Emulators (moto) lack the API: no progress to report.
                tracing::warn!(error = %port_error(SERVICE, e), "ListMessageMoveTasks unavailable");
                return Ok(None);
            }
        };
        let Some(task) = out.results().first() else {
            return Ok(None);
        };
        let moved = u64::try_from(task.approximate_number_of_messages_moved()).unwrap_or(0);
        Ok(Some(match task.status().unwrap_or_default() {
            "RUNNING" => MoveTask::Running {
                moved,
                to_move: task
                    .approximate_number_of_messages_to_move()
                    .and_then(|n| u64::try_from(n).ok()),
            },
            "COMPLETED" => MoveTask::Completed { moved },
            other => MoveTask::Failed {
                moved,
                reason: format!(
                    "{other}: {}",
                    task.failure_reason().unwrap_or("no reason given")
                ),
            },
        }))
    }

    async fn start_move_all(&self, dlq_url: &str, source_url: &str) -> PortResult<bool> {
        let (dlq_arn, source_arn) = (
            self.queue_arn(dlq_url).await?,
            self.queue_arn(source_url).await?,
        );
        match self
            .client
            .start_message_move_task()
            .source_arn(dlq_arn)
            .destination_arn(source_arn)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                // Emulators (moto) lack the API and answer 500: fall back, don't fail.
                tracing::warn!(error = %port_error(SERVICE, e), "StartMessageMoveTask unavailable; moving messages one by one");
                Ok(false)
            }
        }
    }

    async fn depth(&self, queue_url: &str) -> PortResult<u64> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, e))?;
        let attrs = out.attributes();
        let get = |k: QueueAttributeName| {
            attrs
                .and_then(|a| a.get(&k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(get(QueueAttributeName::ApproximateNumberOfMessages)
            + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + get(QueueAttributeName::ApproximateNumberOfMessagesDelayed))
    }
}
