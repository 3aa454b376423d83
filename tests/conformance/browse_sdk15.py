"""Populates an account with Microsoft's azure-batch 15 SDK (not batchdeck), for `batchdeck
browse` to look at: two pools (one of two nodes, one of one), three jobs (`bigjob` with N
tasks of which every tenth fails with exit code 3, `tickjob` with one task that prints a line
a second for S seconds, `idlejob` with none), and waits until `bigjob`'s tasks completed.

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY. Args: N, S. Prints "populated" at the end.
"""
import sys

from azure.batch import models as m

import sdkcheck


def main():
    n, secs = int(sys.argv[1]), int(sys.argv[2])
    client = sdkcheck.client()
    client.create_pool(sdkcheck.ubuntu_pool("bigpool", 2, slots=4))
    client.create_pool(sdkcheck.ubuntu_pool("smallpool", 1, slots=4))
    for job_id, pool_id in [("bigjob", "bigpool"), ("tickjob", "smallpool"), ("idlejob", "smallpool")]:
        client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    tasks = [
        m.BatchTaskCreateOptions(
            id="t%d" % i,
            command_line="/bin/sh -c 'echo task %d; exit %d'" % (i, 3 if i % 10 == 0 else 0),
        )
        for i in range(1, n + 1)
    ]
    client.create_tasks("bigjob", tasks)
    command = "/bin/sh -c 'i=1; while [ $i -le %d ]; do echo line $i; i=$((i+1)); sleep 1; done; echo final line'" % secs
    client.create_task("tickjob", m.BatchTaskCreateOptions(id="ticker", command_line=command))
    sdkcheck.wait_for(
        "bigjob's tasks to complete",
        lambda: client.get_job_task_counts("bigjob").task_counts.completed == n,
        timeout=300,
    )
    print("populated", flush=True)


if __name__ == "__main__":
    main()
