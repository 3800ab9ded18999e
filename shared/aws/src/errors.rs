//! SDK errors to port errors: throttling and transport failures are retryable, validation is not.
//! Messages carry the service's error code and message, never request parameters (which may hold
//! secret values).

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use pms_domain::ports::{PortError, Service};

const THROTTLING: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Throttling",
    "TooManyRequestsException",
    "AWS.SimpleQueueService.RequestThrottled",
    "RequestThrottled",
    "LimitExceededException",
];

const MISSING: &[&str] = &[
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

pub(crate) fn port_error<E, R>(service: Service, err: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().unwrap_or("Unknown");
            let message = format!("{code}: {}", e.message().unwrap_or("no message"));
            if THROTTLING.contains(&code) {
                PortError::Throttled { service, message }
            } else if MISSING.contains(&code) {
                PortError::Missing {
                    service,
                    what: message,
                }
            } else if code.contains("InternalServer")
                || code.contains("ServiceUnavailable")
                || code == "InternalFailure"
                || code == "InternalError"
            {
                PortError::Unavailable { service, message }
            } else {
                PortError::Rejected { service, message }
            }
        }
        SdkError::TimeoutError(_) => PortError::Unavailable {
            service,
            message: "timed out".into(),
        },
        SdkError::DispatchFailure(d) => PortError::Unavailable {
            service,
            message: if d.is_io() {
                "connection failed".into()
            } else if d.is_timeout() {
                "timed out".into()
            } else {
                "dispatch failed".into()
            },
        },
        SdkError::ResponseError(_) => PortError::Unavailable {
            service,
            message: "unreadable response".into(),
        },
        _ => PortError::Rejected {
            service,
            message: "request could not be built".into(),
        },
    }
}
