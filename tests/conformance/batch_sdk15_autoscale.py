"""Autoscale through azure-batch 15.x: a pool created autoscaling, enable/evaluate/disable on an
existing pool, a table of formulas with the $TargetDedicatedNodes each must produce on known
inputs and the errors others must get, and a formula that resizes the pool on its interval.

The emulator runs with --speedup 60 (the test says so): a 5-minute evaluation interval is 5 s,
samples are taken every 0.5 s, and enableautoscale may be called again after 0.5 s.

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY. Exits non-zero on any failure.
"""
import datetime
import threading
import time

from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from sdkcheck import check, client as new_client, detail, expect_error, main, wait_for


def vm():
    return m.VirtualMachineConfiguration(
        image_reference=m.BatchVmImageReference(publisher="canonical", offer="ubuntu", sku="22_04-lts"),
        node_agent_sku_id="batch.node.ubuntu 22.04",
    )


def run():
    client = new_client()

    # A pool created autoscaling starts at the formula's size, with its first run recorded.
    client.create_pool(
        m.BatchPoolCreateOptions(
            id="asnew",
            vm_size="standard_d2_v3",
            virtual_machine_configuration=vm(),
            enable_auto_scale=True,
            auto_scale_formula="$TargetDedicatedNodes = 2;",
            auto_scale_evaluation_interval=datetime.timedelta(minutes=6),
        )
    )
    p = client.get_pool("asnew")
    check(p.enable_auto_scale is True and p.auto_scale_formula == "$TargetDedicatedNodes = 2;", "autoscale pool created")
    check(p.target_dedicated_nodes == 2, "first evaluation sized the pool (%s)" % p.target_dedicated_nodes)
    check(p.auto_scale_evaluation_interval == datetime.timedelta(minutes=6), "evaluation interval kept")
    check(p.auto_scale_run is not None and p.auto_scale_run.error is None, "autoScaleRun recorded")
    check(
        p.auto_scale_run.results == "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue",
        "autoScaleRun.results in the service's form (%s)" % p.auto_scale_run.results,
    )
    wait_for("two nodes", lambda: len(list(client.list_nodes("asnew"))) == 2)
    expect_error(
        "resize of an autoscaling pool",
        lambda: client.begin_resize_pool("asnew", m.BatchPoolResizeOptions(target_dedicated_nodes=1)).result(),
        409,
        "OperationInvalidForCurrentState",
    )

    # Settings the service refuses at creation.
    def create(**kw):
        return lambda: client.create_pool(m.BatchPoolCreateOptions(id="asbad", vm_size="x", **kw))

    expect_error("formula without enableAutoScale", create(auto_scale_formula="$TargetDedicatedNodes=1"), 400, "InvalidAutoScalingSettings")
    expect_error(
        "targets with enableAutoScale",
        create(enable_auto_scale=True, auto_scale_formula="$TargetDedicatedNodes=1", target_dedicated_nodes=1),
        400,
        "InvalidAutoScalingSettings",
    )
    expect_error("enableAutoScale without a formula", create(enable_auto_scale=True), 400, "MissingRequiredProperty")
    expect_error(
        "an interval under 5 minutes",
        create(enable_auto_scale=True, auto_scale_formula="$TargetDedicatedNodes=1",
               auto_scale_evaluation_interval=datetime.timedelta(minutes=4)),
        400,
        "InvalidPropertyValue",
    )
    e = expect_error(
        "a formula with a syntax error",
        create(enable_auto_scale=True, auto_scale_formula="$TargetDedicatedNodes = (1 + ;"),
        400,
        "AutoScalingFormulaSyntaxError",
    )
    check(detail(e, "Message") == "Line 1, Col 30: unexpected ';'", "the syntax error names its line and column")
    expect_error(
        "a formula over 8192 characters",
        create(enable_auto_scale=True, auto_scale_formula="$TargetDedicatedNodes = 1;" * 400),
        400,
        "AutoScaleFormulaTooLong",
    )

    # A fixed pool with no nodes, and five tasks that wait on it: known inputs for formulas.
    client.create_pool(m.BatchPoolCreateOptions(id="asfixed", vm_size="standard_d2_v3",
                                                virtual_machine_configuration=vm(), task_slots_per_node=4))
    expect_error(
        "evaluate on a pool without autoscale",
        lambda: client.evaluate_pool_auto_scale("asfixed", m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes=1")),
        409,
        "OperationInvalidForCurrentState",
    )
    client.create_job(m.BatchJobCreateOptions(id="asjob", pool_info=m.BatchPoolInfo(pool_id="asfixed")))
    for i in range(5):
        client.create_task("asjob", m.BatchTaskCreateOptions(id="t%d" % i, command_line="/bin/true"))
    client.enable_pool_auto_scale(
        "asfixed",
        m.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = 0.9;",
            auto_scale_evaluation_interval=datetime.timedelta(hours=2),
        ),
    )
    p = client.get_pool("asfixed")
    check(p.enable_auto_scale and p.auto_scale_run.results.startswith("$TargetDedicatedNodes=0.9;"), "autoscale enabled on an existing pool")
    check(p.target_dedicated_nodes == 0, "a fraction of a node is no node")

    def evaluate(formula):
        return client.evaluate_pool_auto_scale("asfixed", m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula))

    # Wait for two more samples (0.5 s apart, later on a loaded machine): the second was
    # planned after the five tasks were added, so the last sample sees them waiting.
    def samples():
        return int(float(evaluate("$TargetDedicatedNodes = $PendingTasks.Count();").results.split(";")[0].split("=")[1]))

    taken = samples()
    wait_for("two samples after the tasks were added", lambda: samples() >= taken + 2)

    table = [
        ("$TargetDedicatedNodes = 3;", 3),
        ("$TargetDedicated = 4;", 4),
        ("$TargetDedicatedNodes = max($PendingTasks.GetSample(1));", 5),
        ("$TargetDedicatedNodes = max($ActiveTasks.GetSample(1)) - max($RunningTasks.GetSample(1));", 5),
        ("$TargetDedicatedNodes = min(2, max($PendingTasks.GetSample(1)));", 2),
        ("tasks = max($ActiveTasks.GetSample(1)); $TargetDedicatedNodes = (tasks + $TaskSlotsPerNode - 1) / $TaskSlotsPerNode;", 2),
        ("$TargetDedicatedNodes = $CurrentDedicatedNodes + 1;", 1),
        # The share of the samples a minute (1 s here) should hold, 2 at 0.5 s apart: 100% on a
        # quiet machine, less when the machine delays the sampler, so it is compared with the
        # samples the same window holds.
        ("$TargetDedicatedNodes = $PendingTasks.GetSamplePercent(TimeInterval_Minute)"
         " == min(100, len($PendingTasks.GetSample(TimeInterval_Minute, 0)) * 50) ? 7 : 1;", 7),
        ("$TargetDedicatedNodes = $PendingTasks.Count() > 2;", 1),
        ("$TargetDedicatedNodes = max($SucceededTasks.GetSample(1)) + max($FailedTasks.GetSample(1));", 0),
        ("$TargetDedicatedNodes = time().year >= 2025 && time().month <= 12 ? 6 : 0;", 6),
        ("$TargetDedicatedNodes = 1 > 2 || !(3 == 3) ? 9 : 8;", 8),
        ("x = vec(3, 1, 2); $TargetDedicatedNodes = val(x, 0) + len(x) + percentile(x, 50);", 8),
        ("$TargetDedicatedNodes = avg(2, 4) * 2; $NodeDeallocationOption = taskcompletion;", 6),
        ("$TargetDedicatedNodes = 2.7;", 2),
    ]
    for formula, want in table:
        run = evaluate(formula)
        check(run.error is None, "evaluates: %s" % formula)
        got = dict(kv.split("=", 1) for kv in run.results.split(";"))
        check(float(got["$TargetDedicatedNodes"]) // 1 == want, "%s -> $TargetDedicatedNodes=%s" % (formula, want))
    run = evaluate("$TargetDedicatedNodes = avg(2, 4) * 2; $NodeDeallocationOption = taskcompletion;")
    check("$NodeDeallocationOption=taskcompletion" in run.results, "deallocation option reported")

    errors = [
        ("$TargetDedicatedNodes = avg($CPUPercent.GetSample(TimeInterval_Hour * 24));", "InsufficientSampleData",
         "Line 1, Col 41: Insufficient data from data set: $CPUPercent wanted 10%, received 0%"),
        ("$TargetDedicatedNodes = $PendingTasks + 1;", "FormulaEvaluationError",
         "Line 1, Col 39: '+' cannot apply to a sample set and a double"),
        ("$TargetDedicatedNodes = 4 / (2 - 2);", "FormulaEvaluationError", "Line 1, Col 27: division by zero"),
    ]
    for formula, code, want in errors:
        run = evaluate(formula)
        check(run.error is not None and run.error.code == code, "%s -> %s" % (formula, code))
        vals = {v.name: v.value for v in run.error.error_values}
        check(vals.get("Message", "").startswith(want), "detail: %s" % vals.get("Message"))
    e = expect_error("evaluate a formula with a syntax error", lambda: evaluate("$TargetDedicatedNodes = foo(1);"), 400, "AutoScalingFormulaSyntaxError")
    check(detail(e, "Message") == "Line 1, Col 25: unknown function 'foo'", "unknown function named")

    # Too many enables in 30 s (0.5 s here): 503, unless the client waits. The enables are sent
    # together from threads, so that a loaded machine cannot space them wider than the window.
    gate = threading.Barrier(4)
    outcomes = []

    def enable_once():
        gate.wait()
        try:
            client.enable_pool_auto_scale("asfixed", m.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes=0;"), retry_total=0)
            outcomes.append("ok")
        except HttpResponseError as e:
            outcomes.append((e.status_code, e.error.code if e.error else None))

    threads = [threading.Thread(target=enable_once) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [o for o in outcomes if o == (503, "TooManyEnableAutoScaleRequests")]
    check(outcomes.count("ok") <= 1 and len(refused) == 4 - outcomes.count("ok"),
          "enable four times at once: at most one accepted, the others 503 TooManyEnableAutoScaleRequests (got %s)" % outcomes)
    time.sleep(1)

    # A formula that follows the queue, on a 5-minute interval (5 s here): the pool grows to
    # run the tasks, and once they are done it shrinks back to zero.
    client.enable_pool_auto_scale(
        "asfixed",
        m.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = min(2, max($PendingTasks.GetSample(1)));",
            auto_scale_evaluation_interval=datetime.timedelta(minutes=5),
        ),
    )
    check(client.get_pool("asfixed").target_dedicated_nodes == 2, "enable evaluates at once: two nodes for five tasks")
    wait_for("tasks done", lambda: client.get_job_task_counts("asjob").task_counts.completed == 5)
    first = client.get_pool("asfixed").auto_scale_run.timestamp
    p = wait_for(
        "an evaluation on the interval that shrinks the pool",
        lambda: (lambda p: p if p.auto_scale_run.timestamp > first and p.target_dedicated_nodes == 0 else None)(client.get_pool("asfixed")),
        timeout=30,
    )
    gap = (p.auto_scale_run.timestamp - first).total_seconds()
    check(4.0 <= gap <= 12.0, "next evaluation about 5 s (5 minutes / 60) later: %.1f s" % gap)
    wait_for("no nodes", lambda: len(list(client.list_nodes("asfixed"))) == 0)

    # Resource metrics come from the nodes' processes: a task that keeps a core busy and writes
    # 8 MiB shows in $CPUPercent, $MemoryBytes and $DiskWriteBytes. The task says when its write
    # is done and then runs until it is terminated; the formula reads every sample since the
    # task started, so nothing ages out of its window however slowly the machine goes, and the
    # test evaluates until a sample has seen the write (samples are 0.5 s apart here).
    client.create_pool(m.BatchPoolCreateOptions(
        id="ascpu", vm_size="standard_d2_v3", virtual_machine_configuration=vm(),
        enable_auto_scale=True, auto_scale_formula="$TargetDedicatedNodes = 1;"))
    wait_for("ascpu's node", lambda: [n for n in client.list_nodes("ascpu") if n.state == "idle"])
    client.create_job(m.BatchJobCreateOptions(id="cpujob", pool_info=m.BatchPoolInfo(pool_id="ascpu")))
    busy = ("python3 -c \"import os, time\n"
            "f = open('big', 'wb'); f.write(bytes(8 << 20)); f.flush(); os.fsync(f.fileno())\n"
            "print('written', flush=True)\n"
            "t = time.time()\nwhile time.time() - t < 120: pass\"")
    client.create_task("cpujob", m.BatchTaskCreateOptions(id="busy", command_line=busy))
    wait_for("busy running", lambda: client.get_task("cpujob", "busy").state == "running")

    def written():
        # The emulator marks the task running before its agent has created stdout.txt.
        try:
            return b"written" in b"".join(client.download_task_file("cpujob", "busy", "stdout.txt"))
        except ResourceNotFoundError:
            return False

    wait_for("busy's 8 MiB written", written)
    since = client.get_task("cpujob", "busy").execution_info.start_time.isoformat()
    formula = ("since = time(\"%s\");"
               "cpu = max($CPUPercent.GetSample(since));"
               "mem = max($MemoryBytes.GetSample(since));"
               "w = sum($DiskWriteBytes.GetSample(since));"
               "$TargetDedicatedNodes = (cpu > 1) + (mem > 1) + (w > 8000000);" % since)
    deadline = time.time() + 30
    while True:
        run = client.evaluate_pool_auto_scale("ascpu", m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula))
        done = run.error is None and run.results.startswith("$TargetDedicatedNodes=3;")
        if done or time.time() > deadline:
            break
        time.sleep(0.1)
    check(done, "CPU, memory and writes of the pool's task: %s" % (run.results if run.error is None else run.error))
    client.terminate_task("cpujob", "busy")
    wait_for("busy ended", lambda: client.get_task("cpujob", "busy").state == "completed")

    client.disable_pool_auto_scale("asfixed")
    p = client.get_pool("asfixed")
    check(p.enable_auto_scale is False and p.auto_scale_formula is None and p.auto_scale_run is None, "autoscale disabled")
    client.begin_resize_pool("asfixed", m.BatchPoolResizeOptions(target_dedicated_nodes=1), polling_interval=1).result()
    check(client.get_pool("asfixed").target_dedicated_nodes == 1, "resize allowed again once disabled")


if __name__ == "__main__":
    main("batch_sdk15_autoscale", run)
