//! What holds each active task that depends on others: the service shows it as `active`,
//! like a task waiting for a node, so the watcher works it out from the tasks it has listed
//! (their `dependsOn`, states and exit conditions) and sets [`TaskView::waits`]: waiting on the
//! dependencies that have not completed yet, or blocked for ever by one that failed with the
//! dependency action `block` (the rule `workflow::blocked` applies for step 6).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::azure::models::{DependencyAction, Task, TaskDependencies, TaskState};
use crate::workflow::blocked::{failure_action, held, typed};
use crate::workflow::events::{TaskView, Waits};

/// The dependencies of a job's tasks, as far as they were listed.
#[derive(Debug, Default)]
pub struct Dependencies {
    /// Completed tasks: what their end does to the tasks that depend on them.
    ended: HashMap<String, DependencyAction>,
    /// Active tasks that depend on others: on what, and their view as last reported.
    holding: BTreeMap<String, (TaskDependencies, TaskView)>,
}

impl Dependencies {
    /// Takes a listed task in (`v` is its view).
    pub fn take(&mut self, t: &Task, v: &TaskView) {
        if v.state == TaskState::Completed {
            let action = if v.failed() {
                failure_action(t)
            } else {
                DependencyAction::Satisfy
            };
            self.ended.insert(v.id.clone(), action);
        } else {
            // Reactivated: it holds its dependents again.
            self.ended.remove(&v.id);
        }
        let deps = typed::<TaskDependencies>(t, "dependsOn")
            .filter(|d| !d.task_ids.is_empty() || !d.task_id_ranges.is_empty());
        match deps {
            Some(deps) if v.state == TaskState::Active => {
                // What was last reported stays until `settle` works out what is true now.
                let last = self.holding.remove(&v.id).and_then(|(_, l)| l.waits);
                let v = TaskView {
                    waits: last,
                    ..v.clone()
                };
                self.holding.insert(v.id.clone(), (deps, v));
            }
            _ => {
                self.holding.remove(&v.id);
            }
        }
    }

    /// Forgets deleted tasks. What depended on them is worked out again by the next `settle`
    /// as the service schedules it: a task named by id must exist and complete (one deleted
    /// is waited on until a task of that id is added and completes), while a range covers
    /// only the tasks the job has (one deleted no longer counts, nor blocks).
    pub fn gone(&mut self, ids: &[String]) {
        for id in ids {
            self.ended.remove(id);
            self.holding.remove(id);
        }
    }

    /// Sets `waits` on the views in `changed` and adds the views of the tasks whose `waits`
    /// moved without them changing (a dependency completed). `known`: every task id listed.
    pub fn settle<V>(&mut self, changed: &mut Vec<TaskView>, known: &HashMap<String, V>) {
        if self.holding.is_empty() {
            return;
        }
        let now = self.waits(known);
        let listed: HashSet<String> = changed.iter().map(|v| v.id.clone()).collect();
        for v in changed.iter_mut() {
            if let Some(w) = now.get(&v.id) {
                v.waits = w.clone();
            }
        }
        for (id, w) in now {
            let Some((_, last)) = self.holding.get_mut(&id) else {
                continue;
            };
            if last.waits != w {
                last.waits = w;
                if !listed.contains(&id) {
                    changed.push(last.clone());
                }
            } else if listed.contains(&id) {
                last.waits = w;
            }
        }
    }

    /// What holds each active task that depends on others, now.
    fn waits<V>(&self, known: &HashMap<String, V>) -> BTreeMap<String, Option<Waits>> {
        let blocking: BTreeSet<String> = self
            .ended
            .iter()
            .filter(|(_, a)| **a == DependencyAction::Block)
            .map(|(id, _)| id.clone())
            .collect();
        let waiting: Vec<(&str, &TaskDependencies)> = self
            .holding
            .iter()
            .map(|(id, (deps, _))| (id.as_str(), deps))
            .collect();
        let mut blocked = if blocking.is_empty() {
            BTreeMap::new()
        } else {
            held(&waiting, blocking)
        };
        self.holding
            .iter()
            .map(|(id, (deps, _))| {
                let w = match blocked.remove(id) {
                    Some(by) => Some(Waits::Blocked { by }),
                    None => {
                        let n = self.outstanding(deps, known);
                        (n > 0).then_some(Waits::On(n))
                    }
                };
                (id.clone(), w)
            })
            .collect()
    }

    /// How many of the tasks `deps` names have not satisfied it yet: each id not completed
    /// (listed or not), and the listed tasks of its ranges not completed.
    fn outstanding<V>(&self, deps: &TaskDependencies, known: &HashMap<String, V>) -> u32 {
        let open = |id: &str| self.ended.get(id) != Some(&DependencyAction::Satisfy);
        let by_id = deps.task_ids.iter().filter(|d| open(d)).count();
        let mut ranged = 0;
        for r in &deps.task_id_ranges {
            let span = (r.end - r.start + 1).max(0) as usize;
            ranged += if span <= known.len() {
                (r.start..=r.end)
                    .map(|n| n.to_string())
                    .filter(|id| known.contains_key(id) && open(id))
                    .count()
            } else {
                known
                    .keys()
                    .filter(|id| {
                        id.parse::<i64>().is_ok_and(|n| r.start <= n && n <= r.end) && open(id)
                    })
                    .count()
            };
        }
        (by_id + ranged) as u32
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::watch::convert::task_view;

    fn task(v: serde_json::Value) -> Task {
        serde_json::from_value(v).unwrap()
    }

    fn listed(
        d: &mut Dependencies,
        known: &mut HashMap<String, ()>,
        tasks: &[serde_json::Value],
    ) -> Vec<(String, Option<Waits>)> {
        let mut changed = Vec::new();
        for t in tasks {
            let t = task(t.clone());
            let v = task_view(&t);
            known.insert(v.id.clone(), ());
            d.take(&t, &v);
            changed.push(v);
        }
        d.settle(&mut changed, known);
        changed.into_iter().map(|v| (v.id, v.waits)).collect()
    }

    fn done(id: &str, exit: i32) -> serde_json::Value {
        json!({ "id": id, "commandLine": "x", "state": "completed",
            "executionInfo": { "exitCode": exit, "retryCount": 0, "requeueCount": 0,
                "result": if exit == 0 { "success" } else { "failure" } } })
    }

    /// The reduce task waits on every map task until the last one completes; then it is
    /// waiting for a node like any active task. Reported again each time that changes.
    #[test]
    fn a_task_waits_on_its_dependencies_until_they_complete() {
        let (mut d, mut known) = (Dependencies::default(), HashMap::new());
        let map = |id: &str| json!({ "id": id, "commandLine": "x", "state": "running" });
        let reduce = json!({ "id": "total", "commandLine": "x", "state": "active",
            "dependsOn": { "taskIds": ["a", "b", "c"] } });
        let got = listed(&mut d, &mut known, &[map("a"), map("b"), reduce.clone()]);
        assert_eq!(
            got[2],
            ("total".into(), Some(Waits::On(3))),
            "c not listed yet"
        );
        // a completes: only a is listed, and the reduce task comes with it.
        let got = listed(&mut d, &mut known, &[done("a", 0)]);
        assert_eq!(
            got,
            [("a".into(), None), ("total".into(), Some(Waits::On(2)))]
        );
        // Nothing that holds it moved: nothing more to say.
        let got = listed(&mut d, &mut known, &[map("c")]);
        assert_eq!(got, [("c".into(), None)]);
        let got = listed(&mut d, &mut known, &[done("b", 0), done("c", 0)]);
        assert_eq!(got[2], ("total".into(), None), "ready: waits for a node");
        // Running, it is no longer held.
        let mut running = reduce.clone();
        running["state"] = json!("running");
        assert_eq!(
            listed(&mut d, &mut known, &[running]),
            [("total".into(), None)]
        );
    }

    /// A failure blocks (its action is `block` unless it says `satisfy`), and what waits on a
    /// blocked task is blocked too; integer ranges count the listed tasks in them.
    #[test]
    fn a_failure_blocks_its_dependents_unless_it_satisfies_them() {
        let (mut d, mut known) = (Dependencies::default(), HashMap::new());
        let satisfy = json!({ "id": "s", "commandLine": "x", "state": "completed",
            "executionInfo": { "exitCode": 1, "retryCount": 0, "requeueCount": 0, "result": "failure" },
            "exitConditions": { "default": { "dependencyAction": "satisfy" } } });
        let got = listed(
            &mut d,
            &mut known,
            &[
                done("1", 0),
                json!({ "id": "2", "commandLine": "x", "state": "running" }),
                done("3", 0),
                satisfy,
                json!({ "id": "r", "commandLine": "x", "state": "active",
                    "dependsOn": { "taskIdRanges": [{ "start": 1, "end": 9 }], "taskIds": ["s"] } }),
                json!({ "id": "after", "commandLine": "x", "state": "active",
                    "dependsOn": { "taskIds": ["r"] } }),
            ],
        );
        assert_eq!(
            got[4],
            ("r".into(), Some(Waits::On(1))),
            "2 runs; s satisfies"
        );
        assert_eq!(got[5], ("after".into(), Some(Waits::On(1))));
        let got = listed(&mut d, &mut known, &[done("2", 4)]);
        assert_eq!(
            got,
            [
                ("2".into(), None),
                ("after".into(), Some(Waits::Blocked { by: "r".into() })),
                ("r".into(), Some(Waits::Blocked { by: "2".into() })),
            ]
        );
    }
}
