/**
 * Seeded synthetic weights of both supported LoFTR architectures, built in
 * memory, so that the benchmarks need no checkpoint file: every tensor the
 * engine loads, with the names and shapes of the real state dicts.
 *
 * Scales follow the recipe of the random-weights reference checkpoint
 * (`../shared/weights/PROVENANCE.md`): Kaiming (fan-out) convolutions,
 * Xavier linear layers, BatchNorm/LayerNorm weights in [0.5, 1.5), small
 * biases and running means, running variances in [0.5, 1.5), the coarse
 * output convolution × 0.2 and the coarse `norm1` × 0.1. Uniform draws with
 * the variance of those initialisations keep activations in a sane range.
 * @module
 */
import { inferConfig } from "../src/model/architecture.ts";
import { seededRandom } from "./random.ts";
import type { HostTensor, ModelWeights } from "../src/model/parameters.ts";

/** Which architecture to synthesise. */
export type SyntheticModel = "full" | "tiny";

/** Sizes that define each architecture; everything else follows from them. */
const ARCHITECTURES = {
  /** LoFTR outdoor: ResNetFPN_8_2 128/196/256, coarse d 256 × 8 layers, fine d 128 × 2 layers. */
  full: { initialDim: 128, blockDims: [128, 196, 256], coarseLayers: 8, fineDim: 128 },
  /** The bundled distilled coarse LoFTR: ResNetFPN_16_4 8/16/32/32, coarse d 32 × 4 layers. */
  tiny: { initialDim: 8, blockDims: [8, 16, 32, 32], coarseLayers: 4, fineDim: 0 },
} as const;

/**
 * Weights of the `model` architecture (default `full`, the LoFTR outdoor
 * architecture with its fine stage), drawn from `seed` (default 0); the same
 * seed gives the same tensors. The matching threshold is 0 (mutual nearest
 * neighbours only), as in the random-weights reference, because random
 * weights give confidences far below the trained models' thresholds.
 */
export function syntheticWeights(model: SyntheticModel = "full", seed = 0): ModelWeights {
  const arch = ARCHITECTURES[model];
  const random = seededRandom(seed);
  const tensors = new Map<string, HostTensor>();
  const add = (name: string, shape: number[], fill: () => number) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = fill();
    tensors.set(name, { shape, data });
  };
  // Uniform with standard deviation `std`: random() is uniform in [-1, 1).
  const uniform = (std: number) => () => std * Math.sqrt(3) * random();
  const around = (centre: number, halfWidth: number) => () => centre + halfWidth * random();

  const conv = (name: string, cout: number, cin: number, k: number, gain = 1) =>
    add(`backbone.${name}`, [cout, cin, k, k], uniform(gain * Math.sqrt(2 / (cout * k * k))));
  const batchNorm = (name: string, c: number) => {
    add(`backbone.${name}.weight`, [c], around(1, 0.5));
    add(`backbone.${name}.bias`, [c], uniform(0.1));
    add(`backbone.${name}.running_mean`, [c], uniform(0.1));
    add(`backbone.${name}.running_var`, [c], around(1, 0.5));
  };
  const linear = (name: string, n: number, k: number, bias: boolean) => {
    add(`${name}.weight`, [n, k], uniform(Math.sqrt(2 / (n + k))));
    if (bias) add(`${name}.bias`, [n], uniform(1 / Math.sqrt(3 * k)));
  };
  const layerNorm = (name: string, c: number, gain: number) => {
    add(`${name}.weight`, [c], () => gain * around(1, 0.5)());
    add(`${name}.bias`, [c], () => gain * uniform(0.1)());
  };
  const transformer = (prefix: string, d: number, layers: number, norm1Gain: number) => {
    for (let n = 0; n < layers; n++) {
      const p = `${prefix}.layers.${n}`;
      for (const w of ["q_proj", "k_proj", "v_proj", "merge"]) linear(`${p}.${w}`, d, d, false);
      linear(`${p}.mlp.0`, 2 * d, 2 * d, false);
      linear(`${p}.mlp.2`, d, 2 * d, false);
      layerNorm(`${p}.norm1`, d, norm1Gain);
      layerNorm(`${p}.norm2`, d, 1);
    }
  };

  // Backbone: stem, stages of two BasicBlocks, then the FPN (see src/model/backbone.ts).
  const dims = arch.blockDims;
  const n = dims.length;
  conv("conv1.weight", arch.initialDim, 1, 7);
  batchNorm("bn1", arch.initialDim);
  let cin: number = arch.initialDim;
  for (let i = 1; i <= n; i++) {
    const c = dims[i - 1];
    for (let b = 0; b < 2; b++) {
      const p = `layer${i}.${b}`;
      conv(`${p}.conv1.weight`, c, b === 0 ? cin : c, 3);
      batchNorm(`${p}.bn1`, c);
      conv(`${p}.conv2.weight`, c, c, 3);
      batchNorm(`${p}.bn2`, c);
      if (b === 0 && i > 1) {
        conv(`${p}.downsample.0.weight`, c, cin, 1);
        batchNorm(`${p}.downsample.1`, c);
      }
    }
    cin = c;
  }
  conv(`layer${n}_outconv.weight`, dims[n - 1], dims[n - 1], 1, 0.2);
  for (let i = n - 1; i >= n - 2; i--) {
    conv(`layer${i}_outconv.weight`, dims[i], dims[i - 1], 1);
    conv(`layer${i}_outconv2.0.weight`, dims[i], dims[i], 3);
    batchNorm(`layer${i}_outconv2.1`, dims[i]);
    conv(`layer${i}_outconv2.3.weight`, dims[i - 1], dims[i], 3);
  }

  const d = dims[n - 1];
  transformer("loftr_coarse", d, arch.coarseLayers, 0.1);
  if (arch.fineDim) {
    linear("fine_preprocess.down_proj", arch.fineDim, d, true);
    linear("fine_preprocess.merge_feat", arch.fineDim, 2 * arch.fineDim, true);
    transformer("loftr_fine", arch.fineDim, 2, 1);
  }
  const shapes = new Map([...tensors].map(([name, t]) => [name, t.shape]));
  return {
    config: inferConfig(shapes, { threshold: 0 }),
    tensors,
    source: `synthetic ${model} (seed ${seed})`,
  };
}
