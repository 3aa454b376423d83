//! Task dependencies: `depends_on` (ids, or patterns such as `count-*` that name every task
//! they match) and `depends_on_ranges` (integer ids, both ends included), checked against the
//! workload's tasks: no task depends on one the workload does not have, on itself, or on a
//! task that (through others) depends on it.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use super::{Source, nearest};
use crate::azure::models::{TaskDependencies, TaskIdRange};
use crate::util::glob_match;
use crate::workflow::spec::{SpecError, TaskSpec};

/// The service refuses a `dependsOn.taskIds` list longer than this (in characters).
const MAX_IDS_LEN: usize = 64_000;

/// What one task's `depends_on` said, with where.
pub(super) struct Pending {
    pub task: usize,
    pub ids: Vec<(String, Range<usize>)>,
    pub ranges: Vec<((u32, u32), Range<usize>)>,
}

/// Fills in each task's dependencies, or says which is wrong and where.
pub(super) fn resolve(
    src: &Source,
    tasks: &mut [TaskSpec],
    pending: Vec<Pending>,
) -> Result<(), SpecError> {
    let index: HashMap<String, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.clone(), i))
        .collect();
    let all_ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    // Integer ids, for ranges (as the service reads them).
    let numbered: BTreeSet<u64> = tasks
        .iter()
        .filter_map(|t| canonical_integer(&t.id))
        .collect();
    // Edges, each with the place that made it, for the cycle check.
    let mut edges: Vec<Vec<(usize, Range<usize>)>> = vec![Vec::new(); tasks.len()];
    for p in pending {
        let me = tasks[p.task].id.clone();
        let mut ids: Vec<String> = Vec::new();
        for (dep, span) in &p.ids {
            if dep.contains(['*', '?', '[']) {
                let matched: Vec<&String> = all_ids
                    .iter()
                    .filter(|id| **id != me && glob_match(dep, id))
                    .collect();
                if matched.is_empty() {
                    return Err(src.err(
                        span,
                        format!("depends_on {dep:?} matches no other task of the workload: check the pattern against the task ids"),
                    ));
                }
                for m in matched {
                    edges[p.task].push((index[m], span.clone()));
                    if !ids.contains(m) {
                        ids.push(m.clone());
                    }
                }
                continue;
            }
            if *dep == me {
                return Err(src.err(
                    span,
                    format!("task {me} depends on itself: remove {dep:?} from its depends_on"),
                ));
            }
            let Some(&target) = index.get(dep) else {
                let near = nearest(dep, &all_ids)
                    .map(|n| format!("did you mean {n:?}? "))
                    .unwrap_or_default();
                return Err(src.err(
                    span,
                    format!("task {me} depends on {dep:?}, which the workload does not have: {near}depend on one of its task ids, or a pattern such as \"count-*\""),
                ));
            };
            edges[p.task].push((target, span.clone()));
            if !ids.contains(dep) {
                ids.push(dep.clone());
            }
        }
        let listed: usize = ids.iter().map(|i| i.len() + 1).sum();
        if listed > MAX_IDS_LEN {
            let span = p.ids.first().map(|(_, s)| s.clone()).unwrap_or(0..0);
            return Err(src.err(
                &span,
                format!("task {me} depends on {} tasks by id ({listed} characters; the service takes at most {MAX_IDS_LEN}): give them integer ids and use depends_on_ranges", ids.len()),
            ));
        }
        let mut ranges = Vec::new();
        for ((start, end), span) in &p.ranges {
            if start > end {
                return Err(src.err(span, format!("depends_on_ranges [{start}, {end}] is backwards: write [first, last] with first <= last")));
            }
            let inside = numbered.range(u64::from(*start)..=u64::from(*end)).count() as u64;
            let wanted = u64::from(*end) - u64::from(*start) + 1;
            if inside < wanted {
                let missing = (u64::from(*start)..=u64::from(*end))
                    .find(|n| !numbered.contains(n))
                    .unwrap_or(u64::from(*start));
                return Err(src.err(
                    span,
                    format!("task {me} depends on tasks {start} to {end}, but the workload has no task {missing}: every id in the range must be a task (integer ids, e.g. id = \"{{index}}\")"),
                ));
            }
            for n in u64::from(*start)..=u64::from(*end) {
                let target = index[&n.to_string()];
                if target == p.task {
                    return Err(src.err(span, format!("task {me} depends on itself (its id is in [{start}, {end}]): change the range")));
                }
                edges[p.task].push((target, span.clone()));
            }
            ranges.push(TaskIdRange {
                start: i64::from(*start),
                end: i64::from(*end),
            });
        }
        tasks[p.task].depends_on = TaskDependencies {
            task_ids: ids,
            task_id_ranges: ranges,
        };
    }
    if let Some((cycle, span)) = find_cycle(&edges) {
        let names: Vec<&str> = cycle.iter().map(|i| tasks[*i].id.as_str()).collect();
        return Err(src.err(
            &span,
            format!("the dependencies go round in a circle ({}): no task of it could ever start; remove one of these dependencies", names.join(" -> ")),
        ));
    }
    Ok(())
}

/// An integer id as the service reads one in a range: digits, no leading zero.
fn canonical_integer(id: &str) -> Option<u64> {
    let n: u64 = id.parse().ok()?;
    (n.to_string() == id).then_some(n)
}

/// A cycle of the graph (its tasks, first one repeated at the end) and the place of the edge
/// that closes it.
fn find_cycle(edges: &[Vec<(usize, Range<usize>)>]) -> Option<(Vec<usize>, Range<usize>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    for root in 0..edges.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (node, next edge to follow).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some((node, next)) = stack.last().copied() {
            if let Some((to, span)) = edges[node].get(next) {
                stack.last_mut().expect("not empty").1 += 1;
                match mark[*to] {
                    Mark::New => {
                        mark[*to] = Mark::Open;
                        stack.push((*to, 0));
                    }
                    Mark::Open => {
                        let start = stack.iter().position(|(n, _)| n == to).unwrap_or(0);
                        let mut cycle: Vec<usize> =
                            stack[start..].iter().map(|(n, _)| *n).collect();
                        cycle.push(*to);
                        return Some((cycle, span.clone()));
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_with_their_closing_edge() {
        let e = |to: usize, at: usize| (to, at..at + 1);
        // 0 -> 1 -> 2 -> 0, and 3 -> 0.
        let edges = vec![
            vec![e(1, 10)],
            vec![e(2, 20)],
            vec![e(0, 30)],
            vec![e(0, 40)],
        ];
        let (cycle, span) = find_cycle(&edges).unwrap();
        assert_eq!(cycle, [0, 1, 2, 0]);
        assert_eq!(span, 30..31);
        let dag = vec![vec![e(1, 1), e(2, 2)], vec![e(2, 3)], vec![]];
        assert!(find_cycle(&dag).is_none());
        assert_eq!(canonical_integer("12"), Some(12));
        assert_eq!(canonical_integer("012"), None);
    }
}
