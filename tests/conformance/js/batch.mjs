// Drives the emulator's Batch service with @azure/batch 10.2.0 at its default api-version
// (2022-10-01.16.0), as its users write it. Env: BATCH_ENDPOINT, BATCH_ACCOUNT, BATCH_KEY.
// Exits non-zero on any failure.
import { check, checked, require, waitFor } from "./check.mjs";

const { BatchServiceClient, BatchSharedKeyCredentials } = require("@azure/batch");

async function all(pages) {
  const out = [];
  for await (const x of pages) out.push(x);
  return out;
}
async function failsWith(code, fn) {
  try {
    await fn();
  } catch (e) {
    const got = e.body?.code ?? e.code;
    if (got === code) return true;
    throw new Error(`expected ${code}, got ${got}: ${e.message}`);
  }
  throw new Error(`expected ${code}, the call succeeded`);
}
async function list(first, next) {
  let page = await first();
  const items = [...page];
  while (page.odatanextLink) {
    page = await next(page.odatanextLink);
    items.push(...page);
  }
  return items;
}

const client = new BatchServiceClient(
  new BatchSharedKeyCredentials(process.env.BATCH_ACCOUNT, process.env.BATCH_KEY),
  process.env.BATCH_ENDPOINT,
);
console.log("api-version:", client.apiVersion);

await client.pool.add({
  id: "jspool",
  vmSize: "standard_d1_v2",
  targetDedicatedNodes: 1,
  taskSlotsPerNode: 2,
  virtualMachineConfiguration: {
    imageReference: { publisher: "canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts" },
    nodeAgentSKUId: "batch.node.ubuntu 22.04",
  },
  startTask: { commandLine: "/bin/sh -c 'echo up'", waitForSuccess: true },
});
check((await client.pool.exists("jspool")).body === true, "pool exists");
await failsWith("PoolExists", () => client.pool.add({ id: "jspool", vmSize: "x" }));
const pool = await client.pool.get("jspool");
check(pool.taskSlotsPerNode === 2 && pool.resizeTimeout === "PT15M", "pool get");
check((await list(() => client.pool.list(), (n) => client.pool.listNext(n))).some((p) => p.id === "jspool"), "pool list");
const nodes = await waitFor("an idle node", async () => {
  const ns = await client.computeNode.list("jspool");
  return ns.length === 1 && ns[0].state === "idle" ? ns : null;
});
let node = nodes[0].id;
check((await client.computeNode.get("jspool", node)).startTaskInfo.result === "success", "node get");
await client.pool.patch("jspool", { metadata: [{ name: "team", value: "js" }] });
check((await client.pool.get("jspool")).metadata[0].value === "js", "pool patch");
await client.pool.updateProperties("jspool", {
  startTask: { commandLine: "/bin/true" },
  certificateReferences: [],
  applicationPackageReferences: [],
  metadata: [],
});
const replaced = await client.pool.get("jspool");
check(replaced.startTask.commandLine === "/bin/true" && !replaced.metadata, "pool updateProperties");
await client.pool.resize("jspool", { targetDedicatedNodes: 3 });
await client.pool.stopResize("jspool");
await waitFor("steady", async () => (await client.pool.get("jspool")).allocationState === "steady");
check(true, "pool resize and stopResize");
await client.pool.resize("jspool", { targetDedicatedNodes: 2 });
const two = await waitFor("two idle nodes", async () => {
  const ns = await client.computeNode.list("jspool");
  return ns.length === 2 && ns.every((n) => n.state === "idle") ? ns : null;
});
const counts = await client.account.listPoolNodeCounts();
check(counts.some((c) => c.poolId === "jspool" && c.dedicated.idle === 2), "account listPoolNodeCounts");
check((await client.account.listSupportedImages()).length > 0, "account listSupportedImages");
const [keep, leave] = [two[0].id, two[1].id];
await client.pool.removeNodes("jspool", { nodeList: [leave] });
await waitFor("one node left", async () => (await client.computeNode.list("jspool")).length === 1);
check((await client.computeNode.list("jspool"))[0].id === keep, "the named node left");
node = keep;
check(true, "pool removeNodes");

await client.job.add({
  id: "jsjob",
  poolInfo: { poolId: "jspool" },
  usesTaskDependencies: true,
  jobPreparationTask: { commandLine: "/bin/sh -c 'echo prep'" },
  jobReleaseTask: { commandLine: "/bin/sh -c 'echo release'" },
});
await client.job.patch("jsjob", { priority: 7 });
check((await client.job.get("jsjob")).priority === 7, "job patch");
await client.job.update("jsjob", { poolInfo: { poolId: "jspool" }, constraints: { maxTaskRetryCount: 1 } });
const job = await client.job.get("jsjob");
check(job.priority === 0 && job.constraints.maxTaskRetryCount === 1, "job update (PUT)");
await client.job.disable("jsjob", "requeue");
await waitFor("disabled", async () => (await client.job.get("jsjob")).state === "disabled");
await client.job.enable("jsjob");
await waitFor("active", async () => (await client.job.get("jsjob")).state === "active");
check(true, "job disable and enable");
const added = await client.task.addCollection(
  "jsjob",
  Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, commandLine: `/bin/sh -c 'echo ${i}'` })),
);
// The service writes `Success` (recorded), whatever the enum of the SDK says.
check(added.value.every((r) => r.status.toLowerCase() === "success"), "task addCollection");
await client.task.add("jsjob", {
  id: "after",
  commandLine: "/bin/true",
  dependsOn: { taskIdRanges: [{ start: 0, end: 9 }] },
});
await waitFor("all completed", async () => (await client.job.getTaskCounts("jsjob")).taskCounts.completed === 11);
const tc = await client.job.getTaskCounts("jsjob");
check(tc.taskCounts.succeeded === 11 && tc.taskSlotCounts.succeeded === 11, "job getTaskCounts");
const tasks = await list(
  () => client.task.list("jsjob", { taskListOptions: { filter: "state eq 'completed'", maxResults: 4 } }),
  (n) => client.task.listNext(n),
);
check(tasks.length === 11, "task list with filter and paging");
const t3 = await client.task.get("jsjob", "t3");
check(t3.executionInfo.exitCode === 0 && t3.nodeInfo.nodeId === node, "task get");
await client.task.update("jsjob", "t3", { constraints: { maxWallClockTime: "PT1H" } });
check((await client.task.get("jsjob", "t3")).constraints.maxWallClockTime === "PT1H", "task update");
const out = await client.file.getFromTask("jsjob", "t3", "stdout.txt");
const text = await new Promise((resolve) => {
  let s = "";
  out.readableStreamBody.on("data", (d) => (s += d));
  out.readableStreamBody.on("end", () => resolve(s));
});
check(text === "3\n", "file getFromTask");
const props = await client.file.getPropertiesFromTask("jsjob", "t3", "stdout.txt");
check(props.contentLength === 2, "file getPropertiesFromTask");
check((await client.file.listFromTask("jsjob", "t3", { recursive: true })).some((f) => f.name === "stdout.txt"), "file listFromTask");
await client.file.deleteFromTask("jsjob", "t3", "stdout.txt");
// A streamed read's error body is not parsed by the SDK: its status says it.
const gone = await client.file.getFromTask("jsjob", "t3", "stdout.txt").then(() => null, (e) => e);
check(gone?.statusCode === 404, "file deleteFromTask");
check((await client.file.listFromComputeNode("jspool", node, { recursive: true })).some((f) => f.name === "startup/stdout.txt"), "file listFromComputeNode");
await client.file.deleteFromComputeNode("jspool", node, "startup/stdout.txt");
check(true, "file deleteFromComputeNode");
await client.task.add("jsjob", { id: "bad", commandLine: "/bin/sh -c 'exit 2'" });
await waitFor("bad failed", async () => (await client.task.get("jsjob", "bad")).state === "completed");
await client.task.reactivate("jsjob", "bad");
await client.task.terminate("jsjob", "bad");
await client.task.deleteMethod("jsjob", "bad");
await failsWith("TaskNotFound", () => client.task.get("jsjob", "bad"));
check(true, "task reactivate, terminate, delete");
await client.computeNode.reboot("jspool", node);
check(true, "node reboot");
// Reimage (this api-version has it): once back from the reboot, the node is reinstalled and
// boots again.
const idle = async () => {
  const n = await client.computeNode.get("jspool", node);
  return n.state === "idle" ? n : null;
};
const rebooted = await waitFor("the node back from its reboot", idle);
await client.computeNode.reimage("jspool", node, { nodeReimageOption: "taskcompletion" });
await waitFor("the node back from its reimage", async () => {
  const n = await idle();
  return n && n.lastBootTime.getTime() > rebooted.lastBootTime.getTime();
});
check(true, "node reimage");
await client.job.terminate("jsjob");
await waitFor("job completed", async () => (await client.job.get("jsjob")).state === "completed");
const status = await client.job.listPreparationAndReleaseTaskStatus("jsjob");
check(status[0].jobReleaseTaskExecutionInfo.state === "completed", "job listPreparationAndReleaseTaskStatus");
await client.job.deleteMethod("jsjob");
await client.pool.deleteMethod("jspool");
await waitFor("pool gone", async () => (await client.pool.exists("jspool")).body === false);
console.log(`steps: ${checked()}`);
console.log("batch.mjs: all checks passed");
