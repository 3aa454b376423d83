// What the JavaScript conformance scripts share: the SDKs from JS_MODULES (where
// scripts/install-test-deps installs them), checks that print what passed and count it, waits.
import { createRequire } from "node:module";

export const require = createRequire(process.env.JS_MODULES + "/");

let steps = 0;
export function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  steps += 1;
  console.log("ok:", what);
}
export function checked() {
  return steps;
}
export async function waitFor(what, fn, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}
