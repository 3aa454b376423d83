//! Jobs.

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

    pub async fn delete_job(&self, id: &str) -> Result<Deleted, BatchError> {
        self.delete(&format!("delete job {id}"), self.url(&["jobs", id], &[]))
            .await
    }
}
