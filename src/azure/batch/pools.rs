//! Pools and their compute nodes.

use reqwest::Method;

use super::client::select_query;
use super::{BatchClient, BatchError, Created, Deleted};
use crate::azure::models::{
    ComputeNode, DisableSchedulingOption, NodeDeallocate, NodeDeallocateOption,
    NodeDeallocationOption, NodeDisableScheduling, NodeReboot, NodeRebootOption, NodeReimage,
    NodeReimageOption, NodeRemoval, Pool, PoolNodeCounts, PoolResize,
};

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

    /// Resizes a pool; a shrink ends the tasks of the nodes it removes as `option` says
    /// (the service's default, requeue, when `None`).
    pub async fn resize_pool(
        &self,
        id: &str,
        target_dedicated: u32,
        target_low_priority: u32,
        option: Option<NodeDeallocationOption>,
    ) -> Result<(), BatchError> {
        let body = PoolResize {
            target_dedicated_nodes: Some(target_dedicated),
            target_low_priority_nodes: Some(target_low_priority),
            node_deallocation_option: option,
        };
        self.post_json(
            &format!("resize pool {id}"),
            self.url(&["pools", id, "resize"], &[]),
            &body,
        )
        .await
        .map(|_| ())
    }

    /// Stops a pool's resize: it keeps the nodes it has.
    pub async fn stop_resize_pool(&self, id: &str) -> Result<(), BatchError> {
        self.post_empty(
            &format!("stop resizing pool {id}"),
            self.url(&["pools", id, "stopresize"], &[]),
        )
        .await
    }

    /// Removes nodes from a pool (at most 100 a request); their running tasks are ended as
    /// `option` says.
    pub async fn remove_nodes(
        &self,
        pool_id: &str,
        nodes: &[String],
        option: NodeDeallocationOption,
    ) -> Result<(), BatchError> {
        for chunk in nodes.chunks(100) {
            let body = NodeRemoval {
                node_list: chunk.to_vec(),
                node_deallocation_option: Some(option.clone()),
            };
            self.post_json(
                &format!("remove nodes from pool {pool_id}"),
                self.url(&["pools", pool_id, "removenodes"], &[]),
                &body,
            )
            .await?;
        }
        Ok(())
    }

    /// Reboots a node; its running tasks are ended as `option` says (requeued, terminated,
    /// or let finish before the reboot).
    pub async fn reboot_node(
        &self,
        pool_id: &str,
        node_id: &str,
        option: NodeRebootOption,
    ) -> Result<(), BatchError> {
        let body = NodeReboot {
            node_reboot_option: Some(option),
        };
        self.node_action(pool_id, node_id, "reboot", Some(&body))
            .await
    }

    /// Reinstalls a node's operating system: its files and user accounts are gone and it
    /// starts again, start task included; its running tasks are ended as `option` says.
    pub async fn reimage_node(
        &self,
        pool_id: &str,
        node_id: &str,
        option: NodeReimageOption,
    ) -> Result<(), BatchError> {
        let body = NodeReimage {
            node_reimage_option: Some(option),
        };
        self.node_action(pool_id, node_id, "reimage", Some(&body))
            .await
    }

    /// Deallocates a node (api-version 2024-07-01.20.0 on): it stops, taking no task, until
    /// started again; its running tasks are ended as `option` says.
    pub async fn deallocate_node(
        &self,
        pool_id: &str,
        node_id: &str,
        option: NodeDeallocateOption,
    ) -> Result<(), BatchError> {
        let body = NodeDeallocate {
            node_deallocate_option: Some(option),
        };
        self.node_action(pool_id, node_id, "deallocate", Some(&body))
            .await
    }

    /// Starts a deallocated node again (api-version 2024-07-01.20.0 on).
    pub async fn start_node(&self, pool_id: &str, node_id: &str) -> Result<(), BatchError> {
        self.node_action(pool_id, node_id, "start", None::<&()>)
            .await
    }

    /// One node operation (`POST /pools/{pool}/nodes/{node}/{op}`), with its body if it has
    /// one; reported as "{op} node {node}".
    async fn node_action(
        &self,
        pool_id: &str,
        node_id: &str,
        op: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<(), BatchError> {
        let what = format!("{op} node {node_id}");
        let url = self.url(&["pools", pool_id, "nodes", node_id, op], &[]);
        match body {
            Some(b) => self.post_json(&what, url, b).await.map(|_| ()),
            None => self.post_empty(&what, url).await,
        }
    }

    /// Enables or disables task scheduling on a node (disabling requeues its running tasks).
    pub async fn set_node_scheduling(
        &self,
        pool_id: &str,
        node_id: &str,
        enable: bool,
    ) -> Result<(), BatchError> {
        if enable {
            return self
                .post_empty(
                    &format!("enable scheduling on node {node_id}"),
                    self.url(
                        &["pools", pool_id, "nodes", node_id, "enablescheduling"],
                        &[],
                    ),
                )
                .await;
        }
        let body = NodeDisableScheduling {
            node_disable_scheduling_option: Some(DisableSchedulingOption::Requeue),
        };
        self.post_json(
            &format!("disable scheduling on node {node_id}"),
            self.url(
                &["pools", pool_id, "nodes", node_id, "disablescheduling"],
                &[],
            ),
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
