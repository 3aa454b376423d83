//! What every handler shares: the request context, replies, rendering helpers, listings
//! (OData `$filter`, `$select`, paging with `odata.nextLink`) and id rules.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::azure::auth::http_date;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata::{self, Filter};
use crate::emulator::batch::versions::ApiVersion;
use crate::emulator::batch::wire;

/// The service's "unlimited" duration (`TimeSpan.MaxValue`).
pub(super) const UNLIMITED: &str = "P10675199DT2H48M5.4775807S";

const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What a handler needs of the request.
pub(super) struct Ctx {
    pub(super) method: Method,
    pub(super) segs: Vec<String>,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// `http://host:port`, as the client addressed us.
    pub(super) base: String,
}

impl Ctx {
    pub(super) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The api-version the request named (checked before any handler runs).
    pub(super) fn version(&self) -> ApiVersion {
        self.q("api-version")
            .and_then(ApiVersion::parse)
            .unwrap_or(ApiVersion::LATEST)
    }

    /// The body as `T`, read in the request's api-version and converted as the service's
    /// reader converts (`wire`).
    pub(super) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        read_body(&self.body, self.version())
    }
}

/// Reads a JSON request body as `T`, as the service's OData reader does: typed properties
/// given as convertible strings are converted, durations made canonical (`wire`); the error
/// names the path of the bad property.
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    read_body(body, ApiVersion::LATEST)
}

/// A body of `version` read as `T` in the newest shape.
fn read_body<T: DeserializeOwned>(body: &[u8], version: ApiVersion) -> Result<T, ApiError> {
    let mut value = parse_json_document(body)?;
    version.request_to_latest(&mut value);
    wire::normalize(&mut value)?;
    from_json_value(value)
}

/// A whole JSON document (nothing but whitespace may follow it: `{"id":"p"} x` is not a body).
fn parse_json_document(body: &[u8]) -> Result<Value, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Value::deserialize(&mut de).map_err(|e| ApiError::bad_body(e.to_string()))?;
    de.end().map_err(|e| ApiError::bad_body(e.to_string()))?;
    Ok(value)
}

/// A value already read (and normalized) as `T`; the error names the path of the bad property.
pub(crate) fn from_json_value<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v)
        .map_err(|e| ApiError::bad_body(format!("{} at {}", e.inner(), e.path())))
}

/// A successful answer: a JSON value (shaped for the request's api-version before it is
/// written), or raw bytes.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Option<Body>,
    pub(super) json: Option<Value>,
}

impl Reply {
    pub(super) fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            json: None,
        }
    }

    pub(super) fn json(status: StatusCode, v: &impl Serialize) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            json: Some(serde_json::to_value(v).unwrap_or_default()),
        }
    }

    pub(super) fn header(mut self, k: &'static str, v: impl Into<String>) -> Reply {
        self.headers.push((k, v.into()));
        self
    }

    /// ETag and Last-Modified of an entity.
    pub(super) fn entity(self, etag: Option<&String>, modified: Option<DateTime<Utc>>) -> Reply {
        let mut r = self;
        if let Some(e) = etag {
            r = r.header("etag", e.clone());
        }
        if let Some(m) = modified {
            r = r.header("last-modified", http_date(m));
        }
        r
    }
}

pub(super) type Res = Result<Reply, ApiError>;

pub(super) fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

pub(super) fn with_meta(mut v: Value, meta: String) -> Value {
    if let Value::Object(o) = &mut v {
        let mut out = serde_json::Map::new();
        out.insert("odata.metadata".into(), Value::String(meta));
        out.append(o);
        return Value::Object(out);
    }
    v
}

/// A list answer: `items` (in key order, rendered lazily by the caller's iterator when it can)
/// filtered, selected and paged; only what the page needs is taken from `items`.
pub(super) fn list_reply(
    c: &Ctx,
    kind: &str,
    items: impl IntoIterator<Item = (String, Value)>,
) -> Res {
    let filter: Option<Filter> = match c.q("$filter") {
        Some(f) if !f.trim().is_empty() => {
            Some(odata::parse_filter(f).map_err(|e| ApiError::invalid_query("$filter", f, &e.0))?)
        }
        _ => None,
    };
    let max = match c.q("maxresults") {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_query("maxresults", v, "must be between 1 and 1000")
            })?,
        None => 1000,
    };
    let select = c.q("$select").map(odata::parse_select);
    let (page, next) = odata::page(items, c.q("$skiptoken"), max, |v| {
        filter.as_ref().is_none_or(|f| f.matches(v))
    });
    let value: Vec<Value> = page
        .into_iter()
        .map(|v| odata::select(v, select.as_deref()))
        .collect();
    let mut out = json!({
        "odata.metadata": format!("{}/$metadata#{kind}", c.base),
        "value": value,
    });
    if let Some(token) = next {
        let path: Vec<String> = c.segs.iter().map(|s| seg(s)).collect();
        let mut q: Vec<(String, String)> = c
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .collect();
        q.push(("$skiptoken".into(), token));
        let qs: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", seg(k).replace("%24", "$"), seg(v)))
            .collect();
        out["odata.nextLink"] =
            Value::String(format!("{}/{}?{}", c.base, path.join("/"), qs.join("&")));
    }
    Ok(Reply::json(StatusCode::OK, &out))
}

pub(super) fn created(c: &Ctx, path: String, etag_v: &str, now: DateTime<Utc>) -> Reply {
    let url = format!("{}/{path}", c.base);
    Reply::empty(StatusCode::CREATED)
        .header("location", url.clone())
        .header("dataserviceid", url)
        .header("etag", etag_v.to_string())
        .header("last-modified", http_date(now))
        .header("content-length", "0")
}

/// 200 to a change of an entity: its new ETag and time, and the operation's URL.
pub(super) fn updated(c: &Ctx, path: String, etag_v: &str, now: DateTime<Utc>) -> Reply {
    Reply::empty(StatusCode::OK)
        .header("dataserviceid", format!("{}/{path}", c.base))
        .header("etag", etag_v.to_string())
        .header("last-modified", http_date(now))
        .header("content-length", "0")
}

pub(super) fn accepted(path: Option<String>) -> Reply {
    let r = Reply::empty(StatusCode::ACCEPTED).header("content-length", "0");
    match path {
        Some(p) => r.header("dataserviceid", p),
        None => r,
    }
}

pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A node option of a request (`nodeRebootOption`, `nodeDeallocationOption`: the same four
/// values, one meaning, see `scheduler::drain_node`), `requeue` when absent; a value the
/// service does not document answers 400 naming the property.
pub(super) fn node_option(
    name: &str,
    value: Option<&str>,
) -> Result<crate::azure::models::NodeDeallocationOption, ApiError> {
    use crate::azure::models::NodeDeallocationOption;
    match value.map(NodeDeallocationOption::parse) {
        None => Ok(NodeDeallocationOption::Requeue),
        Some(NodeDeallocationOption::Unknown(v)) => Err(ApiError::invalid_property(name, v)),
        Some(o) => Ok(o),
    }
}
