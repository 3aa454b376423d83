"""Job schedules and auto pools through azure-batch 15.x: every job schedule operation, jobs
created on time by the recurrence (doNotRunUntil, recurrenceInterval, startWindow,
doNotRunAfter) with the schedule's executionInfo, and auto pools created and deleted with their
job or schedule.

The emulator runs with --speedup 60 (the test says so): the service's minimum recurrence and
start window of one minute take one second here.

Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY. Exits non-zero on any failure.
"""
import datetime
import time

from azure.batch import models as m
from azure.core.exceptions import ResourceNotFoundError

from sdkcheck import check, client as new_client, expect_error, main, wait_for

MIN = datetime.timedelta(minutes=1)
# begin_terminate_job fails without options in azure-batch 15.1.0 (no content type), and the
# options class is not exported from azure.batch.models.
TERMINATE = m._models.BatchJobTerminateOptions(termination_reason="done")  # noqa: SLF001
SPEEDUP = 60


def vm():
    return m.VirtualMachineConfiguration(
        image_reference=m.BatchVmImageReference(publisher="canonical", offer="ubuntu", sku="22_04-lts"),
        node_agent_sku_id="batch.node.ubuntu 22.04",
    )


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def gone(fn):
    try:
        fn()
        return False
    except ResourceNotFoundError:
        return True


def run():
    client = new_client()
    client.create_pool(m.BatchPoolCreateOptions(id="schedpool", vm_size="standard_d2_v3",
                                                virtual_machine_configuration=vm(), target_dedicated_nodes=1))
    spec = m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id="schedpool"))

    # Create, get, exists, list: the first job at once, the next one interval later.
    created = utcnow()
    client.create_job_schedule(m.BatchJobScheduleCreateOptions(
        id="every", schedule=m.BatchJobScheduleConfiguration(recurrence_interval=datetime.timedelta(days=1), start_window=datetime.timedelta(hours=1)),
        job_specification=spec, metadata=[m.BatchMetadataItem(name="k", value="v")]))
    check(client.job_schedule_exists("every"), "schedule exists")
    check(gone(lambda: client.job_schedule_exists("nope")) or client.job_schedule_exists("nope") is False, "a missing schedule does not exist")
    s = wait_for("the first job", lambda: (lambda s: s if s.execution_info.recent_job else None)(client.get_job_schedule("every")))
    check(s.state == "active" and s.execution_info.recent_job.id == "every:job-1", "job-1 created at once: %s" % s.execution_info.recent_job.id)
    next_in = (s.execution_info.next_run_time - s.creation_time).total_seconds()
    check(abs(next_in - 86400 / SPEEDUP) < 1, "next run one (sped-up) day after creation: %.2f s" % next_in)
    check(s.job_specification.priority == 0 and s.job_specification.constraints.max_wall_clock_time is not None, "job specification defaults")
    check([x.id for x in client.list_job_schedules()] == ["every"], "list schedules")
    jobs = list(client.list_jobs_from_schedule("every"))
    check([j.id for j in jobs] == ["every:job-1"] and jobs[0].pool_info.pool_id == "schedpool", "list jobs of the schedule")
    j = client.get_job("every:job-1")
    check(j.state == "active" and j.execution_info.pool_id == "schedpool", "the schedule's job runs on its pool")
    expect_error("a second schedule of the same id",
                 lambda: client.create_job_schedule(m.BatchJobScheduleCreateOptions(id="EVERY", schedule=m.BatchJobScheduleConfiguration(), job_specification=spec)),
                 409, "JobScheduleExists")
    expect_error("a job with a schedule's id", lambda: client.create_job(m.BatchJobCreateOptions(id="every", pool_info=m.BatchPoolInfo(pool_id="schedpool"))),
                 409, "JobScheduleWithSameIdExists")
    expect_error("a recurrence under a minute",
                 lambda: client.create_job_schedule(m.BatchJobScheduleCreateOptions(id="fast", schedule=m.BatchJobScheduleConfiguration(recurrence_interval=datetime.timedelta(seconds=30)), job_specification=spec)),
                 400, "InvalidPropertyValue")
    expect_error("a schedule without a pool",
                 lambda: client.create_job_schedule(m.BatchJobScheduleCreateOptions(id="nopool", schedule=m.BatchJobScheduleConfiguration(), job_specification=m.BatchJobSpecification(pool_info=m.BatchPoolInfo()))),
                 400, "MissingRequiredProperty")
    expect_error("get a missing schedule", lambda: client.get_job_schedule("nope"), 404, "JobScheduleNotFound")

    # Update (PATCH) keeps what it does not name; replace (PUT) removes it.
    client.update_job_schedule("every", m.BatchJobScheduleUpdateOptions(schedule=m.BatchJobScheduleConfiguration(recurrence_interval=datetime.timedelta(hours=5))))
    s = client.get_job_schedule("every")
    check(s.schedule.recurrence_interval == datetime.timedelta(hours=5) and s.metadata[0].name == "k", "PATCH changes the schedule, keeps metadata")
    client.replace_job_schedule("every", m.BatchJobSchedule(schedule=m.BatchJobScheduleConfiguration(recurrence_interval=datetime.timedelta(hours=10)), job_specification=spec))
    s = client.get_job_schedule("every")
    check(s.schedule.recurrence_interval == datetime.timedelta(hours=10) and not s.metadata, "PUT replaces the schedule and removes metadata")

    # Disable, enable, terminate (its active job is terminated with it), delete (its jobs too).
    client.disable_job_schedule("every")
    check(client.get_job_schedule("every").state == "disabled", "disabled")
    client.enable_job_schedule("every")
    s = client.get_job_schedule("every")
    check(s.state == "active" and s.previous_state == "disabled", "enabled again")
    client.begin_terminate_job_schedule("every", polling_interval=0.2).result()
    s = client.get_job_schedule("every")
    check(s.state == "completed" and s.execution_info.end_time is not None, "terminated: completed with an end time")
    check(client.get_job("every:job-1").state == "completed", "its active job terminated with it")
    expect_error("disable a completed schedule", lambda: client.disable_job_schedule("every"), 409, "JobScheduleCompleted")
    client.begin_delete_job_schedule("every", polling_interval=0.2).result()
    check(gone(lambda: client.get_job_schedule("every")), "schedule deleted")
    check(gone(lambda: client.get_job("every:job-1")), "its jobs deleted with it")

    # On time: nothing before doNotRunUntil, then a job a (sped-up) minute apart, each once the
    # previous one is done, and nothing after doNotRunAfter.
    start = utcnow() + datetime.timedelta(seconds=2)
    client.create_job_schedule(m.BatchJobScheduleCreateOptions(
        id="onTime",
        schedule=m.BatchJobScheduleConfiguration(do_not_run_until=start, do_not_run_after=start + datetime.timedelta(seconds=3.5),
                                                 recurrence_interval=MIN, start_window=MIN),
        job_specification=spec))
    s = client.get_job_schedule("onTime")
    check(s.execution_info.recent_job is None and abs((s.execution_info.next_run_time - start).total_seconds()) < 0.01, "first run at doNotRunUntil")
    seen = {}
    deadline = time.time() + 15
    while time.time() < deadline:
        for j in client.list_jobs_from_schedule("onTime"):
            if j.id not in seen:
                seen[j.id] = j.creation_time
                # Each job ends at once so that the next one may start on time.
                client.begin_terminate_job(j.id, TERMINATE, polling_interval=0.1).result()
        if client.get_job_schedule("onTime").state == "completed":
            break
        time.sleep(0.05)
    ids = sorted(seen, key=lambda k: seen[k])
    check(ids == ["onTime:job-1", "onTime:job-2", "onTime:job-3", "onTime:job-4"], "four jobs, one per second, until doNotRunAfter: %s" % ids)
    for n, jid in enumerate(ids):
        late = (seen[jid] - (start + n * MIN / SPEEDUP)).total_seconds()
        check(0 <= late < 0.5, "%s created on time (%.3f s after it was due)" % (jid, late))
    s = client.get_job_schedule("onTime")
    check(s.state == "completed" and s.execution_info.recent_job.id == "onTime:job-4", "completed after doNotRunAfter")

    # A start window that passes while the previous job still runs: that run is lost.
    client.create_job_schedule(m.BatchJobScheduleCreateOptions(
        id="window", schedule=m.BatchJobScheduleConfiguration(recurrence_interval=MIN, start_window=MIN),
        job_specification=spec))
    wait_for("window job-1", lambda: any(True for _ in client.list_jobs_from_schedule("window")))
    time.sleep(2.5)
    check([j.id for j in client.list_jobs_from_schedule("window")] == ["window:job-1"], "no job while job-1 is active")
    client.begin_terminate_job("window:job-1", TERMINATE, polling_interval=0.1).result()
    j2 = wait_for("window job-2", lambda: (lambda js: js if len(js) == 2 else None)(list(client.list_jobs_from_schedule("window"))))
    check(sorted(j.id for j in j2) == ["window:job-1", "window:job-2"], "the next job at the next recurrence, none for the runs missed")
    client.begin_delete_job_schedule("window", polling_interval=0.2).result()

    # Auto pools: one made with its job (lifetime job) and deleted with it; one made for a
    # schedule (lifetime jobSchedule), shared by its jobs, deleted with the schedule; keepAlive
    # keeps one.
    auto = m.BatchAutoPoolSpecification(
        auto_pool_id_prefix="mine", pool_lifetime_option="job",
        pool=m.BatchPoolSpecification(vm_size="standard_d2_v3", virtual_machine_configuration=vm(), target_dedicated_nodes=1))
    client.create_job(m.BatchJobCreateOptions(id="autojob", pool_info=m.BatchPoolInfo(auto_pool_specification=auto)))
    j = client.get_job("autojob")
    pool_id = j.execution_info.pool_id
    check(pool_id.startswith("mine_") and j.pool_info.auto_pool_specification.auto_pool_id_prefix == "mine", "auto pool id from the prefix: %s" % pool_id)
    check(client.get_pool(pool_id).vm_size == "standard_d2_v3", "the auto pool exists, as specified")
    client.create_task("autojob", m.BatchTaskCreateOptions(id="t", command_line="/bin/sh -c 'echo $AZ_BATCH_POOL_ID'"))
    wait_for("the task on the auto pool", lambda: client.get_task("autojob", "t").state == "completed", timeout=30)
    out = b"".join(client.download_task_file("autojob", "t", "stdout.txt")).decode().strip()
    check(out == pool_id, "the task ran on the auto pool")
    client.begin_terminate_job("autojob", TERMINATE, polling_interval=0.1).result()
    wait_for("the auto pool deleted with its job", lambda: gone(lambda: client.get_pool(pool_id)))
    expect_error("jobSchedule lifetime on a job",
                 lambda: client.create_job(m.BatchJobCreateOptions(id="badauto", pool_info=m.BatchPoolInfo(
                     auto_pool_specification=m.BatchAutoPoolSpecification(pool_lifetime_option="jobschedule", pool=m.BatchPoolSpecification(vm_size="x"))))),
                 400, "InvalidPropertyValue")
    expect_error("an auto pool without a pool",
                 lambda: client.create_job(m.BatchJobCreateOptions(id="badauto", pool_info=m.BatchPoolInfo(
                     auto_pool_specification=m.BatchAutoPoolSpecification(pool_lifetime_option="job")))),
                 400, "MissingRequiredProperty")
    # An auto pool the service cannot create (a bad formula) completes the job with a
    # scheduling error.
    bad = m.BatchAutoPoolSpecification(pool_lifetime_option="job", pool=m.BatchPoolSpecification(
        vm_size="x", enable_auto_scale=True, auto_scale_formula="$TargetDedicatedNodes = (;"))
    client.create_job(m.BatchJobCreateOptions(id="badformula", pool_info=m.BatchPoolInfo(auto_pool_specification=bad)))
    j = client.get_job("badformula")
    err = j.execution_info.scheduling_error
    check(j.state == "completed" and err.code == "InvalidAutoScaleFormulaInAutoPool" and err.category.lower() == "usererror",
          "bad auto pool: job completed with %s" % err.code)

    kept = m.BatchAutoPoolSpecification(pool_lifetime_option="job", keep_alive=True,
                                        pool=m.BatchPoolSpecification(vm_size="standard_d2_v3", virtual_machine_configuration=vm()))
    client.create_job(m.BatchJobCreateOptions(id="keptjob", pool_info=m.BatchPoolInfo(auto_pool_specification=kept)))
    kept_id = client.get_job("keptjob").execution_info.pool_id
    client.begin_delete_job("keptjob", polling_interval=0.1).result()
    time.sleep(0.5)
    check(client.get_pool(kept_id).state == "active", "keepAlive: the auto pool outlives its job")

    shared = m.BatchAutoPoolSpecification(auto_pool_id_prefix="sched", pool_lifetime_option="jobschedule",
                                          pool=m.BatchPoolSpecification(vm_size="standard_d2_v3", virtual_machine_configuration=vm()))
    client.create_job_schedule(m.BatchJobScheduleCreateOptions(
        id="autosched", schedule=m.BatchJobScheduleConfiguration(recurrence_interval=MIN),
        job_specification=m.BatchJobSpecification(pool_info=m.BatchPoolInfo(auto_pool_specification=shared))))
    j1 = wait_for("autosched job-1", lambda: next(iter(client.list_jobs_from_schedule("autosched")), None))
    client.begin_terminate_job(j1.id, TERMINATE, polling_interval=0.1).result()
    wait_for("autosched job-2", lambda: len(list(client.list_jobs_from_schedule("autosched"))) == 2)
    pools = {client.get_job(j.id).execution_info.pool_id for j in client.list_jobs_from_schedule("autosched")}
    check(len(pools) == 1 and next(iter(pools)).startswith("sched_"), "jobs of a schedule share its auto pool")
    shared_id = next(iter(pools))
    check(client.get_pool(shared_id).state == "active", "the schedule's auto pool outlives job-1")
    client.begin_terminate_job_schedule("autosched", polling_interval=0.2).result()
    wait_for("the schedule's auto pool deleted with it", lambda: gone(lambda: client.get_pool(shared_id)))


if __name__ == "__main__":
    main("batch_sdk15_schedules", run)
