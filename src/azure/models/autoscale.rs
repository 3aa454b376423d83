//! Autoscale shapes: `AutoScaleRun` (a pool's last evaluation, and the evaluateautoscale
//! answer) and its error.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{NameValue, timestamp};

/// `AutoScaleRun`: when the formula was evaluated, the variables' final values
/// (`$name=value;...`), and the error if the evaluation failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutoScaleRun {
    #[serde(with = "timestamp")]
    pub timestamp: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AutoScaleRunError>,
}

/// `AutoScaleRunError`: its details are name/value pairs (`Message`: where and what).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutoScaleRunError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<NameValue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::models::Pool;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/recorded/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// The recorded pool, evaluation and error read into the models and write back the same.
    #[test]
    fn recorded_autoscale_bodies_round_trip() {
        let pool: Pool = serde_json::from_value(fixture("pool_get_autoscale.json")).unwrap();
        assert_eq!(pool.enable_auto_scale, Some(true));
        assert_eq!(pool.auto_scale_evaluation_interval.as_deref(), Some("PT6M"));
        let run = pool.auto_scale_run.unwrap();
        assert!(run.results.unwrap().starts_with("$TargetDedicatedNodes=2;"));
        for name in ["autoscale_evaluate.json", "autoscale_evaluate_error.json"] {
            let mut v = fixture(name);
            v.as_object_mut().unwrap().remove("odata.metadata");
            let run: AutoScaleRun = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&run).unwrap(), v, "{name}");
        }
        let err: AutoScaleRun =
            serde_json::from_value(fixture("autoscale_evaluate_error.json")).unwrap();
        let e = err.error.unwrap();
        assert_eq!(e.code.as_deref(), Some("InsufficientSampleData"));
        assert_eq!(e.values[0].name, "Message");
    }
}
