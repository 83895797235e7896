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
 * @module
 */
import { ArchitectureError } from "./architecture.ts";
import { conv2d, type Conv2dOptions, type Conv2dWeights, conv2dWeights } from "./conv2d.ts";
import type { Gpu, Tensor } from "./gpu.ts";
import type { HostTensor, ModelWeights } from "./weights.ts";

/** BatchNorm epsilon of both published models (PyTorch's default). */
const BN_EPS = 1e-5;

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

/** Options of {@link Backbone.run}. */
export interface BackboneRunOptions {
  /**
   * Compute the fine map too (default: whether the model has a fine stage,
   * i.e. yes for `ResNetFPN_8_2` with weights for it, no for the coarse-only model).
   */
  fine?: boolean;
}

/** The backbone's outputs, on the GPU; the caller releases them. */
export interface BackboneOutput {
  /** Coarse map `[C, H/s, W/s]` (s = coarse stride, 8 or 16). */
  coarse: Tensor;
  /** Fine map `[Cf, H/f, W/f]` (f = fine stride, 2 or 4), or `null` when not asked for. */
  fine: Tensor | null;
}

/** A backbone with its weights on the GPU. */
export interface Backbone {
  /** Runs on one image `[1, H, W]` (sides multiples of the coarse stride). */
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

  constructor(gpu: Gpu, weights: ModelWeights) {
    this.#gpu = gpu;
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
      return { weights: conv2dWeights(gpu, w.shape, folded.filter, folded.bias), options };
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
    const apply = (c: Conv, x: Tensor, residual?: Tensor) =>
      conv2d(gpu, x, c.weights, residual ? { ...c.options, residual } : c.options);

    // ResNet. The outputs of stages n−2 and n−1, the FPN's lateral inputs,
    // are kept when the fine map is asked for; every other map is released
    // as soon as it has been used.
    const n = this.#stages.length;
    const kept: Tensor[] = [];
    let x = await apply(this.#stem, image);
    for (let i = 1; i <= n; i++) {
      for (const block of this.#stages[i - 1]) {
        const y = await apply(block.conv1, x);
        const shortcut = block.downsample ? await apply(block.downsample, x) : x;
        const out = await apply(block.conv2, y, shortcut);
        gpu.release(y, block.downsample ? shortcut : null);
        if (x !== kept.at(-1)) gpu.release(x);
        x = out;
      }
      if (fine && i >= n - 2 && i < n) kept.push(x);
    }
    const coarse = await apply(this.#top, x);
    gpu.release(x);
    if (!fine) return { coarse, fine: null };

    // FPN, top-down: kept = [x_{n−2}, x_{n−1}].
    let above = coarse;
    for (const level of this.#fpn) {
      const lateral = kept.pop()!;
      const sum = await apply(level.lateral, lateral, above);
      gpu.release(lateral);
      const h = await apply(level.smooth[0], sum);
      gpu.release(sum);
      const out = await apply(level.smooth[1], h);
      gpu.release(h);
      if (above !== coarse) gpu.release(above);
      above = out;
    }
    return { coarse, fine: above };
  }
}

/** Uploads the backbone's weights (BatchNorm folded) for the variant in `weights.config`. */
export function createBackbone(gpu: Gpu, weights: ModelWeights): Backbone {
  return new ResNetFpn(gpu, weights);
}
