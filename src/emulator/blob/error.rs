//! The service's errors: status, code, message and extra detail elements, rendered as the
//! Storage XML error body (`<Error><Code>..</Code><Message>..</Message>..</Error>`).

use axum::http::StatusCode;

/// An error answer of the Blob service.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct BlobError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra elements of the body after `<Message>`, e.g. `AuthenticationErrorDetail`.
    pub details: Vec<(&'static str, String)>,
    /// The `WWW-Authenticate` header of a 401 to a bearer request.
    pub challenge: Option<String>,
}

impl BlobError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> BlobError {
        BlobError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            challenge: None,
        }
    }

    pub fn with(mut self, element: &'static str, value: impl Into<String>) -> BlobError {
        self.details.push((element, value.into()));
        self
    }

    pub fn auth_failed(detail: impl Into<String>) -> BlobError {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
        )
        .with("AuthenticationErrorDetail", detail)
    }

    /// A bearer token refused: 401 InvalidAuthenticationInfo, with the detail and the
    /// challenge naming the authority, as the service answers.
    pub fn token_refused(detail: &str, challenge: String) -> BlobError {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationInfo",
            "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
        )
        .with("AuthenticationErrorDetail", detail);
        e.challenge = Some(challenge);
        e
    }

    /// Shared Key or a key-signed SAS on an account whose keys are disabled.
    pub fn key_not_permitted() -> BlobError {
        Self::new(
            StatusCode::FORBIDDEN,
            "KeyBasedAuthenticationNotPermitted",
            "Key based authentication is not permitted on this storage account.",
        )
    }

    /// No `Authorization` header and no SAS: 403 AuthenticationFailed, as for a wrong
    /// signature (the emulator has no anonymous access and no Entra ID to point to).
    pub fn no_auth() -> BlobError {
        Self::auth_failed("The request has no Authorization header and no SAS.")
    }

    pub fn forbidden(code: &'static str, what: &str) -> BlobError {
        Self::new(
            StatusCode::FORBIDDEN,
            code,
            format!("This request is not authorized to perform this operation using this {what}."),
        )
    }

    pub fn container_not_found() -> BlobError {
        Self::new(
            StatusCode::NOT_FOUND,
            "ContainerNotFound",
            "The specified container does not exist.",
        )
    }

    pub fn container_exists() -> BlobError {
        Self::new(
            StatusCode::CONFLICT,
            "ContainerAlreadyExists",
            "The specified container already exists.",
        )
    }

    pub fn blob_not_found() -> BlobError {
        Self::new(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        )
    }

    pub fn blob_exists() -> BlobError {
        Self::new(
            StatusCode::CONFLICT,
            "BlobAlreadyExists",
            "The specified blob already exists.",
        )
    }

    pub fn condition_not_met() -> BlobError {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "ConditionNotMet",
            "The condition specified using HTTP conditional header(s) is not met.",
        )
    }

    /// 304 for reads whose If-None-Match / If-Modified-Since says "you have it".
    pub fn not_modified() -> BlobError {
        Self::new(
            StatusCode::NOT_MODIFIED,
            "ConditionNotMet",
            "The condition specified using HTTP conditional header(s) is not met.",
        )
    }

    pub fn invalid_name(what: &str) -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceName",
            "The specifed resource name contains invalid characters.",
        )
        .with("Reason", what)
    }

    pub fn invalid_query(name: &str, value: &str, reason: &str) -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
        )
        .with("QueryParameterName", name)
        .with("QueryParameterValue", value)
        .with("Reason", reason)
    }

    pub fn out_of_range(name: &str, value: &str) -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "OutOfRangeInput",
            "One of the request inputs is out of range.",
        )
        .with("QueryParameterName", name)
        .with("QueryParameterValue", value)
    }

    pub fn invalid_header(name: &str, value: &str) -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidHeaderValue",
            "The value for one of the HTTP headers is not in the correct format.",
        )
        .with("HeaderName", name)
        .with("HeaderValue", value)
    }

    pub fn missing_header(name: &str) -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredHeader",
            "An HTTP header that's mandatory for this request is not specified.",
        )
        .with("HeaderName", name)
    }

    pub fn unsupported_header(name: &str, reason: &str) -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedHeader",
            "One of the HTTP headers specified in the request is not supported.",
        )
        .with("HeaderName", name)
        .with("Reason", reason)
    }

    pub fn invalid_xml(reason: impl Into<String>) -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidXmlDocument",
            "XML specified is not syntactically valid.",
        )
        .with("Reason", reason)
    }

    pub fn too_large(limit: u64) -> BlobError {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit.",
        )
        .with("MaxLimit", limit.to_string())
    }

    pub fn md5_mismatch(sent: &str, computed: &str) -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Md5Mismatch",
            "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
        )
        .with("UserSpecifiedMd5", sent)
        .with("ServerCalculatedMd5", computed)
    }

    /// As Azure answers (recorded: tests/fixtures/recorded/storage_error_crc64_mismatch.xml).
    pub fn crc64_mismatch(sent: &str, computed: &str) -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Crc64Mismatch",
            "The CRC64 value specified in the request did not match with the CRC64 value calculated by the server.",
        )
        .with("UserSpecifiedCrc", sent)
        .with("ServerCalculatedCrc", computed)
    }

    pub fn invalid_block_list() -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidBlockList",
            "The specified block list is invalid.",
        )
    }

    pub fn invalid_blob_or_block() -> BlobError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidBlobOrBlock",
            "The specified blob or block content is invalid.",
        )
    }

    pub fn invalid_range(size: u64) -> BlobError {
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The range specified is invalid for the current size of the resource.",
        )
        .with("RangeSize", size.to_string())
    }

    /// An operation of the real service that the emulator does not implement.
    pub fn not_implemented(what: &str) -> BlobError {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!(
                "The requested operation is not implemented on the specified resource: the batchdeck emulator does not support {what}."
            ),
        )
    }

    pub fn internal(what: impl std::fmt::Display) -> BlobError {
        tracing::error!(error = %what, "blob emulator internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "Server encountered an internal error. Please try again after some time.",
        )
    }

    /// The XML body, with the `RequestId` and `Time` lines the service appends to the message.
    pub fn xml_body(&self, request_id: &str) -> String {
        let t = chrono::Utc::now();
        let now = format!(
            "{}.{:07}Z",
            t.format("%Y-%m-%dT%H:%M:%S"),
            t.timestamp_subsec_nanos() / 100
        );
        let mut s = String::from(r#"<?xml version="1.0" encoding="utf-8"?><Error><Code>"#);
        s.push_str(self.code);
        s.push_str("</Code><Message>");
        s.push_str(&super::xml::escape(format!(
            "{}\nRequestId:{request_id}\nTime:{now}",
            self.message
        )));
        s.push_str("</Message>");
        for (k, v) in &self.details {
            s.push_str(&format!("<{k}>{}</{k}>", super::xml::escape(v)));
        }
        s.push_str("</Error>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_code_message_request_id_and_details() {
        let e = BlobError::auth_failed("Request date header too old: 'x'");
        let body = e.xml_body("rid-1");
        assert!(body.starts_with(r#"<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed"#));
        assert!(body.contains("\nRequestId:rid-1\nTime:"));
        assert!(body.contains(
            "<AuthenticationErrorDetail>Request date header too old: &apos;x&apos;</AuthenticationErrorDetail></Error>"
        ));
    }
}
