"""Adds N trivial tasks to a job with azure-batch 15.x's create_tasks and prints the seconds
the call took (interpreter start-up excluded).

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY, JOB_ID, TASKS, CONCURRENCY (0: the SDK's
default, sequential).
"""
import os
import time

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential


def main():
    client = BatchClient(
        os.environ["BATCH_ENDPOINT"],
        AzureNamedKeyCredential(os.environ["BATCH_ACCOUNT"], os.environ["BATCH_KEY"]),
    )
    n = int(os.environ["TASKS"])
    concurrency = int(os.environ.get("CONCURRENCY", "0"))
    tasks = [m.BatchTaskCreateOptions(id="t%05d" % i, command_line="/bin/true") for i in range(n)]
    start = time.perf_counter()
    if concurrency:
        result = client.create_tasks(os.environ["JOB_ID"], tasks, max_concurrency=concurrency)
    else:
        result = client.create_tasks(os.environ["JOB_ID"], tasks)
    elapsed = time.perf_counter() - start
    ok = sum(1 for r in result.result_values if str(r.status).lower() == "success")
    assert ok == n, "%d of %d tasks added" % (ok, n)
    print("seconds %.6f" % elapsed, flush=True)


if __name__ == "__main__":
    main()
