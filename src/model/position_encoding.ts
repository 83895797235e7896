/**
 * The positional-encoding stage: LoFTR's sine encoding of each coarse cell's
 * position, added to the coarse feature map as it becomes tokens. Its axis
 * tables are computed here, in float64, and cached per size; the addition is
 * the kernel `addPositionEncoding` (kernels/position_encoding.ts).
 * @module
 */
import type { Gpu, Tensor } from "../gpu/mod.ts";
import { addPositionEncoding } from "../kernels/position_encoding.ts";
import type { PosEncoding } from "./architecture.ts";

/**
 * The encoding is separable: for channel group k, `pe[4k] = sin(x·d_k)`,
 * `pe[4k+1] = cos(x·d_k)`, `pe[4k+2] = sin(y·d_k)`, `pe[4k+3] = cos(y·d_k)`,
 * with x = column + 1, y = row + 1 and `d_k = exp(-2k)` (`legacy`, the
 * published models) or `exp(-2k · ln(10000) / (C/2))` (`corrected`). So only
 * its two axes are stored, computed in float64 and rounded to float32: the
 * x table `[C/2, W]` (row 2k: sin(x·d_k), row 2k+1: cos(x·d_k)), then the y
 * table `[C/2, H]` likewise — `C/2 · (W + H)` values for any map size.
 */
export function positionEncodingAxes(
  channels: number,
  height: number,
  width: number,
  variant: PosEncoding,
): Float32Array {
  const half = channels / 2;
  const axes = new Float32Array(half * (width + height));
  for (let k = 0; k < channels / 4; k++) {
    // d_k is rounded to float32 as in the reference, which builds it in float32.
    const d = Math.fround(
      variant === "legacy"
        ? Math.exp(-2 * k)
        : Math.exp((-2 * k * Math.log(10000)) / (channels / 2)),
    );
    for (let x = 0; x < width; x++) {
      axes[2 * k * width + x] = Math.sin((x + 1) * d);
      axes[(2 * k + 1) * width + x] = Math.cos((x + 1) * d);
    }
    for (let y = 0; y < height; y++) {
      axes[half * width + 2 * k * height + y] = Math.sin((y + 1) * d);
      axes[half * width + (2 * k + 1) * height + y] = Math.cos((y + 1) * d);
    }
  }
  return axes;
}

/**
 * Adds the positional encoding of `variant` to a coarse map `[C, H, W]` and
 * flattens it to tokens `[H·W, C]` (token t = y·W + x). The axis tables
 * ({@link positionEncodingAxes}) are kept per size in `cache`.
 */
export function positionEncoding(
  gpu: Gpu,
  feat: Tensor,
  variant: PosEncoding,
  cache: Map<string, Tensor>,
): Promise<Tensor> {
  const [C, H, W] = feat.shape;
  if (C % 4 !== 0) throw new Error(`positional encoding needs channels divisible by 4, got ${C}`);
  const key = `${C}x${H}x${W}:${variant}`;
  let axes = cache.get(key);
  if (!axes) {
    axes = gpu.tensor([(C / 2) * (W + H)], positionEncodingAxes(C, H, W, variant));
    cache.set(key, axes);
  }
  return addPositionEncoding(gpu, feat, axes);
}
