/**
 * Fine matching: heatmap softmax and its expectation (`shaders/fine_matching.wgsl`).
 * @module
 */
import type { GpuMatches } from "./coarse_matching.ts";
import { type Gpu, grid, type Tensor } from "./gpu.ts";

/**
 * For window features `f0`, `f1` `[capacity·W², C]`, the heatmap `[capacity, W²]`
 * of each image-0 window centre over the image-1 window, and `refined`
 * `[capacity, 3]` = (e_x, e_y, std): the expected offset on the grid
 * normalised to [-1, 1] and the heatmap's spread.
 */
export async function fineExpectation(
  gpu: Gpu,
  matches: GpuMatches,
  f0: Tensor,
  f1: Tensor,
  window: number,
): Promise<{ heatmap: Tensor; refined: Tensor }> {
  const C = f0.shape[1];
  const heatmap = gpu.tensor([matches.capacity, window * window]);
  const refined = gpu.tensor([matches.capacity, 3]);
  gpu.dispatch({
    pipeline: await gpu.kernel("fine_matching.wgsl", "expectation"),
    buffers: [matches.buffer, f0, f1, heatmap, refined],
    u32: [matches.capacity, C, window],
    workgroups: grid(matches.capacity, 64),
    // Counted over the whole capacity (slots past the match count only write zeros):
    // W² dot products of C, then softmax and moments (about 14 per position).
    flops: matches.capacity * window * window * (2 * C + 14),
    bytes: 4 * matches.capacity * ((window * window + 1) * C + window * window + 3),
  });
  return { heatmap, refined };
}
