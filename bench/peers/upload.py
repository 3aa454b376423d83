"""Uploads files to a container with azure-storage-blob 12.x, as its best users do: several
files at once (a thread pool of FILES_IN_FLIGHT workers, each with its own upload_blob) and
several blocks of each file at once (max_concurrency=CONCURRENCY); prints the seconds it took
(interpreter start-up excluded). The benchmark tries a few settings and keeps the best.

Env: BLOB_ENDPOINT, STORAGE_ACCOUNT, STORAGE_KEY, CONTAINER, FILES_IN_FLIGHT (default 1),
CONCURRENCY (max_concurrency; 0: the SDK's default, 1), BLOCK_MIB (max_block_size in MiB;
0: the SDK's default, 4); the files are the arguments.
"""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from azure.storage.blob import BlobServiceClient


def main():
    block_mib = int(os.environ.get("BLOCK_MIB", "0"))
    sizes = {"max_block_size": block_mib * 1024 * 1024} if block_mib else {}
    svc = BlobServiceClient(
        os.environ["BLOB_ENDPOINT"],
        credential={"account_name": os.environ["STORAGE_ACCOUNT"], "account_key": os.environ["STORAGE_KEY"]},
        **sizes,
    )
    container = svc.get_container_client(os.environ["CONTAINER"])
    container.create_container()
    files_in_flight = int(os.environ.get("FILES_IN_FLIGHT", "1"))
    concurrency = int(os.environ.get("CONCURRENCY", "0"))
    kwargs = {"max_concurrency": concurrency} if concurrency else {}

    def upload(path):
        with open(path, "rb") as f:
            container.upload_blob(os.path.basename(path), f, overwrite=True, **kwargs)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=files_in_flight) as pool:
        for _ in pool.map(upload, sys.argv[1:]):
            pass
    print("seconds %.6f" % (time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
