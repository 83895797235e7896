/**
 * LoFTR's backbone, a ResNet with a feature pyramid (FPN), on the GPU.
 *
 * Both variants share one structure: a 7×7 stride-2 stem, then stages of two
 * BasicBlocks (layer1 at stride 1, every later stage at stride 2), then a
 * top-down FPN. The coarsest stage's 1×1 `layer{n}_outconv` gives the coarse
 * map; going down a level, `layer{i}_outconv2(layer{i}_outconv(x_i) +
 * up(out_{i+1}))` with `layer{i}_outconv2` = conv3×3, BN, LeakyReLU(0.01),
 * conv3×3, until the fine level:
 *
 * | variant | stages | coarse | fine |
 * |---|---|---|---|
 * | `ResNetFPN_8_2` | 3 | `x3_out`, 1/8 | `x1_out`, 1/2 |
 * | `ResNetFPN_16_4` | 4 | `x4_out`, 1/16 | `x2_out`, 1/4 |
 *
 * BatchNorm (eval mode) is folded into the preceding convolution at load
 * time; every convolution, its activation and the residual or upsampled
 * lateral addition is one dispatch of `conv2d.wgsl`.
 *
 * Memory: each BasicBlock (`conv1 → y → conv2`) and each FPN level
 * (`outconv → sum → outconv2[0] → h → outconv2[3]`) runs as a chain of
 * convolutions fused over horizontal strips: its input and output are
 * whole maps, but the maps inside (y; sum and h) only ever exist for a strip
 * of rows ({@link BackboneRunOptions.maxStripBytes}). Whole, those would
 * dominate the memory at 1/2 resolution (the fine level of `ResNetFPN_8_2`).
 *
 * Precision ({@link BackboneOptions.precision}): in `f16`, the filters and
 * every map from the input image to the two outputs are stored as f16 (half
 * the memory and bandwidth), each convolution computing in f32 from its f16
 * operands; the image is rounded to f16 first and the two outputs are widened to
 * f32 at the end, so the stages after the backbone run in f32 either way.
 * @module
 */
import { ArchitectureError } from "./architecture.ts";
import {
  conv2d,
  conv2dInputRows,
  type Conv2dOptions,
  conv2dOutputShape,
  conv2dStrip,
  type Conv2dWeights,
  conv2dWeights,
  type MapStrip,
  type RowRange,
  wholeMap,
} from "../kernels/conv2d.ts";
import { cast } from "../kernels/cast.ts";
import { ELEMENT_BYTES, type Gpu, type Precision, type Tensor } from "../gpu/mod.ts";
import type { HostTensor, ModelWeights } from "./parameters.ts";

/** BatchNorm epsilon of both published models (PyTorch's default). */
const BN_EPS = 1e-5;

/** Default of {@link BackboneRunOptions.maxStripBytes}: 32 MiB. */
const DEFAULT_STRIP_BYTES = 32 * 2 ** 20;

/** Eval-mode BatchNorm parameters, each `[C]`. */
export interface BatchNorm {
  /** Affine scale γ. */
  weight: Float32Array;
  /** Affine shift β. */
  bias: Float32Array;
  /** Running mean. */
  runningMean: Float32Array;
  /** Running variance. */
  runningVar: Float32Array;
}

/**
 * Folds `bn(conv(x))` into one convolution: the filter `[Cout, Cin, K, K]` of
 * output channel c is scaled by `s = γ / √(var + eps)`, and the bias becomes
 * `β − mean · s` (computed in float64, stored in float32).
 */
export function foldBatchNorm(
  filter: HostTensor,
  bn: BatchNorm,
  eps = BN_EPS,
): { filter: Float32Array; bias: Float32Array } {
  const cout = filter.shape[0];
  const per = filter.data.length / cout;
  const folded = new Float32Array(filter.data.length);
  const bias = new Float32Array(cout);
  for (let c = 0; c < cout; c++) {
    const s = bn.weight[c] / Math.sqrt(bn.runningVar[c] + eps);
    for (let i = c * per; i < (c + 1) * per; i++) folded[i] = filter.data[i] * s;
    bias[c] = bn.bias[c] - bn.runningMean[c] * s;
  }
  return { filter: folded, bias };
}

/** Options of {@link createBackbone}. */
export interface BackboneOptions {
  /**
   * Element type of the filters and of the maps inside the backbone (default
   * `"f32"`). `"f16"` halves their memory and needs a device with WebGPU's
   * `shader-f16`; the outputs are `f32` either way.
   */
  precision?: Precision;
}

/** Options of {@link Backbone.run}. */
export interface BackboneRunOptions {
  /**
   * Compute the fine map too (default: whether the model has a fine stage,
   * i.e. yes for `ResNetFPN_8_2` with weights for it, no for the coarse-only model).
   */
  fine?: boolean;
  /**
   * Bytes that the maps inside one chain of convolutions (a BasicBlock's y;
   * an FPN level's sum and h) may take at once, halo rows included, at the
   * backbone's precision (2 bytes per element in `f16`) (default
   * 32 MiB, and at most the adapter's storage-binding limit). The chain runs
   * in horizontal strips of the tallest height that fits, at least one row;
   * one strip when the whole maps fit. Results are bit-identical for every
   * value; smaller values lower the peak memory at high resolution, at the
   * cost of more dispatches and of recomputing the halo rows.
   */
  maxStripBytes?: number;
}

/** The backbone's outputs, on the GPU, `f32`; the caller releases them. */
export interface BackboneOutput {
  /** Coarse map `[C, H/s, W/s]` (s = coarse stride, 8 or 16). */
  coarse: Tensor;
  /** Fine map `[Cf, H/f, W/f]` (f = fine stride, 2 or 4), or `null` when not asked for. */
  fine: Tensor | null;
}

/** A backbone with its weights on the GPU. */
export interface Backbone {
  /** Runs on one image `[1, H, W]` (sides multiples of the coarse stride), `f32` or `f16`. */
  run(image: Tensor, options?: BackboneRunOptions): Promise<BackboneOutput>;
}

/** A convolution with its options (stride, activation) fixed at load time. */
interface Conv {
  weights: Conv2dWeights;
  options: Conv2dOptions;
}

/** BasicBlock: `relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x))))))`. */
interface BasicBlock {
  conv1: Conv;
  conv2: Conv;
  /** 1×1 convolution + BN of the shortcut, or `null` for the identity. */
  downsample: Conv | null;
}

/** One FPN level above the finest: `outconv2(outconv(x_i) + up(out_{i+1}))`. */
interface FpnLevel {
  /** The 1×1 lateral convolution `layer{i}_outconv`. */
  lateral: Conv;
  /** `layer{i}_outconv2`: conv3×3 + BN + LeakyReLU, then conv3×3. */
  smooth: [Conv, Conv];
}

class ResNetFpn implements Backbone {
  #gpu: Gpu;
  #stem: Conv;
  #stages: BasicBlock[][];
  /** `layer{n}_outconv` of the last stage n: the coarse output. */
  #top: Conv;
  /** FPN levels from stage n−1 down to the fine stage n−2. */
  #fpn: FpnLevel[];
  #fineByDefault: boolean;
  #precision: Precision;

  constructor(gpu: Gpu, weights: ModelWeights, precision: Precision) {
    gpu.requirePrecision(precision);
    this.#gpu = gpu;
    this.#precision = precision;
    const t = weights.tensors;
    const tensor = (name: string): HostTensor => {
      const v = t.get(`backbone.${name}`);
      if (!v) throw new ArchitectureError(`${weights.source}: missing tensor backbone.${name}`);
      return v;
    };
    const batchNorm = (name: string): BatchNorm => ({
      weight: tensor(`${name}.weight`).data,
      bias: tensor(`${name}.bias`).data,
      runningMean: tensor(`${name}.running_mean`).data,
      runningVar: tensor(`${name}.running_var`).data,
    });
    const conv = (name: string, bn: string | null, options: Conv2dOptions = {}): Conv => {
      const w = tensor(name);
      const folded = bn ? foldBatchNorm(w, batchNorm(bn)) : { filter: w.data, bias: null };
      const weights = conv2dWeights(gpu, w.shape, folded.filter, folded.bias, precision);
      return { weights, options };
    };

    const n = weights.config.blockDims.length;
    this.#stem = conv("conv1.weight", "bn1", { stride: 2, padding: 3, activation: "relu" });
    this.#stages = [];
    for (let i = 1; i <= n; i++) {
      const blocks: BasicBlock[] = [];
      for (let b = 0; b < 2; b++) {
        const p = `layer${i}.${b}`;
        const stride = i > 1 && b === 0 ? 2 : 1;
        blocks.push({
          conv1: conv(`${p}.conv1.weight`, `${p}.bn1`, { stride, activation: "relu" }),
          conv2: conv(`${p}.conv2.weight`, `${p}.bn2`, { activation: "relu" }),
          downsample: t.has(`backbone.${p}.downsample.0.weight`)
            ? conv(`${p}.downsample.0.weight`, `${p}.downsample.1`, { stride })
            : null,
        });
      }
      this.#stages.push(blocks);
    }
    this.#top = conv(`layer${n}_outconv.weight`, null);
    this.#fpn = [];
    for (let i = n - 1; i >= n - 2; i--) {
      this.#fpn.push({
        lateral: conv(`layer${i}_outconv.weight`, null),
        smooth: [
          conv(`layer${i}_outconv2.0.weight`, `layer${i}_outconv2.1`, { activation: "leaky_relu" }),
          conv(`layer${i}_outconv2.3.weight`, null),
        ],
      });
    }
    this.#fineByDefault = weights.config.fine !== null;
  }

  async run(image: Tensor, options: BackboneRunOptions = {}): Promise<BackboneOutput> {
    const gpu = this.#gpu;
    const fine = options.fine ?? this.#fineByDefault;
    const budget = Math.min(options.maxStripBytes ?? DEFAULT_STRIP_BYTES, gpu.maxBindingBytes);
    const apply = (c: Conv, x: Tensor) => conv2d(gpu, x, c.weights, c.options);
    const chain = (x: Tensor, steps: ChainStep[], overwrite: boolean) =>
      stripChain(gpu, x, steps, budget, overwrite);
    // The image at the backbone's precision, and an output map in f32.
    const input = image.dtype === this.#precision ? image : await cast(gpu, image, this.#precision);
    const output = async (t: Tensor) => {
      if (t.dtype === "f32") return t;
      const wide = await cast(gpu, t, "f32");
      gpu.release(t);
      return wide;
    };

    // ResNet. The outputs of stages n−2 and n−1, the FPN's lateral inputs,
    // are kept when the fine map is asked for; every other map is released
    // as soon as it has been used.
    const n = this.#stages.length;
    const kept: Tensor[] = [];
    let x = await apply(this.#stem, input);
    if (input !== image) gpu.release(input);
    for (let i = 1; i <= n; i++) {
      for (const block of this.#stages[i - 1]) {
        const shortcut = block.downsample ? await apply(block.downsample, x) : x;
        const keep = x === kept.at(-1);
        const out = await chain(x, [
          { conv: block.conv1 },
          { conv: block.conv2, residual: shortcut },
        ], !keep);
        gpu.release(block.downsample ? shortcut : null);
        if (!keep && out !== x) gpu.release(x);
        x = out;
      }
      if (fine && i >= n - 2 && i < n) kept.push(x);
    }
    const coarse = await apply(this.#top, x);
    gpu.release(x);
    if (!fine) return { coarse: await output(coarse), fine: null };

    // FPN, top-down: kept = [x_{n−2}, x_{n−1}].
    let above = coarse;
    for (const level of this.#fpn) {
      const lateral = kept.pop()!;
      const out = await chain(lateral, [
        { conv: level.lateral, residual: above },
        { conv: level.smooth[0] },
        { conv: level.smooth[1] },
      ], true);
      if (out !== lateral) gpu.release(lateral);
      if (above !== coarse) gpu.release(above);
      above = out;
    }
    return { coarse: await output(coarse), fine: await output(above) };
  }
}

/** One convolution of a chain, with the whole map added to its output, if any. */
interface ChainStep {
  conv: Conv;
  residual?: Tensor;
}

/**
 * Runs the convolutions `steps` one after another, the first on the whole
 * map `x`, and returns the last one's output, a whole map, computed in
 * horizontal strips of output rows. The maps between the steps only exist
 * as strip buffers, reused from strip to strip: for each strip, a step
 * computes just the rows of its output that the following steps read (the
 * strip grown by a row on each side per later 3×3 convolution, clipped to
 * the map). Rows read by two strips are computed twice, with the same
 * arithmetic, so the output is bit-identical to whole-map convolutions.
 * The strips are the tallest whose buffers take at most `budget` bytes (at
 * least one row; one strip when the whole maps fit), at `x`'s element size.
 *
 * With `overwrite`, when the output has `x`'s shape, the output is written
 * over `x` (which is returned) instead of a new map: each strip's output
 * waits in a strip buffer of its own (counted in the budget when the chain
 * runs in more than one strip; in one there is nothing to save) until the next
 * strip's first step has read the rows of `x` it needs, then is copied over
 * its rows of `x`. Only a first step reads `x` beyond its strip (a later step
 * reads it as a residual at its own strip's rows only), so this is exact as
 * long as no strip's first step reads rows of the strip two before it;
 * otherwise (strips shorter than the first step's reach) a new map is returned.
 */
async function stripChain(
  gpu: Gpu,
  x: Tensor,
  steps: ChainStep[],
  budget: number,
  overwrite = false,
): Promise<Tensor> {
  // shapes[i]: the map step i reads (shapes[0] = x); shapes[steps.length]: the output.
  const shapes = [x.shape];
  for (const { conv } of steps) {
    shapes.push(conv2dOutputShape(conv.weights, conv.options, shapes.at(-1)!));
  }
  const height = shapes[steps.length][1];
  // Strips of `stripHeight` output rows; for each, the rows each step computes.
  const plan = (stripHeight: number): RowRange[][] => {
    const strips = [];
    for (let first = 0; first < height; first += stripHeight) {
      const rows = [{ first, end: Math.min(first + stripHeight, height) }];
      for (let i = steps.length - 1; i > 0; i--) {
        const { weights, options } = steps[i].conv;
        rows.unshift(conv2dInputRows(weights, options, rows[0], shapes[i][1]));
      }
      strips.push(rows);
    }
    return strips;
  };
  // The buffers of the maps between the steps: [C, most rows of any strip, W].
  const bufferShapes = (strips: RowRange[][]) =>
    shapes.slice(1, -1).map(([c, , w], i) => {
      const rows = Math.max(...strips.map((stepRows) => stepRows[i].end - stepRows[i].first));
      return [c, rows, w];
    });
  // Overwriting x needs the output strip in a buffer of its own, and 4-byte-aligned copies.
  const [C, H, W] = shapes[steps.length];
  const eb = ELEMENT_BYTES[x.dtype];
  const sameShape = overwrite && shapes[0].every((n, i) => n === shapes[steps.length][i]) &&
    (W * eb) % 4 === 0;
  const bytes = (strips: RowRange[][], held: boolean) =>
    (bufferShapes(strips).reduce((sum, [c, rows, w]) => sum + c * rows * w, 0) +
      (held ? C * (strips[0].at(-1)!.end - strips[0].at(-1)!.first) * W : 0)) * eb;
  const tallest = (held: boolean) => {
    let stripHeight = height;
    while (stripHeight > 1 && bytes(plan(stripHeight), held) > budget) stripHeight--;
    return stripHeight;
  };
  // In one strip there is nothing to save by overwriting x.
  let stripHeight = tallest(false);
  if (sameShape && stripHeight < height) stripHeight = tallest(true);
  const strips = plan(stripHeight);

  const buffers = bufferShapes(strips).map((shape) => gpu.tensor(shape, undefined, x.dtype));
  // A strip's output is copied over x after the next strip's first step; the
  // strip after that must not read those rows.
  const first = steps[0].conv;
  const inPlace = sameShape && strips.length > 1 && strips.every((rows, k) =>
    k < 2 ||
    conv2dInputRows(first.weights, first.options, rows[0], H).first >= strips[k - 2].at(-1)!.end
  );
  const held = inPlace ? gpu.tensor([C, stripHeight, W], undefined, x.dtype) : null;
  const out = held ? x : gpu.tensor(shapes[steps.length], undefined, x.dtype);
  // Copies the strip in `held` (output rows `rows`) over those rows of x.
  const writeBack = ({ first, end }: RowRange) => {
    for (let c = 0; c < C; c++) {
      gpu.copy(
        held!,
        x,
        (end - first) * W * eb,
        c * stripHeight * W * eb,
        (c * H + first) * W * eb,
      );
    }
  };
  // Strip by strip, step by step: step i computes rows[i] of its output from
  // its input (x, or the previous step's buffer) into its buffer (or out).
  for (const [k, rows] of strips.entries()) {
    let input = wholeMap(x);
    for (const [i, { conv, residual }] of steps.entries()) {
      const last = i === steps.length - 1;
      const output: MapStrip = last
        ? (held ? { tensor: held, first: rows[i].first, height: H } : wholeMap(out))
        : { tensor: buffers[i], first: rows[i].first, height: shapes[i + 1][1] };
      await conv2dStrip(gpu, input, conv.weights, rows[i], output, { ...conv.options, residual });
      input = output;
      // The previous strip's output can replace its rows of x once the first step has read x.
      if (held && i === 0 && k > 0) writeBack(strips[k - 1][steps.length - 1]);
    }
  }
  if (held) writeBack(strips[strips.length - 1][steps.length - 1]);
  gpu.release(held, ...buffers);
  return out;
}

/**
 * Uploads the backbone's weights (BatchNorm folded) for the variant in
 * `weights.config`. Throws a `GpuError` naming the missing `shader-f16`
 * feature when `precision` is `"f16"` and the device lacks it.
 */
export function createBackbone(
  gpu: Gpu,
  weights: ModelWeights,
  options: BackboneOptions = {},
): Backbone {
  return new ResNetFpn(gpu, weights, options.precision ?? "f32");
}
