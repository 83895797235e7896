/**
 * Adds the sine positional encoding to a coarse feature map and flattens it
 * to tokens (`position_encoding.wgsl`), from its axis tables (computed by
 * the model's stage, model/position_encoding.ts).
 * @module
 */
import { type Gpu, grid, type Tensor } from "../gpu/mod.ts";

const SHADER = new URL("./position_encoding.wgsl", import.meta.url);

/**
 * `feat` `[C, H, W]` plus the encoding read from `axes` (the x table
 * `[C/2, W]` then the y table `[C/2, H]`: row 2k sin, row 2k+1 cos of channel
 * group k), flattened to tokens `[H·W, C]` (token t = y·W + x).
 */
export async function addPositionEncoding(gpu: Gpu, feat: Tensor, axes: Tensor): Promise<Tensor> {
  const [C, H, W] = feat.shape;
  const tokens = gpu.tensor([H * W, C]);
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER),
    bindings: { feat, axes, tokens },
    uniforms: { C, H, W },
    workgroups: grid(C * H * W, 64),
    flops: C * H * W,
    bytes: 2 * 4 * C * H * W,
  });
  return tokens;
}
