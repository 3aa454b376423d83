//! The Batch data-plane api-versions the service still serves, oldest first, and what differs
//! between them on the wire.
//!
//! The list is the one of the REST specification (`specification/batch/data-plane/
//! Microsoft.Batch/stable/` of azure-rest-api-specs, from 2018-12-01.8.0 on); the differences
//! were read off the models Microsoft generated from each version (azure-batch 6.0.0 to
//! 15.1.0, one per version).

use serde_json::Value;

/// Every version the emulator answers, oldest first.
pub const API_VERSIONS: &[&str] = &[
    "2018-12-01.8.0",
    "2019-06-01.9.0",
    "2019-08-01.10.0",
    "2020-03-01.11.0",
    "2020-09-01.12.0",
    "2021-06-01.14.0",
    "2022-01-01.15.0",
    "2022-10-01.16.0",
    "2023-05-01.17.0",
    "2023-11-01.18.0",
    "2024-02-01.19.0",
    "2024-07-01.20.0",
    "2025-06-01",
];

/// An api-version a request named: its place in [`API_VERSIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(usize);

/// Properties that exist only in some versions, with the first version that has them and
/// the first that no longer does. Records are kept in the newest shape; an answer to an older
/// version leaves out what that version does not know.
const SPANS: &[(&str, Option<&str>, Option<&str>)] = &[
    // Pools.
    ("mountConfiguration", Some("2019-08-01.10.0"), None),
    ("taskSlotsPerNode", Some("2020-09-01.12.0"), None),
    ("identity", Some("2021-06-01.14.0"), None),
    (
        "currentNodeCommunicationMode",
        Some("2022-10-01.16.0"),
        Some("2025-06-01"),
    ),
    (
        "targetNodeCommunicationMode",
        Some("2022-10-01.16.0"),
        Some("2025-06-01"),
    ),
    ("resourceTags", Some("2023-11-01.18.0"), Some("2025-06-01")),
    ("upgradePolicy", Some("2024-02-01.19.0"), None),
    ("applicationLicenses", None, Some("2024-07-01.20.0")),
    ("certificateReferences", None, Some("2024-07-01.20.0")),
    ("cloudServiceConfiguration", None, Some("2024-07-01.20.0")),
    // Jobs.
    ("maxParallelTasks", Some("2021-06-01.14.0"), None),
    ("allowTaskPreemption", Some("2022-01-01.15.0"), None),
    // Tasks.
    ("requiredSlots", Some("2020-09-01.12.0"), None),
    ("authenticationTokenSettings", None, Some("2025-06-01")),
    // Nodes.
    ("runningTaskSlotsCount", Some("2020-09-01.12.0"), None),
    ("virtualMachineInfo", Some("2021-06-01.14.0"), None),
    ("ipv6Address", Some("2025-06-01"), None),
    // Node counts.
    ("upgradingOS", Some("2024-02-01.19.0"), None),
    ("deallocated", Some("2025-06-01"), None),
    ("deallocating", Some("2025-06-01"), None),
];

/// Before 2020-09-01.12.0 a pool's task slots per node were `maxTasksPerNode`.
const OLD_SLOTS: &str = "maxTasksPerNode";
const SLOTS: &str = "taskSlotsPerNode";
const SLOTS_SINCE: &str = "2020-09-01.12.0";

impl ApiVersion {
    /// The newest version, the shape records are kept in.
    pub const LATEST: ApiVersion = ApiVersion(API_VERSIONS.len() - 1);

    /// The version named `v`, if the service serves it.
    pub fn parse(v: &str) -> Option<ApiVersion> {
        API_VERSIONS.iter().position(|k| *k == v).map(ApiVersion)
    }

    #[cfg(test)]
    pub fn as_str(self) -> &'static str {
        API_VERSIONS[self.0]
    }

    /// Whether this version is `v` or newer (`v` must be in the list).
    pub fn at_least(self, v: &str) -> bool {
        ApiVersion::parse(v).is_some_and(|o| self >= o)
    }

    /// Whether this version knows a property (of the ones whose presence varies).
    fn knows(self, name: &str) -> bool {
        SPANS
            .iter()
            .find(|(n, _, _)| *n == name)
            .is_none_or(|(_, since, until)| {
                since.is_none_or(|v| self.at_least(v)) && until.is_none_or(|v| !self.at_least(v))
            })
    }

    /// A request body of this version in the newest shape (`maxTasksPerNode` becomes
    /// `taskSlotsPerNode`, wherever a pool specification is).
    pub fn request_to_latest(self, body: &mut Value) {
        if !self.at_least(SLOTS_SINCE) {
            rename_keys(body, OLD_SLOTS, SLOTS);
        }
    }

    /// An answer written in the newest shape, for a client of this version: what it does not
    /// know left out of each entity (and of node counts), `taskSlotsPerNode` as
    /// `maxTasksPerNode` before 2020-09-01.12.0, task counts without slot counts before then.
    pub fn response_from_latest(self, segs: &[String], body: &mut Value) {
        if self == ApiVersion::LATEST {
            return;
        }
        if matches!(segs, [j, _, t] if j == "jobs" && t == "taskcounts")
            && !self.at_least(SLOTS_SINCE)
        {
            // `TaskCounts` itself, not `TaskCountsResult`.
            if let Value::Object(o) = body
                && let Some(Value::Object(counts)) = o.remove("taskCounts")
            {
                let meta = o.remove("odata.metadata");
                o.clear();
                if let Some(Value::String(m)) = meta {
                    let m = m.replace("#taskcountsresult/", "#taskcounts/");
                    o.insert("odata.metadata".into(), Value::String(m));
                }
                o.extend(counts);
            }
            return;
        }
        match body.get_mut("value") {
            Some(Value::Array(items)) => items.iter_mut().for_each(|e| self.entity(e)),
            _ => self.entity(body),
        }
    }

    fn entity(self, e: &mut Value) {
        let Value::Object(o) = e else { return };
        if !self.at_least(SLOTS_SINCE)
            && let Some(v) = o.remove(SLOTS)
        {
            o.insert(OLD_SLOTS.into(), v);
        }
        o.retain(|k, _| self.knows(k));
        // Node counts: the per-state counts of `dedicated` and `lowPriority`.
        for part in ["dedicated", "lowPriority"] {
            if let Some(Value::Object(c)) = o.get_mut(part) {
                c.retain(|k, _| self.knows(k));
            }
        }
    }
}

/// Renames a property wherever it is in a JSON tree.
fn rename_keys(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(o) => {
            if let Some(x) = o.remove(from) {
                o.entry(to.to_string()).or_insert(x);
            }
            o.values_mut().for_each(|x| rename_keys(x, from, to));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename_keys(x, from, to)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ordered_and_parse_exactly() {
        let v = |s| ApiVersion::parse(s).unwrap();
        assert!(v("2018-12-01.8.0") < v("2020-09-01.12.0"));
        assert!(v("2024-07-01.20.0") < v("2025-06-01"));
        assert_eq!(ApiVersion::LATEST.as_str(), "2025-06-01");
        assert!(v("2022-01-01.15.0").at_least("2021-06-01.14.0"));
        assert!(!v("2020-03-01.11.0").at_least("2020-09-01.12.0"));
        for (name, since, until) in SPANS {
            for bound in [since, until].into_iter().flatten() {
                assert!(ApiVersion::parse(bound).is_some(), "{name}: {bound}");
            }
        }
        for bad in [
            "2018-08-01.7.0",
            "2025-06-01.21.0",
            "2020-09-01",
            "",
            "latest",
        ] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad}");
        }
        let mut sorted = API_VERSIONS.to_vec();
        sorted.sort();
        assert_eq!(sorted, API_VERSIONS);
    }
}

#[cfg(test)]
mod shape_tests {
    use serde_json::json;

    use super::*;

    fn v(s: &str) -> ApiVersion {
        ApiVersion::parse(s).unwrap()
    }

    #[test]
    fn answers_leave_out_what_a_version_does_not_know() {
        let pool = json!({"id": "p", "taskSlotsPerNode": 4, "mountConfiguration": [],
            "resourceTags": {"a": "b"}, "upgradePolicy": {"mode": "manual"},
            "certificateReferences": []});
        let segs = ["pools".to_string(), "p".to_string()];
        let mut old = pool.clone();
        v("2019-06-01.9.0").response_from_latest(&segs, &mut old);
        assert_eq!(
            old,
            json!({"id": "p", "maxTasksPerNode": 4, "certificateReferences": []})
        );
        let mut mid = pool.clone();
        v("2024-02-01.19.0").response_from_latest(&segs, &mut mid);
        assert_eq!(mid, pool);
        let mut new = json!({"value": [pool.clone()]});
        ApiVersion::LATEST.response_from_latest(&segs, &mut new);
        assert_eq!(new["value"][0], pool);
        let mut twenty = pool.clone();
        v("2024-07-01.20.0").response_from_latest(&segs, &mut twenty);
        assert_eq!(twenty.get("certificateReferences"), None);
        assert_eq!(twenty["resourceTags"], json!({"a": "b"}));

        let counts = json!({"odata.metadata": "http://h/$metadata#taskcountsresult/@Element",
            "taskCounts": {"active": 1, "running": 0, "completed": 2, "succeeded": 2, "failed": 0},
            "taskSlotCounts": {"active": 1, "running": 0, "completed": 2, "succeeded": 2, "failed": 0}});
        let segs: Vec<String> = ["jobs", "j", "taskcounts"].map(String::from).to_vec();
        let mut old = counts.clone();
        v("2020-03-01.11.0").response_from_latest(&segs, &mut old);
        assert_eq!(
            old,
            json!({"odata.metadata": "http://h/$metadata#taskcounts/@Element",
            "active": 1, "running": 0, "completed": 2, "succeeded": 2, "failed": 0})
        );
        let mut new = counts.clone();
        v("2020-09-01.12.0").response_from_latest(&segs, &mut new);
        assert_eq!(new, counts);
    }

    #[test]
    fn old_requests_are_read_in_the_newest_shape() {
        let mut body = json!({"id": "p", "maxTasksPerNode": 3});
        v("2018-12-01.8.0").request_to_latest(&mut body);
        assert_eq!(body, json!({"id": "p", "taskSlotsPerNode": 3}));
        let mut body = json!({"id": "p", "maxTasksPerNode": 3});
        v("2020-09-01.12.0").request_to_latest(&mut body);
        assert_eq!(body, json!({"id": "p", "maxTasksPerNode": 3}));
    }
}
