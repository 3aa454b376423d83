//! Tasks that can never start: an active task that depends on a task that failed with the
//! dependency action `block` (what a failure does unless its exit conditions say `satisfy`),
//! or on a task that is itself blocked. The service keeps them active for ever, so the wait
//! must see them to end.

use std::collections::{BTreeMap, BTreeSet};

use crate::azure::models::{DependencyAction, ExitConditions, Task, TaskDependencies};

/// The ids of `active` tasks that can never start, given the job's `failed` tasks.
pub fn blocked(active: &[Task], failed: &[Task]) -> BTreeSet<String> {
    let blocking: BTreeSet<String> = failed
        .iter()
        .filter(|t| failure_action(t) == DependencyAction::Block)
        .map(|t| t.id.clone())
        .collect();
    let waiting: Vec<(&str, TaskDependencies)> = active
        .iter()
        .filter_map(|t| Some((t.id.as_str(), typed::<TaskDependencies>(t, "dependsOn")?)))
        .collect();
    let waiting: Vec<(&str, &TaskDependencies)> = waiting.iter().map(|(i, d)| (*i, d)).collect();
    held(&waiting, blocking).into_keys().collect()
}

/// Of the `waiting` tasks (id, what it depends on), those that can never start, each with the
/// task that holds it: one of `blocking` (failed, with the action `block`), or a waiting task
/// that is itself held so.
pub(crate) fn held(
    waiting: &[(&str, &TaskDependencies)],
    mut blocking: BTreeSet<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // Until nothing changes: a task blocked makes the tasks that wait for it blocked too.
    loop {
        let before = out.len();
        for (id, deps) in waiting {
            if !out.contains_key(*id)
                && let Some(by) = first_hit(deps, &blocking)
            {
                out.insert(id.to_string(), by);
                blocking.insert(id.to_string());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// What a failed task's end does to the tasks that depend on it: its exit conditions'
/// `default` action, else `block`, as the service decides for a failure.
pub(crate) fn failure_action(t: &Task) -> DependencyAction {
    typed::<ExitConditions>(t, "exitConditions")
        .and_then(|c| c.default)
        .and_then(|d| d.dependency_action)
        .unwrap_or(DependencyAction::Block)
}

/// The first task `deps` names (by id, or in one of its integer ranges) that is in `ids`.
fn first_hit(deps: &TaskDependencies, ids: &BTreeSet<String>) -> Option<String> {
    deps.task_ids
        .iter()
        .find(|d| ids.contains(*d))
        .or_else(|| {
            ids.iter().find(|i| {
                i.parse::<i64>().is_ok_and(|n| {
                    deps.task_id_ranges
                        .iter()
                        .any(|r| r.start <= n && n <= r.end)
                })
            })
        })
        .cloned()
}

pub(crate) fn typed<T: serde::de::DeserializeOwned>(t: &Task, key: &str) -> Option<T> {
    serde_json::from_value(t.extra.get(key)?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task(v: serde_json::Value) -> Task {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_failure_blocks_its_dependents_and_theirs_unless_it_satisfies_them() {
        let failed = [
            task(json!({ "id": "a", "commandLine": "x" })),
            task(json!({ "id": "7", "commandLine": "x" })),
            task(json!({ "id": "s", "commandLine": "x",
                "exitConditions": { "default": { "dependencyAction": "satisfy" } } })),
        ];
        let active = [
            task(json!({ "id": "b", "commandLine": "x", "dependsOn": { "taskIds": ["a"] } })),
            task(json!({ "id": "c", "commandLine": "x", "dependsOn": { "taskIds": ["b"] } })),
            task(json!({ "id": "r", "commandLine": "x",
                "dependsOn": { "taskIdRanges": [{ "start": 5, "end": 9 }] } })),
            task(json!({ "id": "t", "commandLine": "x", "dependsOn": { "taskIds": ["s"] } })),
            task(json!({ "id": "u", "commandLine": "x" })),
        ];
        let got: Vec<String> = blocked(&active, &failed).into_iter().collect();
        assert_eq!(got, ["b", "c", "r"]);
        // With nothing failed, nothing is blocked.
        assert!(blocked(&active, &[]).is_empty());
    }
}
