/**
 * Fine matching: heatmap softmax and its expectation (`fine_matching.wgsl`).
 * @module
 */
import { liveSlots, type MatchBatch } from "./fine_windows.ts";
import { type Gpu, grid, type Tensor } from "../gpu/mod.ts";

const SHADER = new URL("./fine_matching.wgsl", import.meta.url);

/** The fine stage's outputs for the whole match list (zeros for slots past the count). */
export interface FineExpectation {
  /** Heatmaps `[capacity, W²]`. */
  heatmap: Tensor;
  /** `[capacity, 3]`: (e_x, e_y, std). */
  refined: Tensor;
}

/**
 * For window features `f0`, `f1` `[slots·W², C]` of a batch, writes the rows
 * of the batch's live matches in `out`: the heatmap of each image-0 window
 * centre over the image-1 window, and (e_x, e_y, std), the expected offset on
 * the grid normalised to [-1, 1] and the heatmap's spread.
 */
export async function fineExpectation(
  gpu: Gpu,
  batch: MatchBatch,
  f0: Tensor,
  f1: Tensor,
  window: number,
  out: FineExpectation,
): Promise<void> {
  const C = f0.shape[1];
  const ww = window * window;
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER, "expectation"),
    bindings: {
      matches: batch.matches.buffer,
      f0,
      f1,
      heatmap: out.heatmap,
      refined: out.refined,
    },
    uniforms: { first: batch.first, slots: batch.slots, C, W: window },
    workgroups: grid(batch.slots, 64),
    live: { ...liveSlots(batch), perSlot: 1, perGroup: 64 },
    // W² dot products of C, then softmax and moments (about 14 per position).
    flops: batch.slots * ww * (2 * C + 14),
    bytes: 4 * batch.slots * ((ww + 1) * C + ww + 3),
  });
}
