//! Jobs.

use super::client::select_query;
use super::{BatchClient, BatchError, Created, Deleted};
use crate::azure::models::Job;

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
}
