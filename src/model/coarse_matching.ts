/**
 * The coarse matching stage: similarities of the two images' coarse features
 * (a linear layer with image 1's features as weights), dual softmax with mutual
 * nearest neighbours, threshold and border removal (kernels/dual_softmax.ts),
 * in row tiles of bounded size; the match list stays on the GPU.
 * @module
 */
import type { Gpu, Tensor } from "../gpu/mod.ts";
import {
  type DualSoftmaxProblem,
  type DualSoftmaxState,
  lineBest,
  lineStats,
  mutualMatches,
  type SimilarityTile,
  tileConfidence,
} from "../kernels/dual_softmax.ts";
import { linear } from "../kernels/linear.ts";
import type { GpuMatches } from "../kernels/dual_softmax.ts";

/** Options of {@link coarseMatching}. */
export interface CoarseMatchingOptions {
  /** Keep matches with confidence strictly above this. */
  threshold: number;
  /** Drop matches within this many cells of either grid's border. */
  borderRemoval: number;
  /** Softmax temperature τ (LoFTR: 0.1). */
  temperature: number;
  /**
   * Largest similarity tile, in bytes (default 64 MiB). The L×S similarity
   * matrix is processed in row tiles of at most this size, so memory stays
   * bounded at any resolution; the matches are the same for any tile size.
   */
  maxTileBytes?: number;
  /** Also return the whole confidence matrix `[L, S]` (needs it to fit in one tile). */
  keepConfidence?: boolean;
}

/** Coarse matches read back to the CPU, in ascending `i`. */
export interface CoarseMatches {
  /** Token index in image 0 (`y·W0 + x` on its coarse grid). */
  i: Uint32Array;
  /** Token index in image 1. */
  j: Uint32Array;
  /** Dual-softmax confidence of each match. */
  confidence: Float32Array;
  /** Position of each match in the GPU list: its row in per-match GPU outputs (the fine stage's). */
  slot?: Uint32Array;
}

/** Size of a coarse grid, in cells. */
export interface GridSize {
  /** Cells per row. */
  width: number;
  /** Cells per column. */
  height: number;
}

const DEFAULT_TILE_BYTES = 64 * 2 ** 20;

/**
 * Dual-softmax matching of coarse features `f0` `[L, C]` and `f1` `[S, C]`
 * on grids `grid0`, `grid1`. The features are not consumed.
 */
export async function coarseMatching(
  gpu: Gpu,
  f0: Tensor,
  f1: Tensor,
  grid0: GridSize,
  grid1: GridSize,
  options: CoarseMatchingOptions,
): Promise<{ matches: GpuMatches; confidence?: Tensor }> {
  const [L, C] = f0.shape;
  const S = f1.shape[0];
  const limit = Math.min(options.maxTileBytes ?? DEFAULT_TILE_BYTES, gpu.maxBindingBytes);
  const tileRows = Math.max(1, Math.min(L, Math.floor(limit / (4 * S))));
  if (options.keepConfidence && tileRows < L) {
    throw new Error(`coarseMatching: a ${L}×${S} confidence matrix does not fit in one tile`);
  }
  const problem: DualSoftmaxProblem = {
    L,
    S,
    grid0,
    grid1,
    border: options.borderRemoval,
    threshold: options.threshold,
  };
  const zeros = gpu.tensor([S]);
  gpu.zero(zeros);
  const f1AsWeight = { weight: f1, bias: zeros };
  const state: DualSoftmaxState = {
    rowStats: gpu.tensor([L, 2]),
    colStats: gpu.tensor([S, 2]),
    rowBest: gpu.tensor([L, 2], undefined, "u32"),
    colBest: gpu.tensor([S, 2], undefined, "u32"),
  };
  const tiles = Math.ceil(L / tileRows);
  const rowsBuffer = tiles > 1 ? gpu.tensor([tileRows, C]) : null;

  // The similarity of rows i0 .. i0+T-1 against every column.
  let cached: Tensor | null = null;
  const similarity = async (t: number): Promise<SimilarityTile> => {
    const i0 = t * tileRows;
    const T = Math.min(tileRows, L - i0);
    if (cached && tiles === 1) return { sim: cached, i0, T };
    let rows = f0;
    if (rowsBuffer) {
      gpu.copy(f0, rowsBuffer, T * C * 4, i0 * C * 4, 0);
      rows = { ...rowsBuffer, shape: [T, C], size: T * C };
    }
    gpu.release(cached);
    cached = await linear(gpu, rows, f1AsWeight, { scale: 1 / (C * options.temperature) });
    return { sim: cached, i0, T };
  };

  for (let t = 0; t < tiles; t++) {
    await lineStats(gpu, problem, await similarity(t), t === 0, state);
  }
  let confidence: Tensor | undefined;
  for (let t = 0; t < tiles; t++) {
    const tile = await similarity(t);
    await lineBest(gpu, problem, tile, t === 0, state);
    if (options.keepConfidence) {
      confidence = gpu.tensor([L, S]);
      await tileConfidence(gpu, problem, tile, state, confidence);
    }
  }
  const capacity = Math.min(L, S);
  const buffer = gpu.tensor([1 + 3 * capacity], undefined, "u32");
  gpu.zero(buffer);
  await mutualMatches(gpu, problem, state, buffer);
  gpu.release(cached, zeros, ...Object.values(state), rowsBuffer);
  return { matches: { buffer, capacity }, confidence };
}

/** Reads coarse matches back to the CPU, sorted by `i`. */
export async function readMatches(gpu: Gpu, m: GpuMatches): Promise<CoarseMatches> {
  const raw = await gpu.read(m.buffer) as Uint32Array;
  const n = raw[0];
  const order = Array.from({ length: n }, (_, k) => k).sort((a, b) =>
    raw[1 + 3 * a] - raw[1 + 3 * b]
  );
  const i = new Uint32Array(n), j = new Uint32Array(n), confidence = new Float32Array(n);
  const bits = new Float32Array(raw.buffer);
  order.forEach((k, r) => {
    i[r] = raw[1 + 3 * k];
    j[r] = raw[2 + 3 * k];
    confidence[r] = bits[3 + 3 * k];
  });
  return { i, j, confidence, slot: Uint32Array.from(order) };
}

/**
 * Puts a given coarse match list on the GPU (e.g. to refine matches found
 * elsewhere), with `capacity` slots (default: the number of matches; more
 * leaves empty slots past the count, as in the lists {@link coarseMatching} makes).
 */
export function uploadMatches(gpu: Gpu, m: CoarseMatches, capacity = m.i.length): GpuMatches {
  const n = m.i.length;
  if (capacity < n) throw new RangeError(`capacity ${capacity} < ${n} matches`);
  const raw = new Uint32Array(1 + 3 * capacity);
  const bits = new Float32Array(raw.buffer);
  raw[0] = n;
  for (let k = 0; k < n; k++) {
    raw[1 + 3 * k] = m.i[k];
    raw[2 + 3 * k] = m.j[k];
    bits[3 + 3 * k] = m.confidence[k];
  }
  return { buffer: gpu.tensor([raw.length], raw, "u32"), capacity };
}
