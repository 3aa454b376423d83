"""Drives the emulator with Microsoft Entra ID through Microsoft's Python SDKs: azure-identity's
ClientSecretCredential and CertificateCredential against the emulator's authority, azure-batch
15 and azure-storage-blob over HTTPS with its tokens, and user delegation SAS made by
azure-storage-blob for a task's resource file and output file. The emulator runs with
--disable-shared-key.

Env: AUTHORITY_HOST, TENANT_ID, CLIENT_ID, CLIENT_SECRET, CLIENT_CERTIFICATE_PATH,
READER_CLIENT_ID, READER_CLIENT_SECRET, CA_CERT, BATCH_ENDPOINT, BLOB_ENDPOINT, STORAGE_ACCOUNT.
Exits non-zero on any failure.
"""
import datetime
import os
import time

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import CertificateCredential, ClientSecretCredential
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from sdkcheck import check, main, wait_for


def https(url):
    return url.replace("http://", "https://", 1)


def run():
    env = os.environ
    ca = env["CA_CERT"]
    account = env["STORAGE_ACCOUNT"]

    def credential(client_id, secret, tenant=env["TENANT_ID"]):
        return ClientSecretCredential(
            tenant,
            client_id,
            secret,
            authority=env["AUTHORITY_HOST"],
            disable_instance_discovery=True,
            connection_verify=ca,
        )

    # The same app with its certificate (the PEM the emulator made for it): MSAL signs the
    # client assertion, the token endpoint checks it against the app's certificate.
    by_cert = CertificateCredential(
        env["TENANT_ID"],
        env["CLIENT_ID"],
        certificate_path=env["CLIENT_CERTIFICATE_PATH"],
        authority=env["AUTHORITY_HOST"],
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    cert_token = by_cert.get_token("https://batch.core.windows.net//.default")
    check(cert_token.token.count(".") == 2, "azure-identity got a token with the app's certificate")

    cred = credential(env["CLIENT_ID"], env["CLIENT_SECRET"])
    token = cred.get_token("https://storage.azure.com/.default")
    check(token.token.count(".") == 2 and token.expires_on > time.time() + 600, "azure-identity got a token")

    blobs = BlobServiceClient(https(env["BLOB_ENDPOINT"]), credential=cred, connection_verify=ca)
    container = blobs.create_container("sdkentra")
    container.upload_blob("in.txt", b"hello through a user delegation SAS\n")
    check(container.get_blob_client("in.txt").download_blob().readall().startswith(b"hello"), "blob round trip with a token")

    now = datetime.datetime.now(datetime.timezone.utc)
    key = blobs.get_user_delegation_key(now - datetime.timedelta(minutes=5), now + datetime.timedelta(hours=2))
    check(key.signed_tid == env["TENANT_ID"] and key.signed_service == "b" and key.value, "user delegation key")

    read_sas = generate_blob_sas(
        account, "sdkentra", "in.txt", user_delegation_key=key,
        permission=BlobSasPermissions(read=True), expiry=now + datetime.timedelta(hours=1),
    )
    write_sas = generate_container_sas(
        account, "sdkentra", user_delegation_key=key,
        permission=ContainerSasPermissions(write=True, create=True), expiry=now + datetime.timedelta(hours=1),
    )
    check("skoid=" in read_sas and "sktid=" in read_sas, "the SDK signed a user delegation SAS")
    # The SAS alone reads the blob (no token on this client).
    via_sas = BlobServiceClient(https(env["BLOB_ENDPOINT"]), credential=read_sas, connection_verify=ca)
    check(via_sas.get_blob_client("sdkentra", "in.txt").download_blob().readall().startswith(b"hello"), "read with the user delegation SAS")
    tampered = read_sas.replace("sp=r", "sp=rw")
    try:
        BlobServiceClient(https(env["BLOB_ENDPOINT"]), credential=tampered, connection_verify=ca).get_blob_client(
            "sdkentra", "in.txt").download_blob().readall()
        raise AssertionError("a tampered user delegation SAS was accepted")
    except HttpResponseError as e:
        check(e.status_code == 403 and e.error_code == "AuthenticationFailed", "tampered SAS refused")

    # A reader may read but not write; its refusal names the permission.
    reader = BlobServiceClient(
        https(env["BLOB_ENDPOINT"]), credential=credential(env["READER_CLIENT_ID"], env["READER_CLIENT_SECRET"]),
        connection_verify=ca,
    )
    check(reader.get_blob_client("sdkentra", "in.txt").download_blob().readall().startswith(b"hello"), "reader reads")
    try:
        reader.create_container("readerwrites")
        raise AssertionError("a reader created a container")
    except HttpResponseError as e:
        check(e.status_code == 403 and e.error_code == "AuthorizationPermissionMismatch", "reader may not write")

    # A wrong secret is refused by the authority, in Entra's words.
    try:
        credential(env["CLIENT_ID"], "wrong").get_token("https://storage.azure.com/.default")
        raise AssertionError("a wrong secret got a token")
    except ClientAuthenticationError as e:
        check("AADSTS7000215" in str(e), "wrong secret: AADSTS7000215")

    # Batch with the same credential: a pool, a job, a task whose resource file and output
    # file go through the user delegation SAS (fetched and written by the node agent).
    batch = BatchClient(https(env["BATCH_ENDPOINT"]), cred, connection_verify=ca)
    pool_id, job_id = "sdkentrapool", "sdkentrajob"
    batch.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="STANDARD_D1_V2",
            virtual_machine_configuration=m.VirtualMachineConfiguration(
                image_reference=m.BatchVmImageReference(
                    publisher="canonical", offer="0001-com-ubuntu-server-focal", sku="20_04-lts"
                ),
                node_agent_sku_id="batch.node.ubuntu 20.04",
            ),
            target_dedicated_nodes=1,
        )
    )
    wait_for("node idle", lambda: [n for n in batch.list_nodes(pool_id) if n.state == "idle"])
    batch.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    in_url = env["BLOB_ENDPOINT"] + "/sdkentra/in.txt?" + read_sas
    out_url = env["BLOB_ENDPOINT"] + "/sdkentra?" + write_sas
    batch.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="t1",
            command_line="/bin/sh -c 'tr a-z A-Z < in.txt > out.txt'",
            resource_files=[m.ResourceFile(http_url=in_url, file_path="in.txt")],
            output_files=[
                m.OutputFile(
                    file_pattern="out.txt",
                    destination=m.OutputFileDestination(
                        container=m.OutputFileBlobContainerDestination(container_url=out_url, path="t1/out.txt")
                    ),
                    upload_options=m.OutputFileUploadConfiguration(upload_condition="tasksuccess"),
                )
            ],
        ),
    )
    wait_for("task completed", lambda: batch.get_task(job_id, "t1").state == "completed")
    t = batch.get_task(job_id, "t1")
    check(t.execution_info.exit_code == 0, "task succeeded (exit %s)" % t.execution_info.exit_code)
    wait_for("output uploaded", lambda: container.get_blob_client("t1/out.txt").exists())
    check(container.get_blob_client("t1/out.txt").download_blob().readall() == b"HELLO THROUGH A USER DELEGATION SAS\n",
          "the node wrote its output through the user delegation SAS")
    batch.begin_delete_job(job_id, polling_interval=1).result()
    batch.begin_delete_pool(pool_id, polling_interval=1).result()
    blobs.delete_container("sdkentra")


if __name__ == "__main__":
    main("entra conformance", run)
