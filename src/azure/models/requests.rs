//! Bodies of the Batch actions batchdeck sends (resize, remove nodes, reboot, reimage,
//! deallocate, scheduling,
//! disable and terminate a job), as the REST specification names their properties.

use serde::{Deserialize, Serialize};

use super::{
    DisableJobOption, DisableSchedulingOption, NodeDeallocateOption, NodeDeallocationOption,
    NodeRebootOption, NodeReimageOption,
};

/// `BatchPoolResizeOptions` (`POST /pools/{id}/resize`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolResize {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_dedicated_nodes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_low_priority_nodes: Option<u32>,
    /// What happens to the tasks of the nodes a shrink removes (requeue when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_deallocation_option: Option<NodeDeallocationOption>,
}

/// `BatchNodeRemoveOptions` (`POST /pools/{id}/removenodes`): at most 100 nodes a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRemoval {
    pub node_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_deallocation_option: Option<NodeDeallocationOption>,
}

/// `BatchNodeRebootOptions` (`POST /pools/{id}/nodes/{node}/reboot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReboot {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_reboot_option: Option<NodeRebootOption>,
}

/// `BatchNodeReimageOptions` (`POST /pools/{id}/nodes/{node}/reimage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReimage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_reimage_option: Option<NodeReimageOption>,
}

/// `BatchNodeDeallocateOptions` (`POST /pools/{id}/nodes/{node}/deallocate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDeallocate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_deallocate_option: Option<NodeDeallocateOption>,
}

/// `BatchNodeDisableSchedulingOptions` (`POST /pools/{id}/nodes/{node}/disablescheduling`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDisableScheduling {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_disable_scheduling_option: Option<DisableSchedulingOption>,
}

/// `BatchJobDisableOptions` (`POST /jobs/{id}/disable`): `disableTasks` is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobDisable {
    pub disable_tasks: DisableJobOption,
}

/// `BatchJobTerminateOptions` (`POST /jobs/{id}/terminate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTerminate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminate_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_their_properties_as_the_service_does() {
        let j = |v: &dyn erased::Ser| v.json();
        assert_eq!(
            j(&PoolResize {
                target_dedicated_nodes: Some(2),
                target_low_priority_nodes: Some(1),
                node_deallocation_option: None,
            }),
            r#"{"targetDedicatedNodes":2,"targetLowPriorityNodes":1}"#
        );
        assert_eq!(
            j(&NodeRemoval {
                node_list: vec!["n1".into()],
                node_deallocation_option: Some(NodeDeallocationOption::Requeue)
            }),
            r#"{"nodeList":["n1"],"nodeDeallocationOption":"requeue"}"#
        );
        assert_eq!(
            j(&NodeReboot {
                node_reboot_option: Some(NodeRebootOption::Requeue)
            }),
            r#"{"nodeRebootOption":"requeue"}"#
        );
        assert_eq!(
            j(&NodeReimage {
                node_reimage_option: Some(NodeReimageOption::TaskCompletion)
            }),
            r#"{"nodeReimageOption":"taskcompletion"}"#
        );
        assert_eq!(
            j(&NodeDeallocate {
                node_deallocate_option: Some(NodeDeallocateOption::RetainedData)
            }),
            r#"{"nodeDeallocateOption":"retaineddata"}"#
        );
        assert_eq!(
            j(&NodeDisableScheduling {
                node_disable_scheduling_option: Some(DisableSchedulingOption::Requeue)
            }),
            r#"{"nodeDisableSchedulingOption":"requeue"}"#
        );
        assert_eq!(
            j(&JobDisable {
                disable_tasks: DisableJobOption::Requeue
            }),
            r#"{"disableTasks":"requeue"}"#
        );
        assert_eq!(
            j(&JobTerminate {
                terminate_reason: None
            }),
            "{}"
        );
    }

    mod erased {
        pub trait Ser {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Ser for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }
}
