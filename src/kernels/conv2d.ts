/**
 * 2-D convolutions on `[C, H, W]` feature maps (`conv2d.wgsl`), with
 * bias, fused activation and an optional residual input (same size, or a
 * coarser map upsampled bilinearly with align_corners = true). Besides whole
 * maps ({@link conv2d}), a convolution can compute some output rows from a
 * horizontal strip of its input into a strip of its output
 * ({@link conv2dStrip}), so that chains of convolutions run strip by strip.
 *
 * Precision: maps and filter are all `f32`, or all `f16` (the kernel's f16
 * variant: f16 operands, f32 arithmetic; needs `shader-f16`). The bias is
 * always `f32`.
 *
 * Kernels: {@link Gpu.tuning} picks the shader's entry point, register
 * tiles for CPU adapters (`"cpu"`) or an implicit GEMM through workgroup
 * memory for GPUs (`"gpu"`); the same filter layout and parameters serve both.
 * @module
 */
import {
  type Gpu,
  GpuError,
  groups,
  type KernelTuning,
  type Precision,
  type Tensor,
} from "../gpu/mod.ts";

import { type Activation, ACTIVATION_CODE } from "./activation.ts";
const SHADER = new URL("./conv2d.wgsl", import.meta.url);

/** Activation fused after a convolution. LeakyReLU has slope 0.01, as in LoFTR's FPN. */
export type ConvActivation = Extract<Activation, "none" | "relu" | "leaky_relu">;

/** Output channels per filter block; the filter is padded to a multiple of it. */
const CO = 8;

/**
 * The entry point of conv2d.wgsl for each {@link KernelTuning}, and its
 * workgroup grid for `rows` output rows of `wo` pixels and `cout` channels
 * (tile sizes as in the shader).
 */
const ENTRY: Record<
  KernelTuning,
  { name: string; grid(rows: number, wo: number, cout: number): [number, number] }
> = {
  // Workgroups of 64 invocations, each 8 channels × 8 pixels of a row (PX).
  cpu: {
    name: "main",
    grid: (rows, wo, cout) => [groups(rows * groups(wo, 8), 64), groups(cout, CO)],
  },
  // Workgroup tiles of 64 channels (TILE_CO) × 128 pixels (TILE_PX), the rows flattened.
  gpu: { name: "tiled", grid: (rows, wo, cout) => [groups(rows * wo, 128), groups(cout, 64)] },
};

/** A convolution's filter in the kernel's layout and its bias, on the GPU. */
export interface Conv2dWeights {
  /** Filter rearranged to `[ceil(Cout/8)][Cin][K][K][8]`, `f32` or `f16` like the maps it convolves. */
  weight: Tensor;
  /** Bias `[Cout]`, `f32`. */
  bias: Tensor;
  /** Output channels. */
  cout: number;
  /** Input channels. */
  cin: number;
  /** Kernel size K (square kernels). */
  kernelSize: number;
}

/**
 * Uploads a PyTorch filter `[Cout, Cin, K, K]` (flat, C order) and bias
 * `[Cout]` (zeros when `null`), rearranging the filter to the kernel's
 * layout and storing it as `precision` (default `f32`; `f16` for maps of
 * `f16`).
 */
export function conv2dWeights(
  gpu: Gpu,
  shape: readonly number[],
  filter: Float32Array,
  bias: Float32Array | null,
  precision: Precision = "f32",
): Conv2dWeights {
  const [cout, cin, kh, kw] = shape;
  if (shape.length !== 4 || kh !== kw || filter.length !== cout * cin * kh * kw) {
    throw new GpuError(`conv2d filter of shape [${shape}] is not [Cout, Cin, K, K]`);
  }
  const taps = cin * kh * kw;
  const blocks = Math.ceil(cout / CO);
  const packed = new Float32Array(blocks * taps * CO);
  for (let co = 0; co < cout; co++) {
    const block = Math.floor(co / CO), lane = co % CO;
    for (let t = 0; t < taps; t++) packed[(block * taps + t) * CO + lane] = filter[co * taps + t];
  }
  return {
    weight: gpu.tensor([blocks, cin, kh, kw, CO], packed, precision),
    bias: gpu.tensor([cout], bias ?? new Float32Array(cout)),
    cout,
    cin,
    kernelSize: kh,
  };
}

/** Options of {@link conv2d} and {@link conv2dStrip}. */
export interface Conv2dOptions {
  /** Stride (default 1). */
  stride?: number;
  /** Zero padding on each side (default `(K - 1) / 2`). */
  padding?: number;
  /** Activation after bias and residual (default `none`). */
  activation?: ConvActivation;
  /**
   * Whole map added before the activation: either `[Cout, Ho, Wo]` like the
   * output, or a coarser `[Cout, h, w]` map, which is upsampled bilinearly
   * with align_corners = true to `Ho × Wo` first.
   */
  residual?: Tensor;
}

/** The rows `first … end − 1` of a feature map. */
export interface RowRange {
  /** First row. */
  first: number;
  /** One past the last row. */
  end: number;
}

/**
 * A horizontal strip of a `[C, H, W]` feature map: `tensor`, of shape
 * `[C, rows, W]`, holds the map's rows `first … first + rows − 1`. The whole
 * map is the strip with `first` 0 and `rows` = H.
 */
export interface MapStrip {
  /** The strip's rows, `[C, rows, W]`. */
  tensor: Tensor;
  /** Map row held in the tensor's row 0. */
  first: number;
  /** Height H of the whole map: zero padding applies above row 0 and below row H − 1 only. */
  height: number;
}

/** A whole `[C, H, W]` map as a strip. */
export function wholeMap(t: Tensor): MapStrip {
  return { tensor: t, first: 0, height: t.shape[1] };
}

/** Kernel size, stride and padding of a convolution, defaults applied. */
function geometry(w: Conv2dWeights, options: Conv2dOptions) {
  const k = w.kernelSize;
  return { k, stride: options.stride ?? 1, pad: options.padding ?? (k - 1) / 2 };
}

/** Output shape `[Cout, Ho, Wo]` of a convolution of a `[Cin, H, W]` map. */
export function conv2dOutputShape(
  w: Conv2dWeights,
  options: Conv2dOptions,
  input: readonly number[],
): [number, number, number] {
  const [cin, h, wd] = input;
  if (input.length !== 3 || cin !== w.cin) {
    throw new GpuError(
      `conv2d input [${input}] does not fit a filter with ${w.cin} input channels`,
    );
  }
  const { k, stride, pad } = geometry(w, options);
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((wd + 2 * pad - k) / stride) + 1;
  if (!Number.isInteger(pad) || !Number.isInteger(stride) || stride < 1 || ho < 1 || wo < 1) {
    throw new GpuError(
      `conv2d of [${input}] with kernel ${k}, stride ${stride}, padding ${pad} is not defined`,
    );
  }
  return [w.cout, ho, wo];
}

/**
 * The input rows that output rows `rows` of a convolution read, within the
 * input map's `height` rows (rows in the zero padding are not read).
 */
export function conv2dInputRows(
  w: Conv2dWeights,
  options: Conv2dOptions,
  rows: RowRange,
  height: number,
): RowRange {
  const { k, stride, pad } = geometry(w, options);
  return {
    first: Math.max(rows.first * stride - pad, 0),
    end: Math.min((rows.end - 1) * stride - pad + k, height),
  };
}

/**
 * `act(conv(x, W) + b + residual)` for `x` of shape `[Cin, H, W]`; returns
 * `[Cout, Ho, Wo]`, of `x`'s element type.
 */
export async function conv2d(
  gpu: Gpu,
  x: Tensor,
  w: Conv2dWeights,
  options: Conv2dOptions = {},
): Promise<Tensor> {
  const shape = conv2dOutputShape(w, options, x.shape);
  const y = gpu.tensor(shape, undefined, x.dtype);
  await conv2dStrip(gpu, wholeMap(x), w, { first: 0, end: shape[1] }, wholeMap(y), options);
  return y;
}

/**
 * Output rows `rows` of `act(conv(x, W) + b + residual)`, written into the
 * strip `y` of the output map; `x` is a strip of the input map `[Cin, H, W]`
 * that holds every input row those output rows read
 * ({@link conv2dInputRows}). The result is the same, bit for bit, as those
 * rows of {@link conv2d} on the whole map.
 */
export async function conv2dStrip(
  gpu: Gpu,
  x: MapStrip,
  w: Conv2dWeights,
  rows: RowRange,
  y: MapStrip,
  options: Conv2dOptions = {},
): Promise<void> {
  const [cin, xRows, wd] = x.tensor.shape;
  const mapShape = x.tensor.shape.map((n, i) => i === 1 ? x.height : n);
  const [cout, ho, wo] = conv2dOutputShape(w, options, mapShape);
  const { k, stride, pad } = geometry(w, options);
  const yRows = y.tensor.shape[1];
  const span = (first: number, end: number) => `rows ${first}..${end - 1}`;
  if (
    rows.first < 0 || rows.end > ho || rows.first >= rows.end || y.height !== ho ||
    y.tensor.shape.length !== 3 || y.tensor.shape[0] !== cout || y.tensor.shape[2] !== wo ||
    rows.first < y.first || rows.end > y.first + yRows
  ) {
    throw new GpuError(
      `conv2d output ${span(rows.first, rows.end)} of [${cout},${ho},${wo}] do not fit the ` +
        `strip [${y.tensor.shape}] that holds ${span(y.first, y.first + yRows)} of ${y.height}`,
    );
  }
  const reads = conv2dInputRows(w, options, rows, x.height);
  if (reads.first < x.first || reads.end > x.first + xRows) {
    throw new GpuError(
      `conv2d output ${span(rows.first, rows.end)} read input ${span(reads.first, reads.end)}, ` +
        `but the input strip holds ${span(x.first, x.first + xRows)}`,
    );
  }
  const r = options.residual;
  const precision = x.tensor.dtype;
  const dtypes = [w.weight.dtype, y.tensor.dtype, ...(r ? [r.dtype] : [])];
  if ((precision !== "f32" && precision !== "f16") || dtypes.some((d) => d !== precision)) {
    throw new GpuError(
      `conv2d needs its maps and filter all f32 or all f16: input ${precision}, filter ` +
        `${w.weight.dtype}, output ${y.tensor.dtype}${r ? `, residual ${r.dtype}` : ""}`,
    );
  }
  let mode = 0, hr = ho, wr = wo;
  if (r) {
    [, hr, wr] = r.shape;
    if (r.shape.length !== 3 || r.shape[0] !== cout || hr > ho || wr > wo) {
      throw new GpuError(`conv2d residual [${r.shape}] does not fit output [${cout},${ho},${wo}]`);
    }
    mode = hr === ho && wr === wo ? 1 : 2;
  }
  const entry = ENTRY[gpu.tuning];
  const kernel = await gpu.kernel(SHADER, entry.name, {
    KSIZE: k,
    STRIDE: stride,
    ACT: ACTIVATION_CODE[options.activation ?? "none"],
    RESIDUAL: mode,
  }, precision);
  const count = rows.end - rows.first;
  gpu.dispatch({
    kernel,
    bindings: { x: x.tensor, wt: w.weight, b: w.bias, r: r ?? w.bias, y: y.tensor },
    uniforms: {
      // The maps, then the strips held and the rows computed.
      ...{ cin, h: x.height, w: wd, cout, ho, wo, pad, hr, wr },
      ...{ x_first: x.first, x_rows: xRows, y_first: y.first, y_rows: yRows },
      ...{ oy_first: rows.first, oy_count: count },
      ...{ scale_y: alignCornersScale(hr, ho), scale_x: alignCornersScale(wr, wo) },
    },
    workgroups: entry.grid(count, wo, cout),
    flops: 2 * cout * cin * k * k * count * wo,
  });
}

/** Source step per output step of align_corners = true resampling from `n` to `m` samples. */
function alignCornersScale(n: number, m: number): number {
  return m > 1 ? (n - 1) / (m - 1) : 0;
}
