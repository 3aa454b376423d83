//! `GET /nodecounts` (List Pool Node Counts): per pool, how many dedicated and Spot
//! (low-priority) nodes are in each state; one request for every pool of the account.

use serde::{Deserialize, Serialize};

/// A pool's node counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolNodeCounts {
    pub pool_id: String,
    #[serde(default)]
    pub dedicated: Option<NodeCounts>,
    #[serde(default)]
    pub low_priority: Option<NodeCounts>,
}

/// How many nodes are in each state (`BatchNodeCounts`); states a version of the API does not
/// know are 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeCounts {
    pub creating: u32,
    pub idle: u32,
    pub offline: u32,
    pub preempted: u32,
    pub rebooting: u32,
    pub reimaging: u32,
    pub running: u32,
    pub starting: u32,
    pub start_task_failed: u32,
    pub leaving_pool: u32,
    pub unknown: u32,
    pub unusable: u32,
    pub waiting_for_start_task: u32,
    /// `upgradingOS` on the wire (the REST examples spell it `upgradingOs`).
    #[serde(rename = "upgradingOS", alias = "upgradingOs")]
    pub upgrading_os: u32,
    pub deallocated: u32,
    pub deallocating: u32,
    pub total: u32,
}

impl std::ops::Add for NodeCounts {
    type Output = NodeCounts;

    fn add(self, o: NodeCounts) -> NodeCounts {
        NodeCounts {
            creating: self.creating + o.creating,
            idle: self.idle + o.idle,
            offline: self.offline + o.offline,
            preempted: self.preempted + o.preempted,
            rebooting: self.rebooting + o.rebooting,
            reimaging: self.reimaging + o.reimaging,
            running: self.running + o.running,
            starting: self.starting + o.starting,
            start_task_failed: self.start_task_failed + o.start_task_failed,
            leaving_pool: self.leaving_pool + o.leaving_pool,
            unknown: self.unknown + o.unknown,
            unusable: self.unusable + o.unusable,
            waiting_for_start_task: self.waiting_for_start_task + o.waiting_for_start_task,
            upgrading_os: self.upgrading_os + o.upgrading_os,
            deallocated: self.deallocated + o.deallocated,
            deallocating: self.deallocating + o.deallocating,
            total: self.total + o.total,
        }
    }
}

impl PoolNodeCounts {
    /// Dedicated and Spot nodes together.
    pub fn all(&self) -> NodeCounts {
        self.dedicated.unwrap_or_default() + self.low_priority.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service's published example decodes, each state in its place.
    #[test]
    fn the_published_example_decodes() {
        #[derive(Deserialize)]
        struct List {
            value: Vec<PoolNodeCounts>,
        }
        let l: List = serde_json::from_str(include_str!(
            "../../../tests/fixtures/recorded/pool_node_counts_spec.json"
        ))
        .unwrap();
        assert_eq!(l.value.len(), 3);
        let p3 = &l.value[2];
        assert_eq!(p3.pool_id, "pool3");
        let all = p3.all();
        assert_eq!(
            (
                all.idle,
                all.reimaging,
                all.creating,
                all.running,
                all.total
            ),
            (5, 4, 7, 4, 20)
        );
        let p2 = l.value[1].all();
        assert_eq!((p2.idle, p2.offline, p2.total), (1, 3, 4));
        // The older examples' spelling too.
        let c: NodeCounts = serde_json::from_str(r#"{"upgradingOs": 2, "total": 2}"#).unwrap();
        assert_eq!(c.upgrading_os, 2);
    }
}
