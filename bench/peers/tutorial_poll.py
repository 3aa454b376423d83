"""The tutorial's way of watching a job (azure-batch 14.x, as the tutorial uses it): on each
poll, list every task of the job with every property and look for incomplete ones.

Reads commands on stdin, one per line: "poll" runs one poll and prints "incomplete N".
Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY, JOB_ID.
"""
import os
import sys

import azure.batch.models as batchmodels
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials


def main():
    client = BatchServiceClient(
        SharedKeyCredentials(os.environ["BATCH_ACCOUNT"], os.environ["BATCH_KEY"]),
        batch_url=os.environ["BATCH_ENDPOINT"],
    )
    job_id = os.environ["JOB_ID"]
    for line in sys.stdin:
        if line.strip() != "poll":
            break
        tasks = client.task.list(job_id)
        incomplete = [t for t in tasks if t.state != batchmodels.TaskState.completed]
        print("incomplete", len(incomplete), flush=True)


if __name__ == "__main__":
    main()
