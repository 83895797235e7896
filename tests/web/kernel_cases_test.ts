/// <reference lib="dom" />
// The kernel tests' cases (tests/kernels/cases.ts, the table-driven harness
// the Deno tests run on wgpu + lavapipe) run in Chromium on Dawn +
// SwiftShader, a second WebGPU implementation, with both kernel tunings.
// Each case checks its own result; a failure is reported with the case's
// message. Expected shape of the harness:
//
//   export const KERNEL_CASES: readonly {
//     name: string;
//     requires?: string | readonly string[]; // WebGPU features, e.g. "shader-f16"
//     run(gpu: Gpu): Promise<unknown>;        // throws where the kernel is wrong…
//     check?(result: unknown): void;          // …or returns what check() judges
//   }[];
import assert from "node:assert/strict";
import type { KernelTuning } from "../../src/gpu/mod.ts";
import { buildSite, REPO_ROOT, siteHandler } from "../../web/build/site.ts";
import { BrowserSession, browserTest } from "../support/browser.ts";

const CASES = "tests/kernels/cases.ts";
const present = await Deno.stat(REPO_ROOT + CASES).then(() => true, () => false);

/** One case's outcome in the page. */
interface Outcome {
  name: string;
  status: "pass" | "fail" | "skip";
  message: string;
  ms: number;
}

/** The page's entry, written at run time: the harness may not exist when this file is checked. */
const ENTRY = `/// <reference lib="dom" />
import { Gpu, type KernelTuning } from "../../src/gpu/mod.ts";
import { KERNEL_CASES } from "../../${CASES}";

type Case = {
  name: string;
  requires?: string | readonly string[];
  run(gpu: Gpu): Promise<unknown>;
  check?(result: unknown): void;
};

async function runCases(tuning: KernelTuning) {
  const gpu = await Gpu.create({ tuning });
  const out = [];
  try {
    for (const c of KERNEL_CASES as readonly Case[]) {
      const needs = [c.requires ?? []].flat();
      const missing = needs.filter((f) => !gpu.device.features.has(f as GPUFeatureName));
      const t0 = performance.now();
      if (missing.length) {
        out.push({ name: c.name, status: "skip", message: \`needs \${missing.join(", ")}\`, ms: 0 });
        continue;
      }
      try {
        const result = await c.run(gpu);
        c.check?.(result);
        out.push({ name: c.name, status: "pass", message: "", ms: performance.now() - t0 });
      } catch (e) {
        const message = e instanceof Error ? \`\${e.name}: \${e.message}\` : String(e);
        out.push({ name: c.name, status: "fail", message, ms: performance.now() - t0 });
      }
    }
  } finally {
    gpu.destroy();
  }
  return { adapter: gpu.adapterName, tuning: gpu.tuning, cases: out };
}

(globalThis as unknown as { runCases: typeof runCases }).runCases = runCases;
`;

const HTML = `<!doctype html><meta charset="utf-8"><title>kernel cases</title>
<link rel="icon" href="data:,"><script type="module" src="web/kernel_cases.js"></script>`;

async function runInChromium(): Promise<void> {
  const dir = `${REPO_ROOT}out/web-test`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/kernel_cases_entry.ts`, ENTRY);
  await Deno.writeTextFile(`${dir}/kernel_cases.html`, HTML);
  const site = await buildSite({
    bundles: [{ entry: "out/web-test/kernel_cases_entry.ts", bundlePath: "web/kernel_cases.js" }],
    html: "out/web-test/kernel_cases.html",
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    siteHandler(site),
  );
  const browser = await BrowserSession.launch();
  try {
    await browser.open(`http://127.0.0.1:${server.addr.port}/`);
    await browser.waitFor(() => "runCases" in globalThis, 60_000);
    const failures: string[] = [];
    for (const tuning of ["cpu", "gpu"] as KernelTuning[]) {
      const t0 = performance.now();
      const r = await browser.evaluate(
        (t) =>
          (globalThis as unknown as {
            runCases(
              t: KernelTuning,
            ): Promise<{ adapter: string; tuning: string; cases: Outcome[] }>;
          }).runCases(t),
        tuning,
      );
      assert.equal(r.tuning, tuning);
      const count = (s: string) => r.cases.filter((c) => c.status === s).length;
      console.log(
        `  ${tuning} tuning on ${r.adapter}: ${count("pass")} passed, ${count("fail")} failed, ` +
          `${count("skip")} skipped in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      for (const c of r.cases.filter((c) => c.status !== "pass")) {
        console.log(`    ${c.status} ${c.name}: ${c.message}`);
        if (c.status === "fail") failures.push(`${tuning}: ${c.name}: ${c.message}`);
      }
      assert.ok(r.cases.length > 0, "no cases");
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(browser.errors, []);
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

const NAME = "kernel cases in Chromium (Dawn + SwiftShader), both tunings: every case passes";
if (present) {
  browserTest(NAME, runInChromium);
} else {
  Deno.test({ name: `${NAME} [skipped: ${CASES} not on this branch]`, ignore: true, fn() {} });
}
