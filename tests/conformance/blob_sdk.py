"""The blob emulator driven by Microsoft's azure-storage-blob (12.x): containers, single and
multi-block uploads, paged listings, whole and ranged downloads, properties and metadata,
SAS of all three kinds, deletes and the errors the SDK maps to exceptions.

Environment (set by tests/common/mod.rs): BLOB_ENDPOINT, STORAGE_ACCOUNT, STORAGE_KEY.
Prints one line per check and "all checks passed"; exits non-zero on the first failure.
"""

import hashlib
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import (
    AccountSasPermissions,
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    ContentSettings,
    ResourceTypes,
    generate_account_sas,
    generate_blob_sas,
    generate_container_sas,
)
import azure.storage.blob as blob_pkg

ENDPOINT = os.environ["BLOB_ENDPOINT"].rstrip("/")
ACCOUNT = os.environ["STORAGE_ACCOUNT"]
KEY = os.environ["STORAGE_KEY"]

checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1
    print(f"ok   {what}")


def expect(exc_type, fn, what, status=None, code=None):
    try:
        fn()
    except exc_type as e:
        if status is not None and getattr(e, "status_code", None) != status:
            raise AssertionError(f"{what}: status {getattr(e, 'status_code', None)}, expected {status}")
        if code is not None and getattr(e, "error_code", None) != code:
            raise AssertionError(f"{what}: error code {getattr(e, 'error_code', None)}, expected {code}")
        check(True, what)
        return e
    raise AssertionError(f"{what}: no {exc_type.__name__} raised")


def data(n, seed):
    """Deterministic, non-repeating-looking bytes."""
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def main():
    print(f"azure-storage-blob {blob_pkg.__version__} against {ENDPOINT}")
    suffix = uuid.uuid4().hex[:8]
    svc = BlobServiceClient(
        account_url=ENDPOINT,
        credential={"account_name": ACCOUNT, "account_key": KEY},
        max_single_put_size=64 * 1024,
        max_block_size=48 * 1024,
        max_chunk_get_size=40 * 1024,
        max_single_get_size=32 * 1024,
    )

    # Service level.
    info = svc.get_account_information()
    check(info["sku_name"] == "Standard_LRS" and info["account_kind"] == "StorageV2", "account information")
    props = svc.get_service_properties()
    check(props["cors"] == [] and props["delete_retention_policy"].enabled is False, "service properties")

    # Containers.
    names = [f"sdk-{suffix}-{i}" for i in range(3)]
    for n in names:
        svc.create_container(n, metadata={"purpose": "conformance"} if n.endswith("0") else None)
    check(True, "create containers")
    expect(ResourceExistsError, lambda: svc.create_container(names[0]),
           "existing container raises ResourceExistsError", 409, "ContainerAlreadyExists")
    cc = svc.get_container_client(names[0])
    cprops = cc.get_container_properties()
    check(cprops.metadata == {"purpose": "conformance"}, f"container metadata {cprops.metadata}")
    check(cprops.etag and cprops.last_modified is not None, "container etag and last-modified")
    cc.set_container_metadata({"purpose": "changed", "extra": "1"})
    check(cc.get_container_properties().metadata == {"purpose": "changed", "extra": "1"}, "set container metadata")
    listed = [c.name for c in svc.list_containers(name_starts_with=f"sdk-{suffix}-", results_per_page=2)]
    check(listed == names, f"list containers paged by 2: {listed}")
    pages = list(svc.list_containers(name_starts_with=f"sdk-{suffix}-", results_per_page=2).by_page())
    page_sizes = [len(list(p)) for p in pages]
    check(page_sizes == [2, 1], f"container pages {page_sizes}")
    with_md = {c.name: c.metadata for c in svc.list_containers(name_starts_with=f"sdk-{suffix}-", include_metadata=True)}
    check(with_md[names[0]] == {"purpose": "changed", "extra": "1"}, "list containers with metadata")
    expect(ResourceNotFoundError, lambda: svc.get_container_client(f"nope-{suffix}").get_container_properties(),
           "missing container raises ResourceNotFoundError", 404)
    expect(HttpResponseError, lambda: svc.create_container("Bad_Name"), "invalid container name", 400)

    # Uploads: single put, multi-block (parallel), empty, odd names.
    small = data(1000, "small")
    big = data(300 * 1024 + 17, "big")  # > max_single_put_size: Put Block x7 + Put Block List
    bc = cc.get_blob_client("dir/small.txt")
    r = bc.upload_blob(small, metadata={"kind": "small"},
                       content_settings=ContentSettings(content_type="text/plain", cache_control="no-cache"))
    check(r["etag"] and r["last_modified"], "upload small blob")
    expect(ResourceExistsError, lambda: bc.upload_blob(b"again"),
           "upload without overwrite raises ResourceExistsError", 409, "BlobAlreadyExists")
    bb = cc.get_blob_client("dir/sub/big one+plus.bin")
    bb.upload_blob(big, max_concurrency=4)
    committed, uncommitted = bb.get_block_list("all")
    check(len(committed) == 7 and uncommitted == [], f"big blob has 7 committed blocks ({len(committed)})")
    check(sum(b.size for b in committed) == len(big), "block sizes add up")
    cc.get_blob_client("empty").upload_blob(b"")
    for i in range(5):
        cc.get_blob_client(f"page/{i:02d}").upload_blob(data(10 + i, f"p{i}"))

    # Downloads.
    check(bc.download_blob().readall() == small, "download small blob byte for byte")
    check(bb.download_blob(max_concurrency=4).readall() == big, "download big blob in parallel chunks byte for byte")
    check(bb.download_blob(offset=1000, length=70000).readall() == big[1000:71000], "ranged download across blocks")
    check(bb.download_blob(offset=len(big) - 5).readall() == big[-5:], "download of the tail")
    check(cc.get_blob_client("empty").download_blob().readall() == b"", "download empty blob")
    check(bc.download_blob(validate_content=True).readall() == small, "download with MD5 validation")
    check(bb.download_blob(offset=0, length=4096, validate_content=True).readall() == big[:4096],
          "ranged download with x-ms-range-get-content-md5")

    # Properties and metadata.
    p = bc.get_blob_properties()
    check(p.size == len(small), "blob size")
    check(p.content_settings.content_type == "text/plain", "content type")
    check(p.content_settings.cache_control == "no-cache", "cache control")
    check(bytes(p.content_settings.content_md5) == hashlib.md5(small).digest(), "stored MD5 is the content's")
    check(p.metadata == {"kind": "small"}, f"blob metadata {p.metadata}")
    check(p.blob_type == "BlockBlob" and p.lease.status == "unlocked", "blob type and lease status")
    bc.set_blob_metadata({"kind": "changed"})
    check(bc.get_blob_properties().metadata == {"kind": "changed"}, "set blob metadata")
    bc.set_http_headers(ContentSettings(content_type="application/json"))
    check(bc.get_blob_properties().content_settings.content_type == "application/json", "set http headers")
    etag = bc.get_blob_properties().etag
    expect(HttpResponseError, lambda: bc.upload_blob(b"x", overwrite=True, etag='"0x1"',
                                                     match_condition=__import__("azure.core").core.MatchConditions.IfNotModified),
           "overwrite with a stale ETag fails", 412)
    check(bc.get_blob_properties().etag == etag, "failed conditional write changed nothing")

    # Listings.
    names_all = [b.name for b in cc.list_blobs()]
    check(names_all == sorted(names_all) and len(names_all) == 8, f"list blobs sorted: {names_all}")
    paged = list(cc.list_blobs(name_starts_with="page/", results_per_page=2).by_page())
    check([len(list(p)) for p in paged] == [2, 2, 1], "list blobs paged by 2")
    # The SDK yields a page's prefixes before its blobs.
    walk = [b.name for b in cc.walk_blobs(delimiter="/")]
    check(walk == ["dir/", "page/", "empty"], f"walk blobs with delimiter: {walk}")
    sub = [b.name for b in cc.walk_blobs(name_starts_with="dir/", delimiter="/")]
    check(sub == ["dir/sub/", "dir/small.txt"], f"walk blobs under dir/: {sub}")
    md_list = {b.name: b.metadata for b in cc.list_blobs(name_starts_with="dir/", include=["metadata"])}
    check(md_list["dir/small.txt"] == {"kind": "changed"}, "list blobs with metadata")
    listed_big = next(b for b in cc.list_blobs(name_starts_with="dir/sub/"))
    check(listed_big.size == len(big) and listed_big.blob_type == "BlockBlob", "listed blob properties")
    # XML escaping: a name, a prefix and a metadata value holding & < > " ' come back intact.
    odd = "odd/a&b<c>\"d'e & f.txt"
    note = "x&y<z>\"q'r"
    oc = svc.get_container_client(names[2])
    oc.get_blob_client(odd).upload_blob(b"odd", metadata={"note": note})
    listed = list(oc.list_blobs(name_starts_with="odd/a&b<", include=["metadata"]))
    check([b.name for b in listed] == [odd], f"odd name listed intact: {[b.name for b in listed]}")
    check(listed[0].metadata == {"note": note}, f"odd metadata listed intact: {listed[0].metadata}")
    check([p.name for p in oc.walk_blobs(name_starts_with="odd/a&", delimiter="<")] == ["odd/a&b<"],
          "odd prefix listed intact")
    check(oc.get_blob_client(odd).download_blob().readall() == b"odd", "odd name downloads")
    oc.get_blob_client(odd).delete_blob()

    # SAS: blob, container and account.
    now = datetime.now(timezone.utc)
    later = now + timedelta(hours=1)
    ro = generate_blob_sas(ACCOUNT, names[0], "dir/small.txt", account_key=KEY,
                           permission=BlobSasPermissions(read=True), expiry=later, start=now - timedelta(minutes=5))
    ro_client = BlobClient.from_blob_url(f"{ENDPOINT}/{names[0]}/dir/small.txt", credential=ro)
    check(ro_client.download_blob().readall() == small, "read-only blob SAS reads")
    expect(HttpResponseError, lambda: ro_client.upload_blob(b"nope", overwrite=True),
           "read-only blob SAS cannot write", 403, "AuthorizationPermissionMismatch")
    csas = generate_container_sas(ACCOUNT, names[1], account_key=KEY,
                                  permission=ContainerSasPermissions(read=True, write=True, create=True, list=True, delete=True),
                                  expiry=later)
    c1 = ContainerClient.from_container_url(f"{ENDPOINT}/{names[1]}", credential=csas)
    c1.upload_blob("via-sas.bin", big[:100000], max_concurrency=2)
    check([b.name for b in c1.list_blobs()] == ["via-sas.bin"], "container SAS uploads and lists")
    check(c1.download_blob("via-sas.bin").readall() == big[:100000], "container SAS downloads")
    other = ContainerClient.from_container_url(f"{ENDPOINT}/{names[2]}", credential=csas)
    expect(HttpResponseError, lambda: list(other.list_blobs()),
           "container SAS on another container is refused", 403, "AuthenticationFailed")
    c1.delete_blob("via-sas.bin")
    check([b.name for b in c1.list_blobs()] == [], "container SAS deletes")
    expired = generate_container_sas(ACCOUNT, names[1], account_key=KEY,
                                     permission=ContainerSasPermissions(list=True), expiry=now - timedelta(minutes=1))
    expect(HttpResponseError,
           lambda: list(ContainerClient.from_container_url(f"{ENDPOINT}/{names[1]}", credential=expired).list_blobs()),
           "expired SAS is refused", 403, "AuthenticationFailed")
    asas = generate_account_sas(ACCOUNT, KEY, resource_types=ResourceTypes(service=True, container=True, object=True),
                                permission=AccountSasPermissions(read=True, list=True), expiry=later)
    asvc = BlobServiceClient(account_url=ENDPOINT, credential=asas)
    check(f"sdk-{suffix}-0" in [c.name for c in asvc.list_containers(name_starts_with=f"sdk-{suffix}")],
          "account SAS lists containers")
    check(asvc.get_blob_client(names[0], "dir/small.txt").download_blob().readall() == small, "account SAS reads")
    expect(HttpResponseError, lambda: asvc.get_blob_client(names[0], "x").upload_blob(b"x"),
           "read/list account SAS cannot write", 403, "AuthorizationPermissionMismatch")
    obj_only = generate_account_sas(ACCOUNT, KEY, resource_types=ResourceTypes(object=True),
                                    permission=AccountSasPermissions(read=True, list=True), expiry=later)
    expect(HttpResponseError,
           lambda: list(BlobServiceClient(account_url=ENDPOINT, credential=obj_only).list_containers()),
           "object-only account SAS cannot list containers", 403, "AuthorizationResourceTypeMismatch")

    # Errors and deletes.
    expect(ResourceNotFoundError, lambda: cc.get_blob_client("missing").download_blob(),
           "missing blob raises ResourceNotFoundError", 404, "BlobNotFound")
    expect(ResourceNotFoundError, lambda: cc.get_blob_client("missing").get_blob_properties(),
           "missing blob properties raise ResourceNotFoundError", 404)
    bc.delete_blob()
    expect(ResourceNotFoundError, lambda: bc.get_blob_properties(), "deleted blob is gone", 404)
    expect(ResourceNotFoundError, lambda: bc.delete_blob(), "deleting twice raises ResourceNotFoundError", 404)
    bad_key = BlobServiceClient(account_url=ENDPOINT,
                                credential={"account_name": ACCOUNT, "account_key": "d3Jvbmcga2V5IHdyb25nIGtleQ=="})
    expect(HttpResponseError, lambda: bad_key.get_container_client(names[0]).get_container_properties(),
           "wrong key is refused", 403, "AuthenticationFailed")
    for n in names:
        svc.delete_container(n)
    check(not [c for c in svc.list_containers(name_starts_with=f"sdk-{suffix}-")], "delete containers")
    expect(ResourceNotFoundError, lambda: svc.delete_container(names[0]),
           "deleting a deleted container raises ResourceNotFoundError", 404, "ContainerNotFound")

    print(f"all checks passed ({checks} checks)")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report any failure plainly
        print(f"FAIL {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
