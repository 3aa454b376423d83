"""Multi-instance tasks through azure-batch 15.x: three instances on three distinct nodes, the
common resource files and the coordination command on each, the command line on the primary
once every coordination command has ended (what they started in the background lives on),
list subtasks, a failing subtask failing the task, a task waiting for enough nodes, the
settings the service refuses, and the job's preparation task run on every node an instance
takes before the instance runs (its coordination command and command line read its marker).

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY. Exits non-zero on any failure.
"""
import http.server
import threading
import time

from azure.batch import models as m

from sdkcheck import check, client as new_client, expect_error, main, wait_for


class Files(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        body = b"common to every instance\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def read(client, pool, node, path):
    return b"".join(client.download_node_file(pool, node, path)).decode()


def run():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    common = "http://127.0.0.1:%d/common.txt" % srv.server_address[1]
    client = new_client()
    client.create_pool(m.BatchPoolCreateOptions(
        id="mpipool", vm_size="standard_d2_v3", target_dedicated_nodes=3, task_slots_per_node=1,
        enable_inter_node_communication=True,
        virtual_machine_configuration=m.VirtualMachineConfiguration(
            image_reference=m.BatchVmImageReference(publisher="canonical", offer="ubuntu", sku="22_04-lts"),
            node_agent_sku_id="batch.node.ubuntu 22.04")))
    wait_for("three idle nodes", lambda: (lambda ns: len(ns) == 3 and all(n.state == "idle" for n in ns))(list(client.list_nodes("mpipool"))))
    client.create_job(m.BatchJobCreateOptions(id="mpijob", pool_info=m.BatchPoolInfo(pool_id="mpipool")))

    coordination = ("/bin/sh -c 'echo coord $AZ_BATCH_IS_CURRENT_NODE_MASTER > $AZ_BATCH_TASK_SHARED_DIR/coord.txt; "
                    "(sleep 1; echo alive > $AZ_BATCH_TASK_SHARED_DIR/bg.txt) &'")
    command = ("/bin/sh -c 'sleep 2; cat $AZ_BATCH_TASK_SHARED_DIR/bg.txt $AZ_BATCH_TASK_SHARED_DIR/common.txt; "
               "echo hosts=$AZ_BATCH_HOST_LIST master=$AZ_BATCH_MASTER_NODE'")
    client.create_task("mpijob", m.BatchTaskCreateOptions(
        id="mpi", command_line=command,
        multi_instance_settings=m.MultiInstanceSettings(
            number_of_instances=3, coordination_command_line=coordination,
            common_resource_files=[m.ResourceFile(http_url=common, file_path="common.txt")])))
    t = wait_for("the multi-instance task", lambda: (lambda t: t if t.state == "completed" else None)(client.get_task("mpijob", "mpi")), timeout=60)
    check(t.execution_info.result == "success" and t.execution_info.exit_code == 0, "multi-instance task succeeded")
    check(t.multi_instance_settings.number_of_instances == 3, "settings kept")
    primary = t.node_info.node_id
    subs = list(client.list_subtasks("mpijob", "mpi"))
    check(sorted(s.id for s in subs) == [1, 2], "two subtasks beside the primary")
    nodes = [s.node_info.node_id for s in subs]
    check(len(set(nodes + [primary])) == 3, "primary and subtasks on three distinct nodes: %s" % (nodes + [primary]))
    check(all(s.state == "completed" and s.exit_code == 0 and s.result == "success" for s in subs), "each subtask's coordination command succeeded")
    check(all(s.start_time is not None and s.end_time is not None for s in subs), "subtask times")
    root = t.node_info.task_root_directory
    for node in nodes + [primary]:
        check(read(client, "mpipool", node, root + "/common.txt") == "common to every instance\n", "common resource file in the task directory on " + node[-8:])
        want = "coord true\n" if node == primary else "coord false\n"
        check(read(client, "mpipool", node, root + "/coord.txt") == want, "coordination command ran on " + node[-8:])
    out = b"".join(client.download_task_file("mpijob", "mpi", "stdout.txt")).decode()
    check(out.startswith("alive\ncommon to every instance\n"), "the coordination command's background work outlived it: %r" % out)
    check("hosts=127.0.0.1,127.0.0.1,127.0.0.1 master=127.0.0.1:6000" in out, "host list and master node in the environment")
    plain = client.create_task("mpijob", m.BatchTaskCreateOptions(id="plain", command_line="/bin/true"))
    check(list(client.list_subtasks("mpijob", "plain")) == [], "a plain task has no subtasks")

    # A subtask whose coordination command fails fails the task (its exit code).
    client.create_task("mpijob", m.BatchTaskCreateOptions(
        id="mpifail", command_line="/bin/true",
        multi_instance_settings=m.MultiInstanceSettings(
            number_of_instances=2,
            coordination_command_line="/bin/sh -c '[ $AZ_BATCH_IS_CURRENT_NODE_MASTER = true ] || exit 4'")))
    t = wait_for("mpifail", lambda: (lambda t: t if t.state == "completed" else None)(client.get_task("mpijob", "mpifail")), timeout=60)
    check(t.execution_info.result == "failure" and t.execution_info.exit_code == 4, "failed subtask fails the task with its exit code")
    check(t.execution_info.failure_info.code == "FailureExitCode" and "subtask 1" in t.execution_info.failure_info.message, "failure names the subtask")
    subs = list(client.list_subtasks("mpijob", "mpifail"))
    check(subs[0].exit_code == 4 and subs[0].result == "failure", "the subtask's own exit code")

    # More instances than nodes: the task waits.
    client.create_task("mpijob", m.BatchTaskCreateOptions(
        id="toobig", command_line="/bin/true",
        multi_instance_settings=m.MultiInstanceSettings(number_of_instances=4, coordination_command_line="/bin/true")))
    time.sleep(1.5)
    check(client.get_task("mpijob", "toobig").state == "active", "four instances on three nodes: it waits")

    expect_error("no coordination command", lambda: client.create_task("mpijob", m.BatchTaskCreateOptions(
        id="bad", command_line="/bin/true", multi_instance_settings=m.MultiInstanceSettings(number_of_instances=2, coordination_command_line=""))),
        400, "MissingRequiredProperty")
    expect_error("zero instances", lambda: client.create_task("mpijob", m.BatchTaskCreateOptions(
        id="bad", command_line="/bin/true", multi_instance_settings=m.MultiInstanceSettings(number_of_instances=0, coordination_command_line="/bin/true"))),
        400, "InvalidPropertyValue")

    # A job with a preparation task: it runs on each node before an instance runs there, and
    # its status lists each of the instances' nodes.
    client.create_job(m.BatchJobCreateOptions(
        id="mpiprep", pool_info=m.BatchPoolInfo(pool_id="mpipool"),
        job_preparation_task=m.BatchJobPreparationTask(
            command_line="/bin/sh -c 'sleep 0.5; echo prepared $AZ_BATCH_NODE_ID > marker'")))
    marker = "$AZ_BATCH_JOB_PREP_WORKING_DIR/marker"
    client.create_task("mpiprep", m.BatchTaskCreateOptions(
        id="prepped", command_line="/bin/sh -c 'cat %s'" % marker,
        multi_instance_settings=m.MultiInstanceSettings(
            number_of_instances=3,
            coordination_command_line="/bin/sh -c 'cat %s > $AZ_BATCH_TASK_SHARED_DIR/prep.txt'" % marker)))
    t = wait_for("prepped", lambda: (lambda t: t if t.state == "completed" else None)(client.get_task("mpiprep", "prepped")), timeout=60)
    check(t.execution_info.result == "success", "every instance read the preparation's marker: %s" % t.execution_info.failure_info)
    primary = t.node_info.node_id
    nodes = [s.node_info.node_id for s in client.list_subtasks("mpiprep", "prepped")] + [primary]
    root = t.node_info.task_root_directory
    for node in nodes:
        check(read(client, "mpipool", node, root + "/prep.txt") == "prepared %s\n" % node, "the preparation ran on " + node[-8:] + " before its instance")
    out = b"".join(client.download_task_file("mpiprep", "prepped", "stdout.txt")).decode()
    check(out == "prepared %s\n" % primary, "the command line read the primary's marker: %r" % out)
    status = list(client.list_job_preparation_and_release_task_status("mpiprep"))
    check(sorted(s.node_id for s in status) == sorted(nodes), "preparation status on the instances' nodes")
    check(all(s.job_preparation_task_execution_info.state == "completed" and s.job_preparation_task_execution_info.result == "success" for s in status), "each preparation completed")
    check(all(s.job_preparation_task_execution_info.end_time <= t.execution_info.start_time for s in status), "each preparation ended before the task ran")


if __name__ == "__main__":
    main("batch_sdk15_multi", run)
