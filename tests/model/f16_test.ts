// The f16 backbone (precision "f16"): the backbone against the reference
// tensors and the f32 path, matches end to end, memory, and the refusal where
// the device lacks `shader-f16`. Skipped (with a note in the name) where the
// adapter lacks `shader-f16`. Its kernels alone (conv2d f16, cast) are kernel
// cases (tests/kernels/cases.ts).
//
// Tolerances are in units of u = 2^-11 ≈ 4.9e-4, the largest relative error
// of one rounding to f16 (11 significant bits, round to nearest).
import assert from "node:assert/strict";
import { syntheticWeights } from "../../testing/synthetic_weights.ts";
import { createBackbone } from "../../src/model/backbone.ts";
import { Gpu, type Precision } from "../../src/gpu/mod.ts";
import { Matcher } from "../../src/pipeline/matcher.ts";
import { LoFTR } from "../../src/model/loftr.ts";
import { BUNDLED_WEIGHTS, loadWeights } from "../../src/io/weights.ts";
import { randomImage } from "../kernels/references.ts";
import {
  assertIdentical,
  fixture,
  fullRandomWeights,
  needsShaderF16,
  readNpy,
  relL2,
  sharedDir,
  TUNINGS,
} from "../support/util.ts";
import { loadImage } from "../../src/io/decode.ts";

const u = 2 ** -11;

// The backbone's outputs come out of 14 (ResNetFPN_8_2's coarse map) to 24
// (ResNetFPN_16_4's 1/4 map) convolutions in a row, each adding about u of
// rounding (above) to the error that the following ones carry on, mostly
// attenuated: measured 1.7u–3.9u relative L2 below. 10u (4.9e-3) leaves a
// margin of 2.5 or more; the f32 path stays under 1e-5 (0.02u) of the same
// references.
const BACKBONE_TOLERANCE = 10 * u;

for (const tuning of TUNINGS) {
  Deno.test({
    ...await needsShaderF16(
      `backbone f16 ResNetFPN_16_4 (bundled weights, ${tuning} tuning): backbone_c0/c1 of tiny_real at 640×480, and the 1/4 map against the f32 path, within 10u`,
    ),
    fn: async () => {
      const weights = await loadWeights(BUNDLED_WEIGHTS);
      const gpu = await Gpu.create({ tuning });
      try {
        const f16 = createBackbone(gpu, weights, { precision: "f16" });
        const f32 = createBackbone(gpu, weights);
        for (const [i, png] of ["fountain_0001.png", "fountain_0000.png"].entries()) {
          const img = await loadImage(fixture(`images/${png}`));
          const input = gpu.tensor([1, img.height, img.width], img.data);
          const half = await f16.run(input, { fine: true });
          const full = await f32.run(input, { fine: true });
          assert.equal(half.coarse.dtype, "f32");
          assert.equal(half.fine!.dtype, "f32");
          const want = readNpy(fixture(`tiny_real/backbone_c${i}.npy`));
          assert.deepEqual(half.coarse.shape, want.shape);
          const ec = relL2(await gpu.read(half.coarse), want.data);
          const ef = relL2(await gpu.read(half.fine!), await gpu.read(full.fine!));
          // Measured: 2.6u and 2.5u (coarse), 3.9u and 3.8u (1/4 map).
          assert.ok(ec < BACKBONE_TOLERANCE, `backbone_c${i}: rel L2 ${ec} (${ec / u} u)`);
          assert.ok(ef < BACKBONE_TOLERANCE, `1/4 map ${i}: rel L2 ${ef} (${ef / u} u)`);
          gpu.release(input, half.coarse, half.fine, full.coarse, full.fine);
        }
      } finally {
        gpu.destroy();
      }
    },
  });
}

for (const tuning of TUNINGS) {
  Deno.test({
    // About 75 GFLOP, ten seconds on lavapipe: one image only.
    ...await needsShaderF16(
      `backbone f16 ResNetFPN_8_2 (full_random, ${tuning} tuning): backbone_c0 and backbone_f0 at 320×240 within 10u, image 0 only`,
      { shared: true },
    ),
    fn: async () => {
      const R = `${sharedDir}reference/full_random/`;
      const gpu = await Gpu.create({ tuning });
      try {
        const image = readNpy(`${R}image0.npy`);
        const input = gpu.tensor(image.shape, image.data as Float32Array);
        const backbone = createBackbone(gpu, await fullRandomWeights(), { precision: "f16" });
        const { coarse, fine } = await backbone.run(input);
        // Measured: 1.7u (coarse), 1.9u (fine).
        for (const [name, t] of [["backbone_c0", coarse], ["backbone_f0", fine!]] as const) {
          const want = readNpy(`${R}${name}.npy`);
          assert.deepEqual(t.shape, want.shape);
          const err = relL2(await gpu.read(t), want.data);
          assert.ok(err < BACKBONE_TOLERANCE, `${name}: rel L2 ${err} (${err / u} u)`);
        }
      } finally {
        gpu.destroy();
      }
    },
  });
}

for (const tuning of TUNINGS) {
  Deno.test({
    ...await needsShaderF16(
      `backbone f16 (${tuning} tuning): strips give bit-identical maps, and the strip budget counts 2-byte elements (ResNetFPN_16_4 at 160×128)`,
    ),
    fn: async () => {
      const weights = await loadWeights(BUNDLED_WEIGHTS);
      const gpu = await Gpu.create({ tuning });
      try {
        const image = randomImage(128, 160, 5);
        const input = gpu.tensor(image.shape, image.data as Float32Array);
        const backbones = {
          f32: createBackbone(gpu, weights),
          f16: createBackbone(gpu, weights, { precision: "f16" }),
        };
        // Runs the backbone at `precision` with the budget: its maps and its number of dispatches.
        const run = async (precision: Precision, maxStripBytes: number) => {
          const backbone = backbones[precision];
          let dispatches = 0;
          const dispatch = gpu.dispatch;
          gpu.dispatch = (d) => {
            dispatches++;
            dispatch.call(gpu, d);
          };
          try {
            const { coarse, fine } = await backbone.run(input, { fine: true, maxStripBytes });
            const maps = [await gpu.read(coarse), await gpu.read(fine!)];
            gpu.release(coarse, fine);
            return { maps, dispatches };
          } finally {
            Reflect.deleteProperty(gpu, "dispatch");
          }
        };
        const whole = await run("f16", Infinity);
        const rows = await run("f16", 1); // one-row strips in every chain
        assertIdentical(rows.maps[0], whole.maps[0], "coarse, one-row strips");
        assertIdentical(rows.maps[1], whole.maps[1], "1/4 map, one-row strips");
        assert.ok(rows.dispatches > whole.dispatches);
        // The largest maps inside a chain are the FPN level at 1/4's sum and h,
        // 32 × 32 × 40 each: 163 840 bytes in f16, which fit this budget whole;
        // in f32 they take twice that and run in strips.
        const budget = 2 * 2 * 32 * 32 * 40;
        assert.equal((await run("f16", budget)).dispatches, whole.dispatches);
        const f32 = await run("f32", budget);
        assert.ok(f32.dispatches > (await run("f32", Infinity)).dispatches);
      } finally {
        gpu.destroy();
      }
    },
  });
}

Deno.test({
  ...await needsShaderF16(
    "backbone f16 ResNetFPN_8_2: weights take half the memory, and the peak buffer memory of a run is below 0.7× f32's at 160×128",
  ),
  fn: async () => {
    const weights = syntheticWeights("full");
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
    const measure = async (precision: Precision) => {
      const gpu = await Gpu.create();
      try {
        const backbone = createBackbone(gpu, weights, { precision });
        const weightBytes = gpu.memory().inUse;
        const image = randomImage(128, 160, 6);
        const input = gpu.tensor(image.shape, image.data as Float32Array);
        gpu.trim();
        gpu.resetPeak();
        const before = gpu.memory().allocated;
        const { coarse, fine } = await backbone.run(input);
        await gpu.sync();
        gpu.release(coarse, fine);
        return { weightBytes, peak: gpu.memory().peak - before };
      } finally {
        gpu.destroy();
      }
    };
    const f32 = await measure("f32");
    const f16 = await measure("f16");
    const figures = `weights ${mib(f16.weightBytes)} vs ${mib(f32.weightBytes)}, ` +
      `peak ${mib(f16.peak)} vs ${mib(f32.peak)}`;
    // Filters in f16, biases in f32 (0.1% of the weights).
    assert.ok(f16.weightBytes < 0.51 * f32.weightBytes, figures);
    // Every map is half the size; the two f32 outputs, allocated at the end
    // beside the pooled f16 buffers, keep the peak above one half (measured
    // 12.0 vs 19.0 MiB, 0.63).
    assert.ok(f16.peak < 0.7 * f32.peak, figures);
  },
});

Deno.test({
  ...await needsShaderF16(
    "precision f16: end to end, the bundled model on the reference 640×480 inputs finds at least 95% of the reference's 717 matches",
  ),
  fn: async () => {
    const matcher = await Matcher.create({ precision: "f16" });
    try {
      assert.equal(matcher.model.precision, "f16");
      const [png0, png1] = ["fountain_0001.png", "fountain_0000.png"].map((f) =>
        fixture(`images/${f}`)
      );
      const r = await matcher.match(png0, png1, { resize: { width: 640, height: 480 } });
      const i = readNpy(fixture("tiny_real/i_ids.npy")).data;
      const j = readNpy(fixture("tiny_real/j_ids.npy")).data;
      // Coarse keypoints are cell corners (x, y) = (id % 40, id // 40) · 16.
      const corner = (id: number) => `${(id % 40) * 16},${Math.floor(id / 40) * 16}`;
      const reference = new Set(Array.from(i, (id, k) => `${corner(id)} ${corner(j[k])}`));
      const key = (k: number) =>
        `${r.keypoints0[2 * k]},${r.keypoints0[2 * k + 1]} ` +
        `${r.keypoints1[2 * k]},${r.keypoints1[2 * k + 1]}`;
      let found = 0;
      for (let k = 0; k < r.count; k++) found += reference.has(key(k)) ? 1 : 0;
      // Measured: 717 matches, 715 of them the reference's (99.7%).
      const figures = `${found} of the reference's ${reference.size} found, ${r.count} in all`;
      assert.ok(found >= 0.95 * reference.size, figures);
      assert.ok(r.count <= 1.05 * reference.size, figures);
    } finally {
      matcher.destroy();
    }
  },
});

Deno.test("precision f16 on a device without shader-f16: refused with an error naming the feature", async () => {
  const adapter = await navigator.gpu.requestAdapter();
  const gpu = await Gpu.fromDevice(await adapter!.requestDevice(), { name: "a plain device" });
  try {
    assert.equal(gpu.hasShaderF16, false);
    const weights = await loadWeights(BUNDLED_WEIGHTS);
    const message = /precision "f16" needs the WebGPU feature "shader-f16", which a plain device/;
    assert.throws(() => LoFTR.create(gpu, weights, { precision: "f16" }), message);
    await assert.rejects(Matcher.create({ gpu, weights, precision: "f16" }), message);
    assert.equal(LoFTR.create(gpu, weights).precision, "f32");
  } finally {
    gpu.destroy();
  }
});
