//! What every handler shares: the request context, replies, rendering helpers, listings
//! (OData `$filter`, `$select`, paging with `odata.nextLink`) and id rules.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::azure::auth::http_date;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata::{self, Filter};

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

    pub(super) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json_body(&self.body)
    }
}

/// Reads a JSON request body as `T`; the error names the path of the bad property.
pub(crate) fn parse_json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ApiError::bad_body(format!("{} at {}", e.inner(), e.path())))?;
    // Nothing but whitespace may follow the document (`{"id":"p"} x` is not a body).
    de.end().map_err(|e| ApiError::bad_body(e.to_string()))?;
    Ok(value)
}

/// A successful answer.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Option<Body>,
    pub(super) json: bool,
}

impl Reply {
    pub(super) fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            json: false,
        }
    }

    pub(super) fn json(status: StatusCode, v: &impl Serialize) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(Body::from(serde_json::to_vec(v).unwrap_or_default())),
            json: true,
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

/// Filters, selects and pages rendered entities, keyed for paging.
pub(super) fn list_reply(c: &Ctx, kind: &str, items: Vec<(String, Value)>) -> Res {
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
    let items: Vec<(String, Value)> = items
        .into_iter()
        .filter(|(_, v)| filter.as_ref().is_none_or(|f| f.matches(v)))
        .collect();
    let (page, next) = odata::page(items, c.q("$skiptoken"), max);
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
