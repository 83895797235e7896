/**
 * Coarse matching: dual softmax with mutual nearest neighbours, threshold and
 * border removal (`kernels/dual_softmax.wgsl`), in row tiles of bounded size.
 * @module
 */
import { type Gpu, grid, type KernelTuning, type Tensor } from "../gpu/gpu.ts";
import { linear } from "../kernels/linear.ts";

const SHADER = new URL("../kernels/dual_softmax.wgsl", import.meta.url);

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

/** Coarse matches on the GPU: `count` then `(i, j, conf bits)` triples. */
export interface GpuMatches {
  /** `u32` buffer `[1 + 3·capacity]`. */
  buffer: Tensor;
  /** Most matches the buffer can hold (min(L, S)). */
  capacity: number;
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
 * Workgroup size of the row and column kernels of kernels/dual_softmax.wgsl,
 * and the invocations that share a row or a column, per kernel tuning.
 */
const COOPERATION: Record<KernelTuning, { wg: number; rowLanes: number; colLanes: number }> = {
  cpu: { wg: 64, rowLanes: 1, colLanes: 1 },
  gpu: { wg: 256, rowLanes: 256, colLanes: 8 },
};

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
  const { wg, rowLanes, colLanes } = COOPERATION[gpu.tuning];
  const kernel = (entry: string) => gpu.kernel(SHADER, entry);
  const rowKernel = (entry: string) => gpu.kernel(SHADER, entry, { WG: wg, LANES: rowLanes });
  const colKernel = (entry: string) => gpu.kernel(SHADER, entry, { WG: wg, LANES: colLanes });
  const rowGroups = (T: number) => grid(T, wg / rowLanes);
  const colGroups = grid(S, wg / colLanes);
  const zeros = gpu.tensor([S]);
  gpu.zero(zeros);
  const f1AsWeight = { weight: f1, bias: zeros };
  const rowStats = gpu.tensor([L, 2]);
  const colStats = gpu.tensor([S, 2]);
  const rowBest = gpu.tensor([L, 2], undefined, "u32");
  const colBest = gpu.tensor([S, 2], undefined, "u32");
  const tiles = Math.ceil(L / tileRows);
  const rowsBuffer = tiles > 1 ? gpu.tensor([tileRows, C]) : null;

  // The similarity of rows i0 .. i0+T-1 against every column.
  let cached: Tensor | null = null;
  const similarity = async (t: number): Promise<[Tensor, number, number]> => {
    const i0 = t * tileRows;
    const T = Math.min(tileRows, L - i0);
    if (cached && tiles === 1) return [cached, i0, T];
    let rows = f0;
    if (rowsBuffer) {
      gpu.copy(f0, rowsBuffer, T * C * 4, i0 * C * 4, 0);
      rows = { ...rowsBuffer, shape: [T, C], size: T * C };
    }
    gpu.release(cached);
    cached = await linear(gpu, rows, f1AsWeight, { scale: 1 / (C * options.temperature) });
    return [cached, i0, T];
  };
  // Counts per similarity entry: statistics max + exp-sum (4 flops); best entry
  // 2·sim − log-sum-exp (a logarithm and 3 flops, counted 4). Each pass reads the
  // tile once, plus its row/column values.
  const cost = (T: number, perEntry: number, rows: number, cols: number) => ({
    flops: perEntry * T * S,
    bytes: 4 * (T * S + rows * T + cols * S),
  });
  const params = (i0: number, T: number, first: boolean) => ({
    u32: [
      T,
      i0,
      S,
      L,
      grid0.width,
      grid0.height,
      grid1.width,
      grid1.height,
      options.borderRemoval,
      first ? 1 : 0,
    ],
    f32: [options.threshold],
  });

  for (let t = 0; t < tiles; t++) {
    const [sim, i0, T] = await similarity(t);
    const u = params(i0, T, t === 0);
    gpu.dispatch({
      pipeline: await rowKernel("row_stats"),
      buffers: [sim, rowStats],
      ...u,
      workgroups: rowGroups(T),
      ...cost(T, 4, 2, 0),
    });
    gpu.dispatch({
      pipeline: await colKernel("col_stats"),
      buffers: [sim, null, colStats],
      ...u,
      workgroups: colGroups,
      ...cost(T, 4, 0, t === 0 ? 2 : 4),
    });
  }
  let confidence: Tensor | undefined;
  for (let t = 0; t < tiles; t++) {
    const [sim, i0, T] = await similarity(t);
    const u = params(i0, T, t === 0);
    const stats = [sim, rowStats, colStats];
    gpu.dispatch({
      pipeline: await rowKernel("row_best"),
      buffers: [...stats, rowBest],
      ...u,
      workgroups: rowGroups(T),
      ...cost(T, 4, 2, 2),
    });
    gpu.dispatch({
      pipeline: await colKernel("col_best"),
      buffers: [...stats, null, colBest],
      ...u,
      workgroups: colGroups,
      ...cost(T, 4, 2, t === 0 ? 2 : 4),
    });
    if (options.keepConfidence) {
      confidence = gpu.tensor([L, S]);
      gpu.dispatch({
        pipeline: await kernel("confidence"),
        buffers: [...stats, null, null, confidence],
        ...u,
        workgroups: grid(L * S, 64),
        flops: 8 * T * S,
        bytes: 4 * (2 * T * S + 2 * T + 2 * S),
      });
    }
  }
  const capacity = Math.min(L, S);
  const buffer = gpu.tensor([1 + 3 * capacity], undefined, "u32");
  gpu.zero(buffer);
  gpu.dispatch({
    pipeline: await kernel("mutual"),
    buffers: [null, null, null, rowBest, colBest, null, buffer],
    ...params(0, 0, false),
    workgroups: grid(L, 64),
    flops: 0, // comparisons only
    bytes: 4 * (2 * L + 2 * S + 3 * capacity),
  });
  gpu.release(cached, zeros, rowStats, colStats, rowBest, colBest, rowsBuffer);
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
