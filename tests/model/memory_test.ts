// Peak GPU buffer memory at sizes lavapipe cannot hold (its bindings stop at
// 128 MiB), by replaying a pair's allocations on a device that computes
// nothing (bench/memory.ts); checked first against real runs.
import assert from "node:assert/strict";
import { pairMemory } from "../../testing/memory_replay.ts";
import { Gpu, type KernelTuning, type Precision } from "../../src/gpu/mod.ts";
import { needsShaderF16, TUNINGS } from "../support/util.ts";

/** The replayed peaks of both architectures equal real runs on this adapter at `precision`. */
async function replayEqualsRealRuns(precision: Precision, tuning?: KernelTuning): Promise<void> {
  for (const [model, size] of [["tiny", [640, 480]], ["full", [160, 128]]] as const) {
    const gpu = await Gpu.create({ tuning });
    try {
      const real = await pairMemory(model, [...size], { gpu, precision });
      const replayed = await pairMemory(model, [...size], { precision, tuning: gpu.tuning });
      assert.deepEqual(replayed, real, `${model} ${size} ${precision}`);
    } finally {
      gpu.destroy();
    }
  }
}

for (const tuning of TUNINGS) {
  Deno.test(
    `memory replay: equals the real peak of a pair on this adapter, both architectures (${tuning} tuning)`,
    () => replayEqualsRealRuns("f32", tuning),
  );
}

Deno.test({
  ...await needsShaderF16(
    "memory replay in f16: equals the real peak of a pair on this adapter, both architectures",
  ),
  fn: () => replayEqualsRealRuns("f16"),
});

Deno.test("memory: the full architecture matches a 1600×1200 pair in under 1 GB of buffers", async () => {
  const row = await pairMemory("full", [1600, 1200]);
  assert.ok(row.pairPeakMiB * 2 ** 20 < 1e9, `peak ${row.pairPeakMiB.toFixed(1)} MiB`);
});
