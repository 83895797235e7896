/// <reference lib="dom" />
// The page of tests/web/kernel_cases_test.ts: runs the kernel cases of
// tests/kernels/cases.ts under one kernel tuning and reports each case's
// outcome (its failing comparisons, with measured error and tolerance).
import { Gpu, type KernelTuning } from "../../src/gpu/mod.ts";
import { CASES, judge } from "../kernels/cases.ts";

async function runCases(tuning: KernelTuning) {
  const gpu = await Gpu.create({ tuning });
  const out = [];
  try {
    for (const c of CASES.filter((c) => c.tunings.includes(tuning))) {
      const t0 = performance.now();
      if (c.requires && !gpu.device.features.has(c.requires)) {
        out.push({ name: c.name, status: "skip", message: `needs ${c.requires}`, ms: 0 });
        continue;
      }
      try {
        const failed = judge(c, await c.run(gpu)).filter((v) => !v.ok);
        out.push({
          name: c.name,
          status: failed.length ? "fail" : "pass",
          message: failed.map((v) => v.message).join("; "),
          ms: performance.now() - t0,
        });
      } catch (e) {
        const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        out.push({ name: c.name, status: "fail", message, ms: performance.now() - t0 });
      }
    }
  } finally {
    gpu.destroy();
  }
  return { adapter: gpu.adapterName, tuning: gpu.tuning, cases: out };
}

(globalThis as unknown as { runCases: typeof runCases }).runCases = runCases;
