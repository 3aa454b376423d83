"""A job watcher as a good user of Microsoft's azure-batch 15 SDK writes one: on each refresh
the pool and its nodes (with $select), then the job's task counts, and only when they moved
the tasks whose state changed since the newest transition seen (a stateTransitionTime filter,
with $select of what a table shows).

Reads commands on stdin, one per line: "poll" runs one refresh and prints "changed N" (the
tasks listed). Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY, POOL_ID, JOB_ID.
"""
import os
import sys

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

TASK_SELECT = ["id", "state", "stateTransitionTime", "executionInfo", "nodeInfo"]
NODE_SELECT = ["id", "state", "startTaskInfo", "runningTasksCount"]
POOL_SELECT = [
    "id",
    "state",
    "allocationState",
    "vmSize",
    "currentDedicatedNodes",
    "targetDedicatedNodes",
    "currentLowPriorityNodes",
    "targetLowPriorityNodes",
]


def main():
    client = BatchClient(
        os.environ["BATCH_ENDPOINT"],
        AzureNamedKeyCredential(os.environ["BATCH_ACCOUNT"], os.environ["BATCH_KEY"]),
    )
    pool_id, job_id = os.environ["POOL_ID"], os.environ["JOB_ID"]
    last_counts = None
    newest = None
    for line in sys.stdin:
        if line.strip() != "poll":
            break
        client.get_pool(pool_id, select=POOL_SELECT)
        list(client.list_nodes(pool_id, select=NODE_SELECT))
        c = client.get_job_task_counts(job_id).task_counts
        counts = (c.active, c.running, c.completed, c.succeeded, c.failed)
        changed = 0
        if counts != last_counts:
            flt = None
            if newest is not None:
                flt = "stateTransitionTime ge datetime'%s'" % newest.strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ"
                )
            for t in client.list_tasks(job_id, filter=flt, select=TASK_SELECT, max_results=1000):
                changed += 1
                if t.state_transition_time and (newest is None or t.state_transition_time > newest):
                    newest = t.state_transition_time
            last_counts = counts
        print("changed", changed, flush=True)


if __name__ == "__main__":
    main()
