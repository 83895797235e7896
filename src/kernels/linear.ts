/**
 * Linear layers over token sequences (`linear.wgsl`).
 * @module
 */
import { type Gpu, groups, type KernelTuning, type LiveSlots, type Tensor } from "../gpu/mod.ts";

import { type Activation, ACTIVATION_CODE } from "./activation.ts";
const SHADER = new URL("./linear.wgsl", import.meta.url);

/** Activation fused after a linear layer. `elu1` is elu(x) + 1, the linear-attention feature map φ. */
export type LinearActivation = Extract<Activation, "none" | "relu" | "elu1">;

/** Entry point of linear.wgsl per kernel tuning, and its square tile of y per workgroup. */
const SHAPE: Record<KernelTuning, { entry: string; tile: number }> = {
  cpu: { entry: "main", tile: 32 },
  gpu: { entry: "tiled", tile: 64 },
};

/** Weight `[N, K]` (PyTorch layout, y = x·Wᵀ) and bias `[N]` (zeros for bias-free layers). */
export interface LinearWeights {
  /** `[N, K]`. */
  weight: Tensor;
  /** `[N]`. */
  bias: Tensor;
}

/** Options of {@link linear}. */
export interface LinearOptions {
  /** Activation after the bias (default `none`). */
  activation?: LinearActivation;
  /** Second input, concatenated after `x` along features: the layer sees `[x, x2]`. */
  concat?: Tensor;
  /** Factor applied to the output after the activation (default 1). */
  scale?: number;
  /**
   * The rows are `live.slots` equal groups (e.g. the windows of a batch of
   * matches); compute only those of live slots, the others are left undefined.
   */
  live?: LiveSlots;
}

/** `act(x · Wᵀ + b) · scale` for `x` of shape `[M, K]`; returns `[M, N]`. */
export async function linear(
  gpu: Gpu,
  x: Tensor,
  w: LinearWeights,
  options: LinearOptions = {},
): Promise<Tensor> {
  const [N, K] = w.weight.shape;
  const M = x.shape[0];
  const K1 = x.shape[1];
  const x2 = options.concat ?? x;
  const k2 = options.concat ? options.concat.shape[1] : 0;
  if (K1 + k2 !== K || x2.shape[0] !== M) {
    throw new Error(
      `linear: input [${x.shape}]${
        options.concat ? ` + [${x2.shape}]` : ""
      } does not fit weight [${w.weight.shape}]`,
    );
  }
  const y = gpu.tensor([M, N]);
  const { entry, tile } = SHAPE[gpu.tuning];
  const live = options.live;
  const kernel = await gpu.kernel(SHADER, entry, {
    ACT: ACTIVATION_CODE[options.activation ?? "none"],
  });
  gpu.dispatch({
    kernel,
    bindings: { x, x2, w: w.weight, b: w.bias, y },
    uniforms: { M, N, K, K1, scale: options.scale ?? 1 },
    workgroups: [groups(N, tile), groups(M, tile)],
    live: live && { ...live, perSlot: M / live.slots, perGroup: tile, x: groups(N, tile) },
    flops: 2 * M * N * K,
  });
  return y;
}
