// The backbone (ResNetFPN) against a float64 CPU backbone and the reference
// tensors, its strips, and its memory. Its convolution kernel alone is a
// family of the kernel cases (tests/kernels/cases.ts).
import assert from "node:assert/strict";
import { createBackbone } from "../../src/model/backbone.ts";
import type { ConvActivation } from "../../src/kernels/conv2d.ts";
import { Gpu, type KernelTuning } from "../../src/gpu/mod.ts";
import { BUNDLED_WEIGHTS, loadWeights } from "../../src/io/weights.ts";
import {
  assertIdentical,
  fixture,
  fullRandomWeights,
  needsShared,
  readNpy,
  relL2,
  seededRandom,
  sharedDir,
  TUNINGS,
} from "../support/util.ts";
import { activate, conv2dRef, type Map3, randomImage, upsampleRef } from "../kernels/references.ts";
import type { HostTensor, ModelWeights } from "../../src/model/parameters.ts";
import { loadImage } from "../../src/io/decode.ts";

/** ResNetFPN on the CPU in float64 from the unfolded state dict (BatchNorm applied as such). */
function backboneRef(tensors: Map<string, HostTensor>, image: Map3, stages: number) {
  const t = (name: string) => tensors.get(`backbone.${name}`)!;
  const bn = (m: Map3, name: string, activation: ConvActivation = "none"): Map3 => {
    const [c, h, w] = m.shape;
    const out = new Float64Array(m.data.length);
    for (let k = 0; k < c; k++) {
      const s = t(`${name}.weight`).data[k] / Math.sqrt(t(`${name}.running_var`).data[k] + 1e-5);
      const shift = t(`${name}.bias`).data[k] - t(`${name}.running_mean`).data[k] * s;
      for (let i = k * h * w; i < (k + 1) * h * w; i++) {
        out[i] = activate(m.data[i] * s + shift, activation);
      }
    }
    return { shape: m.shape, data: out };
  };
  const conv = (m: Map3, name: string, stride = 1, padding?: number) =>
    conv2dRef(m, t(name), null, { stride, padding });
  let x = bn(conv(image, "conv1.weight", 2, 3), "bn1", "relu");
  const outs: Map3[] = [];
  for (let i = 1; i <= stages; i++) {
    for (let b = 0; b < 2; b++) {
      const p = `layer${i}.${b}`, stride = i > 1 && b === 0 ? 2 : 1;
      const y = bn(
        conv(bn(conv(x, `${p}.conv1.weight`, stride), `${p}.bn1`, "relu"), `${p}.conv2.weight`),
        `${p}.bn2`,
      );
      const sc = tensors.has(`backbone.${p}.downsample.0.weight`)
        ? bn(conv(x, `${p}.downsample.0.weight`, stride), `${p}.downsample.1`)
        : x;
      x = { shape: y.shape, data: y.data.map((v, j) => Math.max(v + sc.data[j], 0)) };
    }
    outs.push(x);
  }
  const coarse = conv(x, `layer${stages}_outconv.weight`);
  let above = coarse;
  for (let i = stages - 1; i >= stages - 2; i--) {
    const lat = conv(outs[i - 1], `layer${i}_outconv.weight`);
    const up = upsampleRef(above, lat.shape[1], lat.shape[2]);
    const sum: Map3 = { shape: lat.shape, data: lat.data.map((v, j) => v + up.data[j]) };
    const h = bn(conv(sum, `layer${i}_outconv2.0.weight`), `layer${i}_outconv2.1`, "leaky_relu");
    above = conv(h, `layer${i}_outconv2.3.weight`);
  }
  return { coarse, fine: above };
}

for (const tuning of TUNINGS) {
  Deno.test(`backbone ResNetFPN_16_4 (bundled weights, ${tuning} tuning): coarse and the optional 1/4 FPN map match a float64 CPU backbone at 96×64`, async () => {
    const weights = await loadWeights(BUNDLED_WEIGHTS);
    assert.equal(weights.config.backbone, "ResNetFPN_16_4");
    const rand = seededRandom(3);
    const image: Map3 = {
      shape: [1, 64, 96],
      data: Float32Array.from({ length: 64 * 96 }, () => (rand() + 1) / 2),
    };
    const want = backboneRef(weights.tensors, image, 4);
    const gpu = await Gpu.create({ tuning });
    try {
      const backbone = createBackbone(gpu, weights);
      const input = gpu.tensor(image.shape, image.data as Float32Array);
      const before = gpu.memory().inUse;
      const { coarse, fine } = await backbone.run(input, { fine: true });
      assert.deepEqual(coarse.shape, [32, 4, 6]);
      assert.deepEqual(fine?.shape, [16, 16, 24]);
      // Only the two outputs are left alive.
      assert.equal(gpu.memory().inUse - before, coarse.buffer.size + fine!.buffer.size);
      const ec = relL2(await gpu.read(coarse), want.coarse.data);
      const ef = relL2(await gpu.read(fine!), want.fine.data);
      assert.ok(ec < 1e-5 && ef < 1e-5, `rel L2 coarse ${ec}, fine ${ef}`);
      gpu.release(coarse, fine);
      const coarseOnly = await backbone.run(input);
      assert.equal(coarseOnly.fine, null);
      assert.equal(gpu.memory().inUse - before, coarseOnly.coarse.buffer.size);
    } finally {
      gpu.destroy();
    }
  });
}

for (const tuning of TUNINGS) {
  Deno.test(`backbone ResNetFPN_16_4 (bundled weights, ${tuning} tuning): backbone_c0/c1 of tiny_real at 640×480`, async () => {
    const weights = await loadWeights(BUNDLED_WEIGHTS);
    const gpu = await Gpu.create({ tuning });
    try {
      const backbone = createBackbone(gpu, weights);
      for (const [i, png] of ["fountain_0001.png", "fountain_0000.png"].entries()) {
        const img = await loadImage(fixture(`images/${png}`));
        const input = gpu.tensor([1, img.height, img.width], img.data);
        const { coarse, fine } = await backbone.run(input);
        assert.equal(fine, null);
        const want = readNpy(fixture(`tiny_real/backbone_c${i}.npy`));
        assert.deepEqual(coarse.shape, want.shape);
        const err = relL2(await gpu.read(coarse), want.data);
        assert.ok(err < 1e-5, `backbone_c${i}: rel L2 ${err}`);
        gpu.release(input, coarse);
      }
    } finally {
      gpu.destroy();
    }
  });
}

for (const tuning of TUNINGS) {
  Deno.test({
    // About 75 GFLOP, several seconds on lavapipe: one image only.
    ...needsShared(
      `backbone ResNetFPN_8_2 (full_random, ${tuning} tuning): backbone_c0 and backbone_f0 at 320×240, image 0 only`,
    ),
    fn: async () => {
      const R = `${sharedDir}reference/full_random/`;
      const weights = await fullRandomWeights();
      const gpu = await Gpu.create({ tuning });
      try {
        const image = readNpy(`${R}image0.npy`);
        const input = gpu.tensor(image.shape, image.data as Float32Array);
        const { coarse, fine } = await createBackbone(gpu, weights).run(input);
        for (const [name, t] of [["backbone_c0", coarse], ["backbone_f0", fine!]] as const) {
          const want = readNpy(`${R}${name}.npy`);
          assert.deepEqual(t.shape, want.shape);
          const err = relL2(await gpu.read(t), want.data);
          assert.ok(err < 1e-5, `${name}: rel L2 ${err}`);
        }
      } finally {
        gpu.destroy();
      }
    },
  });
}

/**
 * Runs the backbone on `image` with one strip per chain (a budget no map
 * exceeds) and with each of `budgets`, with the kernels of `tuning`, and
 * asserts that the coarse and fine maps are bit-identical.
 */
async function assertStripsIdentical(
  weights: ModelWeights,
  image: Map3,
  budgets: number[],
  tuning: KernelTuning,
) {
  const gpu = await Gpu.create({ tuning });
  try {
    const backbone = createBackbone(gpu, weights);
    const input = gpu.tensor(image.shape, image.data as Float32Array);
    const run = async (maxStripBytes: number) => {
      const { coarse, fine } = await backbone.run(input, { fine: true, maxStripBytes });
      const maps = [await gpu.read(coarse), await gpu.read(fine!)];
      gpu.release(coarse, fine);
      return maps;
    };
    const [coarse, fine] = await run(Infinity);
    for (const budget of budgets) {
      const [c, f] = await run(budget);
      assertIdentical(c, coarse, `coarse, maxStripBytes ${budget}`);
      assertIdentical(f, fine, `fine, maxStripBytes ${budget}`);
    }
  } finally {
    gpu.destroy();
  }
}

for (const tuning of TUNINGS) {
  Deno.test(`backbone ResNetFPN_16_4 (bundled weights, ${tuning} tuning): strips of any height give bit-identical coarse and fine maps at 160×128`, async () => {
    // Budget 1: one-row strips in every chain. 10 240: 2-row strips in the
    // BasicBlocks at 1/2, 1/4 and 1/8. 12 800: 3-row strips there (64, 32 and
    // 16 rows: last strips of 1, 2 and 1 rows). The FPN runs in one-row strips
    // with both, layer4 in one strip.
    await assertStripsIdentical(await loadWeights(BUNDLED_WEIGHTS), randomImage(128, 160, 5), [
      1,
      10_240,
      12_800,
    ], tuning);
  });
}

for (const tuning of TUNINGS) {
  Deno.test({
    ...needsShared(
      `backbone ResNetFPN_8_2 (full_random, ${tuning} tuning): strips of any height give bit-identical coarse and fine maps at 160×120`,
    ),
    fn: async () => {
      // Budget 1: one-row strips in every chain. Budget 1 254 400: layer1 in
      // strips of 28, 28 and 4 rows, the FPN at 1/4 in 12, 12 and 6, the FPN at
      // 1/2 in eight of 7 rows and one of 4; one strip for layer2 and layer3.
      await assertStripsIdentical(await fullRandomWeights(), randomImage(120, 160, 6), [
        1,
        1_254_400,
      ], tuning);
    },
  });
}

Deno.test({
  ...needsShared(
    "backbone ResNetFPN_8_2 (full_random): strips lower the peak memory at 160×120 by more than the FPN's whole 1/2 maps",
  ),
  fn: async () => {
    const gpu = await Gpu.create();
    try {
      const backbone = createBackbone(gpu, await fullRandomWeights());
      const image = randomImage(120, 160, 6);
      const input = gpu.tensor(image.shape, image.data as Float32Array);
      const peak = async (maxStripBytes: number) => {
        gpu.trim();
        gpu.resetPeak();
        const before = gpu.memory().allocated;
        const out = await backbone.run(input, { maxStripBytes });
        await gpu.sync();
        gpu.release(out.coarse, out.fine);
        return gpu.memory().peak - before;
      };
      const whole = await peak(Infinity);
      const strips = await peak(512 * 1024);
      // One strip holds the FPN level at 1/2 whole: sum and h, 196 × 60 × 80
      // each; in strips they never exist whole (nor layer1's y).
      const sumAndH = 2 * 4 * 196 * 60 * 80;
      const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
      assert.ok(
        whole - strips > sumAndH,
        `peak ${mib(whole)} in one strip, ${mib(strips)} in strips`,
      );
    } finally {
      gpu.destroy();
    }
  },
});
