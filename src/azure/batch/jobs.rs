//! Jobs.

use super::client::select_query;
use super::{BatchClient, BatchError, Created, Deleted};
use crate::azure::models::{DisableJobOption, Job, JobDisable, JobTerminate};

impl BatchClient {
    pub async fn create_job(&self, job: &Job) -> Result<Created, BatchError> {
        let url = self.url(&["jobs"], &[]);
        self.create(&format!("create job {}", job.id), url, job, "JobExists")
            .await
    }

    pub async fn get_job(&self, id: &str) -> Result<Job, BatchError> {
        self.get_json(&format!("get job {id}"), self.url(&["jobs", id], &[]))
            .await
    }

    /// Every job of the account (following `odata.nextLink`), with only `select`'s properties.
    pub async fn list_jobs(&self, select: Option<&str>) -> Result<Vec<Job>, BatchError> {
        let q = select_query(select);
        self.list_all("list jobs", self.url(&["jobs"], &q)).await
    }

    pub async fn delete_job(&self, id: &str) -> Result<Deleted, BatchError> {
        self.delete(&format!("delete job {id}"), self.url(&["jobs", id], &[]))
            .await
    }

    /// Terminates a job: its running tasks are ended, it completes.
    pub async fn terminate_job(&self, id: &str) -> Result<(), BatchError> {
        let body = JobTerminate {
            terminate_reason: None,
        };
        self.post_json(
            &format!("terminate job {id}"),
            self.url(&["jobs", id, "terminate"], &[]),
            &body,
        )
        .await
        .map(|_| ())
    }

    /// Disables a job: no task starts; `how` says what becomes of running ones.
    pub async fn disable_job(&self, id: &str, how: DisableJobOption) -> Result<(), BatchError> {
        let body = JobDisable { disable_tasks: how };
        self.post_json(
            &format!("disable job {id}"),
            self.url(&["jobs", id, "disable"], &[]),
            &body,
        )
        .await
        .map(|_| ())
    }

    /// Enables a disabled job: its tasks are scheduled again.
    pub async fn enable_job(&self, id: &str) -> Result<(), BatchError> {
        self.post_empty(
            &format!("enable job {id}"),
            self.url(&["jobs", id, "enable"], &[]),
        )
        .await
    }
}
