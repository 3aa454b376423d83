"""Drives the emulator's Batch service with Microsoft's azure-batch 15.x (TypeSpec client).

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY. Resource files are served, and output files
received, by a small HTTP server in this script (a container URL that accepts Put Blob), so the
node agent's downloads and uploads are checked end to end. Exits non-zero on any failure.
"""
import http.server
import sys
import threading

from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

import sdkcheck
from sdkcheck import check, wait_for

UPLOADS = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.startswith("/res/hello.txt"):
            body = b"hello from a resource file\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        UPLOADS[self.path.split("?")[0]] = (data, self.headers.get("x-ms-blob-type"), self.path)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    files_url = "http://127.0.0.1:%d" % srv.server_address[1]

    client = sdkcheck.client()
    pool_id, job_id = "sdk15pool", "sdk15job"

    # Pool with a start task that fetches a resource file into the shared directory.
    start = m.BatchStartTask(
        command_line="/bin/sh -c 'cp hello.txt $AZ_BATCH_NODE_SHARED_DIR/ && echo started'",
        resource_files=[m.ResourceFile(http_url=files_url + "/res/hello.txt", file_path="hello.txt")],
        environment_settings=[m.EnvironmentSetting(name="GREETING", value="hi")],
        user_identity=m.UserIdentity(auto_user=m.AutoUserSpecification(scope="pool", elevation_level="admin")),
        wait_for_success=True,
        max_task_retry_count=1,
    )
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="STANDARD_D1_V2",
            virtual_machine_configuration=m.VirtualMachineConfiguration(
                image_reference=m.BatchVmImageReference(
                    publisher="canonical", offer="0001-com-ubuntu-server-focal", sku="20_04-lts"
                ),
                node_agent_sku_id="batch.node.ubuntu 20.04",
            ),
            target_dedicated_nodes=2,
            task_slots_per_node=2,
            start_task=start,
        )
    )
    check(client.pool_exists(pool_id), "pool exists")
    try:
        client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="STANDARD_D1_V2"))
        raise AssertionError("duplicate pool accepted")
    except HttpResponseError as e:
        check(e.status_code == 409 and e.error.code == "PoolExists", "PoolExists 409")

    pool = client.get_pool(pool_id)
    check(pool.vm_size == "STANDARD_D1_V2" and pool.task_slots_per_node == 2, "pool get")
    check(pool.virtual_machine_configuration.node_agent_sku_id == "batch.node.ubuntu 20.04", "vm config recorded")
    wait_for("pool steady", lambda: client.get_pool(pool_id).allocation_state == "steady")
    nodes = wait_for(
        "nodes idle",
        lambda: (lambda ns: ns if len(ns) == 2 and all(n.state == "idle" for n in ns) else None)(
            list(client.list_nodes(pool_id))
        ),
    )
    for n in nodes:
        check(n.start_task_info.state == "completed" and n.start_task_info.exit_code == 0, "start task ok on " + n.id)
        data = b"".join(client.download_node_file(pool_id, n.id, "shared/hello.txt"))
        check(data == b"hello from a resource file\n", "resource file landed in shared dir")
        out = b"".join(client.download_node_file(pool_id, n.id, "startup/stdout.txt"))
        check(out == b"started\n", "start task stdout")
    node_files = [f.name for f in client.list_node_files(pool_id, nodes[0].id, recursive=True)]
    check("startup/stdout.txt" in node_files and "shared/hello.txt" in node_files, "node file list")
    check(client.get_node(pool_id, nodes[0].id).id == nodes[0].id, "node get")

    # Job and tasks.
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), all_tasks_complete_mode="noaction")
    )
    try:
        client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
        raise AssertionError("duplicate job accepted")
    except HttpResponseError as e:
        check(e.status_code == 409 and e.error.code == "JobExists", "JobExists 409")
    check(client.get_job(job_id).state == "active", "job active")

    container = files_url + "/out?sv=2023-11-03&sr=c&sp=cw&sig=FAKE"
    tasks = []
    for i in range(130):
        tasks.append(
            m.BatchTaskCreateOptions(
                id="task%03d" % i,
                command_line="/bin/sh -c 'echo $AZ_BATCH_TASK_ID; cat $AZ_BATCH_NODE_SHARED_DIR/hello.txt > out.txt'",
                output_files=[
                    m.OutputFile(
                        file_pattern="out.txt" if i < 3 else "../stdout.txt",
                        destination=m.OutputFileDestination(
                            container=m.OutputFileBlobContainerDestination(
                                container_url=container, path="task%03d/result.txt" % i
                            )
                        ),
                        upload_options=m.OutputFileUploadConfiguration(upload_condition="tasksuccess"),
                    )
                ]
                if i < 5
                else None,
            )
        )
    result = client.create_tasks(job_id, tasks)
    check(len(result.result_values) == 130 and all(str(r.status).lower() == "success" for r in result.result_values),
          "create_tasks: 130 tasks in two addtaskcollection calls")
    client.create_task(job_id, m.BatchTaskCreateOptions(id="literal", command_line="echo $AZ_BATCH_TASK_ID"))
    client.create_task(job_id, m.BatchTaskCreateOptions(id="fails", command_line="/bin/sh -c 'exit 3'"))
    try:
        client.create_task(job_id, m.BatchTaskCreateOptions(id="literal", command_line="true"))
        raise AssertionError("duplicate task accepted")
    except HttpResponseError as e:
        check(e.status_code == 409 and e.error.code == "TaskExists", "TaskExists 409")

    wait_for(
        "all tasks completed",
        lambda: client.get_job_task_counts(job_id).task_counts.completed == 132,
        timeout=120,
    )
    counts = client.get_job_task_counts(job_id)
    check(counts.task_counts.succeeded == 131 and counts.task_counts.failed == 1, "task counts")
    check(counts.task_slot_counts.completed == 132, "task slot counts")

    done = list(client.list_tasks(job_id, filter="state eq 'completed'", select=["id", "state"], max_results=50))
    check(len(done) == 132, "list tasks with filter, select and paging (%d)" % len(done))
    check(done[0].command_line is None, "$select drops other properties")

    t = client.get_task(job_id, "task007")
    check(t.execution_info.exit_code == 0 and t.execution_info.result == "success", "task success info")
    check(t.node_info.pool_id == pool_id and t.node_info.node_id in [n.id for n in nodes], "node info")
    out = b"".join(client.download_task_file(job_id, "task007", "stdout.txt"))
    check(out == b"task007\n", "shell expands AZ_BATCH_TASK_ID")
    part = b"".join(client.download_task_file(job_id, "task007", "stdout.txt", ocp_range="bytes=0-3"))
    check(part == b"task", "ranged download")
    props = client.get_task_file_properties(job_id, "task007", "stdout.txt")
    check(props is not None, "file properties")
    lit = b"".join(client.download_task_file(job_id, "literal", "stdout.txt"))
    check(lit == b"$AZ_BATCH_TASK_ID\n", "no shell, no expansion")
    names = [f.name for f in client.list_task_files(job_id, "task001", recursive=True)]
    check("stdout.txt" in names and "wd/out.txt" in names, "task file list")
    wd_file = b"".join(client.download_task_file(job_id, "task001", "wd/out.txt"))
    check(wd_file == b"hello from a resource file\n", "working directory file")
    failed = client.get_task(job_id, "fails")
    check(failed.execution_info.exit_code == 3 and failed.execution_info.result == "failure", "failure exit code")
    check(failed.execution_info.failure_info.code == "FailureExitCode", "failure info")

    check(UPLOADS.get("/out/task001/result.txt", (None,))[0] == b"hello from a resource file\n", "output file uploaded")
    check(UPLOADS["/out/task001/result.txt"][1] == "BlockBlob", "uploaded as block blob")
    check(UPLOADS.get("/out/task004/result.txt", (None,))[0] == b"task004\n", "stdout uploaded via ../ pattern")
    check("/out/task005/result.txt" not in UPLOADS, "tasks without output files upload nothing")

    try:
        client.get_task(job_id, "nope")
        raise AssertionError("missing task found")
    except ResourceNotFoundError as e:
        check(e.error.code == "TaskNotFound", "TaskNotFound 404")

    # Resize, then clean up: delete job and pool, polling until gone.
    client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=1), polling_interval=1).result()
    wait_for("one node", lambda: len(list(client.list_nodes(pool_id))) == 1)
    client.begin_delete_job(job_id, polling_interval=1).result()
    try:
        client.get_job(job_id)
        raise AssertionError("job still there")
    except ResourceNotFoundError:
        print("ok: job deleted")
    client.begin_delete_pool(pool_id, polling_interval=1).result()
    try:
        gone = not client.pool_exists(pool_id)
    except ResourceNotFoundError:  # azure-batch 15 raises on the 404 of HEAD
        gone = True
    check(gone, "pool deleted")
    print("batch_sdk15: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        print("FAILED:", e)
        sys.exit(1)
