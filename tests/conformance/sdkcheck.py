"""What the conformance scripts share: the client from the environment, checks that print
what passed, waits, expected service errors, and the way a script ends. Only `client`,
`expect_error` and `detail` need azure-batch 15 (azure-core); the rest serves every script,
whatever venv runs it."""
import os
import sys
import time
import traceback


def client():
    """azure-batch 15 on BATCH_ENDPOINT with BATCH_ACCOUNT and BATCH_KEY."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    return BatchClient(
        os.environ["BATCH_ENDPOINT"],
        AzureNamedKeyCredential(os.environ["BATCH_ACCOUNT"], os.environ["BATCH_KEY"]),
    )


def ubuntu_pool(pool_id, nodes, slots=1):
    """The options of a pool of `nodes` Ubuntu 20.04 nodes of `slots` task slots each."""
    from azure.batch import models as m

    return m.BatchPoolCreateOptions(
        id=pool_id,
        vm_size="STANDARD_D1_V2",
        virtual_machine_configuration=m.VirtualMachineConfiguration(
            image_reference=m.BatchVmImageReference(
                publisher="canonical", offer="0001-com-ubuntu-server-focal", sku="20_04-lts"
            ),
            node_agent_sku_id="batch.node.ubuntu 20.04",
        ),
        target_dedicated_nodes=nodes,
        task_slots_per_node=slots,
    )


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def wait_for(what, fn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def expect_error(what, fn, status, code):
    """Runs fn, which must fail with the service's status and error code; returns the error."""
    from azure.core.exceptions import HttpResponseError

    try:
        fn()
    except HttpResponseError as e:
        got = (e.status_code, e.error.code if e.error else None)
        check(got == (status, code), "%s: %d %s (got %s)" % (what, status, code, got))
        return e
    raise AssertionError(what + ": accepted")


def detail(e, key):
    """The value of one of an error's `values` (the SDK keeps them as details)."""
    return next((d.message for d in e.error.details if d.code == key), None)


def main(name, body):
    """Runs body(); prints the line the Rust test looks for, or the failure, and exits."""
    try:
        body()
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        print("FAILED:", e)
        sys.exit(1)
    print("%s: all checks passed" % name)
