"""Sets up, and afterwards checks through Microsoft's azure-batch 15 SDK (not batchdeck), what
`batchdeck browse`'s actions do to an account that browse_sdk15.py populated.

  setup OKFILE   adds `sparejob` (no tasks), `retryjob` on bigpool with `fixme3` (which fails
                 until OKFILE exists), and `actjob` on bigpool: `sleeper` and `doomed`
                 (sleeping), `fixme1` and `fixme2` (which fail until OKFILE exists),
                 `bystander` (succeeds); waits until the sleepers run, the fixmes failed and
                 bystander succeeded, and fixme3 failed. Prints "ready".
  check REBOOTED_AFTER DISABLED ENABLED REBOOTED REMOVED
                 checks every action's effect: bigpool's resize stopped, smallpool resized
                 to 3 dedicated and 1 spot (less the removed node), idlejob terminated,
                 sparejob deleted, tickjob enabled again after it was disabled (its task
                 requeued), sleeper terminated, doomed and bystander deleted, retryjob's fixme3 retried and succeeded, the fixmes reactivated and
                 succeeded; the nodes: scheduling disabled on DISABLED, enabled again on
                 ENABLED, REBOOTED booted after REBOOTED_AFTER (RFC 3339), REMOVED gone.

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY.
"""
import datetime
import sys

from azure.batch import models as m

import sdkcheck


def setup(okfile):
    client = sdkcheck.client()
    for job_id, pool_id in [("sparejob", "smallpool"), ("actjob", "bigpool"), ("retryjob", "bigpool")]:
        client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    tasks = [
        m.BatchTaskCreateOptions(id="sleeper", command_line="/bin/sh -c 'sleep 600'"),
        m.BatchTaskCreateOptions(id="doomed", command_line="/bin/sh -c 'sleep 600'"),
    ] + [
        m.BatchTaskCreateOptions(id=t, command_line="/bin/sh -c 'test -f %s'" % okfile)
        for t in ["fixme1", "fixme2"]
    ] + [m.BatchTaskCreateOptions(id="bystander", command_line="/bin/sh -c 'true'")]
    client.create_tasks("actjob", tasks)
    client.create_task(
        "retryjob", m.BatchTaskCreateOptions(id="fixme3", command_line="/bin/sh -c 'test -f %s'" % okfile)
    )

    def state(t):
        task = client.get_task("actjob", t)
        return task.state, task.execution_info.result if task.execution_info else None

    sdkcheck.wait_for(
        "the sleepers running and the fixmes failed",
        lambda: all(state(t)[0] == "running" for t in ["sleeper", "doomed"])
        and all(state(t) == ("completed", "failure") for t in ["fixme1", "fixme2"])
        and state("bystander") == ("completed", "success")
        and (lambda t: (t.state, t.execution_info.result if t.execution_info else None))(
            client.get_task("retryjob", "fixme3")
        )
        == ("completed", "failure"),
        timeout=120,
    )
    print("ready", flush=True)


def check(rebooted_after, disabled, enabled, rebooted, removed):
    client = sdkcheck.client()
    # Pools: bigpool's resize to 6 was stopped (it kept its 2 nodes); smallpool was resized to
    # 3 dedicated and 1 spot nodes, then lost REMOVED.
    big = sdkcheck.wait_for(
        "bigpool steady",
        lambda: (lambda p: p if p.allocation_state == "steady" else None)(client.get_pool("bigpool")),
    )
    sdkcheck.check(big.target_dedicated_nodes == 2, "bigpool's resize stopped at 2 nodes")
    sdkcheck.check(
        any(e.code == "ResizeStopped" for e in big.resize_errors or []),
        "bigpool says its resize was stopped",
    )
    sdkcheck.wait_for(
        "node %s gone" % removed,
        lambda: all(n.id != removed for n in client.list_nodes("smallpool")),
    )
    small = client.get_pool("smallpool")
    targets = (small.target_dedicated_nodes, small.target_low_priority_nodes)
    sdkcheck.check(targets in [(2, 1), (3, 0)], "smallpool resized to 3+1, less one (%s)" % (targets,))
    # Nodes.
    node = lambda n: client.get_node("smallpool", n)  # noqa: E731
    sdkcheck.check(node(disabled).scheduling_state == "disabled", "scheduling disabled on " + disabled)
    sdkcheck.check(node(enabled).scheduling_state == "enabled", "scheduling enabled again on " + enabled)
    after = datetime.datetime.fromisoformat(rebooted_after.replace("Z", "+00:00"))
    booted = sdkcheck.wait_for(
        "node %s booted again" % rebooted,
        lambda: (lambda t: t if t and t >= after else None)(node(rebooted).last_boot_time),
    )
    sdkcheck.check(booted >= after, "node %s rebooted (booted %s)" % (rebooted, booted))
    # Jobs.
    sdkcheck.wait_for("idlejob terminated", lambda: client.get_job("idlejob").state == "completed")
    sdkcheck.check(
        client.get_job("idlejob").execution_info.termination_reason == "UserTerminate",
        "idlejob terminated by the user",
    )
    sdkcheck.expect_error("sparejob deleted", lambda: client.get_job("sparejob"), 404, "JobNotFound")
    sdkcheck.check(client.get_job("tickjob").state == "active", "tickjob enabled again")
    ticker = client.get_task("tickjob", "ticker")
    sdkcheck.check(ticker.execution_info.requeue_count >= 1, "tickjob's task requeued when it was disabled")
    # Tasks.
    sleeper = client.get_task("actjob", "sleeper")
    sdkcheck.check(sleeper.state == "completed", "sleeper terminated")
    for t in ["doomed", "bystander"]:
        sdkcheck.expect_error(t + " deleted", lambda t=t: client.get_task("actjob", t), 404, "TaskNotFound")
    for j, t in [("actjob", "fixme1"), ("actjob", "fixme2"), ("retryjob", "fixme3")]:
        sdkcheck.wait_for(
            t + " succeeded",
            lambda j=j, t=t: (lambda x: x.state == "completed" and x.execution_info.result == "success")(
                client.get_task(j, t)
            ),
        )


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2])
    else:
        sdkcheck.main("browse_actions_sdk15", lambda: check(*sys.argv[2:7]))
