// The kernel cases of cases.ts under Deno's WebGPU: one test per case and
// kernel tuning, on a device of that tuning, failing with each output's
// measured error and its tolerance. Cases that need shader-f16 are skipped
// (with a note in the name) where the adapter lacks it.
//
// KERNEL_VERDICTS=1 prints every comparison's measured error, passing or not.
import assert from "node:assert/strict";
import { Gpu } from "../../src/gpu/mod.ts";
import { needsShaderF16 } from "../support/util.ts";
import { CASES, judge } from "./cases.ts";

const verbose = Deno.env.get("KERNEL_VERDICTS") === "1";

for (const c of CASES) {
  for (const tuning of c.tunings) {
    const name = `kernel ${c.name} (${tuning} tuning)`;
    const skip = c.requires === "shader-f16" ? await needsShaderF16(name) : { ignore: false, name };
    Deno.test({
      ...skip,
      fn: async () => {
        const gpu = await Gpu.create({ tuning });
        try {
          const verdicts = judge(c, await c.run(gpu));
          if (verbose) {
            for (const v of verdicts) console.log(`  ${v.ok ? "ok  " : "FAIL"} ${v.message}`);
          }
          const failed = verdicts.filter((v) => !v.ok);
          assert.ok(failed.length === 0, failed.map((v) => v.message).join("\n"));
        } finally {
          gpu.destroy();
        }
      },
    });
  }
}
