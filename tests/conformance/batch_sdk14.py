"""Drives the emulator's Batch service with azure-batch 14.2.0 (msrest client).

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY. Exits non-zero on any failure.
"""
import os
import sys
import time

import azure.batch.models as m
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def wait_for(what, fn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def main():
    client = BatchServiceClient(
        SharedKeyCredentials(os.environ["BATCH_ACCOUNT"], os.environ["BATCH_KEY"]),
        batch_url=os.environ["BATCH_ENDPOINT"],
    )
    client.pool.add(
        m.PoolAddParameter(
            id="sdk14pool",
            vm_size="STANDARD_D1_V2",
            target_dedicated_nodes=1,
            start_task=m.StartTask(command_line="/bin/sh -c 'echo up'", wait_for_success=True),
        )
    )
    check(client.pool.exists("sdk14pool"), "pool exists")
    try:
        client.pool.add(m.PoolAddParameter(id="sdk14pool", vm_size="x"))
        raise AssertionError("duplicate accepted")
    except m.BatchErrorException as e:
        check(e.error.code == "PoolExists", "PoolExists")
    wait_for("idle node", lambda: [n for n in client.compute_node.list("sdk14pool") if n.state == "idle"])
    client.job.add(m.JobAddParameter(id="sdk14job", pool_info=m.PoolInformation(pool_id="sdk14pool")))
    tasks = [m.TaskAddParameter(id="t%d" % i, command_line="/bin/sh -c 'echo $AZ_BATCH_TASK_ID'") for i in range(20)]
    res = client.task.add_collection("sdk14job", tasks)
    check(all(r.status == "success" for r in res.value), "add_collection")
    wait_for("completed", lambda: client.job.get_task_counts("sdk14job").task_counts.completed == 20)
    done = list(client.task.list("sdk14job", task_list_options=m.TaskListOptions(filter="state eq 'completed'", max_results=7)))
    check(len(done) == 20, "list with filter and paging")
    t = client.task.get("sdk14job", "t3")
    check(t.execution_info.exit_code == 0 and t.node_info.pool_id == "sdk14pool", "task get")
    out = b"".join(client.file.get_from_task("sdk14job", "t3", "stdout.txt"))
    check(out == b"t3\n", "task stdout")
    files = [f.name for f in client.file.list_from_task("sdk14job", "t3", recursive=True)]
    check("stdout.txt" in files, "list task files")
    # Reimage (this version has it; Start and Deallocate came with 2024-07-01.20.0): the node
    # boots again with its start task, and the files of the tasks that ran there are gone.
    node = list(client.compute_node.list("sdk14pool"))[0]
    client.compute_node.reimage("sdk14pool", node.id, node_reimage_option="taskCompletion")
    n = wait_for("the node back from its reimage", lambda: (lambda n: n if n.state == "idle" and n.last_boot_time > node.last_boot_time else None)(client.compute_node.get("sdk14pool", node.id)))
    check(n.start_task_info.start_time > node.start_task_info.start_time, "reimage: the start task ran again")
    check(list(client.file.list_from_task("sdk14job", "t3", recursive=True)) == [], "reimage: the task's files are gone")
    client.job.terminate("sdk14job")
    wait_for("job completed", lambda: client.job.get("sdk14job").state == m.JobState.completed)
    client.job.delete("sdk14job")
    client.pool.delete("sdk14pool")
    wait_for("pool gone", lambda: not client.pool.exists("sdk14pool"))
    print("batch_sdk14: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        print("FAILED:", e)
        sys.exit(1)
