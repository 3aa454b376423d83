"""Drives the emulator's Batch service with azure-batch 12.0.0 (msrest client, api-version
2022-01-01.15.0), including the operations beyond the tutorial's.

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY. Exits non-zero on any failure.
"""
import os

import azure.batch.models as m
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials
from sdkcheck import check, main as run, wait_for


def fails_with(code, fn):
    try:
        fn()
    except m.BatchErrorException as e:
        check(e.error.code == code, code)
        return
    raise AssertionError("expected " + code)


def main():
    c = BatchServiceClient(
        SharedKeyCredentials(os.environ["BATCH_ACCOUNT"], os.environ["BATCH_KEY"]),
        batch_url=os.environ["BATCH_ENDPOINT"],
    )
    check(c.api_version == "2022-01-01.15.0", "api-version " + c.api_version)
    c.pool.add(m.PoolAddParameter(
        id="sdk12pool", vm_size="STANDARD_D1_V2", target_dedicated_nodes=1, task_slots_per_node=2,
        start_task=m.StartTask(command_line="/bin/sh -c 'echo up'", wait_for_success=True)))
    check(c.pool.exists("sdk12pool"), "pool exists")
    fails_with("PoolExists", lambda: c.pool.add(m.PoolAddParameter(id="sdk12pool", vm_size="x")))
    node = wait_for("idle node", lambda: [n for n in c.compute_node.list("sdk12pool") if n.state == "idle"])[0].id
    c.pool.patch("sdk12pool", m.PoolPatchParameter(metadata=[m.MetadataItem(name="a", value="b")]))
    check(c.pool.get("sdk12pool").metadata[0].value == "b", "pool patch")
    c.pool.update_properties("sdk12pool", m.PoolUpdatePropertiesParameter(
        certificate_references=[], application_package_references=[], metadata=[],
        start_task=m.StartTask(command_line="/bin/true")))
    p = c.pool.get("sdk12pool")
    check(p.start_task.command_line == "/bin/true" and not p.metadata, "pool update_properties")
    c.pool.resize("sdk12pool", m.PoolResizeParameter(target_dedicated_nodes=2))
    two = wait_for("two nodes", lambda: (lambda ns: ns if len(ns) == 2 and all(n.state == "idle" for n in ns) else None)(
        list(c.compute_node.list("sdk12pool"))))
    counts = list(c.account.list_pool_node_counts())
    check(any(x.pool_id == "sdk12pool" and x.dedicated.idle == 2 for x in counts), "account list_pool_node_counts")
    check(len(list(c.account.list_supported_images())) > 0, "account list_supported_images")
    leave = [n.id for n in two if n.id != node][0]
    c.pool.remove_nodes("sdk12pool", m.NodeRemoveParameter(node_list=[leave]))
    wait_for("one node", lambda: [n.id for n in c.compute_node.list("sdk12pool")] == [node])
    c.pool.resize("sdk12pool", m.PoolResizeParameter(target_dedicated_nodes=3))
    c.pool.stop_resize("sdk12pool")
    wait_for("steady", lambda: c.pool.get("sdk12pool").allocation_state == m.AllocationState.steady)
    check(True, "pool stop_resize")

    c.job.add(m.JobAddParameter(
        id="sdk12job", pool_info=m.PoolInformation(pool_id="sdk12pool"), uses_task_dependencies=True,
        on_task_failure=m.OnTaskFailure.perform_exit_options_job_action,
        job_preparation_task=m.JobPreparationTask(command_line="/bin/sh -c 'echo prep'"),
        job_release_task=m.JobReleaseTask(command_line="/bin/sh -c 'echo release'")))
    c.job.patch("sdk12job", m.JobPatchParameter(priority=9, max_parallel_tasks=3))
    j = c.job.get("sdk12job")
    check(j.priority == 9 and j.max_parallel_tasks == 3 and j.allow_task_preemption is False, "job patch")
    c.job.update("sdk12job", m.JobUpdateParameter(pool_info=m.PoolInformation(pool_id="sdk12pool")))
    j = c.job.get("sdk12job")
    check(j.priority == 0 and j.max_parallel_tasks == -1, "job update (PUT) resets")
    c.job.disable("sdk12job", "wait")
    wait_for("disabled", lambda: c.job.get("sdk12job").state == m.JobState.disabled)
    c.job.enable("sdk12job")
    wait_for("active", lambda: c.job.get("sdk12job").state == m.JobState.active)
    check(True, "job disable and enable")
    tasks = [m.TaskAddParameter(id=str(i), command_line="/bin/sh -c 'echo $AZ_BATCH_TASK_ID'") for i in range(1, 6)]
    tasks.append(m.TaskAddParameter(id="last", command_line="/bin/true",
                                    depends_on=m.TaskDependencies(task_id_ranges=[m.TaskIdRange(start=1, end=5)])))
    res = c.task.add_collection("sdk12job", tasks)
    check(all(r.status.lower() == "success" for r in res.value), "add_collection")
    wait_for("completed", lambda: c.job.get_task_counts("sdk12job").task_counts.completed == 6)
    last = c.task.get("sdk12job", "last")
    firsts = [c.task.get("sdk12job", str(i)) for i in range(1, 6)]
    check(all(last.execution_info.start_time >= t.execution_info.end_time for t in firsts), "task dependencies")
    c.task.update("sdk12job", "3", constraints=m.TaskConstraints(max_task_retry_count=2))
    check(c.task.get("sdk12job", "3").constraints.max_task_retry_count == 2, "task update")
    out = b"".join(c.file.get_from_task("sdk12job", "3", "stdout.txt"))
    check(out == b"3\n", "task stdout")
    c.file.delete_from_task("sdk12job", "3", "stdout.txt")
    fails_with("FileNotFound", lambda: b"".join(c.file.get_from_task("sdk12job", "3", "stdout.txt")))
    c.file.delete_from_compute_node("sdk12pool", node, "startup/stdout.txt")
    check(True, "file delete from task and node")
    status = list(c.job.list_preparation_and_release_task_status("sdk12job"))
    check(status[0].job_preparation_task_execution_info.state == "completed", "preparation status")
    c.task.add("sdk12job", m.TaskAddParameter(id="fails", command_line="/bin/sh -c 'exit 3'",
                                               exit_conditions=m.ExitConditions(default=m.ExitOptions(job_action="terminate"))))
    j = wait_for("terminated by the task", lambda: (lambda j: j if j.state == m.JobState.completed else None)(c.job.get("sdk12job")))
    check(j.execution_info.terminate_reason == "TaskFailed", "exit conditions job action")
    status = list(c.job.list_preparation_and_release_task_status("sdk12job"))
    check(status[0].job_release_task_execution_info.state == "completed", "release status")
    c.job.delete("sdk12job")
    c.pool.delete("sdk12pool")
    wait_for("pool gone", lambda: not c.pool.exists("sdk12pool"))


if __name__ == "__main__":
    run("batch_sdk12", main)
