/**
 * Layer normalisation of token rows (`layer_norm.wgsl`).
 * @module
 */
import { type Gpu, grid, type LiveSlots, type Tensor } from "../gpu/mod.ts";

const SHADER = new URL("./layer_norm.wgsl", import.meta.url);

/** LayerNorm affine parameters `[C]`. */
export interface LayerNormWeights {
  /** Scale γ `[C]`. */
  weight: Tensor;
  /** Shift β `[C]`. */
  bias: Tensor;
}

/**
 * `LayerNorm(x)` over the last axis of `x` `[L, C]`, plus `residual` when
 * given (the transformer's `x + norm(msg)` in one pass). With `live`, the rows
 * are `live.slots` equal groups and only those of live slots are computed.
 */
export async function layerNorm(
  gpu: Gpu,
  x: Tensor,
  norm: LayerNormWeights,
  eps: number,
  residual?: Tensor,
  live?: LiveSlots,
): Promise<Tensor> {
  const [L, C] = x.shape;
  const y = gpu.tensor([L, C]);
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER, "main", { RESIDUAL: residual ? 1 : 0 }),
    bindings: { x, gamma: norm.weight, beta: norm.bias, r: residual ?? x, y },
    uniforms: { L, C, eps },
    workgroups: grid(L, 64),
    live: live && { ...live, perSlot: L / live.slots, perGroup: 64 },
    // Per element: mean (1), variance (3), normalise and affine (4), residual (1).
    flops: L * C * (residual ? 9 : 8),
    bytes: 4 * (L * C * (residual ? 3 : 2) + 2 * C),
  });
  return y;
}
