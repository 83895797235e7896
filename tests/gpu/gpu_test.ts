// The GPU layer's own behaviour: dispatches sized on the GPU for a live count,
// the memory budget that frees pooled buffers, f16 tensors and kernel variants.
import assert from "node:assert/strict";
import { Gpu, GpuError } from "../../src/gpu/mod.ts";
import { linear } from "../../src/kernels/linear.ts";
import { needsShaderF16, rejection, TUNINGS } from "../support/util.ts";

const MiB = 2 ** 20;

for (const tuning of TUNINGS) {
  Deno.test(`live dispatch: only the slots below the GPU-side count are computed (${tuning} tuning)`, async () => {
    const gpu = await Gpu.create({ tuning });
    try {
      // y = x · 1 over 4 slots of 64 rows (two linear.wgsl tiles each with the
      // "cpu" tuning, one with "gpu"); this range starts at slot 1 of the count's numbering.
      const slots = 4, rows = 64, K = 4, M = slots * rows;
      const x = gpu.tensor([M, K], new Float32Array(M * K).fill(1));
      const weights = {
        weight: gpu.tensor([1, K], new Float32Array(K).fill(1)),
        bias: gpu.tensor([1], new Float32Array(1)),
      };
      for (const [count, live] of [[3, 2], [0, 0], [1, 0], [100, 4]]) {
        const counter = gpu.tensor([1], Uint32Array.of(count), "u32");
        // The output reuses this released buffer: rows not computed keep the marker.
        gpu.release(gpu.tensor([M, 1], new Float32Array(M).fill(-7)));
        const y = await linear(gpu, x, weights, { live: { counter, first: 1, slots } });
        const want = Float32Array.from({ length: M }, (_, r) => r < live * rows ? K : -7);
        assert.deepEqual(await gpu.read(y), want, `count ${count}`);
        gpu.release(y, counter);
      }
    } finally {
      gpu.destroy();
    }
  });
}

Deno.test("kernel tuning: 'cpu' on a CPU fallback adapter unless asked; anything else is refused", async () => {
  const gpu = await Gpu.create();
  try {
    assert.equal(gpu.tuning, gpu.isFallback ? "cpu" : "gpu");
  } finally {
    gpu.destroy();
  }
  await assert.rejects(
    () => Gpu.create({ tuning: "fast" as "gpu" }),
    (e: Error) =>
      e instanceof GpuError && /tuning must be "cpu" or "gpu", got "fast"/.test(e.message),
  );
});

Deno.test("bind groups: a repeated dispatch reuses its own; results stay right once the buffers it bound are destroyed", async () => {
  const gpu = await Gpu.create({ memoryBudget: 4 * MiB });
  try {
    const K = 8, M = 64;
    const weights = {
      weight: gpu.tensor([1, K], new Float32Array(K).fill(1)),
      bias: gpu.tensor([1], new Float32Array(1)),
    };
    // y = Σ x over a row, for x filled with v: 8·v.
    const run = async (v: number) => {
      const x = gpu.tensor([M, K], new Float32Array(M * K).fill(v));
      const y = await linear(gpu, x, weights);
      const got = await gpu.read(y);
      gpu.release(x, y);
      assert.ok(got.every((e) => e === 8 * v), `x = ${v}: got ${got[0]}`);
    };
    await run(1);
    const created = gpu.bindGroupCount;
    await run(2); // same pooled buffers, same uniforms: no new bind group
    assert.equal(gpu.bindGroupCount, created);
    gpu.trim(); // x and y's buffers are destroyed: their bind groups must go too
    await run(3);
    assert.equal(gpu.bindGroupCount, created + 1);
    // Evicting pooled buffers for a larger allocation drops the bind groups too.
    gpu.release(gpu.tensor([MiB]));
    await run(4);
    gpu.tensor([(3.5 * MiB) / 4]); // evicts the pool (budget 4 MiB)
    await run(5);
  } finally {
    gpu.destroy();
  }
});

Deno.test("memory budget: pooled buffers are freed before passing it, pending work still completes", async () => {
  const gpu = await Gpu.create({ memoryBudget: 3 * MiB });
  try {
    const n = MiB / 4; // 1 MiB of floats
    const a = gpu.tensor([n], new Float32Array(n).fill(2));
    const b = gpu.tensor([n]);
    gpu.copy(a, b); // recorded, not yet submitted
    gpu.release(a); // pooled while the copy still needs it
    // 2.5 MiB does not fit in the pooled 1 MiB buffer and would pass the budget
    // with it: the pool is flushed and freed first, and the copy completes.
    const c = gpu.tensor([2.5 * n]);
    assert.equal(gpu.memory().allocated, MiB + 2.5 * MiB);
    assert.ok((await gpu.read(b)).every((v) => v === 2));
    gpu.release(b, c);
    // Live tensors are never freed: past the budget, allocation goes on.
    const d = gpu.tensor([4 * n]);
    assert.equal(gpu.memory().inUse, 4 * MiB);
    gpu.release(d);
    await assert.rejects(() => Gpu.create({ memoryBudget: 0 }), GpuError);
  } finally {
    gpu.destroy();
  }
});

Deno.test("f16 tensors: 2 bytes per element, upload rounds to the nearest f16 (ties to even), read-back widens exactly", async () => {
  const gpu = await Gpu.create();
  try {
    const u = 2 ** -11; // half the spacing of f16 values in [1, 2)
    // An odd count (writeBuffer takes whole words): exact values, ties (to the
    // even neighbour: 1 and 1 + 4u), just past a tie, the largest finite f16,
    // overflow, a subnormal rounded to a multiple of 2^-24, underflow to ±0.
    const values = [0.5, -3, 1 + u, 1 + 3 * u, 1 + u + 2 ** -20, 65504, 65520, 1e-7, 2 ** -26, -0];
    const want = [0.5, -3, 1, 1 + 4 * u, 1 + 2 * u, 65504, Infinity, 2 ** -23, 0, -0];
    const t = gpu.tensor([values.length], Float32Array.from(values), "f16");
    assert.equal(t.buffer.size, 32); // 20 bytes, rounded up to 16
    assert.deepEqual(Array.from(await gpu.read(t)), want);
    assert.deepEqual(Array.from(await gpu.read(t, 3)), want.slice(0, 3));
    // Copies count 2-byte elements too.
    const c = gpu.tensor([values.length], undefined, "f16");
    gpu.copy(t, c);
    assert.deepEqual(Array.from(await gpu.read(c)), want);
    gpu.release(t, c);
  } finally {
    gpu.destroy();
  }
});

Deno.test({
  ...await needsShaderF16(
    "f16 kernels: one pipeline per file, entry point and precision, cached; a kernel without `elem` has no f16 variant",
  ),
  fn: async () => {
    const gpu = await Gpu.create();
    try {
      const conv = new URL("../../src/kernels/conv2d.wgsl", import.meta.url);
      const f16 = await gpu.kernel(conv, "main", {}, "f16");
      assert.equal(await gpu.kernel(conv, "main", {}, "f16"), f16);
      assert.notEqual(await gpu.kernel(conv, "main", {}), f16);
      const layerNorm = new URL("../../src/kernels/layer_norm.wgsl", import.meta.url);
      const e = await rejection(gpu.kernel(layerNorm, "main", {}, "f16"));
      assert.ok(e instanceof GpuError && /no f16 variant/.test(e.message), e.message);
    } finally {
      gpu.destroy();
    }
  },
});
