/**
 * Sine positional encoding of the coarse feature map (`shaders/position_encoding.wgsl`).
 * @module
 */
import type { PosEncoding } from "./architecture.ts";
import { type Gpu, grid, type Tensor } from "./gpu.ts";

/**
 * The encoding table `[C, H, W]` for any map size, computed in float64 and
 * rounded to float32. For channel group k: `pe[4k] = sin(x·d_k)`,
 * `pe[4k+1] = cos(x·d_k)`, `pe[4k+2] = sin(y·d_k)`, `pe[4k+3] = cos(y·d_k)`,
 * with x = column + 1, y = row + 1 and `d_k = exp(-2k)` (`legacy`, the
 * published models) or `exp(-2k · ln(10000) / (C/2))` (`corrected`).
 */
export function positionEncodingTable(
  channels: number,
  height: number,
  width: number,
  variant: PosEncoding,
): Float32Array {
  const hw = height * width;
  const table = new Float32Array(channels * hw);
  for (let k = 0; k < channels / 4; k++) {
    // d_k is rounded to float32 as in the reference, which builds it in float32.
    const d = Math.fround(
      variant === "legacy"
        ? Math.exp(-2 * k)
        : Math.exp((-2 * k * Math.log(10000)) / (channels / 2)),
    );
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const t = y * width + x;
        table[(4 * k) * hw + t] = Math.sin((x + 1) * d);
        table[(4 * k + 1) * hw + t] = Math.cos((x + 1) * d);
        table[(4 * k + 2) * hw + t] = Math.sin((y + 1) * d);
        table[(4 * k + 3) * hw + t] = Math.cos((y + 1) * d);
      }
    }
  }
  return table;
}

/**
 * Adds the positional encoding to a coarse map `[C, H, W]` and flattens it to
 * tokens `[H·W, C]` (token t = y·W + x). Tables are cached per size on `cache`.
 */
export async function addPositionEncoding(
  gpu: Gpu,
  feat: Tensor,
  variant: PosEncoding,
  cache: Map<string, Tensor>,
): Promise<Tensor> {
  const [C, H, W] = feat.shape;
  const key = `${C}x${H}x${W}:${variant}`;
  let pe = cache.get(key);
  if (!pe) {
    pe = gpu.tensor([C, H, W], positionEncodingTable(C, H, W, variant));
    cache.set(key, pe);
  }
  const tokens = gpu.tensor([H * W, C]);
  gpu.dispatch({
    pipeline: await gpu.kernel("position_encoding.wgsl"),
    buffers: [feat, pe, tokens],
    u32: [C, H * W],
    workgroups: grid(C * H * W, 64),
    flops: C * H * W,
    bytes: 3 * 4 * C * H * W,
  });
  return tokens;
}
