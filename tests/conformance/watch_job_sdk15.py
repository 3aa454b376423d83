"""Creates, with Microsoft's azure-batch 15 SDK (not batchdeck), a pool of one node, a job, and
one task that prints a line a second for a while, then a final line: work for `batchdeck
watch` to attach to.

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY. Args: pool id, job id, seconds. Prints
"created" once the task was added.
"""
import sys

from azure.batch import models as m

import sdkcheck


def main():
    pool_id, job_id, secs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = sdkcheck.client()
    client.create_pool(sdkcheck.ubuntu_pool(pool_id, 1))
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    command = "/bin/sh -c 'i=1; while [ $i -le %d ]; do echo line $i; i=$((i+1)); sleep 1; done; echo final line'" % secs
    client.create_task(job_id, m.BatchTaskCreateOptions(id="ticker", command_line=command))
    print("created", flush=True)


if __name__ == "__main__":
    main()
