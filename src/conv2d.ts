/**
 * 2-D convolutions on `[C, H, W]` feature maps (`shaders/conv2d.wgsl`), with
 * bias, fused activation and an optional residual input (same size, or a
 * coarser map upsampled bilinearly with align_corners = true).
 * @module
 */
import { type Gpu, GpuError, groups, type Tensor } from "./gpu.ts";

/** Activation fused after a convolution. LeakyReLU has slope 0.01, as in LoFTR's FPN. */
export type ConvActivation = "none" | "relu" | "leaky_relu";

const ACT: Record<ConvActivation, number> = { none: 0, relu: 1, leaky_relu: 2 };

/** Output channels per invocation; the filter is padded to a multiple of it. */
const CO = 8;
/** Output pixels per invocation, along x. */
const PX = 8;
/** Invocations per workgroup. */
const WG = 64;

/** A convolution's filter in the kernel's layout and its bias, on the GPU. */
export interface Conv2dWeights {
  /** Filter rearranged to `[ceil(Cout/8)][Cin][K][K][8]`. */
  weight: Tensor;
  /** Bias `[Cout]`. */
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
 * layout.
 */
export function conv2dWeights(
  gpu: Gpu,
  shape: readonly number[],
  filter: Float32Array,
  bias: Float32Array | null,
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
    weight: gpu.tensor([blocks, cin, kh, kw, CO], packed),
    bias: gpu.tensor([cout], bias ?? new Float32Array(cout)),
    cout,
    cin,
    kernelSize: kh,
  };
}

/** Options of {@link conv2d}. */
export interface Conv2dOptions {
  /** Stride (default 1). */
  stride?: number;
  /** Zero padding on each side (default `(K - 1) / 2`). */
  padding?: number;
  /** Activation after bias and residual (default `none`). */
  activation?: ConvActivation;
  /**
   * Map added before the activation: either `[Cout, Ho, Wo]` like the output,
   * or a coarser `[Cout, h, w]` map, which is upsampled bilinearly with
   * align_corners = true to `Ho × Wo` first.
   */
  residual?: Tensor;
}

/** `act(conv(x, W) + b + residual)` for `x` of shape `[Cin, H, W]`; returns `[Cout, Ho, Wo]`. */
export async function conv2d(
  gpu: Gpu,
  x: Tensor,
  w: Conv2dWeights,
  options: Conv2dOptions = {},
): Promise<Tensor> {
  const [cin, h, wd] = x.shape;
  if (x.shape.length !== 3 || cin !== w.cin) {
    throw new GpuError(
      `conv2d input [${x.shape}] does not fit a filter with ${w.cin} input channels`,
    );
  }
  const k = w.kernelSize;
  const stride = options.stride ?? 1;
  const pad = options.padding ?? (k - 1) / 2;
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((wd + 2 * pad - k) / stride) + 1;
  if (!Number.isInteger(pad) || !Number.isInteger(stride) || stride < 1 || ho < 1 || wo < 1) {
    throw new GpuError(
      `conv2d of [${x.shape}] with kernel ${k}, stride ${stride}, padding ${pad} is not defined`,
    );
  }
  const r = options.residual;
  let mode = 0, hr = ho, wr = wo;
  if (r) {
    [, hr, wr] = r.shape;
    if (r.shape.length !== 3 || r.shape[0] !== w.cout || hr > ho || wr > wo) {
      throw new GpuError(
        `conv2d residual [${r.shape}] does not fit output [${w.cout},${ho},${wo}]`,
      );
    }
    mode = hr === ho && wr === wo ? 1 : 2;
  }
  const pipeline = await gpu.kernel("conv2d.wgsl", "main", {
    KSIZE: k,
    STRIDE: stride,
    ACT: ACT[options.activation ?? "none"],
    RESIDUAL: mode,
  });
  const y = gpu.tensor([w.cout, ho, wo]);
  gpu.dispatch({
    pipeline,
    buffers: [x, w.weight, w.bias, r ?? w.bias, y],
    u32: [cin, h, wd, w.cout, ho, wo, pad, hr, wr],
    f32: [alignCornersScale(hr, ho), alignCornersScale(wr, wo)],
    workgroups: [groups(ho * groups(wo, PX), WG), groups(w.cout, CO)],
    flops: 2 * w.cout * cin * k * k * ho * wo,
  });
  return y;
}

/** Source step per output step of align_corners = true resampling from `n` to `m` samples. */
function alignCornersScale(n: number, m: number): number {
  return m > 1 ? (n - 1) / (m - 1) : 0;
}
