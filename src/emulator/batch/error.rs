//! The service's errors: status, code, message and details, rendered as the Batch JSON body.

use axum::http::StatusCode;

use crate::azure::models::{ErrorBody, ErrorMessage, ErrorValue};

/// An error answer of the Batch service.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub values: Vec<(String, String)>,
    /// The `WWW-Authenticate` header of a 401 to a bearer request.
    pub challenge: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            values: Vec::new(),
            challenge: None,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> ApiError {
        self.values.push((key.to_string(), value.into()));
        self
    }

    pub fn pool_not_found() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "PoolNotFound",
            "The specified pool does not exist.",
        )
    }

    pub fn job_not_found() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "JobNotFound",
            "The specified job does not exist.",
        )
    }

    pub fn task_not_found() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "TaskNotFound",
            "The specified task does not exist.",
        )
    }

    pub fn node_not_found() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "NodeNotFound",
            "The specified node does not exist.",
        )
    }

    pub fn file_not_found() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "FileNotFound",
            "The specified file does not exist.",
        )
    }

    pub fn bad_body(reason: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            "The specified Request Body is not syntactically valid.",
        )
        .with("Reason", reason)
    }

    pub fn missing_property(name: &str) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredProperty",
            "A required property was not specified in the request body.",
        )
        .with("PropertyName", name)
    }

    pub fn invalid_property(name: &str, value: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidPropertyValue",
            "The value provided for one of the properties in the request body is invalid.",
        )
        .with("PropertyName", name)
        .with("PropertyValue", value)
    }

    pub fn invalid_query(name: &str, value: &str, reason: &str) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
        )
        .with("QueryParameterName", name)
        .with("QueryParameterValue", value)
        .with("Reason", reason)
    }

    pub fn internal(what: impl Into<String>) -> ApiError {
        tracing::error!(error = %what.into(), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "Server encountered an internal error. Please try again after some time.",
        )
    }

    /// The JSON body, with `RequestId` and `Time` lines as the service appends them.
    pub fn body(&self, endpoint: &str, request_id: &str) -> ErrorBody {
        let now = crate::azure::models::timestamp::format(&chrono::Utc::now());
        ErrorBody {
            odata_metadata: Some(format!(
                "{endpoint}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"
            )),
            code: self.code.to_string(),
            message: Some(ErrorMessage {
                lang: "en-US".into(),
                value: format!("{}\nRequestId:{request_id}\nTime:{now}", self.message),
            }),
            values: self
                .values
                .iter()
                .map(|(k, v)| ErrorValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        }
    }
}
