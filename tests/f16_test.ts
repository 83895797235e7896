// The f16 variants of the kernels: the cast, and the convolution against
// float64. Skipped (with a note in the name) where the adapter lacks
// `shader-f16`.
//
// Tolerances are in units of u = 2^-11 ≈ 4.9e-4, the largest relative error
// of one rounding to f16 (11 significant bits, round to nearest).
import assert from "node:assert/strict";
import { cast } from "../src/cast.ts";
import { conv2d, conv2dWeights } from "../src/conv2d.ts";
import { Gpu, GpuError } from "../src/gpu.ts";
import { conv2dError, CONV_CASES, randomMap } from "./conv_ref.ts";
import { needsShaderF16, rejection, seededRandom } from "./util.ts";

const u = 2 ** -11;

Deno.test({
  ...await needsShaderF16(
    "f16 kernels: cast rounds like the host and widens exactly; a kernel without `elem` has no f16 variant",
  ),
  fn: async () => {
    const gpu = await Gpu.create();
    try {
      const values = Float32Array.from({ length: 1001 }, seededRandom(1)).map((v) => 100 * v);
      values.set([1 + u, 1 + 3 * u, 65504, 1e-7, -0], 0); // ties, the largest f16, a subnormal
      const narrow = await cast(gpu, gpu.tensor([values.length], values), "f16");
      assert.equal(narrow.dtype, "f16");
      const host = Array.from(new Float16Array(values));
      assert.deepEqual(Array.from(await gpu.read(narrow)), host);
      const wide = await cast(gpu, narrow, "f32");
      assert.equal(wide.dtype, "f32");
      assert.deepEqual(Array.from(await gpu.read(wide)), host);
      // One pipeline per precision, cached.
      const f16 = await gpu.kernel("conv2d.wgsl", "main", {}, "f16");
      assert.equal(await gpu.kernel("conv2d.wgsl", "main", {}, "f16"), f16);
      assert.notEqual(await gpu.kernel("conv2d.wgsl", "main", {}), f16);
      const e = await rejection(gpu.kernel("layer_norm.wgsl", "main", {}, "f16"));
      assert.ok(e instanceof GpuError && /no f16 variant/.test(e.message), e.message);
    } finally {
      gpu.destroy();
    }
  },
});

Deno.test({
  ...await needsShaderF16(
    "conv2d f16: every kernel size, stride, activation and residual form, and Cin·K² = 2304, within 2u of float64",
  ),
  fn: async () => {
    const gpu = await Gpu.create();
    try {
      // The float64 reference takes the unrounded float32 values. In f16, the
      // input, filter and residual are rounded (≤ u relative each), so is
      // each product (≤ u), and the output once more (≤ u); the sums are f32
      // (≈ 1e-7). Those errors have random signs, so the output's relative
      // L2 error stays at about u (measured 0.75u–0.8u). An f16 accumulator
      // would add a rounding of the partial sum at each of the K terms: with
      // K = Cin·9 = 2304, as in the backbone's 256-channel convolutions, it
      // measured 15u, so 2u also checks that the sums are f32.
      const rand = seededRandom(7);
      const x = randomMap([5, 13, 21], rand);
      for (const c of CONV_CASES) {
        const err = await conv2dError(gpu, x, c, rand, "f16");
        assert.ok(err < 2 * u, `${JSON.stringify(c)}: rel L2 ${err} (${err / u} u)`);
      }
      const wide = randomMap([256, 9, 11], rand);
      const err = await conv2dError(
        gpu,
        wide,
        { k: 3, stride: 1, activation: "relu" },
        rand,
        "f16",
      );
      assert.ok(err < 2 * u, `Cin 256, 3×3: rel L2 ${err} (${err / u} u)`);
      // Maps and filter of different element types are refused.
      const filter = conv2dWeights(gpu, [1, 5, 1, 1], new Float32Array(5), null, "f16");
      const e = await rejection(conv2d(gpu, gpu.tensor(x.shape, x.data as Float32Array), filter));
      assert.ok(e instanceof GpuError && /input f32, filter f16/.test(e.message), e.message);
    } finally {
      gpu.destroy();
    }
  },
});
