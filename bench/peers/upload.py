"""Uploads files to a container with azure-storage-blob 12.x (upload_blob, the SDK's defaults
unless CONCURRENCY is set) and prints the seconds it took (start-up excluded).

Env: BLOB_ENDPOINT, STORAGE_ACCOUNT, STORAGE_KEY, CONTAINER, CONCURRENCY (0: the SDK's
default); the files are the arguments.
"""
import os
import sys
import time

from azure.storage.blob import BlobServiceClient


def main():
    svc = BlobServiceClient(
        os.environ["BLOB_ENDPOINT"],
        credential={"account_name": os.environ["STORAGE_ACCOUNT"], "account_key": os.environ["STORAGE_KEY"]},
    )
    container = svc.get_container_client(os.environ["CONTAINER"])
    container.create_container()
    concurrency = int(os.environ.get("CONCURRENCY", "0"))
    kwargs = {"max_concurrency": concurrency} if concurrency else {}
    start = time.perf_counter()
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            container.upload_blob(os.path.basename(path), f, overwrite=True, **kwargs)
    print("seconds %.6f" % (time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
