import assert from "node:assert/strict";
import { createBackbone } from "../../src/model/backbone.ts";
import {
  conv2d,
  conv2dInputRows,
  conv2dStrip,
  conv2dWeights,
  type ConvActivation,
  wholeMap,
} from "../../src/kernels/conv2d.ts";
import { Gpu, GpuError, type KernelTuning } from "../../src/gpu/mod.ts";
import { BUNDLED_WEIGHTS, loadWeights } from "../../src/io/weights.ts";
import {
  assertIdentical,
  fixture,
  fullRandomWeights,
  needsShared,
  readNpy,
  rejection,
  relL2,
  seededRandom,
  sharedDir,
  TUNINGS,
} from "../support/util.ts";
import {
  activate,
  conv2dError,
  conv2dRef,
  CONV_CASES,
  type ConvCase,
  type Map3,
  randomImage,
  randomMap,
  upsampleRef,
} from "../kernels/conv_ref.ts";
import type { HostTensor, ModelWeights } from "../../src/model/parameters.ts";
import { loadImage } from "../../src/io/decode.ts";

for (const tuning of TUNINGS) {
  Deno.test(`conv2d (${tuning} tuning): every kernel size, stride, activation and residual form matches float64`, async () => {
    const gpu = await Gpu.create({ tuning });
    try {
      const rand = seededRandom(7);
      const x = randomMap([5, 13, 21], rand);
      for (const c of CONV_CASES) {
        const err = await conv2dError(gpu, x, c, rand);
        // Dot products of up to 245 float32 terms: ~1e-7 relative in L2.
        assert.ok(err < 1e-6, `${JSON.stringify(c)}: rel L2 ${err}`);
      }
    } finally {
      gpu.destroy();
    }
  });
}

for (const tuning of TUNINGS) {
  Deno.test(`conv2d (${tuning} tuning): upsampled residual takes align_corners = true values`, async () => {
    const gpu = await Gpu.create({ tuning });
    try {
      // A zero 1×1 convolution leaves exactly up(r).
      const zero = conv2dWeights(gpu, [1, 1, 1, 1], new Float32Array(1), null);
      const up = async (r: number[], h: number, w: number, ho: number, wo: number) => {
        const x = gpu.tensor([1, ho, wo], new Float32Array(ho * wo));
        const rt = gpu.tensor([1, h, w], Float32Array.from(r));
        return Array.from(await gpu.read(await conv2d(gpu, x, zero, { residual: rt })));
      };
      const near = (a: number[], b: number[]) =>
        assert.ok(a.every((v, i) => Math.abs(v - b[i]) < 1e-6), `${a} vs ${b}`);
      // 2×2 → 4×4: source = dst / 3 on both axes, so [[0, 3], [6, 9]] becomes x + 2y.
      near(await up([0, 3, 6, 9], 2, 2, 4, 4), [0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9]);
      // 2×3 → 3×5 (not ×2): rows at source 0, 0.5, 1; columns at 0, 0.5, 1, 1.5, 2.
      near(await up([0, 1, 2, 3, 4, 5], 2, 3, 3, 5), [
        ...[0, 0.5, 1, 1.5, 2],
        ...[1.5, 2, 2.5, 3, 3.5],
        ...[3, 3.5, 4, 4.5, 5],
      ]);
    } finally {
      gpu.destroy();
    }
  });
}

/**
 * Rows `first … end − 1` of a `[C, H, W]` map as a strip `[C, rows, W]`;
 * rows past `end − first` (there when `rows` is larger) are NaN.
 */
function rowsOf(m: Map3, first: number, end: number, rows = end - first): Float32Array {
  const [c, h, w] = m.shape;
  const out = new Float32Array(c * rows * w).fill(NaN);
  for (let k = 0; k < c; k++) {
    out.set(m.data.subarray((k * h + first) * w, (k * h + end) * w), k * rows * w);
  }
  return out;
}

for (const tuning of TUNINGS) {
  Deno.test(`conv2d strips (${tuning} tuning): rows from an input strip, into a strip or into the whole map, are bit-identical to the whole-map convolution`, async () => {
    const gpu = await Gpu.create({ tuning });
    try {
      const rand = seededRandom(11);
      const x = randomMap([5, 13, 21], rand);
      const xt = gpu.tensor(x.shape, x.data as Float32Array);
      const cases: ConvCase[] = [
        { k: 3, stride: 1, activation: "relu", residual: "same" },
        { k: 3, stride: 2, activation: "leaky_relu" },
        { k: 1, stride: 1, activation: "none", residual: "coarse" },
        { k: 7, stride: 2, padding: 3, activation: "relu" },
      ];
      for (const c of cases) {
        const cout = 11;
        const filter = Float32Array.from({ length: cout * 5 * c.k * c.k }, rand);
        const w = conv2dWeights(
          gpu,
          [cout, 5, c.k, c.k],
          filter,
          Float32Array.from({ length: cout }, rand),
        );
        const opts = { stride: c.stride, padding: c.padding, activation: c.activation };
        const whole = await conv2d(gpu, xt, w, opts);
        const [, ho, wo] = whole.shape;
        const residual = c.residual === "same"
          ? gpu.tensor([cout, ho, wo], Float32Array.from({ length: cout * ho * wo }, rand))
          : c.residual === "coarse"
          ? gpu.tensor([cout, 4, 6], Float32Array.from({ length: cout * 24 }, rand))
          : undefined;
        const options = { ...opts, residual };
        gpu.release(whole);
        const want: Map3 = {
          shape: [cout, ho, wo],
          data: await gpu.read(await conv2d(gpu, xt, w, options)) as Float32Array,
        };
        // Output strips at the top, in the middle and at the bottom, each from an
        // input strip holding the rows it reads and two NaN rows below them
        // (past the map's end for the bottom strip, where zero padding must
        // still apply), into a strip of its own.
        const ranges = [{ first: 0, end: 1 }, { first: 2, end: 5 }, { first: ho - 2, end: ho }];
        for (const rows of ranges) {
          const reads = conv2dInputRows(w, opts, rows, 13);
          const held = reads.end - reads.first + 2;
          const xs = gpu.tensor([5, held, 21], rowsOf(x, reads.first, reads.end, held));
          const ys = gpu.tensor([cout, rows.end - rows.first, wo]);
          await conv2dStrip(
            gpu,
            { tensor: xs, first: reads.first, height: 13 },
            w,
            rows,
            { tensor: ys, first: rows.first, height: ho },
            options,
          );
          const what = `${JSON.stringify(c)}, rows ${rows.first}..${rows.end - 1}`;
          assertIdentical(await gpu.read(ys), rowsOf(want, rows.first, rows.end), what);
          gpu.release(xs, ys);
        }
        // The whole output map written strip by strip, from the whole input
        // map, in strips of 1 and of 2 rows: every other strip first (the
        // rows of the others keep their NaN), then the others.
        for (const height of [1, 2]) {
          const y = gpu.tensor([cout, ho, wo], new Float32Array(cout * ho * wo).fill(NaN));
          const strips = [];
          for (let first = 0; first < ho; first += height) {
            strips.push({ first, end: Math.min(first + height, ho) });
          }
          const gaps = want.data.slice();
          for (const [k, rows] of strips.entries()) {
            if (k % 2 === 0) {
              await conv2dStrip(gpu, wholeMap(xt), w, rows, wholeMap(y), options);
              continue;
            }
            for (let ch = 0; ch < cout; ch++) {
              gaps.fill(NaN, (ch * ho + rows.first) * wo, (ch * ho + rows.end) * wo);
            }
          }
          const what = `${JSON.stringify(c)}, ${height}-row strips`;
          assertIdentical(await gpu.read(y), gaps, `${what}, every other one`);
          for (const [k, rows] of strips.entries()) {
            if (k % 2) await conv2dStrip(gpu, wholeMap(xt), w, rows, wholeMap(y), options);
          }
          assertIdentical(await gpu.read(y), want.data, `${what}, whole`);
          gpu.release(y);
        }
        gpu.release(residual, w.weight, w.bias);
      }
      // An input strip without every row the output rows read is refused.
      const w = conv2dWeights(gpu, [2, 5, 3, 3], new Float32Array(90), null);
      const xs = gpu.tensor([5, 3, 21], rowsOf(x, 4, 7));
      const e = await rejection(conv2dStrip(
        gpu,
        { tensor: xs, first: 4, height: 13 },
        w,
        { first: 4, end: 7 },
        wholeMap(gpu.tensor([2, 13, 21])),
      ));
      assert.ok(e instanceof GpuError && /read input rows 3\.\.7/.test(e.message), e.message);
    } finally {
      gpu.destroy();
    }
  });
}

for (const tuning of TUNINGS) {
  Deno.test(`conv2d (${tuning} tuning): partial tiles of channels, pixels and taps match float64`, async () => {
    // The tiles of conv2d.wgsl: `tiled` computes 64 channels × 128 output
    // pixels (the computed rows flattened) per workgroup, over taps (Cin·K²)
    // in chunks of 16; `main` 8 channels × 8 pixels of a row per invocation.
    const cases: [[number, number, number], ConvCase][] = [
      // Cout 70: a whole channel tile and 6 channels (not a whole filter
      // block); Cin·K² = 333: 20 chunks and 13 taps; 6 × 11 = 66 pixels.
      [[37, 6, 11], { k: 3, stride: 1, activation: "relu", cout: 70 }],
      // One whole chunk and one whole channel tile; rows of 130 pixels, so
      // tiles start mid-row; 1170 pixels, a last tile of 18.
      [[16, 9, 130], { k: 1, stride: 1, activation: "none", residual: "same", cout: 64 }],
      // Rows of 3 output pixels: one tile spans 43 rows, the second (150
      // pixels) starts mid-row; 27 taps: a chunk and 11.
      [[3, 100, 5], { k: 3, stride: 2, activation: "leaky_relu", residual: "coarse", cout: 9 }],
      // The stem's shape: 49 taps, three chunks and 1; 700 pixels.
      [[1, 20, 140], { k: 7, stride: 2, padding: 3, activation: "relu", cout: 8 }],
    ];
    const gpu = await Gpu.create({ tuning });
    try {
      const rand = seededRandom(13);
      for (const [shape, c] of cases) {
        const err = await conv2dError(gpu, randomMap(shape, rand), c, rand);
        // Dot products of up to 333 float32 terms: ~1e-7 relative in L2.
        assert.ok(err < 1e-6, `[${shape}] ${JSON.stringify(c)}: rel L2 ${err}`);
      }
    } finally {
      gpu.destroy();
    }
  });
}

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
