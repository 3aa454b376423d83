//! Fault injection, off by default: what real services do to clients on a bad day.
//!
//! Set with `batchdeck emulator --faults SPEC` or `BATCHDECK_EMULATOR_FAULTS=SPEC`, where SPEC
//! is a comma-separated list such as `error=0.1,reset=0.1,latency=20ms,node-death=0.1,
//! start-task=0.2,seed=7`:
//! - `error`: share of requests answered, before they are processed, with 500 InternalError,
//!   503 ServerBusy or 429 TooManyRequests (the last two with `Retry-After` hints);
//! - `reset`: share of requests processed and then cut off mid-response (the client sees the
//!   connection end early, and cannot know whether its request took effect);
//! - `latency`: up to this much added before each answer (uniformly random);
//! - `node-death`: share of task runs whose node dies while the task runs (the task is
//!   requeued and the node reboots, as Batch does);
//! - `start-task`: share of start task attempts that fail (exit code 1);
//! - `slow-disk`: each durable write of the Batch state takes this much longer (a slow or
//!   busy disk: requests that change something wait for it, the others must not);
//! - `seed`: makes the choices repeatable.

use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use rand::{RngExt as _, SeedableRng};

/// What to inject, and how often.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    pub error: f64,
    pub reset: f64,
    pub latency: Duration,
    pub node_death: f64,
    pub start_task: f64,
    pub slow_disk: Duration,
    pub seed: Option<u64>,
}

impl FaultSpec {
    pub fn is_off(&self) -> bool {
        self.error == 0.0
            && self.reset == 0.0
            && self.latency.is_zero()
            && self.node_death == 0.0
            && self.start_task == 0.0
            && self.slow_disk.is_zero()
    }
}

impl std::str::FromStr for FaultSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<FaultSpec, String> {
        let mut f = FaultSpec::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("fault {part:?} has no value: write name=value"))?;
            let share = |v: &str| -> Result<f64, String> {
                match v.trim().parse::<f64>() {
                    Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
                    _ => Err(format!(
                        "fault {k}={v}: use a share between 0 and 1, e.g. 0.2"
                    )),
                }
            };
            match k.trim() {
                "error" => f.error = share(v)?,
                "reset" => f.reset = share(v)?,
                "node-death" => f.node_death = share(v)?,
                "start-task" => f.start_task = share(v)?,
                "latency" => f.latency = crate::util::parse_duration(v)?,
                "slow-disk" => f.slow_disk = crate::util::parse_duration(v)?,
                "seed" => {
                    f.seed = Some(
                        v.trim()
                            .parse()
                            .map_err(|_| format!("fault seed={v}: use a whole number"))?,
                    )
                }
                other => {
                    return Err(format!(
                        "unknown fault {other:?}: use error, reset, latency, node-death, start-task, slow-disk or seed"
                    ));
                }
            }
        }
        if f.error + f.reset > 1.0 {
            return Err("faults error and reset add up to more than 1".into());
        }
        Ok(f)
    }
}

impl std::fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "error={},reset={},latency={}ms,node-death={},start-task={},slow-disk={}ms",
            self.error,
            self.reset,
            self.latency.as_millis(),
            self.node_death,
            self.start_task,
            self.slow_disk.as_millis()
        )?;
        if let Some(s) = self.seed {
            write!(f, ",seed={s}")?;
        }
        Ok(())
    }
}

/// The injector: the spec and a random source shared by both services.
#[derive(Debug)]
pub struct Faults {
    pub spec: FaultSpec,
    rng: Mutex<rand::rngs::StdRng>,
}

/// Which service a request reached (a fault's error body follows its format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Batch,
    Blob,
}

impl Faults {
    pub fn new(spec: FaultSpec) -> Faults {
        let rng = match spec.seed {
            Some(s) => rand::rngs::StdRng::seed_from_u64(s),
            None => rand::rngs::StdRng::from_rng(&mut rand::rng()),
        };
        Faults {
            spec,
            rng: Mutex::new(rng),
        }
    }

    /// True with probability `p`.
    pub fn roll(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let mut r = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        r.random::<f64>() < p
    }

    fn uniform(&self, max: Duration) -> Duration {
        if max.is_zero() {
            return max;
        }
        let mut r = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        max.mul_f64(r.random::<f64>())
    }

    fn pick(&self, n: usize) -> usize {
        let mut r = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        r.random_range(0..n)
    }
}

/// The middleware both services run behind when faults are on.
pub async fn inject(
    State((faults, service)): State<(std::sync::Arc<Faults>, Service)>,
    req: Request,
    next: Next,
) -> Response {
    let spec = &faults.spec;
    let delay = faults.uniform(spec.latency);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if faults.roll(spec.error) {
        let which = faults.pick(3);
        tracing::debug!(method = %req.method(), uri = %req.uri().path(), which, "fault: error answer");
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        return error_response(service, which, &host);
    }
    let head = req.method() == Method::HEAD;
    let cut = !head && faults.roll(spec.reset / (1.0 - spec.error).max(f64::EPSILON));
    let resp = next.run(req).await;
    if cut {
        tracing::debug!(status = %resp.status(), "fault: response cut off");
        return cut_off(resp).await;
    }
    resp
}

fn error_response(service: Service, which: usize, host: &str) -> Response {
    let (status, code, message, retry_ms) = match which {
        0 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
            None,
        ),
        1 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServerBusy",
            "The server is currently unable to receive requests. Please retry your request.",
            Some(200),
        ),
        _ => (
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "The request rate is too high. Please retry your request.",
            Some(100),
        ),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let (content_type, body) = match service {
        Service::Batch => (
            "application/json;odata=minimalmetadata",
            serde_json::to_string(
                &super::batch::error::ApiError::new(status, code, message)
                    .body(&format!("http://{host}"), &request_id),
            )
            .unwrap_or_default(),
        ),
        Service::Blob => (
            "application/xml",
            super::blob::BlobError::new(status, code, message).xml_body(&request_id),
        ),
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("x-ms-error-code", HeaderValue::from_static(code));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-ms-request-id", v);
    }
    if let Some(ms) = retry_ms {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        h.insert("x-ms-retry-after-ms", HeaderValue::from(ms));
    }
    r
}

/// The response with its declared length but only half its body, then an error: the server
/// drops the connection and the client sees an incomplete message.
async fn cut_off(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let declared = bytes.len().max(1);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    let half = bytes.slice(..bytes.len() / 2);
    let stream = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection reset",
        )),
    ]);
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        let f: FaultSpec =
            "error=0.1, reset=0.05,latency=20ms,node-death=0.2,start-task=0.5,slow-disk=2s,seed=7"
                .parse()
                .unwrap();
        assert_eq!(f.error, 0.1);
        assert_eq!(f.reset, 0.05);
        assert_eq!(f.latency, Duration::from_millis(20));
        assert_eq!(f.node_death, 0.2);
        assert_eq!(f.start_task, 0.5);
        assert_eq!(f.slow_disk, Duration::from_secs(2));
        assert_eq!(f.seed, Some(7));
        assert_eq!(f.to_string().parse::<FaultSpec>().unwrap(), f);
        assert!("".parse::<FaultSpec>().unwrap().is_off());
        for (bad, says) in [
            ("error=2", "between 0 and 1"),
            ("error", "no value"),
            ("boom=0.1", "unknown fault"),
            ("latency=fast", "invalid duration"),
            ("error=0.7,reset=0.6", "more than 1"),
        ] {
            let e = bad.parse::<FaultSpec>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn rolls_follow_the_share_and_the_seed() {
        let f = Faults::new(FaultSpec {
            seed: Some(1),
            ..FaultSpec::default()
        });
        let hits = (0..10_000).filter(|_| f.roll(0.2)).count();
        assert!((1700..2300).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| f.roll(0.0)));
        let g = Faults::new(FaultSpec {
            seed: Some(1),
            ..FaultSpec::default()
        });
        let h = Faults::new(FaultSpec {
            seed: Some(1),
            ..FaultSpec::default()
        });
        let a: Vec<bool> = (0..100).map(|_| g.roll(0.5)).collect();
        let b: Vec<bool> = (0..100).map(|_| h.roll(0.5)).collect();
        assert_eq!(a, b);
    }
}
