/**
 * Gathering the fine stage's inputs for each coarse match (`fine_windows.wgsl`).
 * @module
 */
import { type Gpu, grid, type LiveSlots, type Tensor } from "../gpu/mod.ts";
import type { GpuMatches } from "./dual_softmax.ts";

const SHADER = new URL("./fine_windows.wgsl", import.meta.url);

/** Which image of a match: 0 uses its token i, 1 its token j. */
export type Side = 0 | 1;

/**
 * Slots `first … first + slots − 1` of a coarse match list: the unit of work
 * of the fine stage. Its tensors hold one row group per slot; the slots past
 * the match count (on the GPU) are not computed.
 */
export interface MatchBatch {
  /** The coarse match list; its count is word 0 of its buffer. */
  matches: GpuMatches;
  /** First slot of the batch. */
  first: number;
  /** Slots in the batch. */
  slots: number;
}

/** The batch's slots as {@link LiveSlots} counted by the match list, for indirect dispatch. */
export function liveSlots(batch: MatchBatch): LiveSlots {
  return { counter: batch.matches.buffer, first: batch.first, slots: batch.slots };
}

/** The rows `tokens[id]` of each match's token on `side`: `[slots, C]`. */
export async function gatherRows(
  gpu: Gpu,
  batch: MatchBatch,
  side: Side,
  tokens: Tensor,
): Promise<Tensor> {
  const C = tokens.shape[1];
  const out = gpu.tensor([batch.slots, C]);
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER, "gather_rows"),
    bindings: { matches: batch.matches.buffer, src: tokens, out },
    // The window fields are unused by gather_rows.
    uniforms: {
      ...{ first: batch.first, slots: batch.slots, side, C },
      ...{ Cp: 0, Wc: 0, ratio: 0, Hf: 0, Wf: 0, W: 0 },
    },
    workgroups: grid(out.size, 64),
    live: { ...liveSlots(batch), perSlot: C, perGroup: 64 },
    flops: 0, // a gather: memory traffic only
    bytes: 4 * (2 * out.size + 3 * batch.slots),
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
 * For each match of the batch, the W×W window of the fine map `[Cf, Hf, Wf]`
 * centred on fine pixel (ratio·cx, ratio·cy) of its coarse cell on `side`,
 * zero-padded, each position concatenated with the match's row of `proj`
 * `[slots, Cp]`: returns `[slots·W², Cf + Cp]`.
 */
export async function fineWindows(
  gpu: Gpu,
  batch: MatchBatch,
  side: Side,
  fine: Tensor,
  proj: Tensor,
  g: WindowGeometry,
): Promise<Tensor> {
  const [Cf, Hf, Wf] = fine.shape;
  const Cp = proj.shape[1];
  const perSlot = g.window ** 2 * (Cf + Cp);
  const out = gpu.tensor([batch.slots * g.window ** 2, Cf + Cp]);
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER, "windows"),
    bindings: { matches: batch.matches.buffer, src: fine, proj, out },
    uniforms: {
      ...{ first: batch.first, slots: batch.slots, side, C: Cf, Cp, Wc: g.coarseWidth },
      ...{ ratio: g.ratio, Hf, Wf, W: g.window },
    },
    workgroups: grid(out.size, 64),
    live: { ...liveSlots(batch), perSlot, perGroup: 64 },
    flops: 0, // a gather: memory traffic only
    bytes: 4 * (2 * out.size + 3 * batch.slots),
  });
  return out;
}
