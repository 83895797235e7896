/// <reference lib="dom" />
// The kernel cases (tests/kernels/cases.ts, the table the Deno tests run on
// wgpu + lavapipe) run in Chromium on Dawn + SwiftShader, a second WebGPU
// implementation, each under the tunings it lists, judged in the page against
// the same float64 references and tolerances (cases.ts's judge()).
import assert from "node:assert/strict";
import type { KernelTuning } from "../../src/gpu/mod.ts";
import { buildSite, REPO_ROOT, siteHandler } from "../../web/build/site.ts";
import { BrowserSession, browserTest } from "../support/browser.ts";

/** One case's outcome in the page. */
interface Outcome {
  name: string;
  status: "pass" | "fail" | "skip";
  message: string;
  ms: number;
}

const HTML = `<!doctype html><meta charset="utf-8"><title>kernel cases</title>
<link rel="icon" href="data:,"><script type="module" src="web/kernel_cases.js"></script>`;

async function runInChromium(): Promise<void> {
  const dir = `${REPO_ROOT}out/web-test`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/kernel_cases.html`, HTML);
  const site = await buildSite({
    bundles: [{ entry: "tests/web/kernel_cases_page.ts", bundlePath: "web/kernel_cases.js" }],
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
      const reasons = new Set(r.cases.filter((c) => c.status === "skip").map((c) => c.message));
      for (const reason of reasons) console.log(`    skipped: ${reason}`);
      for (const c of r.cases.filter((c) => c.status === "fail")) {
        console.log(`    fail ${c.name}: ${c.message}`);
        failures.push(`${tuning}: ${c.name}: ${c.message}`);
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
browserTest(NAME, runInChromium);
