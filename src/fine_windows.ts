/**
 * Gathering the fine stage's inputs for each coarse match (`shaders/fine_windows.wgsl`).
 * @module
 */
import type { GpuMatches } from "./coarse_matching.ts";
import { type Gpu, grid, type Tensor } from "./gpu.ts";

/** Which image of a match: 0 uses its token i, 1 its token j. */
export type Side = 0 | 1;

/** The rows `tokens[id]` of each match's token on `side`: `[capacity, C]`. */
export async function gatherRows(
  gpu: Gpu,
  matches: GpuMatches,
  side: Side,
  tokens: Tensor,
): Promise<Tensor> {
  const C = tokens.shape[1];
  const out = gpu.tensor([matches.capacity, C]);
  gpu.dispatch({
    pipeline: await gpu.kernel("fine_windows.wgsl", "gather_rows"),
    buffers: [matches.buffer, tokens, null, out],
    u32: [matches.capacity, side, C, 0, 0, 0, 0, 0, 0],
    workgroups: grid(out.size, 64),
    flops: 0, // a gather: memory traffic only
    bytes: 4 * (2 * out.size + 3 * matches.capacity),
  });
  return out;
}

/** Geometry of the windows: coarse grid width, stride ratio, window side. */
export interface WindowGeometry {
  /** Coarse grid width of this image. */
  coarseWidth: number;
  /** Coarse stride / fine stride (4 for both published backbones). */
  ratio: number;
  /** Window side W (5). */
  window: number;
}

/**
 * For each match, the W×W window of the fine map `[Cf, Hf, Wf]` centred on
 * fine pixel (ratio·cx, ratio·cy) of its coarse cell on `side`, zero-padded,
 * each position concatenated with the match's row of `proj` `[capacity, Cp]`:
 * returns `[capacity·W², Cf + Cp]`.
 */
export async function fineWindows(
  gpu: Gpu,
  matches: GpuMatches,
  side: Side,
  fine: Tensor,
  proj: Tensor,
  g: WindowGeometry,
): Promise<Tensor> {
  const [Cf, Hf, Wf] = fine.shape;
  const Cp = proj.shape[1];
  const out = gpu.tensor([matches.capacity * g.window ** 2, Cf + Cp]);
  gpu.dispatch({
    pipeline: await gpu.kernel("fine_windows.wgsl", "windows"),
    buffers: [matches.buffer, fine, proj, out],
    u32: [matches.capacity, side, Cf, Cp, g.coarseWidth, g.ratio, Hf, Wf, g.window],
    workgroups: grid(out.size, 64),
    flops: 0, // a gather: memory traffic only
    bytes: 4 * (2 * out.size + 3 * matches.capacity),
  });
  return out;
}
