/**
 * Dual softmax with mutual nearest neighbours over row tiles of a similarity
 * matrix (`dual_softmax.wgsl`): row and column statistics, each row's and
 * column's best entry, the confidence of a tile, and the mutual matches.
 * @module
 */
import { type Gpu, grid, type KernelTuning, type Tensor } from "../gpu/mod.ts";

const SHADER = new URL("./dual_softmax.wgsl", import.meta.url);

/**
 * Workgroup size of the row and column kernels, and the invocations that
 * share a row or a column, per kernel tuning.
 */
const COOPERATION: Record<KernelTuning, { wg: number; rowLanes: number; colLanes: number }> = {
  cpu: { wg: 64, rowLanes: 1, colLanes: 1 },
  gpu: { wg: 256, rowLanes: 256, colLanes: 8 },
};

/**
 * A coarse match list on the GPU, as {@link mutualMatches} writes it: the
 * count, then `(i, j, confidence bits)` per match.
 */
export interface GpuMatches {
  /** `u32` buffer `[1 + 3·capacity]`. */
  buffer: Tensor;
  /** Most matches the buffer can hold (min(L, S)). */
  capacity: number;
}

/** The whole L×S problem: sizes, coarse grids, border removal and threshold. */
export interface DualSoftmaxProblem {
  /** Rows (tokens of image 0). */
  L: number;
  /** Columns (tokens of image 1). */
  S: number;
  /** Coarse grid of image 0 (width, height). */
  grid0: { width: number; height: number };
  /** Coarse grid of image 1. */
  grid1: { width: number; height: number };
  /** Drop matches within this many cells of either grid's border. */
  border: number;
  /** Keep matches with confidence strictly above this. */
  threshold: number;
}

/** A row tile of the similarity matrix: rows `i0 … i0 + T − 1`. */
export interface SimilarityTile {
  /** `[T, S]` similarities. */
  sim: Tensor;
  /** First row. */
  i0: number;
  /** Rows. */
  T: number;
}

/** The running statistics and best entries of every row and column. */
export interface DualSoftmaxState {
  /** `[L, 2]`: max, Σexp of each row. */
  rowStats: Tensor;
  /** `[S, 2]`: max, Σexp of each column, merged across tiles. */
  colStats: Tensor;
  /** `[L, 2]` u32: best column and its confidence bits. */
  rowBest: Tensor;
  /** `[S, 2]` u32: best row so far and its key bits. */
  colBest: Tensor;
}

function uniforms(p: DualSoftmaxProblem, i0: number, T: number, first: boolean) {
  return {
    T,
    i0,
    S: p.S,
    L: p.L,
    W0: p.grid0.width,
    H0: p.grid0.height,
    W1: p.grid1.width,
    H1: p.grid1.height,
    border: p.border,
    first: first ? 1 : 0,
    thr: p.threshold,
  };
}

// Counts per similarity entry: statistics max + exp-sum (4 flops); best entry
// 2·sim − log-sum-exp (a logarithm and 3 flops, counted 4). Each pass reads the
// tile once, plus its row/column values.
function cost(T: number, S: number, perEntry: number, rows: number, cols: number) {
  return { flops: perEntry * T * S, bytes: 4 * (T * S + rows * T + cols * S) };
}

/** The row kernel `row` and column kernel `col`, shaped for this device's tuning. */
async function lineKernels(gpu: Gpu, row: string, col: string) {
  const { wg, rowLanes, colLanes } = COOPERATION[gpu.tuning];
  return {
    row: await gpu.kernel(SHADER, row, { WG: wg, LANES: rowLanes }),
    col: await gpu.kernel(SHADER, col, { WG: wg, LANES: colLanes }),
    rowGroups: (T: number) => grid(T, wg / rowLanes),
    colGroups: (S: number) => grid(S, wg / colLanes),
  };
}

/**
 * Pass 1 on one tile: the tile's rows' max and Σexp, and the columns' running
 * max and Σexp (initialised by the `first` tile).
 */
export async function lineStats(
  gpu: Gpu,
  p: DualSoftmaxProblem,
  tile: SimilarityTile,
  first: boolean,
  state: DualSoftmaxState,
): Promise<void> {
  const { row, col, rowGroups, colGroups } = await lineKernels(gpu, "row_stats", "col_stats");
  const u = uniforms(p, tile.i0, tile.T, first);
  gpu.dispatch({
    kernel: row,
    bindings: { sim: tile.sim, rowStats: state.rowStats },
    uniforms: u,
    workgroups: rowGroups(tile.T),
    ...cost(tile.T, p.S, 4, 2, 0),
  });
  gpu.dispatch({
    kernel: col,
    bindings: { sim: tile.sim, colStats: state.colStats },
    uniforms: u,
    workgroups: colGroups(p.S),
    ...cost(tile.T, p.S, 4, 0, first ? 2 : 4),
  });
}

/**
 * Pass 2 on one tile (after pass 1 on every tile): each of the tile's rows'
 * best column, and the columns' running best row (initialised by the `first`
 * tile).
 */
export async function lineBest(
  gpu: Gpu,
  p: DualSoftmaxProblem,
  tile: SimilarityTile,
  first: boolean,
  state: DualSoftmaxState,
): Promise<void> {
  const { row, col, rowGroups, colGroups } = await lineKernels(gpu, "row_best", "col_best");
  const u = uniforms(p, tile.i0, tile.T, first);
  const stats = { sim: tile.sim, rowStats: state.rowStats, colStats: state.colStats };
  gpu.dispatch({
    kernel: row,
    bindings: { ...stats, rowBest: state.rowBest },
    uniforms: u,
    workgroups: rowGroups(tile.T),
    ...cost(tile.T, p.S, 4, 2, 2),
  });
  gpu.dispatch({
    kernel: col,
    bindings: { ...stats, colBest: state.colBest },
    uniforms: u,
    workgroups: colGroups(p.S),
    ...cost(tile.T, p.S, 4, 2, first ? 2 : 4),
  });
}

/** The confidence of a tile's entries, into rows `i0 …` of `conf` `[L, S]` (after pass 1). */
export async function tileConfidence(
  gpu: Gpu,
  p: DualSoftmaxProblem,
  tile: SimilarityTile,
  state: DualSoftmaxState,
  conf: Tensor,
): Promise<void> {
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER, "confidence"),
    bindings: { sim: tile.sim, rowStats: state.rowStats, colStats: state.colStats, conf },
    uniforms: uniforms(p, tile.i0, tile.T, false),
    workgroups: grid(tile.T * p.S, 64),
    flops: 8 * tile.T * p.S,
    bytes: 4 * (2 * tile.T * p.S + 2 * tile.T + 2 * p.S),
  });
}

/**
 * Appends every mutual best pair above the threshold and off the border to
 * `matches` (a zeroed `[1 + 3·capacity]` u32 list: count, then (i, j,
 * confidence bits) per match), after pass 2 on every tile.
 */
export async function mutualMatches(
  gpu: Gpu,
  p: DualSoftmaxProblem,
  state: DualSoftmaxState,
  matches: Tensor,
): Promise<void> {
  const capacity = (matches.size - 1) / 3;
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER, "mutual"),
    bindings: { rowBest: state.rowBest, colBest: state.colBest, matches },
    uniforms: uniforms(p, 0, 0, false),
    workgroups: grid(p.L, 64),
    flops: 0, // comparisons only
    bytes: 4 * (2 * p.L + 2 * p.S + 3 * capacity),
  });
}
