/**
 * The kernel cases: one table of every kernel family of src/kernels/, each
 * case a kernel run on seeded inputs through its TypeScript module (or the
 * model- or geometry-level function where the kernel is reached that way),
 * the float64 reference of what it computes (tests/kernels/references.ts,
 * src/geometry for RANSAC), and how the two are compared: relative L2 error,
 * largest absolute or relative difference, each with its tolerance and why
 * float32 arithmetic stays within it, or bit for bit.
 *
 * Platform-neutral: no Deno API, no node: module, no file read (inputs come
 * from seeded numbers or are computed here), so that the same table runs in
 * Deno (tests/kernels/kernels_test.ts) and in a browser page. A case runs
 * under each kernel tuning of `tunings` (both where the kernel has two
 * shapes), on a `Gpu` of that tuning; {@link judge} compares its outputs.
 *
 * Tolerances: ε = 2⁻²⁴ ≈ 6e-8 is the relative rounding error of one float32
 * operation, u = 2⁻¹¹ ≈ 4.9e-4 that of one rounding to f16. A measured error
 * beyond float32 rounding is a bug to fix in the kernel, never a reason to
 * loosen a tolerance; the tolerances carried over from earlier tests are kept.
 * @module
 */
import type { Gpu, KernelTuning, Precision } from "../../src/gpu/mod.ts";
import { cast } from "../../src/kernels/cast.ts";
import {
  conv2d,
  conv2dInputRows,
  conv2dOutputShape,
  conv2dStrip,
  conv2dWeights,
  type ConvActivation,
  wholeMap,
} from "../../src/kernels/conv2d.ts";
import {
  type DualSoftmaxProblem,
  type DualSoftmaxState,
  lineBest,
  lineStats,
  mutualMatches,
  tileConfidence,
} from "../../src/kernels/dual_softmax.ts";
import { fineExpectation } from "../../src/kernels/fine_matching.ts";
import { fineWindows, gatherRows } from "../../src/kernels/fine_windows.ts";
import { layerNorm } from "../../src/kernels/layer_norm.ts";
import { linear } from "../../src/kernels/linear.ts";
import { linearAttention } from "../../src/kernels/linear_attention.ts";
import { addPositionEncoding } from "../../src/kernels/position_encoding.ts";
import { readRecord, RECORD_FLOATS, scoreHypotheses } from "../../src/kernels/ransac.ts";
import type { PosEncoding } from "../../src/model/architecture.ts";
import { uploadMatches } from "../../src/model/coarse_matching.ts";
import { positionEncodingAxes } from "../../src/model/position_encoding.ts";
import { screenCandidates } from "../../src/geometry/local_optimization.ts";
import { type PreparedMatches, prepareMatches } from "../../src/geometry/matches.ts";
import { hypothesisModels, recoverCandidates, segments } from "../../src/geometry/ransac.ts";
import { ransacProblem, screenCandidatesGpu } from "../../src/geometry/ransac_gpu.ts";
import { type ResolvedOptions, resolveOptions } from "../../src/geometry/ransac_options.ts";
import { fundamentalKind } from "../../src/geometry/fundamental_solvers.ts";
import { scoreModel } from "../../src/geometry/scores.ts";
import { seededRandom } from "../../testing/random.ts";
import {
  firstCandidates,
  planeMatches,
  syntheticMatches,
} from "../../testing/synthetic_matches.ts";
import { HOMOGRAPHY } from "../../src/geometry/homography_solvers.ts";
import { bitDifference, maxAbs, maxRel, relL2, TUNINGS } from "../support/measures.ts";
import {
  conv2dRef,
  dualSoftmaxRef,
  elu1,
  fineExpectationRef,
  fineWindowsRef,
  gatherRowsRef,
  layerNormRef,
  linearAttentionRef,
  linearRef,
  type Map3,
  mutualMatchesRef,
  positionEncodingRef,
  randomMap,
} from "./references.ts";

// ---------------------------------------------------------------------------
// The table's form, and the judgement of a run against its reference.

/** A WebGPU feature a case needs from the device. */
export type Feature = "shader-f16";

/**
 * How an output is compared with its reference: `relL2` ‖a − b‖₂ / ‖b‖₂,
 * `maxAbs` max |a − b|, `maxRel` max |a − b| / |b| (each passing at or below
 * the tolerance), or `identical`: bit for bit (signed zeros apart, NaN equal
 * to NaN; the tolerance is 0).
 */
export type Measure = "relL2" | "maxAbs" | "maxRel" | "identical";

/** A comparison of one output: the measure, its tolerance, and why float32 stays within it. */
export interface Comparison {
  measure: Measure;
  tol: number;
  why: string;
}

/** Named arrays: what a run read back, or their reference. */
export type Outputs = Record<string, ArrayLike<number>>;

/** One kernel case. */
export interface KernelCase {
  /**
   * The kernel file, its entry points (`a/b`: `a` with the "cpu" tuning, `b`
   * with the "gpu" one; likewise lanes) and the shape.
   */
  name: string;
  /** A device feature the case needs (it is skipped without). */
  requires?: Feature;
  /** The kernel tunings to run it under: both where the kernel has two shapes. */
  tunings: readonly KernelTuning[];
  /**
   * Uploads the inputs, dispatches the kernel, reads back: the outputs by
   * name (those named in `compare`, and any the reference needs). Throws a {@link CaseError} where the kernel breaks an expectation
   * that is no comparison of numbers (a shape, a refused argument).
   */
  run(gpu: Gpu): Promise<Outputs>;
  /**
   * The float64 reference of each compared output, computed on the CPU from
   * the same inputs; some references take the run's own outputs (the GPU's
   * models rescored in float64; strips against the whole map).
   */
  reference(got: Outputs): Outputs;
  /** How each compared output is compared, by name. */
  compare: Readonly<Record<string, Comparison>>;
}

/** A kernel's behaviour other than its numbers (a shape, a refusal) is not as expected. */
export class CaseError extends Error {
  override name = "CaseError";
}

/** Throws a {@link CaseError} with `message` unless `ok`. */
export function expect(ok: boolean, message: string): asserts ok {
  if (!ok) throw new CaseError(message);
}

/** The comparison of one output: what was measured, and whether it is within tolerance. */
export interface Verdict {
  output: string;
  measure: Measure;
  measured: number;
  tol: number;
  ok: boolean;
  /** One line: the output, the measured error and the tolerance (and why, when it fails). */
  message: string;
}

const MEASURE_NAMES: Record<Measure, string> = {
  relL2: "rel L2",
  maxAbs: "max abs",
  maxRel: "max rel",
  identical: "differing elements",
};

/** Compares a run's outputs with the case's references. */
export function judge(c: KernelCase, got: Outputs): Verdict[] {
  const want = c.reference(got);
  const verdicts: Verdict[] = [];
  for (const [output, cmp] of Object.entries(c.compare)) {
    const a = got[output], b = want[output];
    if (!a || !b) {
      verdicts.push({
        output,
        measure: cmp.measure,
        measured: NaN,
        tol: cmp.tol,
        ok: false,
        message: `${output}: ${!a ? "not in the run's outputs" : "no reference"}`,
      });
      continue;
    }
    let measured: number, detail = "";
    if (cmp.measure === "identical") {
      const d = bitDifference(a, b);
      measured = d?.count ?? 0;
      if (d) {
        detail = d.first < 0
          ? ` (length ${a.length}, not ${b.length})`
          : ` of ${b.length}, the first at ${d.first}: ${a[d.first]}, not ${b[d.first]}`;
      }
    } else if (a.length !== b.length) {
      measured = NaN;
      detail = ` (length ${a.length}, not ${b.length})`;
    } else {
      measured = { relL2, maxAbs, maxRel }[cmp.measure](a, b);
    }
    const ok = measured <= cmp.tol;
    const figure = cmp.measure === "identical" ? `${measured}` : measured.toExponential(2);
    verdicts.push({
      output,
      measure: cmp.measure,
      measured,
      tol: cmp.tol,
      ok,
      message: `${output}: ${MEASURE_NAMES[cmp.measure]} ${figure}${detail}` +
        (ok ? ` ≤ ${cmp.tol}` : ` > tolerance ${cmp.tol} (${cmp.why})`),
    });
  }
  return verdicts;
}

/** The kernel has one shape (the tuning does not change it): one run. */
const ONE_SHAPE: readonly KernelTuning[] = ["cpu"];

/** `f()`, computed on first use and kept: inputs shared by a case's run and reference. */
function once<T>(f: () => T): () => T {
  let value: { v: T } | null = null;
  return () => (value ??= { v: f() }).v;
}

/** `n` seeded numbers in [−1, 1) times `scale`, plus `offset`. */
function randoms(rand: () => number, n: number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + scale * rand());
}

const EPS = 2 ** -24;
const U = 2 ** -11;

// ---------------------------------------------------------------------------
// conv2d.wgsl: `main` ("cpu" tuning), `tiled` ("gpu" tuning).

/**
 * A convolution: kernel size, stride, padding (default (k − 1) / 2),
 * activation, residual (same size as the output, or coarser: upsampled),
 * output channels (default 11).
 */
interface ConvSpec {
  k: number;
  stride: number;
  padding?: number;
  activation: ConvActivation;
  residual?: "same" | "coarse";
  cout?: number;
}

/**
 * Every kernel size, stride, activation and residual form of the backbone
 * (and a 7×7 at stride 1), for maps with odd sizes: partial pixel tiles along
 * x, Cout (11) not a multiple of the 8-channel tile.
 */
const CONV_SPECS: readonly ConvSpec[] = [
  { k: 1, stride: 1, activation: "none" },
  { k: 1, stride: 2, activation: "none" },
  { k: 3, stride: 1, activation: "relu" },
  { k: 3, stride: 2, activation: "relu" },
  { k: 3, stride: 1, activation: "leaky_relu" },
  { k: 7, stride: 2, padding: 3, activation: "relu" },
  { k: 7, stride: 1, activation: "none" },
  { k: 3, stride: 1, activation: "relu", residual: "same" },
  { k: 3, stride: 2, activation: "leaky_relu", residual: "same" },
  { k: 1, stride: 1, activation: "none", residual: "coarse" },
  { k: 3, stride: 1, activation: "relu", residual: "coarse" },
];

/** A convolution's inputs: map, filter `[Cout, Cin, K, K]`, bias, residual. */
interface ConvInputs {
  x: Map3;
  filter: { shape: number[]; data: Float32Array };
  bias: Float32Array;
  residual?: Map3;
  out: [number, number, number];
}

function convOutput(spec: ConvSpec, shape: readonly number[]): [number, number, number] {
  const pad = spec.padding ?? (spec.k - 1) / 2;
  return [
    spec.cout ?? 11,
    Math.floor((shape[1] + 2 * pad - spec.k) / spec.stride) + 1,
    Math.floor((shape[2] + 2 * pad - spec.k) / spec.stride) + 1,
  ];
}

/**
 * Seeded inputs of `spec` on a `shape` map: the coarse residual has half the
 * output's sides (rounded up), or `coarse` when given.
 */
function convInputs(
  spec: ConvSpec,
  shape: [number, number, number],
  seed: number,
  coarse?: [number, number],
): ConvInputs {
  const rand = seededRandom(seed);
  const x = randomMap(shape, rand);
  const out = convOutput(spec, shape);
  const [cout, ho, wo] = out;
  const n = cout * shape[0] * spec.k * spec.k;
  const filter = { shape: [cout, shape[0], spec.k, spec.k], data: randoms(rand, n) };
  const bias = randoms(rand, cout);
  const [hr, wr] = coarse ?? [Math.ceil(ho / 2), Math.ceil(wo / 2)];
  const residual = spec.residual === "same"
    ? randomMap([cout, ho, wo], rand)
    : spec.residual === "coarse"
    ? randomMap([cout, hr, wr], rand)
    : undefined;
  return { x, filter, bias, residual, out };
}

function convOptions(spec: ConvSpec) {
  return { stride: spec.stride, padding: spec.padding, activation: spec.activation };
}

/** Runs `conv2d` on the inputs stored as `precision`; returns the output read back. */
async function runConv(
  gpu: Gpu,
  spec: ConvSpec,
  inputs: ConvInputs,
  precision: Precision,
): Promise<Float32Array> {
  const { x, filter, bias, residual, out } = inputs;
  const xt = gpu.tensor(x.shape, x.data as Float32Array, precision);
  const rt = residual && gpu.tensor(residual.shape, residual.data as Float32Array, precision);
  const weights = conv2dWeights(gpu, filter.shape, filter.data, bias, precision);
  const y = await conv2d(gpu, xt, weights, { ...convOptions(spec), residual: rt });
  expect(
    y.shape.join() === out.join() && y.dtype === precision,
    `output [${y.shape}] ${y.dtype}, expected [${out}] ${precision}`,
  );
  return await gpu.read(y) as Float32Array;
}

function convRef(spec: ConvSpec, inputs: ConvInputs): Float64Array {
  const { x, filter, bias, residual } = inputs;
  return conv2dRef(x, filter, bias, { ...convOptions(spec), residual }).data as Float64Array;
}

function convLabel(spec: ConvSpec, shape: readonly number[]): string {
  const pad = spec.padding !== undefined ? ` pad ${spec.padding}` : "";
  const res = spec.residual === "same"
    ? ", + residual"
    : spec.residual === "coarse"
    ? ", + upsampled residual"
    : "";
  return `${spec.k}×${spec.k} stride ${spec.stride}${pad}, ${spec.activation}${res}, ` +
    `[${shape}] → [${convOutput(spec, shape)}]`;
}

/** A conv2d case: the output of `spec` on a `shape` map against float64. */
function convCase(
  spec: ConvSpec,
  shape: [number, number, number],
  seed: number,
  precision: Precision,
  cmp: Comparison,
  coarse?: [number, number],
): KernelCase {
  const inputs = once(() => convInputs(spec, shape, seed, coarse));
  const f16 = precision === "f16" ? " f16" : "";
  return {
    name: `conv2d.wgsl main/tiled${f16}: ${convLabel(spec, shape)}`,
    requires: precision === "f16" ? "shader-f16" : undefined,
    tunings: TUNINGS,
    run: async (gpu) => ({ y: await runConv(gpu, spec, inputs(), precision) }),
    reference: () => ({ y: convRef(spec, inputs()) }),
    compare: { y: cmp },
  };
}

const CONV_F32: Comparison = {
  measure: "relL2",
  tol: 1e-6,
  why: "dot products of up to Cin·K² = 245 float32 terms: ~1e-7 relative in L2",
};

const CONV_TILES: Comparison = {
  measure: "relL2",
  tol: 1e-6,
  why: "dot products of up to Cin·K² = 333 float32 terms: ~1e-7 relative in L2",
};

const CONV_F16: Comparison = {
  measure: "relL2",
  tol: 2 * U,
  why: "the float64 reference takes the unrounded float32 values; in f16 the input, filter " +
    "and residual are rounded (≤ u relative each) and the output once more (≤ u); products " +
    "of f16 values are exact in f32 and the sums f32 (≈ 1e-7). Those errors have random " +
    "signs, so the output's rel L2 stays below u (measured 0.65u–0.7u). An f16 accumulator " +
    "would add a rounding of the partial sum at each of the K terms: with K = Cin·9 = 2304, " +
    "as in the backbone's 256-channel convolutions, one measured 15u, so 2u also checks " +
    "that sums are f32",
};

/** Rows `first … end − 1` of a `[C, H, W]` map as `[C, rows, W]`; rows past `end − first` are NaN. */
function rowsOf(m: Map3, first: number, end: number, rows = end - first): Float32Array {
  const [c, h, w] = m.shape;
  const out = new Float32Array(c * rows * w).fill(NaN);
  for (let k = 0; k < c; k++) {
    out.set(m.data.subarray((k * h + first) * w, (k * h + end) * w), k * rows * w);
  }
  return out;
}

/**
 * The strips of one convolution on a [5, 13, 21] map: output rows from an
 * input strip (holding the rows they read and two NaN rows below them, past
 * the map's end for the bottom strip, where zero padding must still apply)
 * into a strip of their own, at the top, in the middle and at the bottom;
 * and the whole output map written strip by strip from the whole input map,
 * in strips of 1 and of 2 rows, every other strip first (the rows of the
 * others keep their NaN), then the others. Each bit-identical to the
 * whole-map convolution, itself compared with float64.
 */
function convStripCase(spec: ConvSpec, seed: number, refusal = false): KernelCase {
  const shape: [number, number, number] = [5, 13, 21];
  const inputs = once(() => convInputs(spec, shape, seed, [4, 6]));
  const [cout, ho, wo] = convOutput(spec, shape);
  const ranges = [{ first: 0, end: 1 }, { first: 2, end: 5 }, { first: ho - 2, end: ho }];
  const rangeName = (r: { first: number; end: number }) =>
    `rows ${r.first}..${r.end - 1} from an input strip`;
  const stripped = (height: number, part: string) => `${height}-row strips, ${part}`;
  const strips = (height: number) => {
    const out = [];
    for (let first = 0; first < ho; first += height) {
      out.push({ first, end: Math.min(first + height, ho) });
    }
    return out;
  };
  const identical: Comparison = {
    measure: "identical",
    tol: 0,
    why: "the same arithmetic on the same values: strips are bit-identical to the whole map",
  };
  const compare: Record<string, Comparison> = { whole: CONV_F32 };
  for (const r of ranges) compare[rangeName(r)] = identical;
  for (const h of [1, 2]) {
    compare[stripped(h, "every other one")] = identical;
    compare[stripped(h, "whole")] = identical;
  }
  return {
    name: `conv2d.wgsl main/tiled strips: ${convLabel(spec, shape)}, into and from strips`,
    tunings: TUNINGS,
    run: async (gpu) => {
      const { x, filter, bias, residual } = inputs();
      const xt = gpu.tensor(x.shape, x.data as Float32Array);
      const w = conv2dWeights(gpu, filter.shape, filter.data, bias);
      const rt = residual && gpu.tensor(residual.shape, residual.data as Float32Array);
      const options = { ...convOptions(spec), residual: rt };
      expect(
        conv2dOutputShape(w, options, shape).join() === [cout, ho, wo].join(),
        "output shape",
      );
      const whole = await gpu.read(await conv2d(gpu, xt, w, options)) as Float32Array;
      const out: Outputs = { whole };
      for (const rows of ranges) {
        const reads = conv2dInputRows(w, options, rows, 13);
        const held = reads.end - reads.first + 2;
        const xs = gpu.tensor([5, held, 21], rowsOf(x, reads.first, reads.end, held));
        const ys = gpu.tensor([cout, rows.end - rows.first, wo]);
        await conv2dStrip(
          gpu,
          { tensor: xs, first: reads.first, height: 13 },
          w,
          rows,
          { tensor: ys, first: rows.first, height: ho },
          options,
        );
        out[rangeName(rows)] = await gpu.read(ys);
      }
      for (const height of [1, 2]) {
        const y = gpu.tensor([cout, ho, wo], new Float32Array(cout * ho * wo).fill(NaN));
        for (const [k, rows] of strips(height).entries()) {
          if (k % 2 === 0) await conv2dStrip(gpu, wholeMap(xt), w, rows, wholeMap(y), options);
        }
        out[stripped(height, "every other one")] = await gpu.read(y);
        for (const [k, rows] of strips(height).entries()) {
          if (k % 2) await conv2dStrip(gpu, wholeMap(xt), w, rows, wholeMap(y), options);
        }
        out[stripped(height, "whole")] = await gpu.read(y);
      }
      if (refusal) {
        // An input strip without every row the output rows read is refused.
        const w2 = conv2dWeights(gpu, [2, 5, 3, 3], new Float32Array(90), null);
        const xs = gpu.tensor([5, 3, 21], rowsOf(x, 4, 7));
        const message = await conv2dStrip(
          gpu,
          { tensor: xs, first: 4, height: 13 },
          w2,
          { first: 4, end: 7 },
          wholeMap(gpu.tensor([2, 13, 21])),
        ).then(() => "none", (e: Error) => `${e.name}: ${e.message}`);
        expect(
          /^GpuError: .*read input rows 3\.\.7/.test(message),
          `an input strip without the rows 3..7 it reads: refusal ${message}`,
        );
      }
      return out;
    },
    reference: (got) => {
      const want: Outputs = { whole: convRef(spec, inputs()) };
      const w: Map3 = { shape: [cout, ho, wo], data: got.whole as Float32Array };
      for (const r of ranges) want[rangeName(r)] = rowsOf(w, r.first, r.end);
      for (const height of [1, 2]) {
        const gaps = w.data.slice();
        for (const [k, rows] of strips(height).entries()) {
          if (k % 2 === 0) continue;
          for (let ch = 0; ch < cout; ch++) {
            gaps.fill(NaN, (ch * ho + rows.first) * wo, (ch * ho + rows.end) * wo);
          }
        }
        want[stripped(height, "every other one")] = gaps;
        want[stripped(height, "whole")] = w.data;
      }
      return want;
    },
    compare,
  };
}

/** A zero 1×1 convolution leaves exactly up(r): the residual's align_corners = true resampling. */
const CONV_UPSAMPLE: KernelCase = {
  name: "conv2d.wgsl main/tiled: upsampled residual takes align_corners = true values " +
    "(zero 1×1 filter, [1,2,2] → [1,4,4] and [1,2,3] → [1,3,5])",
  tunings: TUNINGS,
  run: async (gpu) => {
    const zero = conv2dWeights(gpu, [1, 1, 1, 1], new Float32Array(1), null);
    const up = async (r: number[], h: number, w: number, ho: number, wo: number) => {
      const x = gpu.tensor([1, ho, wo], new Float32Array(ho * wo));
      const rt = gpu.tensor([1, h, w], Float32Array.from(r));
      return await gpu.read(await conv2d(gpu, x, zero, { residual: rt })) as Float32Array;
    };
    return {
      "2×2 → 4×4": await up([0, 3, 6, 9], 2, 2, 4, 4),
      "2×3 → 3×5": await up([0, 1, 2, 3, 4, 5], 2, 3, 3, 5),
    };
  },
  reference: () => ({
    // Source = dst / 3 on both axes, so [[0, 3], [6, 9]] becomes x + 2y.
    "2×2 → 4×4": [0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9],
    // Not ×2: rows at source 0, 0.5, 1; columns at 0, 0.5, 1, 1.5, 2.
    "2×3 → 3×5": [
      ...[0, 0.5, 1, 1.5, 2],
      ...[1.5, 2, 2.5, 3, 3.5],
      ...[3, 3.5, 4, 4.5, 5],
    ],
  }),
  compare: {
    "2×2 → 4×4": {
      measure: "maxAbs",
      tol: 1e-6,
      why: "values ≤ 9 from f32 weights of thirds: a few roundings of ≤ 4.8e-7 each",
    },
    "2×3 → 3×5": {
      measure: "maxAbs",
      tol: 1e-6,
      why: "values ≤ 5 from f32 weights of halves: exact but for the source position",
    },
  },
};

/**
 * The tiles of conv2d.wgsl: `tiled` computes 64 channels × 128 output pixels
 * (the computed rows flattened) per workgroup, over taps (Cin·K²) in chunks
 * of 16; `main` 8 channels × 8 pixels of a row per invocation.
 */
const CONV_PARTIAL_TILES: [[number, number, number], ConvSpec][] = [
  // Cout 70: a whole channel tile and 6 channels (not a whole filter
  // block); Cin·K² = 333: 20 chunks and 13 taps; 6 × 11 = 66 pixels.
  [[37, 6, 11], { k: 3, stride: 1, activation: "relu", cout: 70 }],
  // One whole chunk and one whole channel tile; rows of 130 pixels, so
  // tiles start mid-row; 1170 pixels, a last tile of 18.
  [[16, 9, 130], { k: 1, stride: 1, activation: "none", residual: "same", cout: 64 }],
  // Rows of 3 output pixels: one tile spans 43 rows, the second (150
  // pixels) starts mid-row; 27 taps: a chunk and 11.
  [[3, 100, 5], { k: 3, stride: 2, activation: "leaky_relu", residual: "coarse", cout: 9 }],
  // The stem's shape: 49 taps, three chunks and 1; 700 pixels.
  [[1, 20, 140], { k: 7, stride: 2, padding: 3, activation: "relu", cout: 8 }],
];

/** conv2d f16 on 256 input channels (Cin·K² = 2304, as the backbone's), and the refusal of mixed types. */
const CONV_F16_WIDE: KernelCase = (() => {
  const spec: ConvSpec = { k: 3, stride: 1, activation: "relu" };
  const shape: [number, number, number] = [256, 9, 11];
  const base = convCase(spec, shape, 8, "f16", CONV_F16);
  return {
    ...base,
    name: `${base.name} (Cin·K² = 2304); maps and filter of different types refused`,
    run: async (gpu) => {
      const out = await base.run(gpu);
      const filter = conv2dWeights(gpu, [1, 5, 1, 1], new Float32Array(5), null, "f16");
      const x = gpu.tensor([5, 13, 21], new Float32Array(5 * 13 * 21));
      const message = await conv2d(gpu, x, filter).then(
        () => "none",
        (e: Error) => `${e.name}: ${e.message}`,
      );
      expect(
        /^GpuError: .*input f32, filter f16/.test(message),
        `an f32 map with an f16 filter: refusal ${message}`,
      );
      return out;
    },
  };
})();

const CONV_CASES: KernelCase[] = [
  ...CONV_SPECS.map((s, k) => convCase(s, [5, 13, 21], 100 + k, "f32", CONV_F32)),
  CONV_UPSAMPLE,
  ...CONV_PARTIAL_TILES.map(([shape, s], k) => convCase(s, shape, 200 + k, "f32", CONV_TILES)),
  convStripCase({ k: 3, stride: 1, activation: "relu", residual: "same" }, 300, true),
  convStripCase({ k: 3, stride: 2, activation: "leaky_relu" }, 301),
  convStripCase({ k: 1, stride: 1, activation: "none", residual: "coarse" }, 302),
  convStripCase({ k: 7, stride: 2, padding: 3, activation: "relu" }, 303),
  ...CONV_SPECS.map((s, k) => convCase(s, [5, 13, 21], 400 + k, "f16", CONV_F16)),
  CONV_F16_WIDE,
];

// ---------------------------------------------------------------------------
// cast.wgsl: `from_f32`, `to_f32`.

const CAST: KernelCase = (() => {
  const values = once(() => {
    const v = randoms(seededRandom(1), 1001, 100);
    v.set([1 + U, 1 + 3 * U, 65504, 1e-7, -0], 0); // ties, the largest f16, a subnormal
    return v;
  });
  const nearest: Comparison = {
    measure: "identical",
    tol: 0,
    why: "rounding to the nearest f16, ties to even, as the host's Float16Array; widening is exact",
  };
  return {
    name: "cast.wgsl from_f32, to_f32: 1001 values (ties, the largest f16, a subnormal, −0)",
    requires: "shader-f16",
    tunings: ONE_SHAPE,
    run: async (gpu) => {
      const narrow = await cast(gpu, gpu.tensor([values().length], values()), "f16");
      expect(narrow.dtype === "f16", `from_f32 gave ${narrow.dtype}`);
      const wide = await cast(gpu, narrow, "f32");
      expect(wide.dtype === "f32", `to_f32 gave ${wide.dtype}`);
      return { "f32 → f16": await gpu.read(narrow), "f16 → f32": await gpu.read(wide) };
    },
    reference: () => {
      const host = Array.from(new Float16Array(values()));
      return { "f32 → f16": host, "f16 → f32": host };
    },
    compare: { "f32 → f16": nearest, "f16 → f32": nearest },
  };
})();

// ---------------------------------------------------------------------------
// linear.wgsl: `main` ("cpu"), `tiled` ("gpu").

const LINEAR_ACTIVATIONS = ["none", "relu", "elu1"] as const;

/**
 * `act([x, x2] · Wᵀ + b) · scale` for each activation; K2 = 0: no
 * concatenation.
 */
function linearCase(M: number, K1: number, K2: number, N: number, scale: number): KernelCase {
  const K = K1 + K2;
  const inputs = once(() => {
    const rand = seededRandom(1);
    return {
      x: randoms(rand, M * K1),
      x2: K2 ? randoms(rand, M * K2) : null,
      w: randoms(rand, N * K),
      b: randoms(rand, N),
    };
  });
  const cmp: Comparison = {
    measure: "relL2",
    tol: 1e-6,
    why: `K-term float32 dot products (K = ${K}): relative error of a sum ~ K·ε at worst, ` +
      `~√K·ε typically (${
        (Math.sqrt(K) * EPS).toExponential(0)
      }); rel L2 averages the typical case`,
  };
  const shape = K2 ? `[${M}, ${K1}+${K2}] (concatenated)` : `[${M}, ${K1}]`;
  return {
    name: `linear.wgsl main/tiled: ${shape} → ${N}, bias, scale ${scale}, none/relu/elu1`,
    tunings: TUNINGS,
    run: async (gpu) => {
      const { x, x2, w, b } = inputs();
      const xt = gpu.tensor([M, K1], x);
      const concat = x2 ? gpu.tensor([M, K2], x2) : undefined;
      const weights = { weight: gpu.tensor([N, K], w), bias: gpu.tensor([N], b) };
      const out: Outputs = {};
      for (const activation of LINEAR_ACTIVATIONS) {
        const y = await linear(gpu, xt, weights, { concat, activation, scale });
        expect(y.shape.join() === `${M},${N}`, `output [${y.shape}]`);
        out[activation] = await gpu.read(y);
      }
      return out;
    },
    reference: () => {
      const { x, x2, w, b } = inputs();
      return Object.fromEntries(LINEAR_ACTIVATIONS.map((a) => [
        a,
        linearRef(x, x2, w, b, { M, K1, K2, N }, a, scale),
      ]));
    },
    compare: Object.fromEntries(LINEAR_ACTIVATIONS.map((a) => [a, cmp])),
  };
}

const LINEAR_CASES: KernelCase[] = [
  // Inside one tile of either tuning.
  linearCase(37, 20, 13, 21, 0.5),
  // Past a 64 × 64 tile, K not a multiple of the 16-feature slice, the
  // concatenation split inside a vec4.
  linearCase(150, 40, 26, 70, 0.5),
  // No concatenation, K odd; partial tiles on both axes (3 × 3 tiles of "cpu", 2 × 2 of "gpu").
  linearCase(65, 33, 0, 70, 1),
];

// ---------------------------------------------------------------------------
// linear_attention.wgsl: `kv_sum`, `kv_total` (the "gpu" tuning's chunks), `attend`.

/**
 * Linear attention over `batch` sequences of L queries and S keys, C
 * channels in `heads` heads, from q, k (through φ = elu + 1 on the host)
 * and v; with `live`, only that many of the sequences are live (a count on
 * the GPU), and only theirs are compared.
 */
function attentionCase(
  dims: { L: number; S: number; C: number; heads: number; batch: number },
  seed: number,
  tol: number,
  live?: number,
): KernelCase {
  const { L, S, C, heads, batch } = dims;
  const D = C / heads;
  const inputs = once(() => {
    const rand = seededRandom(seed);
    // q, k in [−2, 2): both branches of elu; φ rounded to f32, the kernel's inputs.
    const phi = (n: number) => Float32Array.from({ length: n }, () => elu1(2 * rand()));
    return { Q: phi(batch * L * C), K: phi(batch * S * C), v: randoms(rand, batch * S * C) };
  });
  const rows = (live ?? batch) * L * C;
  const chunks = Math.ceil(S / 128);
  const entries = live !== undefined
    ? "kv_sum, attend (live slots)"
    : chunks > 1
    ? `kv_sum, kv_total (gpu: ${chunks} chunks), attend`
    : "kv_sum, attend";
  const path = D % 4 === 0 ? "vec4 loads" : "scalar loads";
  const liveText = live !== undefined ? `, ${live} of ${batch} sequences live` : "";
  return {
    name: `linear_attention.wgsl ${entries}: ${batch} × L ${L}, S ${S}, C ${C} in ${heads} ` +
      `heads of ${D} (${path})${liveText}`,
    tunings: TUNINGS,
    run: async (gpu) => {
      const { Q, K, v } = inputs();
      const counter = live !== undefined ? gpu.tensor([1], Uint32Array.of(live), "u32") : undefined;
      const msg = await linearAttention(
        gpu,
        gpu.tensor([batch * L, C], Q),
        gpu.tensor([batch * S, C], K),
        gpu.tensor([batch * S, C], v),
        heads,
        batch,
        counter && { counter, first: 0, slots: batch },
      );
      expect(msg.shape.join() === `${batch * L},${C}`, `output [${msg.shape}]`);
      return { message: await gpu.read(msg, rows) };
    },
    reference: () => {
      const { Q, K, v } = inputs();
      return { message: linearAttentionRef(Q, K, v, dims).subarray(0, rows) };
    },
    compare: {
      message: {
        measure: "relL2",
        tol,
        why: `KV and Σ K sum S = ${S} products (v of random sign: the typical f32 error of ` +
          `a running sum is ~ε·√S/√2 of its size, ${(EPS * Math.sqrt(S / 2)).toExponential(1)}), ` +
          `then two D = ${D}-term dot products and a division (~4ε)`,
      },
    },
  };
}

const ATTENTION_CASES: KernelCase[] = [
  // The coarse stage's form: one long sequence, 3 chunks of the "gpu" tuning (the last partial).
  attentionCase({ L: 50, S: 300, C: 32, heads: 4, batch: 1 }, 21, 2e-6),
  // D = 6: the scalar path; 2 chunks (128 + 22).
  attentionCase({ L: 40, S: 150, C: 24, heads: 4, batch: 1 }, 22, 2e-6),
  // The fine stage's form: a batch of windows of 25 tokens, only the live ones computed.
  attentionCase({ L: 25, S: 25, C: 16, heads: 2, batch: 3 }, 23, 1e-6, 2),
];

// ---------------------------------------------------------------------------
// layer_norm.wgsl: `main`.

const LAYER_NORM: KernelCase = (() => {
  const L = 70, C = 40, eps = 1e-5;
  const inputs = once(() => {
    const rand = seededRandom(31);
    return {
      // Rows with mean ≈ 3: the variance must be taken about the mean, not as E[x²] − E[x]².
      x: randoms(rand, L * C, 2, 3),
      gamma: randoms(rand, C, 0.5, 1),
      beta: randoms(rand, C, 0.1),
      r: randoms(rand, L * C),
    };
  });
  const cmp: Comparison = {
    measure: "relL2",
    tol: 1e-6,
    why: "a mean and a variance of C = 40 terms (~√C·ε relative), then a few roundings per " +
      "element (~4ε): ~4e-7",
  };
  return {
    name: "layer_norm.wgsl main: [70, 40], eps 1e-5, without and with residual",
    tunings: ONE_SHAPE,
    run: async (gpu) => {
      const { x, gamma, beta, r } = inputs();
      const xt = gpu.tensor([L, C], x);
      const norm = { weight: gpu.tensor([C], gamma), bias: gpu.tensor([C], beta) };
      return {
        "no residual": await gpu.read(await layerNorm(gpu, xt, norm, eps)),
        residual: await gpu.read(await layerNorm(gpu, xt, norm, eps, gpu.tensor([L, C], r))),
      };
    },
    reference: () => {
      const { x, gamma, beta, r } = inputs();
      return {
        "no residual": layerNormRef(x, gamma, beta, eps, L, C),
        residual: layerNormRef(x, gamma, beta, eps, L, C, r),
      };
    },
    compare: { "no residual": cmp, residual: cmp },
  };
})();

// ---------------------------------------------------------------------------
// position_encoding.wgsl: `main`.

const POSITION_ENCODING: KernelCase = (() => {
  const C = 32, H = 30, W = 80;
  const variants: PosEncoding[] = ["legacy", "corrected"];
  const feat = once(() => randoms(seededRandom(41), C * H * W));
  const cmp: Comparison = {
    measure: "maxAbs",
    tol: 2 ** -23,
    why: "the axis table rounds sin/cos (|·| ≤ 1) to float32, ≤ 2⁻²⁵, and the kernel rounds " +
      "feat + pe (|·| < 2) once, ≤ 2⁻²⁴: 9e-8 < 2⁻²³",
  };
  return {
    name: "position_encoding.wgsl main: [32, 30, 80] → tokens [2400, 32], axis tables of " +
      "model/position_encoding.ts, legacy and corrected",
    tunings: ONE_SHAPE,
    run: async (gpu) => {
      const ft = gpu.tensor([C, H, W], feat());
      const out: Outputs = {};
      for (const v of variants) {
        const axes = gpu.tensor([(C / 2) * (W + H)], positionEncodingAxes(C, H, W, v));
        const tokens = await addPositionEncoding(gpu, ft, axes);
        expect(tokens.shape.join() === `${H * W},${C}`, `tokens [${tokens.shape}]`);
        out[v] = await gpu.read(tokens);
      }
      return out;
    },
    reference: () =>
      Object.fromEntries(variants.map((v) => [v, positionEncodingRef(feat(), C, H, W, v)])),
    compare: Object.fromEntries(variants.map((v) => [v, cmp])),
  };
})();

// ---------------------------------------------------------------------------
// dual_softmax.wgsl: `row_stats`, `col_stats`, `row_best`, `col_best`, `confidence`, `mutual`.

/**
 * Dual softmax of an L×S similarity matrix on grids `grid0` (L cells) and
 * `grid1` (S cells), in row tiles of `tileRows`: the confidence matrix
 * against float64, and the mutual-nearest-neighbour match list (threshold,
 * border) identical to float64's. The similarities are noise plus a boost
 * of one column for most rows, so that some matches pass the threshold and
 * some not, some on the border.
 */
function dualSoftmaxCase(
  grid0: { width: number; height: number },
  grid1: { width: number; height: number },
  tileRows: number,
  seed: number,
): KernelCase {
  const L = grid0.width * grid0.height, S = grid1.width * grid1.height;
  const border = 1, threshold = 0.2;
  const sim = once(() => {
    const rand = seededRandom(seed);
    const s = randoms(rand, L * S, 1.5);
    const columns = Array.from({ length: S }, (_, j) => j);
    for (let k = S - 1; k > 0; k--) { // seeded shuffle
      const r = Math.floor(((rand() + 1) / 2) * (k + 1));
      [columns[k], columns[r]] = [columns[r], columns[k]];
    }
    for (let i = 0; i < Math.min(L, S); i++) {
      if (i % 4 !== 3) s[i * S + columns[i]] += 4 + 4 * rand();
    }
    return s;
  });
  const tiles = Math.ceil(L / tileRows);
  const problem: DualSoftmaxProblem = { L, S, grid0, grid1, border, threshold };
  const conditioned = once(() => {
    // The match list is compared bit for bit: the data must hold no decision that float32
    // rounding could tip (a near-tie in an argmax, a confidence near the threshold).
    const conf = dualSoftmaxRef(sim(), L, S);
    const gap = 1e-4;
    const line = (at: (k: number) => number, n: number) => {
      const v = Array.from({ length: n }, (_, k) => at(k)).sort((a, b) => b - a);
      return v[0] - v[1] > gap * v[0];
    };
    for (let i = 0; i < L; i++) {
      expect(line((j) => conf[i * S + j], S), `case data: row ${i} has a near-tie`);
    }
    for (let j = 0; j < S; j++) {
      expect(line((i) => conf[i * S + j], L), `case data: column ${j} has a near-tie`);
    }
    for (const c of conf) {
      expect(Math.abs(c - threshold) > gap * threshold, "case data: a confidence at the threshold");
    }
    return conf;
  });
  const confidence: Comparison = {
    measure: "relL2",
    tol: 2e-6,
    why: "each entry is two exps of s − max (WGSL: 3 + 2|x| ulp each, x ≈ 0 for the large " +
      "entries that dominate L2), two divisions by sums of ≤ S terms merged across tiles and " +
      "a product: ~10 roundings, 6e-7",
  };
  return {
    name: `dual_softmax.wgsl row/col_stats, row/col_best, confidence, mutual ` +
      `(lanes 1/256·8): L ${L} (${grid0.width}×${grid0.height}), S ${S} ` +
      `(${grid1.width}×${grid1.height}), ${tiles} tile${tiles > 1 ? "s" : ""} of ≤ ${tileRows} ` +
      `rows, border ${border}, threshold ${threshold}`,
    tunings: TUNINGS,
    run: async (gpu) => {
      const s = sim();
      const state: DualSoftmaxState = {
        rowStats: gpu.tensor([L, 2]),
        colStats: gpu.tensor([S, 2]),
        rowBest: gpu.tensor([L, 2], undefined, "u32"),
        colBest: gpu.tensor([S, 2], undefined, "u32"),
      };
      const tile = (t: number) => {
        const i0 = t * tileRows, T = Math.min(tileRows, L - i0);
        return { sim: gpu.tensor([T, S], s.subarray(i0 * S, (i0 + T) * S)), i0, T };
      };
      const all = Array.from({ length: tiles }, (_, t) => tile(t));
      for (const [t, tl] of all.entries()) await lineStats(gpu, problem, tl, t === 0, state);
      const conf = gpu.tensor([L, S], new Float32Array(L * S).fill(NaN));
      for (const [t, tl] of all.entries()) {
        await lineBest(gpu, problem, tl, t === 0, state);
        await tileConfidence(gpu, problem, tl, state, conf);
      }
      const capacity = Math.min(L, S);
      const list = gpu.tensor([1 + 3 * capacity], undefined, "u32");
      gpu.zero(list);
      await mutualMatches(gpu, problem, state, list);
      const raw = await gpu.read(list) as Uint32Array;
      const bits = new Float32Array(raw.buffer);
      const order = Array.from({ length: raw[0] }, (_, k) => k)
        .sort((a, b) => raw[1 + 3 * a] - raw[1 + 3 * b]);
      return {
        confidence: await gpu.read(conf),
        "matches (i, j) in ascending i": order.flatMap((k) => [raw[1 + 3 * k], raw[2 + 3 * k]]),
        "match confidences": order.map((k) => bits[3 + 3 * k]),
      };
    },
    reference: () => {
      const conf = conditioned();
      const m = mutualMatchesRef(conf, L, S, grid0, grid1, border, threshold);
      return {
        confidence: conf,
        "matches (i, j) in ascending i": m.i.flatMap((i, k) => [i, m.j[k]]),
        "match confidences": m.confidence,
      };
    },
    compare: {
      confidence,
      "matches (i, j) in ascending i": {
        measure: "identical",
        tol: 0,
        why: "the data holds no argmax near-tie nor a confidence near the threshold (checked)",
      },
      "match confidences": confidence,
    },
  };
}

const DUAL_SOFTMAX_CASES: KernelCase[] = [
  // More rows than columns; one tile, then four (the last of 6 rows).
  dualSoftmaxCase({ width: 6, height: 5 }, { width: 7, height: 4 }, 30, 51),
  dualSoftmaxCase({ width: 6, height: 5 }, { width: 7, height: 4 }, 8, 51),
  // Rows longer than the "gpu" tuning's 256 lanes; three tiles (the last of 20 rows).
  dualSoftmaxCase({ width: 12, height: 10 }, { width: 20, height: 16 }, 50, 52),
];

// ---------------------------------------------------------------------------
// fine_windows.wgsl: `gather_rows`, `windows`.

const gathered: Comparison = {
  measure: "identical",
  tol: 0,
  why: "a gather copies values (and writes zeros for padding)",
};

/**
 * The windows on a hand-made fine map [2, 8, 12] with value c·1000 + y·100
 * + x, coarse grid 3×2 (ratio 4): match 0's image-0 token 0 is cell (0, 0),
 * at the corner; match 1's token 4 is cell (1, 1). The reference's values at
 * hand-picked places are checked too.
 */
const FINE_WINDOWS_HAND: KernelCase = (() => {
  const Cf = 2, Hf = 8, Wf = 12;
  const map = once(() =>
    new Float32Array(Cf * Hf * Wf).map((_, k) => {
      const c = Math.floor(k / (Hf * Wf)), y = Math.floor(k / Wf) % Hf, x = k % Wf;
      return c * 1000 + y * 100 + x;
    })
  );
  const ids = { i: [0, 4], j: [5, 5] };
  const proj = [-1, -2];
  const g = { coarseWidth: 3, ratio: 4, window: 5 };
  return {
    name: "fine_windows.wgsl windows: 5×5 around (4·cx, 4·cy) of a hand-made [2, 8, 12] map, " +
      "zero padding, coarse projection appended",
    tunings: ONE_SHAPE,
    run: async (gpu) => {
      const matches = uploadMatches(gpu, {
        i: Uint32Array.from(ids.i),
        j: Uint32Array.from(ids.j),
        confidence: new Float32Array(2),
      });
      const out = await fineWindows(
        gpu,
        { matches, first: 0, slots: 2 },
        0,
        gpu.tensor([Cf, Hf, Wf], map()),
        gpu.tensor([2, 1], Float32Array.from(proj)),
        g,
      );
      return { windows: await gpu.read(out) };
    },
    reference: () => {
      const out = fineWindowsRef(ids, 0, 2, 0, map(), [Cf, Hf, Wf], proj, 1, g);
      const at = (m: number, dy: number, dx: number, c: number) =>
        out[((m * 25) + dy * 5 + dx) * 3 + c];
      const spots: [number, number, number, number, number][] = [
        // Cell (0,0) centre is fine pixel (0,0): rows/cols -2, -1 are padding.
        [0, 0, 0, 0, 0],
        [0, 1, 4, 1, 0],
        [0, 2, 2, 0, 0], // pixel (0, 0), channel 0
        [0, 4, 3, 1, 1000 + 2 * 100 + 1],
        // Cell (1,1) centre is fine pixel (4,4): window rows/cols 2..6.
        [1, 0, 0, 0, 2 * 100 + 2],
        [1, 4, 4, 1, 1000 + 6 * 100 + 6],
        // Every position carries its match's projected coarse feature.
        [0, 3, 1, 2, -1],
        [1, 0, 0, 2, -2],
      ];
      for (const [m, dy, dx, c, v] of spots) {
        expect(at(m, dy, dx, c) === v, `reference at ${[m, dy, dx, c]}: ${at(m, dy, dx, c)}`);
      }
      return { windows: out };
    },
    compare: { windows: gathered },
  };
})();

/**
 * A batch of 4 slots from slot 3 of a list of 5 matches with capacity 8
 * (slots 3 and 4 live), both sides, on a random [3, 13, 17] map (coarse grid
 * 5×4, ratio 4: windows past the bottom and right edges) with a projection
 * of 2: only the live slots' rows are compared (the others are not computed).
 */
const FINE_WINDOWS_BATCH: KernelCase = (() => {
  const Cf = 3, Hf = 13, Wf = 17, Cp = 2, C = 6, first = 3, slots = 4, live = 2;
  const ids = { i: [0, 19, 7, 14, 4], j: [3, 12, 19, 5, 15] };
  const g = { coarseWidth: 5, ratio: 4, window: 5 };
  const inputs = once(() => {
    const rand = seededRandom(61);
    return {
      fine: randoms(rand, Cf * Hf * Wf),
      proj: randoms(rand, slots * Cp),
      tokens: randoms(rand, 20 * C),
    };
  });
  const ww = g.window ** 2;
  return {
    name: "fine_windows.wgsl gather_rows, windows: slots 3–6 of a list of 5 (capacity 8), " +
      "sides 0 and 1, [3, 13, 17] map, coarse grid 5×4, projection of 2",
    tunings: ONE_SHAPE,
    run: async (gpu) => {
      const { fine, proj, tokens } = inputs();
      const matches = uploadMatches(gpu, {
        i: Uint32Array.from(ids.i),
        j: Uint32Array.from(ids.j),
        confidence: new Float32Array(5),
      }, 8);
      const batch = { matches, first, slots };
      const ft = gpu.tensor([Cf, Hf, Wf], fine), pt = gpu.tensor([slots, Cp], proj);
      const tt = gpu.tensor([20, C], tokens);
      const out: Outputs = {};
      for (const side of [0, 1] as const) {
        const w = await fineWindows(gpu, batch, side, ft, pt, g);
        out[`windows, side ${side}`] = await gpu.read(w, live * ww * (Cf + Cp));
        const r = await gatherRows(gpu, batch, side, tt);
        out[`rows, side ${side}`] = await gpu.read(r, live * C);
      }
      return out;
    },
    reference: () => {
      const { fine, proj, tokens } = inputs();
      const out: Outputs = {};
      for (const side of [0, 1] as const) {
        out[`windows, side ${side}`] = fineWindowsRef(
          ids,
          first,
          live,
          side,
          fine,
          [Cf, Hf, Wf],
          proj,
          Cp,
          g,
        );
        out[`rows, side ${side}`] = gatherRowsRef(ids, first, live, side, tokens, C);
      }
      return out;
    },
    compare: {
      "windows, side 0": gathered,
      "rows, side 0": gathered,
      "windows, side 1": gathered,
      "rows, side 1": gathered,
    },
  };
})();

// ---------------------------------------------------------------------------
// fine_matching.wgsl: `expectation`.

/**
 * The heatmaps and expectations of 6 slots from slot 2 of a list of 7
 * matches with capacity 10 (slots 2–6 live): window features C = 32, W = 5.
 * Each image-1 window holds one position correlated with its image-0 centre
 * (more strongly from slot to slot: heatmap peaks from 0.22 to 0.996) among
 * weakly correlated ones; rows outside the live slots stay zero.
 */
const FINE_EXPECTATION: KernelCase = (() => {
  const C = 32, W = 5, ww = 25, first = 2, slots = 6, count = 7, capacity = 10;
  const live = count - first; // 5 of the 6 slots
  const inputs = once(() => {
    const rand = seededRandom(71);
    const f0 = randoms(rand, slots * ww * C);
    const f1 = randoms(rand, slots * ww * C, 0.5);
    for (let m = 0; m < slots; m++) {
      const centre = (m * ww + 12) * C, peak = (7 * m + 3) % ww;
      for (let r = 0; r < ww; r++) {
        const weight = r === peak ? 3 * (m + 1) : rand();
        for (let c = 0; c < C; c++) f1[(m * ww + r) * C + c] += weight * f0[centre + c] / 3;
      }
    }
    return { f0, f1 };
  });
  const rowsOfLive = (a: ArrayLike<number>, width: number) =>
    Array.from(a).slice(first * width, count * width);
  const outside = (a: ArrayLike<number>, width: number) => [
    ...Array.from(a).slice(0, first * width),
    ...Array.from(a).slice(count * width),
  ];
  return {
    name: "fine_matching.wgsl expectation: W 5, C 32, slots 2–7 of a list of 7 (capacity 10)",
    tunings: ONE_SHAPE,
    run: async (gpu) => {
      const { f0, f1 } = inputs();
      const matches = uploadMatches(gpu, {
        i: new Uint32Array(count),
        j: new Uint32Array(count),
        confidence: new Float32Array(count),
      }, capacity);
      const heatmap = gpu.tensor([capacity, ww]), refined = gpu.tensor([capacity, 3]);
      gpu.zero(heatmap);
      gpu.zero(refined);
      await fineExpectation(
        gpu,
        { matches, first, slots },
        gpu.tensor([slots * ww, C], f0),
        gpu.tensor([slots * ww, C], f1),
        W,
        { heatmap, refined },
      );
      const h = await gpu.read(heatmap), r = await gpu.read(refined);
      const pick = (k: number) => rowsOfLive(r, 3).filter((_, e) => e % 3 === k);
      return {
        heatmap: rowsOfLive(h, ww),
        "e_x, e_y": [...pick(0), ...pick(1)],
        std: pick(2),
        "rows outside the live slots": [...outside(h, ww), ...outside(r, 3)],
      };
    },
    reference: () => {
      const { f0, f1 } = inputs();
      const { heatmap, refined } = fineExpectationRef(f0, f1, live, C, W);
      const pick = (k: number) => Array.from(refined).filter((_, e) => e % 3 === k);
      // The std tolerance holds for spreads of at least 0.05 per axis (below).
      const grid = (k: number) => -1 + k / 2;
      for (let m = 0; m < live; m++) {
        for (const axis of [(r: number) => r % W, (r: number) => Math.floor(r / W)]) {
          let e = 0, v = 0;
          for (let r = 0; r < ww; r++) e += heatmap[m * ww + r] * grid(axis(r));
          for (let r = 0; r < ww; r++) v += heatmap[m * ww + r] * (grid(axis(r)) - e) ** 2;
          expect(Math.sqrt(v) >= 0.05, `case data: slot ${m} spreads ${Math.sqrt(v)} on an axis`);
        }
      }
      return {
        heatmap,
        "e_x, e_y": [...pick(0), ...pick(1)],
        std: pick(2),
        "rows outside the live slots": new Array((capacity - live) * (ww + 3)).fill(0),
      };
    },
    compare: {
      heatmap: {
        measure: "relL2",
        tol: 1e-6,
        why: "logits are 32-term dot products (absolute error ~√32·ε·Σ|terms| ≲ 2e-6 on logits " +
          "up to ~13, the relative error of the exps), then a sum of 25 and a division",
      },
      "e_x, e_y": {
        measure: "maxAbs",
        tol: 1e-6,
        why: "25-term sums of h·g, |g| ≤ 1, h carrying ~1e-6 relative error at most",
      },
      std: {
        measure: "maxAbs",
        tol: 1e-5,
        why: "var = E[g²] − E[g]² as LoFTR computes it: its absolute error is a few ε " +
          "(E[g²] ≤ 1) plus e's, ≈ 3e-7; √var then errs by that over 2√var ≥ 0.1 here " +
          "(checked): ≤ 3e-6. A sharper peak loses accuracy as √ε, the formula's, not the kernel's",
      },
      "rows outside the live slots": {
        measure: "identical",
        tol: 0,
        why: "only the live slots' rows are written; the others keep the caller's zeros",
      },
    },
  };
})();

// ---------------------------------------------------------------------------
// ransac.wgsl: `hypotheses`, `reduce` ("cpu": 1 lane per hypothesis, "gpu": 64), `screen`.

/** Matches `p` as the kernels see them: coordinates rounded to float32. */
function asFloat32(p: PreparedMatches): PreparedMatches {
  return { ...p, data: Float64Array.from(Float32Array.from(p.data)) };
}

/**
 * Hypotheses 0–255 of `kind` on a synthetic set of `n` matches (30%
 * outliers, σ = 0.5 px, threshold 1.5 px): a rigid scene for F, a plane for
 * H; in 8 segments. Each hypothesis's record against float64 on the same
 * (f32) points: its score and inlier count against the float64 scoring
 * (`kind.evaluate`) of its own f32 model; whether its sample gives a model,
 * and the score of its best model, against the float64 models of the same
 * sample (src/geometry/ransac.ts `hypothesisModels`). Each segment's winner
 * against the best of the records read back.
 */
function hypothesesCase(
  model: "7pt" | "8pt" | "homography",
  n: number,
  score: "magsac" | "msac",
): KernelCase {
  const count = 256, segs = segments(0, count);
  const setup = once(() => {
    const kind = model === "homography" ? HOMOGRAPHY : fundamentalKind(model);
    const o = resolveOptions({
      threshold: 1.5,
      seed: 5,
      solver: model === "8pt" ? "8pt" : "7pt",
      score,
    });
    const s = model === "homography"
      ? planeMatches(n, 0.3, 0.5, 3)
      : (({ points0, points1 }) => ({ p0: points0, p1: points1 }))(
        syntheticMatches(n, 0.3, 0.5, 3),
      );
    const p = prepareMatches(s.p0, s.p1, kind.minimumMatches) as PreparedMatches;
    return { p, p32: asFloat32(p), o, kind };
  });
  const label = { "7pt": "F 7-point", "8pt": "F 8-point", homography: "H 4-point" }[model] +
    (score === "magsac" ? " MAGSAC++" : " MSAC");
  const ofModel = "score vs float64 scoring of its model";
  const ofSample = "score vs the float64 models of its sample";
  return {
    name: `ransac.wgsl hypotheses, reduce (lanes 1/64): ${label}, ${n} matches (30% outliers), ` +
      `hypotheses 0–255 in 8 segments`,
    tunings: TUNINGS,
    run: async (gpu) => {
      const { p, o, kind } = setup();
      const pts = gpu.tensor([p.n, 4], Float32Array.from(p.data));
      const hyp = gpu.tensor([count, RECORD_FLOATS]), best = gpu.tensor([8, RECORD_FLOATS]);
      const batch = { first: 0, count, segment: segs[0][1], segments: segs.length };
      await scoreHypotheses(gpu, ransacProblem(kind, p, o), pts, batch, hyp, best);
      const rec = await gpu.read(hyp) as Float32Array;
      const records = Array.from({ length: count }, (_, k) => readRecord(rec, k));
      const scored = records.filter((r) => r.score >= 0);
      return {
        "hypothesis index": records.map((r) => r.h),
        "models found": records.map((r) => r.score >= 0 ? 1 : 0),
        [ofModel]: scored.map((r) => r.score),
        [ofSample]: scored.map((r) => r.score),
        "inliers of its model": scored.map((r) => r.inliers),
        "segment winners": await gpu.read(best),
        M: scored.flatMap((r) => Array.from(r.M)),
        records: rec,
      };
    },
    reference: (got) => {
      const { p32, o, kind } = setup();
      const M = got.M;
      const t2 = o.threshold ** 2;
      const scores: number[] = [], inliers: number[] = [];
      for (let k = 0; k < M.length / 9; k++) {
        const f = Array.from({ length: 9 }, (_, e) => M[9 * k + e]);
        const s = kind.evaluate(f, p32, o, null);
        scores.push(s.score);
        // A match within f32 rounding of the threshold may count either way: the count
        // agrees when it is off by no more than those.
        let ambiguous = 0;
        for (let i = 0; i < p32.n; i++) {
          if (Math.abs(kind.error(f, p32, i) - t2) <= 1e-4 * t2) ambiguous++;
        }
        const gotInliers = got["inliers of its model"][k];
        inliers.push(Math.abs(gotInliers - s.inliers) <= ambiguous ? gotInliers : s.inliers);
      }
      // The float64 models of the same samples, scored: the best of each.
      const idx = new Uint32Array(kind.sampleSize);
      const best = Array.from({ length: count }, (_, h) => {
        const s = hypothesisModels(kind, p32, o, h, idx).map((m) =>
          kind.evaluate(m, p32, o, null).score
        );
        return s.length ? Math.max(...s) : -1;
      });
      // The winners: highest score, then lowest index, of each segment of the records read back.
      const rec = got.records as Float32Array;
      const winners = new Float32Array(8 * RECORD_FLOATS);
      segs.forEach(([start, size], s) => {
        let b = start;
        for (let h = start; h < start + size; h++) {
          if (rec[h * RECORD_FLOATS] > rec[b * RECORD_FLOATS]) b = h;
        }
        winners.set(rec.subarray(b * RECORD_FLOATS, (b + 1) * RECORD_FLOATS), s * RECORD_FLOATS);
      });
      const found = got["models found"];
      return {
        "hypothesis index": Array.from({ length: count }, (_, h) => h),
        "models found": best.map((b) => b >= 0 ? 1 : 0),
        [ofModel]: scores,
        // Where both give a model (else "models found" differs).
        [ofSample]: best.filter((b, h) => b >= 0 && found[h]),
        "inliers of its model": inliers,
        "segment winners": winners,
      };
    },
    compare: {
      "hypothesis index": {
        measure: "identical",
        tol: 0,
        why: "record h − first holds hypothesis h",
      },
      "models found": {
        measure: "identical",
        tol: 0,
        why: "the same sample (the PCG draw of geometry/sampling.ts) gives a model that passes " +
          "the orientation test in f32 where it gives one in float64 (none of these samples is " +
          "near the decision)",
      },
      [ofModel]: model === "homography"
        ? {
          measure: "maxAbs",
          tol: 1e-2,
          why: "f32 rounding of the adjugate's cofactors and of the projective division: a " +
            "Math.fround emulation of the kernel's arithmetic is 4.6e-3 from float64 and 2.4e-4 " +
            "(summation order) from the kernel, on ≈ 210 inliers (measured ≤ 4.7e-3 MSAC, " +
            "2.3e-3 MAGSAC++; 2× margin)",
        }
        : {
          measure: "maxAbs",
          tol: 2e-3,
          why: "a match's residual x1ᵀ F x0 is an f32 sum of O(1) terms that nearly cancel: " +
            "~5ε absolute in normalised coordinates, 1.5e-4 px at this Hartley scale (≈ 4e-3), " +
            "which moves its quality by ≤ 2·1.5e-4 / 1.5 px = 2e-4; over the ≈ 210 inliers, of " +
            "random sign, ≲ 2e-3 (measured ≤ 1.9e-4)",
        },
      [ofSample]: model === "homography"
        ? {
          measure: "maxRel",
          tol: 3e-3,
          why: "the f32 Gauss–Jordan solve of the 8×9 DLT amplifies the sample's conditioning: " +
            "measured within 12× the change of the float64 solution's score when the sample's " +
            "points move by 4ε, ≤ 1.2e-3 relative",
        }
        : {
          measure: "maxRel",
          tol: 1e-3,
          why: "the f32 solve (elimination, cubic, rank 2) amplifies the sample's conditioning: " +
            "measured within 19× the change of the float64 solution's score when its inputs " +
            "move by ε, ≤ 2e-4 relative (before the null-space basis was orthonormalised and " +
            "the 8-point made rank 2: 0.36 and 15)",
        },
      "inliers of its model": {
        measure: "identical",
        tol: 0,
        why: "counts agree but for matches within 1e-4 (relative) of the threshold",
      },
      "segment winners": {
        measure: "identical",
        tol: 0,
        why: "a selection: the highest score of each segment, the lowest index on ties",
      },
    },
  };
}

/**
 * `screen` through geometry/ransac_gpu.ts's screenCandidatesGpu: the 10
 * local-optimisation steps of bench/ransac.ts's candidates (the best models
 * of the first 400 hypotheses, after plane recovery) on a synthetic set of
 * n matches (50% outliers), against the float64 screening
 * (geometry/local_optimization.ts).
 */
function screenCase(n: number, score: "magsac" | "msac"): KernelCase {
  const setup = once(() => {
    const s = syntheticMatches(n, 0.5, 0.5, n);
    const o: ResolvedOptions = resolveOptions({ threshold: 1.5, score });
    const p = prepareMatches(s.points0, s.points1, 8) as PreparedMatches;
    const kind = fundamentalKind(o.solver);
    const models = recoverCandidates(kind, firstCandidates(p, o, 400), p, o);
    return { p, o, models, cpu: screenCandidates(kind, models, p, o) };
  });
  const best = (r: { score: number }[]) => r.reduce((b, c, k) => c.score > r[b].score ? k : b, 0);
  const label = score === "magsac" ? "MAGSAC++" : "MSAC";
  return {
    name: `ransac.wgsl screen: 10 steps of 8 candidates, ${label}, ${n} matches (50% outliers)`,
    tunings: TUNINGS,
    run: async (gpu) => {
      const { p, o, models, cpu } = setup();
      const pts = gpu.tensor([p.n, 4], Float32Array.from(p.data));
      const screened = await screenCandidatesGpu(gpu, pts, p, o, models);
      return {
        "score vs float64 rescoring of its F": screened.map((g) => g.score),
        "score vs float64 screening": screened.map((g) => g.score),
        F: screened.flatMap((g) => Array.from(g.M)),
        "float64 score of the candidate it picks": [cpu[best(screened)].score],
      };
    },
    reference: (got) => {
      const { p, o, cpu } = setup();
      const F = got.F;
      return {
        "score vs float64 rescoring of its F": cpu.map((_, k) =>
          scoreModel(Array.from({ length: 9 }, (_, e) => F[9 * k + e]), p, o).score
        ),
        "score vs float64 screening": cpu.map((m) => m.score),
        "float64 score of the candidate it picks": [cpu[best(cpu)].score],
      };
    },
    compare: {
      "score vs float64 rescoring of its F": {
        measure: "maxRel",
        tol: 1e-5,
        why: "the kernel's own score is the f32 sum of its F's qualities: float64 rescoring of " +
          "that F differs by f32 rounding of ≤ 10⁴ terms ≤ 1 (measured ≤ 4e-7 relative)",
      },
      "score vs float64 screening": {
        measure: "maxRel",
        tol: 2e-3,
        why: "each step is the float64 one up to f32 rounding (measured ≤ 3.2e-5 relative for " +
          "MAGSAC++); a convergence decision can fall one step apart where a step gains about " +
          "the 1e-6 of LO_CONVERGED, or where MSAC's score is flat (measured ≤ 1.04e-3)",
      },
      "float64 score of the candidate it picks": {
        measure: "maxRel",
        tol: 1e-5,
        why: "the same candidate wins, or one whose float64 screening ties with the winner's: " +
          "two candidates can reach one model (measured: MSAC, 888.4508 for #1 and #2)",
      },
    },
  };
}

const RANSAC_CASES: KernelCase[] = [
  hypothesesCase("7pt", 300, "magsac"),
  hypothesesCase("8pt", 300, "msac"),
  hypothesesCase("homography", 300, "magsac"),
  hypothesesCase("homography", 300, "msac"),
  screenCase(500, "magsac"),
  screenCase(2000, "magsac"),
  screenCase(2000, "msac"),
];

// ---------------------------------------------------------------------------

/** Every kernel case, by family. */
export const CASES: readonly KernelCase[] = [
  ...CONV_CASES,
  CAST,
  ...LINEAR_CASES,
  ...ATTENTION_CASES,
  LAYER_NORM,
  POSITION_ENCODING,
  ...DUAL_SOFTMAX_CASES,
  FINE_WINDOWS_HAND,
  FINE_WINDOWS_BATCH,
  FINE_EXPECTATION,
  ...RANSAC_CASES,
];
