//! Tasks: added in collections (several at once), listed, counted, terminated and
//! reactivated.

use super::{BatchClient, BatchError};
use crate::azure::models::{
    Task, TaskAddCollectionResult, TaskAddResult, TaskAddStatus, TaskCountsResult,
};

/// Most tasks the service accepts in one addtaskcollection call.
pub const TASKS_PER_COLLECTION: usize = 100;

/// Collections sent at once when adding many tasks.
pub const COLLECTIONS_IN_FLIGHT: usize = 8;

impl BatchClient {
    /// Adds tasks in collections of at most 100, several collections at once. A task that
    /// already exists (a retried add that had in fact succeeded, or a resumed run) counts as
    /// added. Returns one result per task; client errors are returned, not raised.
    pub async fn add_tasks(
        &self,
        job_id: &str,
        tasks: &[Task],
    ) -> Result<Vec<TaskAddResult>, BatchError> {
        use futures::StreamExt;
        let url = self.url(&["jobs", job_id, "addtaskcollection"], &[]);
        let op = format!("add tasks to job {job_id}");
        let chunks: Vec<&[Task]> = tasks.chunks(TASKS_PER_COLLECTION).collect();
        let results: Vec<Result<TaskAddCollectionResult, BatchError>> =
            futures::stream::iter(chunks)
                .map(|chunk| {
                    let (url, op) = (url.clone(), op.clone());
                    async move {
                        let body = serde_json::json!({ "value": chunk });
                        let answer = self.post_json(&op, url, &body).await?;
                        self.decode::<TaskAddCollectionResult>(&op, &answer.body)
                    }
                })
                .buffer_unordered(COLLECTIONS_IN_FLIGHT)
                .collect()
                .await;
        let mut out = Vec::with_capacity(tasks.len());
        for r in results {
            for mut one in r?.value {
                // The service writes `Success`, `ClientError`, `ServerError` (recorded), which
                // `TaskAddStatus` reads whatever their case.
                if one.status != TaskAddStatus::Success
                    && one.error.as_ref().is_some_and(|e| e.code == "TaskExists")
                {
                    one.status = TaskAddStatus::Success;
                    one.error = None;
                    one.already_existed = true;
                }
                out.push(one);
            }
        }
        Ok(out)
    }

    /// Lists a job's tasks; `filter` and `select` are OData, e.g. `state eq 'completed'`.
    pub async fn list_tasks(
        &self,
        job_id: &str,
        filter: Option<&str>,
        select: Option<&str>,
    ) -> Result<Vec<Task>, BatchError> {
        let mut out = Vec::new();
        self.list_task_pages(job_id, filter, select, |page| out.extend(page))
            .await?;
        Ok(out)
    }

    /// As [`BatchClient::list_tasks`], one page (up to 1,000 tasks) at a time.
    pub async fn list_task_pages(
        &self,
        job_id: &str,
        filter: Option<&str>,
        select: Option<&str>,
        f: impl FnMut(Vec<Task>),
    ) -> Result<(), BatchError> {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(f) = filter {
            q.push(("$filter", f.to_string()));
        }
        if let Some(s) = select {
            q.push(("$select", s.to_string()));
        }
        q.push(("maxresults", "1000".into()));
        self.for_each_page(
            &format!("list tasks of job {job_id}"),
            self.url(&["jobs", job_id, "tasks"], &q),
            f,
        )
        .await
    }

    pub async fn get_task(&self, job_id: &str, task_id: &str) -> Result<Task, BatchError> {
        self.get_json(
            &format!("get task {task_id}"),
            self.url(&["jobs", job_id, "tasks", task_id], &[]),
        )
        .await
    }

    pub async fn task_counts(&self, job_id: &str) -> Result<TaskCountsResult, BatchError> {
        self.get_json(
            &format!("get task counts of job {job_id}"),
            self.url(&["jobs", job_id, "taskcounts"], &[]),
        )
        .await
    }

    pub async fn terminate_task(&self, job_id: &str, task_id: &str) -> Result<(), BatchError> {
        self.task_action(job_id, task_id, "terminate").await
    }

    pub async fn reactivate_task(&self, job_id: &str, task_id: &str) -> Result<(), BatchError> {
        self.task_action(job_id, task_id, "reactivate").await
    }

    /// Deletes a task (and its files on the node); one already gone is done.
    pub async fn delete_task(&self, job_id: &str, task_id: &str) -> Result<(), BatchError> {
        self.delete(
            &format!("delete task {task_id}"),
            self.url(&["jobs", job_id, "tasks", task_id], &[]),
        )
        .await
        .map(|_| ())
    }

    /// `POST /jobs/{job}/tasks/{task}/{action}` with an empty body.
    async fn task_action(
        &self,
        job_id: &str,
        task_id: &str,
        action: &str,
    ) -> Result<(), BatchError> {
        self.post_empty(
            &format!("{action} task {task_id}"),
            self.url(&["jobs", job_id, "tasks", task_id, action], &[]),
        )
        .await
    }
}
