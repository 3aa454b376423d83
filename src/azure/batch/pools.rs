//! Pools and their compute nodes.

use reqwest::Method;

use super::client::select_query;
use super::{BatchClient, BatchError, Created, Deleted};
use crate::azure::models::{ComputeNode, Pool, PoolNodeCounts};

impl BatchClient {
    /// Adds a pool; finding one of that id is reported, not an error.
    pub async fn create_pool(&self, pool: &Pool) -> Result<Created, BatchError> {
        let url = self.url(&["pools"], &[]);
        self.create(&format!("create pool {}", pool.id), url, pool, "PoolExists")
            .await
    }

    pub async fn get_pool(&self, id: &str, select: Option<&str>) -> Result<Pool, BatchError> {
        let q = select_query(select);
        self.get_json(&format!("get pool {id}"), self.url(&["pools", id], &q))
            .await
    }

    /// Every pool of the account (following `odata.nextLink`), with only `select`'s properties.
    pub async fn list_pools(&self, select: Option<&str>) -> Result<Vec<Pool>, BatchError> {
        let q = select_query(select);
        self.list_all("list pools", self.url(&["pools"], &q)).await
    }

    /// How many nodes of each pool are in each state: one request (a page at a time) for
    /// every pool of the account.
    pub async fn pool_node_counts(&self) -> Result<Vec<PoolNodeCounts>, BatchError> {
        self.list_all("list pool node counts", self.url(&["nodecounts"], &[]))
            .await
    }

    pub async fn pool_exists(&self, id: &str) -> Result<bool, BatchError> {
        let op = format!("check pool {id}");
        match self
            .send(&op, Method::HEAD, self.url(&["pools", id], &[]), None, &[])
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_pool(&self, id: &str) -> Result<Deleted, BatchError> {
        self.delete(&format!("delete pool {id}"), self.url(&["pools", id], &[]))
            .await
    }

    pub async fn resize_pool(
        &self,
        id: &str,
        target_dedicated: u32,
        target_low_priority: u32,
    ) -> Result<(), BatchError> {
        let body = serde_json::json!({
            "targetDedicatedNodes": target_dedicated,
            "targetLowPriorityNodes": target_low_priority,
        });
        self.post_json(
            &format!("resize pool {id}"),
            self.url(&["pools", id, "resize"], &[]),
            &body,
        )
        .await
        .map(|_| ())
    }

    pub async fn list_nodes(
        &self,
        pool_id: &str,
        select: Option<&str>,
    ) -> Result<Vec<ComputeNode>, BatchError> {
        let q = select_query(select);
        self.list_all(
            &format!("list nodes of pool {pool_id}"),
            self.url(&["pools", pool_id, "nodes"], &q),
        )
        .await
    }
}
