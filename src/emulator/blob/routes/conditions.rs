//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since` against a blob's ETag and time, and a SAS that may only create.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use crate::azure::auth::parse_http_date;
use crate::emulator::blob::auth::Grant;
use crate::emulator::blob::error::BlobError;
use crate::emulator::blob::store::BlobRec;

#[derive(Debug, Clone, Default)]
pub(super) struct Conditions {
    pub(super) if_match: Option<String>,
    pub(super) if_none_match: Option<String>,
    pub(super) if_modified_since: Option<DateTime<Utc>>,
    pub(super) if_unmodified_since: Option<DateTime<Utc>>,
}

fn etag_listed(list: &str, etag: &str) -> bool {
    let etag = etag.trim_matches('"');
    list.split(',').map(str::trim).any(|t| {
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

impl Conditions {
    pub(super) fn from_headers(h: &HeaderMap) -> Conditions {
        let s = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        Conditions {
            if_match: s("if-match"),
            if_none_match: s("if-none-match"),
            // Dates that do not parse are ignored, as HTTP says.
            if_modified_since: s("if-modified-since").and_then(|d| parse_http_date(&d)),
            if_unmodified_since: s("if-unmodified-since").and_then(|d| parse_http_date(&d)),
        }
    }

    /// Modified after `t`, at the one-second resolution of HTTP dates.
    pub(super) fn modified_after(modified: DateTime<Utc>, t: DateTime<Utc>) -> bool {
        modified.timestamp() > t.timestamp()
    }

    /// GET/HEAD: 412 for If-Match / If-Unmodified-Since, 304 for If-None-Match /
    /// If-Modified-Since.
    pub(super) fn check_read(&self, etag: &str, modified: DateTime<Utc>) -> Result<(), BlobError> {
        if self
            .if_match
            .as_deref()
            .is_some_and(|l| !etag_listed(l, etag))
            || self
                .if_unmodified_since
                .is_some_and(|t| Self::modified_after(modified, t))
        {
            return Err(BlobError::condition_not_met());
        }
        if self
            .if_none_match
            .as_deref()
            .is_some_and(|l| etag_listed(l, etag))
            || self
                .if_modified_since
                .is_some_and(|t| !Self::modified_after(modified, t))
        {
            return Err(BlobError::not_modified());
        }
        Ok(())
    }

    /// Writes: 412 when a condition fails; `If-None-Match: *` on an existing blob is 409
    /// BlobAlreadyExists when the write would create it (`creating`).
    pub(super) fn check_write(
        &self,
        rec: Option<&BlobRec>,
        creating: bool,
    ) -> Result<(), BlobError> {
        let Some(rec) = rec else {
            return match self.if_match {
                Some(_) => Err(BlobError::condition_not_met()),
                None => Ok(()),
            };
        };
        if let Some(l) = &self.if_none_match {
            if creating && l.trim() == "*" {
                return Err(BlobError::blob_exists());
            }
            if etag_listed(l, &rec.etag) {
                return Err(BlobError::condition_not_met());
            }
        }
        if self
            .if_match
            .as_deref()
            .is_some_and(|l| !etag_listed(l, &rec.etag))
            || self
                .if_unmodified_since
                .is_some_and(|t| Self::modified_after(rec.modified, t))
            || self
                .if_modified_since
                .is_some_and(|t| !Self::modified_after(rec.modified, t))
        {
            return Err(BlobError::condition_not_met());
        }
        Ok(())
    }
}

/// A SAS with `c` but not `w` may create a blob, not overwrite one.
pub(super) fn create_only(grant: &Grant, existing: Option<&BlobRec>) -> Result<(), BlobError> {
    if existing.is_some() && !grant.allows('w') {
        return Err(BlobError::forbidden(
            "AuthorizationPermissionMismatch",
            "permission",
        ));
    }
    Ok(())
}
