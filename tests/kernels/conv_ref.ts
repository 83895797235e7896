/**
 * Float64 CPU references of the backbone's convolutions, and the convolution
 * cases the tests run through `conv2d` at either precision.
 */
import assert from "node:assert/strict";
import { conv2d, conv2dWeights, type ConvActivation } from "../../src/kernels/conv2d.ts";
import type { Gpu, Precision } from "../../src/gpu/mod.ts";
import { relL2, seededRandom } from "../support/util.ts";
import type { HostTensor } from "../../src/model/parameters.ts";

/** A `[C, H, W]` map in float64 on the CPU. */
export interface Map3 {
  shape: [number, number, number];
  data: Float64Array | Float32Array;
}

/** The activation `activation` of `v`. */
export function activate(v: number, activation: ConvActivation = "none"): number {
  if (activation === "relu") return Math.max(v, 0);
  return activation === "leaky_relu" && v < 0 ? 0.01 * v : v;
}

/** Bilinear resampling with align_corners = true to `ho × wo`, in float64. */
export function upsampleRef(r: Map3, ho: number, wo: number): Map3 {
  const [c, h, w] = r.shape;
  const out = new Float64Array(c * ho * wo);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < ho; y++) {
      const sy = ho > 1 ? (y * (h - 1)) / (ho - 1) : 0;
      const y0 = Math.min(Math.floor(sy), h - 1), y1 = Math.min(y0 + 1, h - 1), ly = sy - y0;
      for (let x = 0; x < wo; x++) {
        const sx = wo > 1 ? (x * (w - 1)) / (wo - 1) : 0;
        const x0 = Math.min(Math.floor(sx), w - 1), x1 = Math.min(x0 + 1, w - 1), lx = sx - x0;
        const at = (yy: number, xx: number) => r.data[(k * h + yy) * w + xx];
        out[(k * ho + y) * wo + x] = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) +
          ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
      }
    }
  }
  return { shape: [c, ho, wo], data: out };
}

/** `act(conv(x, filter) + bias + residual)` in float64; the residual is upsampled when coarser. */
export function conv2dRef(
  x: Map3,
  filter: HostTensor,
  bias: ArrayLike<number> | null,
  o: { stride?: number; padding?: number; activation?: ConvActivation; residual?: Map3 } = {},
): Map3 {
  const [cin, h, w] = x.shape;
  const [cout, , k] = filter.shape;
  const s = o.stride ?? 1, pad = o.padding ?? (k - 1) / 2;
  const ho = Math.floor((h + 2 * pad - k) / s) + 1, wo = Math.floor((w + 2 * pad - k) / s) + 1;
  const res = o.residual && upsampleRef(o.residual, ho, wo);
  const out = new Float64Array(cout * ho * wo);
  for (let co = 0; co < cout; co++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let v = bias ? bias[co] : 0;
        for (let ci = 0; ci < cin; ci++) {
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * s + ky - pad;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * s + kx - pad;
              if (ix < 0 || ix >= w) continue;
              v += x.data[(ci * h + iy) * w + ix] *
                filter.data[((co * cin + ci) * k + ky) * k + kx];
            }
          }
        }
        const i = (co * ho + oy) * wo + ox;
        if (res) v += res.data[i];
        out[i] = activate(v, o.activation);
      }
    }
  }
  return { shape: [cout, ho, wo], data: out };
}

/**
 * A convolution to test: kernel size, stride, padding (default (k − 1) / 2),
 * activation, residual, output channels (default 11).
 */
export interface ConvCase {
  k: number;
  stride: number;
  padding?: number;
  activation: ConvActivation;
  residual?: "same" | "coarse";
  cout?: number;
}

/** A `[C, H, W]` map of numbers drawn from `rand`. */
export function randomMap(shape: [number, number, number], rand: () => number): Map3 {
  return { shape, data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, rand) };
}

/** A seeded random grey image `[1, height, width]` with values in [0, 1). */
export function randomImage(height: number, width: number, seed: number): Map3 {
  const rand = seededRandom(seed);
  return randomMap([1, height, width], () => (rand() + 1) / 2);
}

/**
 * Every kernel size, stride, activation and residual form of the backbone
 * (and a 7×7 at stride 1), for maps with odd sizes: partial pixel tiles along
 * x, Cout (11) not a multiple of the 8-channel tile.
 */
export const CONV_CASES: readonly ConvCase[] = [
  { k: 1, stride: 1, activation: "none" },
  { k: 1, stride: 2, activation: "none" },
  { k: 3, stride: 1, activation: "relu" },
  { k: 3, stride: 2, activation: "relu" },
  { k: 3, stride: 1, activation: "leaky_relu" },
  { k: 7, stride: 2, padding: 3, activation: "relu" },
  { k: 7, stride: 1, activation: "none" },
  { k: 3, stride: 1, activation: "relu", residual: "same" },
  { k: 3, stride: 2, activation: "leaky_relu", residual: "same" },
  { k: 1, stride: 1, activation: "none", residual: "coarse" },
  { k: 3, stride: 1, activation: "relu", residual: "coarse" },
];

/**
 * Runs case `c` on the map `x` with a filter of `c.cout` (default 11) output channels, a bias
 * and the residual map (same size, or coarser: half the output's sides,
 * rounded up) drawn from `rand`, maps and filter stored as `precision`;
 * returns the relative L2 error of the output against {@link conv2dRef} on
 * the unrounded values.
 */
export async function conv2dError(
  gpu: Gpu,
  x: Map3,
  c: ConvCase,
  rand: () => number,
  precision: Precision = "f32",
): Promise<number> {
  const [cin, h, w] = x.shape;
  const cout = c.cout ?? 11;
  const filter = {
    shape: [cout, cin, c.k, c.k],
    data: Float32Array.from({ length: cout * cin * c.k * c.k }, rand),
  };
  const bias = Float32Array.from({ length: cout }, rand);
  const pad = c.padding ?? (c.k - 1) / 2;
  const ho = Math.floor((h + 2 * pad - c.k) / c.stride) + 1;
  const wo = Math.floor((w + 2 * pad - c.k) / c.stride) + 1;
  const residual = c.residual === "same"
    ? randomMap([cout, ho, wo], rand)
    : c.residual === "coarse"
    ? randomMap([cout, Math.ceil(ho / 2), Math.ceil(wo / 2)], rand)
    : undefined;
  const xt = gpu.tensor(x.shape, x.data as Float32Array, precision);
  const rt = residual && gpu.tensor(residual.shape, residual.data as Float32Array, precision);
  const weights = conv2dWeights(gpu, filter.shape, filter.data, bias, precision);
  const opts = { stride: c.stride, padding: c.padding, activation: c.activation };
  const y = await conv2d(gpu, xt, weights, { ...opts, residual: rt });
  assert.deepEqual(y.shape, [cout, ho, wo]);
  assert.equal(y.dtype, precision);
  const want = conv2dRef(x, filter, bias, { ...opts, residual });
  const err = relL2(await gpu.read(y), want.data);
  gpu.release(xt, rt, y, weights.weight, weights.bias);
  return err;
}
