//! Task dependencies and exit conditions: a task that `dependsOn` others (by id, or by ranges
//! of integer ids) stays `active` and is not scheduled until every one of them has completed
//! with a `satisfy` dependency action; each parent's `exitConditions` say which action its
//! end takes (by default `satisfy` for success, `block` for any failure), and, when the job's
//! `onTaskFailure` is `performexitoptionsjobaction`, what happens to the job (`jobAction`:
//! none, disable as with requeue, or terminate).

use serde::Deserialize;

use crate::azure::models::{
    DependencyAction, ExitConditions, ExitOptions, JobAction, Task, TaskDependencies,
    TaskExecutionResult, TaskState,
};
use crate::emulator::batch::state::{State, TaskRec, key};

/// Every exit option a task's exit conditions set (for checks at add time).
pub fn all_options(c: &ExitConditions) -> Vec<&ExitOptions> {
    c.exit_codes
        .iter()
        .map(|m| &m.exit_options)
        .chain(c.exit_code_ranges.iter().map(|m| &m.exit_options))
        .chain(c.pre_processing_error.iter())
        .chain(c.file_upload_error.iter())
        .chain(c.default.iter())
        .collect()
}

/// What a completed task's end does: to the tasks that depend on it, and to its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub dependency_action: DependencyAction,
    pub job_action: JobAction,
}

fn typed<T: for<'de> Deserialize<'de> + Default>(task: &Task, name: &str) -> Option<T> {
    task.extra
        .get(name)
        .filter(|v| !v.is_null())
        .map(|v| serde_json::from_value(v.clone()).unwrap_or_default())
}

pub fn depends_on(task: &Task) -> Option<TaskDependencies> {
    typed(task, "dependsOn")
}

pub fn exit_conditions(task: &Task) -> Option<ExitConditions> {
    typed(task, "exitConditions")
}

/// The exit options that apply to how a completed task ended, with the service's defaults
/// filled in: `satisfy`/`none` for success, `block`/`terminate` for any failure.
pub fn outcome_options(task: &Task) -> Outcome {
    let info = task.execution_info.as_ref();
    let success = info.and_then(|i| i.result.as_ref()) == Some(&TaskExecutionResult::Success);
    let exit_code = info.and_then(|i| i.exit_code);
    let failure_code = info
        .and_then(|i| i.failure_info.as_ref())
        .and_then(|f| f.code.as_deref());
    let conditions = exit_conditions(task).unwrap_or_default();
    let matched = match exit_code {
        Some(c) if failure_code != Some("FileUploadError") => conditions
            .exit_codes
            .iter()
            .find(|m| m.code == i64::from(c))
            .map(|m| m.exit_options.clone())
            .or_else(|| {
                conditions
                    .exit_code_ranges
                    .iter()
                    .find(|m| (m.start..=m.end).contains(&i64::from(c)))
                    .map(|m| m.exit_options.clone())
            }),
        Some(_) => conditions.file_upload_error.clone(),
        None if !success => conditions.pre_processing_error.clone(),
        None => None,
    };
    let opts = match matched {
        Some(o) => Some(o),
        None if success => None,
        None => conditions.default.clone(),
    }
    .unwrap_or_default();
    Outcome {
        dependency_action: opts.dependency_action.unwrap_or(if success {
            DependencyAction::Satisfy
        } else {
            DependencyAction::Block
        }),
        job_action: opts.job_action.unwrap_or(if success {
            JobAction::None
        } else {
            JobAction::Terminate
        }),
    }
}

/// Whether a parent lets its dependents run: completed, with a `satisfy` action.
fn satisfies(parent: &TaskRec) -> bool {
    *parent.state() == TaskState::Completed
        && outcome_options(&parent.task).dependency_action == DependencyAction::Satisfy
}

/// Whether the task at `tk` may be scheduled as far as its dependencies go: a parent named by
/// id must exist and satisfy; in a range, every task of the job whose id is an integer in it
/// must satisfy.
pub fn ready(st: &State, tk: &(String, String)) -> bool {
    let Some(t) = st.tasks.get(tk) else {
        return false;
    };
    let Some(deps) = depends_on(&t.task) else {
        return true;
    };
    let jk = &tk.0;
    let by_id = deps
        .task_ids
        .iter()
        .all(|id| st.tasks.get(&(jk.clone(), key(id))).is_some_and(satisfies));
    if !by_id {
        return false;
    }
    if deps.task_id_ranges.is_empty() {
        return true;
    }
    st.tasks
        .range((jk.clone(), String::new())..)
        .take_while(|(k, _)| k.0 == *jk)
        .filter(|(_, p)| {
            p.task.id.parse::<i64>().is_ok_and(|n| {
                deps.task_id_ranges
                    .iter()
                    .any(|r| (r.start..=r.end).contains(&n))
            })
        })
        .all(|(_, p)| satisfies(p))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::azure::models::{FailureInfo, TaskExecutionInfo};

    fn ended(exit: Option<i32>, ok: bool, conditions: Value, failure: Option<&str>) -> Task {
        let mut t = Task {
            id: "p".into(),
            state: Some(TaskState::Completed),
            execution_info: Some(TaskExecutionInfo {
                exit_code: exit,
                result: Some(if ok {
                    TaskExecutionResult::Success
                } else {
                    TaskExecutionResult::Failure
                }),
                failure_info: failure.map(|c| FailureInfo {
                    code: Some(c.into()),
                    ..FailureInfo::default()
                }),
                ..TaskExecutionInfo::default()
            }),
            ..Task::default()
        };
        t.extra.insert("exitConditions".into(), conditions);
        t
    }

    #[test]
    fn exit_conditions_choose_the_dependency_and_job_actions() {
        let act = |t: &Task| {
            let o = outcome_options(t);
            (
                o.dependency_action.as_str().to_string(),
                o.job_action.as_str().to_string(),
            )
        };
        let none = json!(null);
        assert_eq!(
            act(&ended(Some(0), true, none.clone(), None)),
            ("satisfy".to_string(), "none".to_string())
        );
        assert_eq!(
            act(&ended(Some(3), false, none.clone(), None)),
            ("block".into(), "terminate".into())
        );
        let cond = json!({
            "exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy", "jobAction": "none"}}],
            "exitCodeRanges": [{"start": 10, "end": 20, "exitOptions": {"jobAction": "disable"}}],
            "preProcessingError": {"dependencyAction": "satisfy"},
            "default": {"dependencyAction": "Satisfy", "jobAction": "none"},
        });
        assert_eq!(
            act(&ended(Some(3), false, cond.clone(), None)),
            ("satisfy".into(), "none".into())
        );
        assert_eq!(
            act(&ended(Some(15), false, cond.clone(), None)),
            ("block".into(), "disable".into())
        );
        assert_eq!(
            act(&ended(Some(4), false, cond.clone(), None)),
            ("satisfy".into(), "none".into())
        );
        assert_eq!(
            act(&ended(None, false, cond.clone(), Some("BlobNotFound"))),
            ("satisfy".into(), "terminate".into())
        );
        assert_eq!(
            act(&ended(Some(0), true, cond, None)),
            ("satisfy".into(), "none".into())
        );
    }
}
