"""Node operations through azure-batch 15.x: user accounts (create, replace, delete), remote
login settings, nodeAgentInfo, VM extensions of a pool that declares them, node logs uploaded
to a container SAS of the embedded blob service, disabling and enabling scheduling (each
option, and the node going offline), rebooting a node running a task with each option, and
reimaging, deallocating and starting a node through the SDK's pollers.

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY, BLOB_ENDPOINT, STORAGE_ACCOUNT, STORAGE_KEY.
Exits non-zero on any failure.
"""
import datetime
import os

from azure.batch import models as m
# azure-batch 15 takes the reboot options but does not export their type.
from azure.batch.models._models import BatchNodeRebootOptions as RebootOptions
from azure.batch.models._models import BatchNodeDeallocateOptions as DeallocateOptions
from azure.batch.models._models import BatchNodeReimageOptions as ReimageOptions
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from sdkcheck import check, client as new_client, expect_error, main, wait_for


# disable_node_scheduling fails without options in azure-batch 15.1.0 (no content type).
REQUEUE = m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="requeue")


def vm(extensions=None):
    return m.VirtualMachineConfiguration(
        image_reference=m.BatchVmImageReference(publisher="canonical", offer="ubuntu", sku="22_04-lts"),
        node_agent_sku_id="batch.node.ubuntu 22.04",
        extensions=extensions,
    )


def run():
    client = new_client()
    ext = m.VMExtension(name="secretext", publisher="Microsoft.Azure.KeyVault", type="KeyVaultForLinux",
                        type_handler_version="1.0", auto_upgrade_minor_version=True,
                        protected_settings={"secret": "do-not-echo"})
    client.create_pool(m.BatchPoolCreateOptions(
        id="nodepool", vm_size="standard_d2_v3", virtual_machine_configuration=vm([ext]),
        target_dedicated_nodes=2, task_slots_per_node=1,
        start_task=m.BatchStartTask(command_line="/bin/sh -c 'echo booted'", wait_for_success=True)))
    nodes = wait_for("two idle nodes", lambda: (lambda ns: ns if len(ns) == 2 and all(n.state == "idle" for n in ns) else None)(
        list(client.list_nodes("nodepool"))))
    a, b = nodes[0].id, nodes[1].id

    # nodeAgentInfo: the agent's version and when it was installed (the node's first boot).
    n = client.get_node("nodepool", a)
    check(n.node_agent_info is not None and n.node_agent_info.version.startswith("batchdeck "), "nodeAgentInfo.version: %s" % n.node_agent_info.version)
    check(n.node_agent_info.last_update_time == n.last_boot_time, "nodeAgentInfo.lastUpdateTime is the first boot")

    # Users: create, a second time (409), replace, delete, and a missing one (404).
    client.create_node_user("nodepool", a, m.BatchNodeUserCreateOptions(name="alice", password="S3cret!x", is_admin=True))
    print("ok: user created")
    expect_error("the same user again", lambda: client.create_node_user("nodepool", a, m.BatchNodeUserCreateOptions(name="ALICE", password="x")), 409, "NodeUserExists")
    expect_error("a user without a name", lambda: client.create_node_user("nodepool", a, m.BatchNodeUserCreateOptions(name="", password="x")), 400, "MissingRequiredProperty")
    client.replace_node_user("nodepool", a, "alice", m.BatchNodeUserReplaceOptions(
        password="Other!y", expiry_time=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)))
    print("ok: user replaced")
    expect_error("replace a missing user", lambda: client.replace_node_user("nodepool", a, "bob", m.BatchNodeUserReplaceOptions(password="x")), 404, "NodeUserNotFound")
    client.delete_node_user("nodepool", a, "alice")
    print("ok: user deleted")
    expect_error("delete it again", lambda: client.delete_node_user("nodepool", a, "alice"), 404, "NodeUserNotFound")
    expect_error("a user on a missing node", lambda: client.create_node_user("nodepool", "tvmps_nope_d", m.BatchNodeUserCreateOptions(name="x", password="x")), 404, "NodeNotFound")

    # Remote login: the nodes are this machine's processes.
    rl = client.get_node_remote_login_settings("nodepool", a)
    check(rl.remote_login_ip_address == "127.0.0.1" and rl.remote_login_port == 22, "remote login settings: %s:%d" % (rl.remote_login_ip_address, rl.remote_login_port))

    # Extensions declared by the pool, as the node reports them; protected settings never.
    exts = list(client.list_node_extensions("nodepool", a))
    check([e.vm_extension.name for e in exts] == ["secretext"] and exts[0].provisioning_state == "Succeeded", "extensions listed")
    check(exts[0].vm_extension.protected_settings is None, "protected settings not returned")
    one = client.get_node_extension("nodepool", a, "secretext")
    check(one.instance_view.name == "secretext" and one.vm_extension.type == "KeyVaultForLinux", "extension get")
    expect_error("a missing extension", lambda: client.get_node_extension("nodepool", a, "nope"), 404, "ResourceNotFound")

    # Node logs to a container SAS of the embedded blob service.
    blobs = BlobServiceClient(os.environ["BLOB_ENDPOINT"], credential={"account_name": os.environ["STORAGE_ACCOUNT"], "account_key": os.environ["STORAGE_KEY"]})
    blobs.create_container("nodelogs")
    sas = generate_container_sas(os.environ["STORAGE_ACCOUNT"], "nodelogs", account_key=os.environ["STORAGE_KEY"],
                                 permission=ContainerSasPermissions(write=True, create=True),
                                 expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    url = "%s/nodelogs?%s" % (os.environ["BLOB_ENDPOINT"], sas)
    r = client.upload_node_logs("nodepool", a, m.UploadBatchServiceLogsOptions(
        container_url=url, start_time=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)))
    check(r.virtual_directory_name.startswith("nodepool/%s/" % a) and r.number_of_files_uploaded == 3, "logs: %s, %d files" % (r.virtual_directory_name, r.number_of_files_uploaded))
    container = blobs.get_container_client("nodelogs")
    names = wait_for("the logs uploaded", lambda: (lambda ns: ns if len(ns) == 3 else None)(sorted(b.name for b in container.list_blobs())))
    prefix = r.virtual_directory_name + "/"
    check(names == [prefix + "node.json", prefix + "startup-stderr.txt", prefix + "startup-stdout.txt"], "uploaded: %s" % names)
    check(container.download_blob(prefix + "startup-stdout.txt").readall() == b"booted\n", "the start task's output among them")
    r = client.upload_node_logs("nodepool", a, m.UploadBatchServiceLogsOptions(
        container_url=url, start_time=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)))
    check(r.number_of_files_uploaded == 1, "a later start time leaves the older files out")

    # Scheduling: disable (requeue), the node goes offline and takes no task; enable again.
    client.create_job(m.BatchJobCreateOptions(id="nodejob", pool_info=m.BatchPoolInfo(pool_id="nodepool")))
    client.disable_node_scheduling("nodepool", a, m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="requeue"))
    n = client.get_node("nodepool", a)
    check(n.scheduling_state == "disabled" and n.state == "offline", "scheduling disabled: %s, %s" % (n.scheduling_state, n.state))
    expect_error("disable it again", lambda: client.disable_node_scheduling("nodepool", a, REQUEUE), 409, "NodeAlreadyInTargetSchedulingState")
    expect_error("a user on an offline node", lambda: client.create_node_user("nodepool", a, m.BatchNodeUserCreateOptions(name="x", password="x")), 409, "OperationNotValidOnNode")
    for i in range(3):
        client.create_task("nodejob", m.BatchTaskCreateOptions(id="q%d" % i, command_line="/bin/true"))
    wait_for("three tasks done", lambda: client.get_job_task_counts("nodejob").task_counts.completed == 3)
    check({client.get_task("nodejob", "q%d" % i).node_info.node_id for i in range(3)} == {b}, "tasks ran only on the node that takes them")
    client.enable_node_scheduling("nodepool", a)
    n = client.get_node("nodepool", a)
    check(n.scheduling_state == "enabled" and n.state == "idle", "scheduling enabled again: %s" % n.state)

    # Disabling with a running task: requeue puts it back, terminate ends it, taskcompletion
    # lets it finish before the node goes offline.
    def busy(tid, seconds):
        client.create_task("nodejob", m.BatchTaskCreateOptions(id=tid, command_line="sleep %s" % seconds))
        t = wait_for(tid + " running", lambda: (lambda t: t if t.state == "running" else None)(client.get_task("nodejob", tid)))
        return t.node_info.node_id

    client.disable_node_scheduling("nodepool", b, REQUEUE)
    node = busy("long1", 30)
    check(node == a, "long1 runs on the enabled node")
    client.enable_node_scheduling("nodepool", b)
    client.disable_node_scheduling("nodepool", a, m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="requeue"))
    t = wait_for("long1 requeued onto the other node", lambda: (lambda t: t if t.state == "running" and t.node_info.node_id == b else None)(client.get_task("nodejob", "long1")))
    check(t.execution_info.requeue_count == 1, "requeued once")
    client.disable_node_scheduling("nodepool", b, m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="terminate"))
    t = wait_for("long1 terminated", lambda: (lambda t: t if t.state == "completed" else None)(client.get_task("nodejob", "long1")))
    check(t.execution_info.failure_info.code == "TaskEnded", "terminate ends the task: %s" % t.execution_info.failure_info.code)
    client.enable_node_scheduling("nodepool", a)
    node = busy("short", 1)
    client.enable_node_scheduling("nodepool", b)
    client.disable_node_scheduling("nodepool", node, m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="taskcompletion"))
    check(client.get_node("nodepool", node).state == "running", "taskcompletion: the task goes on")
    t = wait_for("short done", lambda: (lambda t: t if t.state == "completed" else None)(client.get_task("nodejob", "short")))
    check(t.execution_info.exit_code == 0, "and completes")
    wait_for("the node offline after it", lambda: client.get_node("nodepool", node).state == "offline")
    client.enable_node_scheduling("nodepool", node)

    # Rebooting a node running a task, with each nodeRebootOption.
    def reboot(node, option):
        since = datetime.datetime.now(datetime.timezone.utc)
        client.begin_reboot_node("nodepool", node, RebootOptions(node_reboot_kind=option), polling_interval=1).result()
        return since

    def back(node, since):
        return wait_for(node + " booted again", lambda: (lambda n: n if n.last_boot_time and n.last_boot_time >= since and n.state == "idle" else None)(client.get_node("nodepool", node)))

    node = busy("r_requeue", 30)
    since = reboot(node, "requeue")
    t = client.get_task("nodejob", "r_requeue")
    check(t.state in ("active", "running") and t.execution_info.requeue_count == 1, "reboot requeue: the task requeued (%s)" % t.state)
    client.terminate_task("nodejob", "r_requeue")
    check(client.get_node("nodepool", back(node, since).id).start_task_info.start_time >= since, "reboot requeue: the start task ran again")
    node = busy("r_terminate", 30)
    reboot(node, "terminate")
    t = client.get_task("nodejob", "r_terminate")
    check(t.state == "completed" and t.execution_info.failure_info.code == "TaskEnded", "reboot terminate: the task ended")
    node = busy("r_completion", 2)
    since = reboot(node, "taskcompletion")
    check(client.get_task("nodejob", "r_completion").state == "running", "reboot taskcompletion: the task goes on")
    booted = back(node, since).last_boot_time
    t = client.get_task("nodejob", "r_completion")
    check(t.execution_info.exit_code == 0 and t.execution_info.end_time <= booted, "reboot taskcompletion: rebooted after the task")
    # retaineddata waits for the files of every task that ran on the node (7 days by
    # default): the tasks so far go, with their files.
    for t in client.list_tasks("nodejob"):
        client.delete_task("nodejob", t.id)
    client.create_task("nodejob", m.BatchTaskCreateOptions(id="r_retained", command_line="sleep 1", constraints=m.BatchTaskConstraints(retention_time=datetime.timedelta(seconds=3))))
    t = wait_for("r_retained running", lambda: (lambda t: t if t.state == "running" else None)(client.get_task("nodejob", "r_retained")))
    node = t.node_info.node_id
    since = reboot(node, "retaineddata")
    booted = back(node, since).last_boot_time
    t = client.get_task("nodejob", "r_retained")
    check(booted >= t.execution_info.end_time + datetime.timedelta(seconds=3), "reboot retaineddata: rebooted after the files' retention (%s, ended %s)" % (booted, t.execution_info.end_time))
    expect_error("an unknown reboot option", lambda: reboot(node, "later"), 400, "InvalidPropertyValue")
    back(node, since)

    # Reimage (terminate): the running task ends, the node's user accounts go with its disk, and
    # it starts again with its start task; the poller waits while it is reimaging.
    node = busy("re_terminate", 30)
    client.create_node_user("nodepool", node, m.BatchNodeUserCreateOptions(name="carol", password="S3cret!x"))
    since = datetime.datetime.now(datetime.timezone.utc)
    client.begin_reimage_node("nodepool", node, ReimageOptions(node_reimage_option="terminate"), polling_interval=1).result()
    check(client.get_node("nodepool", node).state != "reimaging", "reimage: the poller waited for the reimage")
    t = client.get_task("nodejob", "re_terminate")
    check(t.state == "completed" and t.execution_info.failure_info.code == "TaskEnded", "reimage terminate: the task ended")
    n = back(node, since)
    check(n.start_task_info.start_time >= since, "reimage: the start task ran again")
    expect_error("a user the reimage wiped", lambda: client.delete_node_user("nodepool", node, "carol"), 404, "NodeUserNotFound")
    expect_error("an unknown reimage option", lambda: client.begin_reimage_node("nodepool", node, ReimageOptions(node_reimage_option="later"), polling_interval=1).result(), 400, "InvalidPropertyValue")

    # Deallocate (requeue): the task goes to the other node; the deallocated node is refused a
    # reboot, then started again.
    node = busy("de_requeue", 30)
    client.begin_deallocate_node("nodepool", node, DeallocateOptions(node_deallocate_option="requeue"), polling_interval=1).result()
    check(client.get_node("nodepool", node).state == "deallocated", "deallocate: the poller waited for deallocated")
    other = b if node == a else a
    t = wait_for("de_requeue on the other node", lambda: (lambda t: t if t.state == "running" and t.node_info.node_id == other else None)(client.get_task("nodejob", "de_requeue")))
    check(t.execution_info.requeue_count == 1, "deallocate requeue: the task requeued")
    expect_error("a reboot of a deallocated node", lambda: reboot(node, "requeue"), 409, "OperationNotValidOnNode")
    since = datetime.datetime.now(datetime.timezone.utc)
    client.begin_start_node("nodepool", node, polling_interval=1).result()
    check(client.get_node("nodepool", node).state != "starting", "start: the poller waited while it started")
    back(node, since)
    expect_error("a start of a started node", lambda: client.begin_start_node("nodepool", node, polling_interval=1).result(), 409, "OperationNotValidOnNode")
    client.terminate_task("nodejob", "de_requeue")


if __name__ == "__main__":
    main("batch_sdk15_nodes", run)
