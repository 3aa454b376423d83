"""Drives the emulator with the Azure CLI 2.91 (`az batch`, `az storage`), as users run it.

Env: AZ (the az executable), BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY, BLOB_ENDPOINT,
STORAGE_ACCOUNT, STORAGE_KEY, WORK (a scratch directory). Exits non-zero on any failure.
Every command is run as a subprocess with `-o json`; integers and booleans from flags reach the
emulator as JSON strings, as the CLI sends them.
"""
import json
import os
import subprocess
import sys

from sdkcheck import check, main as run, wait_for

AZ = os.environ["AZ"]
WORK = os.environ["WORK"]
BATCH = [
    "--account-endpoint", os.environ["BATCH_ENDPOINT"],
    "--account-name", os.environ["BATCH_ACCOUNT"],
    "--account-key", os.environ["BATCH_KEY"],
]
CONN = (
    "DefaultEndpointsProtocol=http;AccountName={a};AccountKey={k};BlobEndpoint={b};".format(
        a=os.environ["STORAGE_ACCOUNT"], k=os.environ["STORAGE_KEY"], b=os.environ["BLOB_ENDPOINT"]
    )
)
ENV = dict(
    os.environ,
    AZURE_CONFIG_DIR=os.path.join(WORK, "azure-config"),
    AZURE_CORE_COLLECT_TELEMETRY="false",
    AZURE_CORE_NO_COLOR="true",
)
COMMANDS = []


def az(*args, fail=None):
    """Runs `az ARGS -o json`; returns the parsed output. With `fail`, the command must fail
    and its error output contain that text."""
    cmd = [AZ, *args, "-o", "json"]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    COMMANDS.append(" ".join(a for a in args[:3] if not a.startswith("-")))
    # Keys stay out of the output, even the well-known ones.
    secret = {"--account-key", "--connection-string"}
    shown = " ".join("***" if i and args[i - 1] in secret else a for i, a in enumerate(args))
    if fail is not None:
        if r.returncode == 0:
            raise AssertionError(f"az {shown} succeeded; expected it to fail with {fail}")
        if fail not in r.stderr:
            raise AssertionError(f"az {shown}: expected {fail!r} in: {r.stderr}")
        print("ok: az", shown, "fails with", fail)
        return None
    if r.returncode != 0:
        raise AssertionError(f"az {shown} failed ({r.returncode}): {r.stderr}\n{r.stdout}")
    print("ok: az", shown)
    return json.loads(r.stdout) if r.stdout.strip() else None


def batch():
    b = BATCH
    az("batch", "pool", "create", "--id", "clipool", "--vm-size", "standard_d1_v2",
       "--target-dedicated-nodes", "1", "--task-slots-per-node", "2",
       "--image", "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
       "--node-agent-sku-id", "batch.node.ubuntu 22.04",
       "--start-task-command-line", "/bin/sh -c 'echo started'",
       "--start-task-wait-for-success", *b)
    pool = az("batch", "pool", "show", "--pool-id", "clipool", *b)
    check(pool["targetDedicatedNodes"] == 1 and pool["taskSlotsPerNode"] == 2, "pool flags as numbers")
    check(any(p["id"] == "clipool" for p in az("batch", "pool", "list", *b)), "pool list")
    az("batch", "pool", "create", "--id", "clipool", "--vm-size", "x", *b, fail="PoolExists")
    nodes = wait_for("an idle node", lambda: [
        n for n in az("batch", "node", "list", "--pool-id", "clipool", *b) if n["state"] == "idle"])
    node = nodes[0]["id"]
    check(az("batch", "node", "show", "--pool-id", "clipool", "--node-id", node, *b)["id"] == node, "node show")
    counts = az("batch", "pool", "node-counts", "list", *b)
    check(any(c["poolId"] == "clipool" and c["dedicated"]["idle"] == 1 for c in counts), "pool node-counts list")
    images = az("batch", "pool", "supported-images", "list", *b)
    check(len(images) > 0 and all("nodeAgentSkuId" in i or "nodeAgentSKUId" in i for i in images), "supported-images list")
    az("batch", "pool", "set", "--pool-id", "clipool", "--metadata", "team=tests", *b)
    pool = az("batch", "pool", "show", "--pool-id", "clipool", *b)
    check(pool["metadata"] == [{"name": "team", "value": "tests"}], "pool set (PATCH)")
    az("batch", "pool", "reset", "--pool-id", "clipool", "--start-task-command-line", "/bin/true", *b)
    pool = az("batch", "pool", "show", "--pool-id", "clipool", *b)
    check(pool["startTask"]["commandLine"] == "/bin/true" and not pool.get("metadata"), "pool reset (update properties)")
    az("batch", "pool", "resize", "--pool-id", "clipool", "--target-dedicated-nodes", "3", *b)
    check(az("batch", "pool", "show", "--pool-id", "clipool", *b)["targetDedicatedNodes"] == 3, "pool resize")
    az("batch", "pool", "resize", "--pool-id", "clipool", "--abort", *b)
    wait_for("resize stopped", lambda: az("batch", "pool", "show", "--pool-id", "clipool", *b)["allocationState"] == "steady")
    az("batch", "pool", "resize", "--pool-id", "clipool", "--target-dedicated-nodes", "2", *b)
    two = wait_for("two idle nodes", lambda: (lambda ns: ns if len(ns) == 2 and all(n["state"] == "idle" for n in ns) else None)(
        az("batch", "node", "list", "--pool-id", "clipool", *b)))
    # Either may be the first node: if the aborted resize had reached three nodes, the shrink
    # to two may have taken it.
    node, gone = two[0]["id"], two[1]["id"]
    az("batch", "node", "delete", "--pool-id", "clipool", "--node-list", gone, *b)
    wait_for("node removed", lambda: [n["id"] for n in az("batch", "node", "list", "--pool-id", "clipool", *b)] == [node])

    az("batch", "job", "create", "--id", "clijob", "--pool-id", "clipool", "--priority", "3",
       "--job-max-task-retry-count", "2", "--max-parallel-tasks", "4", "--uses-task-dependencies", *b)
    job = az("batch", "job", "show", "--job-id", "clijob", *b)
    check(job["priority"] == 3 and job["constraints"]["maxTaskRetryCount"] == 2
          and job["maxParallelTasks"] == 4 and job["usesTaskDependencies"] is True, "job create --priority ...")
    az("batch", "job", "set", "--job-id", "clijob", "--priority", "5", *b)
    check(az("batch", "job", "show", "--job-id", "clijob", *b)["priority"] == 5, "job set --priority (PATCH)")
    az("batch", "job", "reset", "--job-id", "clijob", "--pool-id", "clipool", *b)
    job = az("batch", "job", "show", "--job-id", "clijob", *b)
    check(job["priority"] == 0 and job["constraints"]["maxTaskRetryCount"] == 0, "job reset (PUT) resets")
    check(any(j["id"] == "clijob" for j in az("batch", "job", "list", *b)), "job list")
    az("batch", "job", "disable", "--job-id", "clijob", "--disable-tasks", "requeue", *b)
    wait_for("job disabled", lambda: az("batch", "job", "show", "--job-id", "clijob", *b)["state"] == "disabled")
    az("batch", "job", "enable", "--job-id", "clijob", *b)
    wait_for("job active", lambda: az("batch", "job", "show", "--job-id", "clijob", *b)["state"] == "active")

    az("batch", "task", "create", "--job-id", "clijob", "--task-id", "first",
       "--command-line", "/bin/sh -c 'sleep 1; echo one > out.txt; echo first'",
       "--max-task-retry-count", "1", "--retention-time", "PT02H00M00S", *b)
    spec = os.path.join(WORK, "second.json")
    with open(spec, "w") as f:
        json.dump({"id": "second", "commandLine": "/bin/sh -c 'echo second'",
                   "dependsOn": {"taskIds": ["first"]}}, f)
    az("batch", "task", "create", "--job-id", "clijob", "--json-file", spec, *b)
    t = az("batch", "task", "show", "--job-id", "clijob", "--task-id", "first", *b)
    check(t["constraints"]["maxTaskRetryCount"] == 1 and t["constraints"]["retentionTime"] == "PT2H",
          "task create --max-task-retry-count, canonical duration")
    wait_for("both tasks completed", lambda: all(
        x["state"] == "completed" for x in az("batch", "task", "list", "--job-id", "clijob", *b)))
    second = az("batch", "task", "show", "--job-id", "clijob", "--task-id", "second", *b)
    first = az("batch", "task", "show", "--job-id", "clijob", "--task-id", "first", *b)
    check(second["executionInfo"]["startTime"] >= first["executionInfo"]["endTime"], "task dependencies (depends-on)")
    counts = az("batch", "job", "task-counts", "show", "--job-id", "clijob", *b)
    check(counts["taskCounts"]["completed"] == 2 and counts["taskCounts"]["succeeded"] == 2, "job task-counts show")
    az("batch", "task", "reset", "--job-id", "clijob", "--task-id", "first", "--max-wall-clock-time", "PT30M", *b)
    t = az("batch", "task", "show", "--job-id", "clijob", "--task-id", "first", *b)
    check(t["constraints"]["maxWallClockTime"] == "PT30M", "task reset (PUT)")
    files = [f["name"] for f in az("batch", "task", "file", "list", "--job-id", "clijob", "--task-id", "first", "--recursive", *b)]
    check("stdout.txt" in files and "wd/out.txt" in files, "task file list --recursive")
    dest = os.path.join(WORK, "first-stdout.txt")
    az("batch", "task", "file", "download", "--job-id", "clijob", "--task-id", "first",
       "--file-path", "stdout.txt", "--destination", dest, *b)
    check(open(dest).read() == "first\n", "task file download")
    # `az batch task file show` and `node file show` of a file that exists fail in the CLI
    # itself (its output transformer calls .items() on the HTTP response), against Azure too.
    az("batch", "task", "file", "delete", "--job-id", "clijob", "--task-id", "first", "--file-path", "wd/out.txt", "--yes", *b)
    files = [f["name"] for f in az("batch", "task", "file", "list", "--job-id", "clijob", "--task-id", "first", "--recursive", *b)]
    check("wd/out.txt" not in files, "task file delete")
    nfiles = [f["name"] for f in az("batch", "node", "file", "list", "--pool-id", "clipool", "--node-id", node, "--recursive", *b)]
    check("startup/stdout.txt" in nfiles, "node file list")
    dest = os.path.join(WORK, "startup-stdout.txt")
    az("batch", "node", "file", "download", "--pool-id", "clipool", "--node-id", node,
       "--file-path", "startup/stdout.txt", "--destination", dest, *b)
    az("batch", "node", "file", "delete", "--pool-id", "clipool", "--node-id", node, "--file-path", "startup/stdout.txt", "--yes", *b)
    # A HEAD answer has no body: the CLI reports the status.
    az("batch", "node", "file", "show", "--pool-id", "clipool", "--node-id", node, "--file-path", "startup/stdout.txt", *b,
       fail="Not Found")

    az("batch", "task", "create", "--job-id", "clijob", "--task-id", "failing", "--command-line", "/bin/sh -c 'exit 3'", *b)
    wait_for("failed", lambda: az("batch", "task", "show", "--job-id", "clijob", "--task-id", "failing", *b)["state"] == "completed")
    az("batch", "task", "reactivate", "--job-id", "clijob", "--task-id", "failing", *b)
    az("batch", "task", "create", "--job-id", "clijob", "--task-id", "long", "--command-line", "/bin/sleep 60", *b)
    wait_for("running", lambda: az("batch", "task", "show", "--job-id", "clijob", "--task-id", "long", *b)["state"] == "running")
    az("batch", "task", "stop", "--job-id", "clijob", "--task-id", "long", *b)
    t = az("batch", "task", "show", "--job-id", "clijob", "--task-id", "long", *b)
    check(t["state"] == "completed" and t["executionInfo"]["failureInfo"]["code"] == "TaskEnded", "task stop")
    az("batch", "task", "delete", "--job-id", "clijob", "--task-id", "long", "--yes", *b)
    az("batch", "task", "show", "--job-id", "clijob", "--task-id", "long", *b, fail="TaskNotFound")
    az("batch", "node", "reboot", "--pool-id", "clipool", "--node-id", node, *b)
    az("batch", "job", "stop", "--job-id", "clijob", *b)
    wait_for("job completed", lambda: az("batch", "job", "show", "--job-id", "clijob", *b)["state"] == "completed")
    az("batch", "job", "delete", "--job-id", "clijob", "--yes", *b)
    az("batch", "pool", "delete", "--pool-id", "clipool", "--yes", *b)
    wait_for("pool gone", lambda: not any(p["id"] == "clipool" for p in az("batch", "pool", "list", *b)))


def storage():
    c = ["--connection-string", CONN]
    az("storage", "container", "create", "--name", "clidata", *c)
    check(any(x["name"] == "clidata" for x in az("storage", "container", "list", *c)), "container list")
    check(az("storage", "container", "exists", "--name", "clidata", *c)["exists"], "container exists")
    az("storage", "container", "show", "--name", "clidata", *c)
    az("storage", "container", "metadata", "update", "--name", "clidata", "--metadata", "k=v", *c)
    src = os.path.join(WORK, "up")
    os.makedirs(os.path.join(src, "sub"), exist_ok=True)
    for name, body in [("a.txt", "alpha\n"), ("sub/b.txt", "beta\n" * 1000)]:
        with open(os.path.join(src, name), "w") as f:
            f.write(body)
    big = os.path.join(WORK, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(9 * 1024 * 1024))
    az("storage", "blob", "upload", "--container-name", "clidata", "--name", "big.bin", "--file", big,
       "--max-connections", "4", *c)
    az("storage", "blob", "upload-batch", "--destination", "clidata", "--source", src, "--destination-path", "tree", *c)
    names = sorted(b["name"] for b in az("storage", "blob", "list", "--container-name", "clidata", *c))
    check(names == ["big.bin", "tree/a.txt", "tree/sub/b.txt"], "upload, upload-batch, list: %s" % names)
    props = az("storage", "blob", "show", "--container-name", "clidata", "--name", "big.bin", *c)
    check(props["properties"]["contentLength"] == 9 * 1024 * 1024, "blob show")
    out = os.path.join(WORK, "down")
    os.makedirs(out, exist_ok=True)
    az("storage", "blob", "download-batch", "--source", "clidata", "--destination", out, "--pattern", "tree/*", *c)
    check(open(os.path.join(out, "tree", "sub", "b.txt")).read() == "beta\n" * 1000, "download-batch")
    got = os.path.join(WORK, "big.down")
    az("storage", "blob", "download", "--container-name", "clidata", "--name", "big.bin", "--file", got, *c)
    check(open(got, "rb").read() == open(big, "rb").read(), "blob download")
    check(az("storage", "blob", "exists", "--container-name", "clidata", "--name", "tree/a.txt", *c)["exists"], "blob exists")
    az("storage", "blob", "metadata", "update", "--container-name", "clidata", "--name", "tree/a.txt", "--metadata", "x=y", *c)
    az("storage", "blob", "delete", "--container-name", "clidata", "--name", "tree/a.txt", *c)
    az("storage", "blob", "delete-batch", "--source", "clidata", "--pattern", "tree/*", *c)
    check([b["name"] for b in az("storage", "blob", "list", "--container-name", "clidata", *c)] == ["big.bin"], "delete, delete-batch")
    az("storage", "container", "delete", "--name", "clidata", *c)


def main():
    which = sys.argv[1:] or ["batch", "storage"]
    if "batch" in which:
        batch()
    if "storage" in which:
        storage()
    print("commands:", len(COMMANDS))


if __name__ == "__main__":
    run("azure_cli", main)
