/**
 * `deno task bench`: where the time of LoFTR goes on this machine's WebGPU
 * adapter. Weights are synthetic (testing/synthetic_weights.ts), so no checkpoint is
 * needed; the cost of every stage does not depend on the weights' values.
 *
 * For each model and input size:
 * - end to end: wall time of `Matcher.match` on a pair, stages overlapped;
 * - per stage: wall time with a GPU sync after each stage, and the GPU time of
 *   its kernels;
 * - per kernel: every dispatch timed with GPU timestamp queries (wall clock
 *   per stage only, where the adapter has none), grouped by kernel and shape
 *   (each convolution shape, each linear layer shape, …), with GFLOP/s and
 *   GB/s from the FLOP and byte counts that the kernel modules report;
 * - the device-memory high-water mark, the pipelines compiled after warm-up
 *   (should be none) and the read-backs per pair (should be the final match
 *   list only).
 * Then RANSAC (bench/ransac.ts, synthetic sets) with its kernels' GPU time,
 * and pairs per second over all 45 pairs of 10 images with and without
 * feature reuse (`Matcher.matchMany` against `Matcher.match` per pair).
 *
 * Table on stdout; JSON with the adapter, date and commit in `--out`.
 * @module
 */
import { parseArgs } from "node:util";
import { fail, runMain } from "../src/cli/common.ts";
import {
  type Dispatch,
  Gpu,
  GpuError,
  type KernelTiming,
  type KernelTuning,
  type Precision,
  type Tensor,
} from "../src/gpu/gpu.ts";
import { type GrayImage, loadImage, resizeArea } from "../src/io/image.ts";
import { Matcher } from "../src/pipeline/matcher.ts";
import { readMatches } from "../src/model/coarse_matching.ts";
import { type MemoryRow, pairMemory } from "./memory.ts";
import { benchRansac, type RansacBenchResult } from "./ransac.ts";
import { type SyntheticModel, syntheticWeights } from "../testing/synthetic_weights.ts";

const HELP = `Usage: deno task bench [options]

Benchmarks LoFTR's kernels and stages on this machine's WebGPU adapter with
synthetic weights. Prints tables; writes JSON (adapter, date, commit, figures).

Options:
  --kernels LIST   what to measure, comma-separated (default: all):
                     conv          backbone convolutions (and positional encoding)
                     attention     coarse transformer: linear layers, linear attention, LayerNorm
                     dual_softmax  coarse matching: similarity and dual softmax
                     fine          fine stage (full model): windows, transformer, expectation
                     ransac        RANSAC for F on synthetic matches (bench/ransac.ts)
                     many          pairs/s over all pairs of 10 images, with and without reuse
                     memory        peak buffer memory of a pair at each size, replayed
                                   without computing (any size, whatever the adapter holds),
                                   with the "gpu" kernel tuning unless --tuning says otherwise
                   conv alone runs the backbone only; attention, dual_softmax or fine run
                   the whole pipeline and add the end-to-end and per-stage figures
  --model LIST     full (LoFTR outdoor), tiny (the bundled model's architecture),
                   or full,tiny (default)
  --sizes LIST     input sizes WxH (default 640x480,1280x960); sizes an adapter
                   cannot hold are reported as skipped, with the reason
  --reps N         timed repetitions, medians reported (default 3)
  --warmup N       untimed runs first: pipelines, buffer pool (default 1)
  --many-model M   model of the 'many' benchmark, at the first size (default: the first --model)
  --precision P    backbone precision: f32 (default) or f16 (filters and feature maps in f16,
                   arithmetic in f32; needs the adapter's shader-f16 feature)
  --tuning T       kernel shapes: cpu or gpu (default: cpu on a CPU adapter such as
                   lavapipe, gpu otherwise), to compare both on one adapter
  --out FILE       JSON output (default bench/results/bench-<adapter>.json; -f16 added
                   with --precision f16, -<T>-tuning with --tuning)
  --cached-only    ignored (deno's own flag, accepted so that the command of
                   ../shared/docs/gpu.md works)
  -h, --help       show this help

On a CPU adapter (lavapipe) the full model takes about a minute per pair at
640×480: use --model tiny, or --reps 1 --warmup 0 for the full model.
`;

const SECTIONS = [
  "conv",
  "attention",
  "dual_softmax",
  "fine",
  "ransac",
  "many",
  "memory",
] as const;
type Section = typeof SECTIONS[number];

/** The section that reports each pipeline stage's kernels. */
const STAGE_SECTION: Record<string, Section> = {
  backbone: "conv",
  "coarse transformer": "attention",
  "coarse matching": "dual_softmax",
  "fine refinement": "fine",
};

/** One dispatch as the bench records it: kernel, a readable shape, stage. */
interface DispatchRecord {
  kernel: string;
  shape: string;
  stage: string;
  /** For a dispatch sized on the GPU for live slots (the fine stage's batches): its slots. */
  live?: { first: number; slots: number };
}

/** A kernel and shape within a stage, aggregated over one pair (medians over reps). */
export interface KernelRow {
  stage: string;
  kernel: string;
  shape: string;
  calls: number;
  /** GPU milliseconds of all calls per pair. */
  ms: number | null;
  gflop: number | null;
  gflops: number | null;
  gbs: number | null;
}

/** Per-stage figures of one pair. */
export interface StageRow {
  stage: string;
  /** Wall time with a GPU sync at the end of the stage. */
  wallMs: number;
  /** Sum of the stage's kernel times (timestamp queries), or null. */
  gpuMs: number | null;
  gflop: number;
}

/** One model at one size. */
export interface ModelRun {
  model: SyntheticModel;
  size: string;
  /** `ok`, or why the size was skipped. */
  status: string;
  matches?: number;
  endToEnd?: { medianMs: number; minMs: number } | null;
  stages?: StageRow[];
  kernels?: KernelRow[];
  /** Totals per kernel family (conv2d by kernel size), share of GPU time and FLOPs. */
  families?: {
    family: string;
    ms: number | null;
    msShare: number | null;
    gflop: number;
    flopShare: number;
    gflops: number | null;
  }[];
  memory?: { weightsMiB: number; peakMiB: number };
  pipelines?: { afterWarmup: number; afterRuns: number };
  readbacksPerPair?: number;
  /** Dispatches recorded per pair (the profiled runs; live ones counted once each). */
  dispatchesPerPair?: number;
  /** Bind groups created by the last timed `Matcher.match`: 0 once every dispatch repeats. */
  bindGroupsPerPair?: number;
}

/** The 'many' benchmark. */
export interface ManyResult {
  model: SyntheticModel;
  size: string;
  images: number;
  pairs: number;
  withReuse: { seconds: number; pairsPerSecond: number; backboneRuns: number };
  withoutReuse: { seconds: number; pairsPerSecond: number; backboneRuns: number };
}

interface Options {
  sections: Set<Section>;
  models: SyntheticModel[];
  sizes: [number, number][];
  reps: number;
  warmup: number;
  manyModel: SyntheticModel;
  precision: Precision;
  /** Kernel shapes, or undefined for the adapter's default. */
  tuning?: KernelTuning;
  out: string;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
const MiB = 2 ** 20;

/**
 * A readable shape for a dispatch, from the uniform fields its kernel module
 * passes (see each module in src/): `7×7/2 1→128 320×240`, `4800×512→256`, ….
 */
function describe(d: Dispatch): string {
  const u = d.u32 ?? [];
  switch (d.pipeline.label) {
    case "conv2d.wgsl:main":
    case "conv2d.wgsl:tiled": {
      const [cin, h, , cout, ho, wo, , hr] = u;
      const rows = u[14]; // output rows computed: all ho, or a strip's
      const k = Math.round(Math.sqrt((d.flops ?? 0) / (2 * cout * cin * rows * wo)));
      const extra = d.buffers[3] === d.buffers[2] ? "" : hr === ho ? " +residual" : " +upsampled";
      return `${k}×${k}/${Math.round(h / ho)} ${cin}→${cout} ${wo}×${ho}${extra}`;
    }
    case "linear.wgsl:main":
    case "linear.wgsl:tiled": {
      const [M, N, K, K1] = u;
      return `${M}×${K}→${N}${K1 !== K ? ` (concat ${K1}+${K - K1})` : ""}`;
    }
    case "linear_attention.wgsl:kv_sum":
    case "linear_attention.wgsl:kv_total":
    case "linear_attention.wgsl:attend": {
      const [rows, C, D, , B, chunk] = u;
      const chunks = d.pipeline.label.endsWith("kv_sum") && chunk < rows
        ? ` in ${Math.ceil(rows / chunk)} chunks`
        : d.pipeline.label.endsWith("kv_total")
        ? `, ${chunk} chunks`
        : "";
      return `${B}×${rows} tokens, C ${C}, D ${D}${chunks}`;
    }
    case "layer_norm.wgsl:main":
      return `${u[0]}×${u[1]}`;
    case "position_encoding.wgsl:main":
      return `${u[0]}×${u[1]}`;
    case "cast.wgsl:to_f32":
    case "cast.wgsl:from_f32":
      return `${u[0]} elements`;
    case "fine_windows.wgsl:gather_rows":
      return `${u[1]}-slot batch, C ${u[3]}`;
    case "fine_windows.wgsl:windows":
      return `${u[1]}-slot batch, ${u[3]}+${u[4]}`;
    case "fine_matching.wgsl:expectation":
      return `${u[1]}-slot batch, C ${u[2]}, ${u[3]}×${u[3]}`;
    case "ransac.wgsl:hypotheses":
    case "ransac.wgsl:reduce":
    case "ransac.wgsl:screen":
      return `${u[0]} matches`;
    default:
      if (d.pipeline.label === "dual_softmax.wgsl:mutual") return `${u[3]}×${u[2]}`;
      if (d.pipeline.label.startsWith("dual_softmax.wgsl:")) return `${u[0]}×${u[2]}`;
      return `u32 [${u}]`;
  }
}

/** The family of a row for the share table: conv2d by kernel size (either entry point), else the kernel. */
function family(r: { kernel: string; shape: string }): string {
  return r.kernel.startsWith("conv2d.wgsl:") ? `conv2d ${r.shape.split("/")[0]}` : r.kernel;
}

/**
 * Records every dispatch of `gpu` (kernel, shape, stage) while it is on, in
 * dispatch order, the order of the profiler's timings. `mark(stage)` labels
 * the dispatches since the previous mark.
 */
function recorder(gpu: Gpu) {
  const records: DispatchRecord[] = [];
  let unlabelled = 0;
  const dispatch = gpu.dispatch;
  gpu.dispatch = (d: Dispatch) => {
    dispatch.call(gpu, d);
    // The profiler skips empty dispatches too.
    if (d.workgroups.every((n) => n !== 0)) {
      const live = d.live && { first: d.live.first, slots: d.live.slots };
      records.push({ kernel: d.pipeline.label, shape: describe(d), stage: "", live });
    }
  };
  let reads = 0;
  const read = gpu.read;
  gpu.read = ((t: Tensor, count?: number) => {
    reads++;
    return read.call(gpu, t, count);
  }) as typeof gpu.read;
  return {
    records,
    reads: () => reads,
    mark(stage: string) {
      for (; unlabelled < records.length; unlabelled++) records[unlabelled].stage = stage;
    },
    stop() {
      Reflect.deleteProperty(gpu, "dispatch");
      Reflect.deleteProperty(gpu, "read");
    },
  };
}

/**
 * Profiles `fn` and returns each dispatch's record with its timing. `fn`
 * returns the match count when it ran the fine stage: the FLOPs and bytes its
 * modules count for a whole batch are then scaled to the batch's live slots.
 */
async function profiled(
  gpu: Gpu,
  fn: (mark: (stage: string) => void) => Promise<number | void>,
): Promise<{ rows: (DispatchRecord & KernelTiming)[]; reads: number }> {
  const rec = recorder(gpu);
  gpu.startProfile();
  let timings: KernelTiming[];
  let count: number | void;
  try {
    count = await fn(rec.mark);
  } finally {
    timings = await gpu.endProfile();
    rec.stop();
  }
  if (timings.length !== rec.records.length) {
    throw new Error(
      `profiler saw ${timings.length} dispatches, the recorder ${rec.records.length}`,
    );
  }
  const rows = timings.map((t, k) => {
    const r = { ...rec.records[k], ...t };
    if (r.live && count !== undefined) {
      const share = Math.min(Math.max(count - r.live.first, 0), r.live.slots) / r.live.slots;
      if (r.flops !== undefined) r.flops *= share;
      if (r.bytes !== undefined) r.bytes *= share;
    }
    return r;
  });
  return { rows, reads: rec.reads() };
}

/** Per kernel, shape and stage: calls, and median GPU ms, FLOPs and bytes over reps. */
function aggregate(reps: (DispatchRecord & KernelTiming)[][]): KernelRow[] {
  const keyOf = (r: DispatchRecord) => `${r.stage}\u0000${r.kernel}\u0000${r.shape}`;
  const perRep = reps.map((rows) => {
    const m = new Map<string, { calls: number; ms: number; flops: number; bytes: number }>();
    for (const r of rows) {
      const e = m.get(keyOf(r)) ?? { calls: 0, ms: 0, flops: 0, bytes: 0 };
      e.calls++;
      e.ms += r.ms;
      e.flops += r.flops ?? 0;
      e.bytes += r.bytes ?? 0;
      m.set(keyOf(r), e);
    }
    return m;
  });
  return [...perRep[0]].map(([key, first]) => {
    const [stage, kernel, shape] = key.split("\u0000");
    const ms = median(perRep.map((m) => m.get(key)?.ms ?? NaN));
    const timed = Number.isFinite(ms);
    return {
      stage,
      kernel,
      shape,
      calls: first.calls,
      ms: timed ? ms : null,
      gflop: first.flops ? first.flops / 1e9 : null,
      gflops: timed && first.flops ? first.flops / ms / 1e6 : null,
      gbs: timed && first.bytes ? first.bytes / ms / 1e6 : null,
    };
  }).sort((a, b) => (b.ms ?? 0) - (a.ms ?? 0));
}

function families(rows: KernelRow[]): NonNullable<ModelRun["families"]> {
  const m = new Map<string, { ms: number; flops: number }>();
  for (const r of rows) {
    const e = m.get(family(r)) ?? { ms: 0, flops: 0 };
    e.ms += r.ms ?? NaN;
    e.flops += (r.gflop ?? 0) * 1e9;
    m.set(family(r), e);
  }
  const totalMs = sum([...m.values()].map((e) => e.ms));
  const totalFlops = sum([...m.values()].map((e) => e.flops));
  return [...m].map(([f, e]) => ({
    family: f,
    ms: Number.isFinite(e.ms) ? e.ms : null,
    msShare: Number.isFinite(e.ms) ? e.ms / totalMs : null,
    gflop: e.flops / 1e9,
    flopShare: totalFlops ? e.flops / totalFlops : 0,
    gflops: Number.isFinite(e.ms) && e.flops ? e.flops / e.ms / 1e6 : null,
  })).sort((a, b) => (b.ms ?? b.gflop) - (a.ms ?? a.gflop));
}

/** The two bundled example photos (1200×800), decoded once. */
let photos: Promise<GrayImage[]> | null = null;
function examplePhotos(): Promise<GrayImage[]> {
  photos ??= Promise.all(
    ["fountain_0001.jpg", "fountain_0000.jpg"].map((f) =>
      loadImage(new URL(`../tests/fixtures/images/${f}`, import.meta.url).pathname)
    ),
  );
  return photos;
}

/** `n` different images: crops of the example photos at different offsets (n ≤ 10). */
async function cropSet(n: number): Promise<GrayImage[]> {
  const src = await examplePhotos();
  const w = 1000, h = 750;
  return Array.from({ length: n }, (_, k) => {
    const img = src[k % 2];
    const x0 = 40 * Math.floor(k / 2), y0 = 10 * Math.floor(k / 2);
    const data = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      const start = (y0 + y) * img.width + x0;
      data.set(img.data.subarray(start, start + w), y * w);
    }
    return { width: w, height: h, data, name: `${img.name}@${x0},${y0}` };
  });
}

/** One model at one size: end to end, per stage and per kernel. */
async function benchSize(
  matcher: Matcher,
  model: SyntheticModel,
  [width, height]: [number, number],
  o: Options,
  weightsMiB: number,
): Promise<ModelRun> {
  const gpu = matcher.gpu;
  const loftr = matcher.model;
  const size = `${width}x${height}`;
  const whole = ["attention", "dual_softmax", "fine"].some((s) => o.sections.has(s as Section));
  const images = (await examplePhotos()).map((p) => resizeArea(p, width, height));
  const resize = { width, height };

  // One pair through the stages, synced and marked after each; the image upload counts
  // in the backbone. Puts the wall time per stage in `wall`, returns the match count.
  const staged = async (mark: (stage: string) => void, wall: Record<string, number> = {}) => {
    let count: number | undefined;
    let t = performance.now();
    const end = async (stage: string) => {
      await gpu.sync();
      mark(stage);
      const now = performance.now();
      wall[stage] = now - t;
      t = now;
    };
    const feats = [];
    for (const img of images) {
      const tensor = gpu.tensor([1, height, width], img.data);
      feats.push(await loftr.features(tensor));
      gpu.release(tensor);
    }
    await end("backbone");
    if (whole) {
      const list = await loftr.match(feats[0], feats[1], { onStage: end });
      count = (await readMatches(gpu, list.matches)).i.length;
      if (list.refined) await gpu.read(list.refined);
      gpu.release(list.matches.buffer, list.refined);
      await end("read back");
    }
    for (const f of feats) loftr.releaseFeatures(f);
    return count;
  };

  try {
    gpu.trim(); // the previous size's pooled buffers do not count in this one's peak
    for (let k = 0; k < o.warmup; k++) {
      if (whole) await matcher.match(images[0], images[1], { resize });
      await staged(() => {});
    }
    const afterWarmup = gpu.pipelineCount;
    gpu.resetPeak();
    const e2e: number[] = [];
    const walls: Record<string, number>[] = [];
    const reps: (DispatchRecord & KernelTiming)[][] = [];
    let matches = 0, reads = 0, bindGroups = 0;
    for (let k = 0; k < o.reps; k++) {
      if (whole) {
        const [t, created] = [performance.now(), gpu.bindGroupCount];
        matches = (await matcher.match(images[0], images[1], { resize })).count;
        e2e.push(performance.now() - t);
        bindGroups = gpu.bindGroupCount - created;
      }
      const wall: Record<string, number> = {};
      const p = await profiled(gpu, (mark) => staged(mark, wall));
      walls.push(wall);
      reps.push(p.rows);
      reads = p.reads;
    }
    const all = aggregate(reps);
    const stages: StageRow[] = Object.keys(walls[0]).map((stage) => {
      const own = all.filter((r) => r.stage === stage);
      const timed = own.every((r) => r.ms !== null);
      return {
        stage,
        wallMs: median(walls.map((w) => w[stage])),
        gpuMs: timed ? sum(own.map((r) => r.ms!)) : null,
        gflop: sum(own.map((r) => r.gflop ?? 0)),
      };
    });
    const kernels = all.filter((r) => o.sections.has(STAGE_SECTION[r.stage]));
    const mem = gpu.memory();
    return {
      model,
      size,
      status: "ok",
      matches: whole ? matches : undefined,
      endToEnd: whole ? { medianMs: median(e2e), minMs: Math.min(...e2e) } : null,
      stages,
      kernels,
      families: families(all),
      memory: { weightsMiB, peakMiB: mem.peak / MiB },
      pipelines: { afterWarmup, afterRuns: gpu.pipelineCount },
      readbacksPerPair: whole ? reads : undefined,
      dispatchesPerPair: reps[0].length,
      bindGroupsPerPair: whole ? bindGroups : undefined,
    };
  } catch (e) {
    // A tensor above the adapter's buffer limits, typically.
    if (e instanceof GpuError) return { model, size, status: `skipped: ${e.message}` };
    throw e;
  }
}

/** Pairs per second over all pairs of 10 images, with and without feature reuse. */
async function benchMany(
  matcher: Matcher,
  model: SyntheticModel,
  [width, height]: [number, number],
  warmup: number,
): Promise<ManyResult> {
  const images = await cropSet(10);
  const pairs: [number, number][] = [];
  for (let a = 0; a < images.length; a++) {
    for (let b = a + 1; b < images.length; b++) pairs.push([a, b]);
  }
  const resize = { width, height };
  let runs = 0;
  const features = matcher.model.features;
  matcher.model.features = (image: Tensor) => {
    runs++;
    return features.call(matcher.model, image);
  };
  try {
    for (let k = 0; k < warmup; k++) await matcher.match(images[0], images[1], { resize });
    runs = 0;
    let t = performance.now();
    for await (const _ of matcher.matchMany(images, pairs, { resize })) {
      // results are consumed and dropped
    }
    const reuse = { seconds: (performance.now() - t) / 1000, backboneRuns: runs };
    runs = 0;
    t = performance.now();
    for (const [a, b] of pairs) await matcher.match(images[a], images[b], { resize });
    const noReuse = { seconds: (performance.now() - t) / 1000, backboneRuns: runs };
    const rate = (r: { seconds: number; backboneRuns: number }) => ({
      ...r,
      pairsPerSecond: pairs.length / r.seconds,
    });
    return {
      model,
      size: `${width}x${height}`,
      images: images.length,
      pairs: pairs.length,
      withReuse: rate(reuse),
      withoutReuse: rate(noReuse),
    };
  } finally {
    Reflect.deleteProperty(matcher.model, "features");
  }
}

/** RANSAC figures per synthetic set: bench/ransac.ts's own, and its kernels' GPU time per call. */
export interface RansacRun {
  adapter: string;
  sets: (RansacBenchResult["synthetic"][number] & {
    hypothesesGpuMs: number | null;
    reduceGpuMs: number | null;
    /** GPU time of one screening dispatch (8 candidates × 10 IRLS steps). */
    screenGpuMs: number | null;
  })[];
}

/** Runs bench/ransac.ts (dev set: the repository's 4 fixture pairs) with the profiler on. */
async function benchRansacKernels(gpu: Gpu, reps: number): Promise<RansacRun> {
  let result: RansacBenchResult | null = null;
  const devDir = new URL("../tests/fixtures/relpose", import.meta.url).pathname;
  const p = await profiled(gpu, async (mark) => {
    result = await benchRansac(gpu, { devDir, repeats: reps, python: null });
    mark("ransac");
  });
  const rows = aggregate([p.rows]);
  const row = (entry: string, matches: number) =>
    rows.find((r) => r.kernel === `ransac.wgsl:${entry}` && r.shape === `${matches} matches`);
  // benchRansac calls estimateFundamental once to warm up and `reps` times per set.
  const perCall = (entry: string, matches: number) => {
    const r = row(entry, matches);
    return r?.ms == null ? null : r.ms / (reps + 1);
  };
  // `screen` also runs alone in timeLocalOptimisation: per dispatch.
  const perDispatch = (entry: string, matches: number) => {
    const r = row(entry, matches);
    return r?.ms == null ? null : r.ms / r.calls;
  };
  return {
    adapter: result!.adapter,
    sets: result!.synthetic.map((s) => ({
      ...s,
      hypothesesGpuMs: perCall("hypotheses", s.matches),
      reduceGpuMs: perCall("reduce", s.matches),
      screenGpuMs: perDispatch("screen", s.matches),
    })),
  };
}

function gitCommit(): string {
  const git = (...args: string[]) =>
    new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).outputSync();
  try {
    const head = git("rev-parse", "--short", "HEAD");
    if (!head.success) return "unknown";
    const dirty = !git("diff", "--quiet", "HEAD", "--", "src", "shaders", "bench").success;
    return new TextDecoder().decode(head.stdout).trim() + (dirty ? "+uncommitted" : "");
  } catch {
    return "unknown";
  }
}

// ---- output --------------------------------------------------------------------------------

function table(head: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => c == null ? "–" : String(c)));
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => i === 0 ? c.padEnd(width[i]) : c.padStart(width[i])).join("  ");
  return [line(head), line(width.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

const f = (v: number | null | undefined, digits = 1) => v == null ? null : v.toFixed(digits);
const pct = (v: number | null | undefined) => v == null ? null : `${(100 * v).toFixed(1)}%`;

function report(run: ModelRun, top = 25): string {
  const title = `== ${run.model} model, ${run.size}`;
  if (run.status !== "ok") return `${title}: ${run.status}\n`;
  const out = [title];
  if (run.endToEnd) {
    out.push(
      `end to end (Matcher.match, stages overlapped): median ${f(run.endToEnd.medianMs)} ms, ` +
        `min ${f(run.endToEnd.minMs)} ms; ${run.matches} matches`,
    );
  }
  out.push(
    `device memory high-water mark ${f(run.memory!.peakMiB)} MiB (weights ` +
      `${f(run.memory!.weightsMiB)} MiB); pipelines ${run.pipelines!.afterWarmup} after ` +
      `warm-up, ${run.pipelines!.afterRuns} after the timed runs` +
      `; dispatches per pair ${run.dispatchesPerPair}` +
      (run.readbacksPerPair !== undefined
        ? `; read-backs per pair ${run.readbacksPerPair}; bind groups created by the last ` +
          `timed pair ${run.bindGroupsPerPair}`
        : ""),
    "",
    table(
      ["stage", "wall ms (synced)", "GPU ms", "GFLOP", "GFLOP/s"],
      run.stages!.map((s) => [
        s.stage,
        f(s.wallMs),
        f(s.gpuMs),
        f(s.gflop, 2),
        s.gpuMs ? f(s.gflop / s.gpuMs * 1e3, 2) : null,
      ]),
    ),
    "",
    table(
      ["kernel family", "GPU ms", "time", "GFLOP", "FLOPs", "GFLOP/s"],
      run.families!.map((r) => [
        r.family,
        f(r.ms),
        pct(r.msShare),
        f(r.gflop, 2),
        pct(r.flopShare),
        f(r.gflops, 2),
      ]),
    ),
    "",
  );
  if (run.kernels!.length) {
    out.push(
      table(
        ["stage", "kernel", "shape", "calls", "GPU ms", "ms/call", "GFLOP/s", "GB/s"],
        run.kernels!.slice(0, top).map((r) => [
          r.stage,
          r.kernel,
          r.shape,
          r.calls,
          f(r.ms, 2),
          r.ms === null ? null : f(r.ms / r.calls, 3),
          f(r.gflops, 2),
          f(r.gbs, 2),
        ]),
      ),
    );
    if (run.kernels!.length > top) {
      out.push(`(${run.kernels!.length - top} more kernel rows in the JSON)`);
    }
  }
  return out.join("\n") + "\n";
}

// ---- main ----------------------------------------------------------------------------------

function parseOptions(args: string[]): Omit<Options, "out"> & { out?: string; help: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      kernels: { type: "string", default: SECTIONS.join(",") },
      model: { type: "string", default: "full,tiny" },
      sizes: { type: "string", default: "640x480,1280x960" },
      reps: { type: "string", default: "3" },
      warmup: { type: "string", default: "1" },
      "many-model": { type: "string" },
      precision: { type: "string", default: "f32" },
      tuning: { type: "string" },
      out: { type: "string" },
      "cached-only": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const list = (s: string) => s.split(",").map((v) => v.trim()).filter(Boolean);
  const count = (v: string, name: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) fail(`--${name} expects an integer ≥ ${min}, got "${v}"`);
    return n;
  };
  const model = (m: string, option: string) => {
    if (m !== "full" && m !== "tiny") fail(`--${option}: unknown model "${m}" (full or tiny)`);
    return m as SyntheticModel;
  };
  const models = list(values.model).map((m) => model(m, "model"));
  const sections = list(values.kernels).map((s) => {
    if (!(SECTIONS as readonly string[]).includes(s)) {
      fail(`--kernels: unknown "${s}" (${SECTIONS.join(", ")})`);
    }
    return s as Section;
  });
  const sizes = list(values.sizes).map((s): [number, number] => {
    const m = /^(\d+)x(\d+)$/.exec(s);
    if (!m || Number(m[1]) % 16 || Number(m[2]) % 16) {
      fail(`--sizes: "${s}" is not WxH with sides multiples of 16`);
    }
    return [Number(m[1]), Number(m[2])];
  });
  if (!models.length || !sizes.length) fail("--model and --sizes need at least one entry");
  const precision = values.precision;
  if (precision !== "f32" && precision !== "f16") {
    fail(`--precision: "${precision}" is neither f32 nor f16`);
  }
  const tuning = values.tuning;
  if (tuning !== undefined && tuning !== "cpu" && tuning !== "gpu") {
    fail(`--tuning: "${tuning}" is neither cpu nor gpu`);
  }
  return {
    help: values.help ?? false,
    sections: new Set(sections),
    models,
    sizes,
    reps: count(values.reps, "reps", 1),
    warmup: count(values.warmup, "warmup", 0),
    manyModel: model(values["many-model"] ?? models[0], "many-model"),
    precision,
    tuning,
    out: values.out,
  };
}

async function main(args: string[]): Promise<void> {
  const parsed = parseOptions(args);
  if (parsed.help) {
    console.log(HELP);
    return;
  }
  const probe = await Gpu.create({ tuning: parsed.tuning });
  const meta = {
    date: new Date().toISOString().slice(0, 10),
    commit: gitCommit(),
    adapter: probe.adapterName,
    cpuFallback: probe.isFallback,
    tuning: probe.tuning,
    timestamps: probe.hasTimestamps,
    maxBindingMiB: probe.maxBindingBytes / MiB,
    deno: Deno.version.deno,
    options: {
      kernels: [...parsed.sections],
      models: parsed.models,
      sizes: parsed.sizes.map(([w, h]) => `${w}x${h}`),
      reps: parsed.reps,
      warmup: parsed.warmup,
      precision: parsed.precision,
    },
  };
  const slug = probe.isFallback
    ? "lavapipe"
    : probe.adapterName.replace(/[^A-Za-z0-9]+/g, "-").toLowerCase();
  probe.destroy();
  const suffix = (parsed.precision === "f16" ? "-f16" : "") +
    (parsed.tuning ? `-${parsed.tuning}-tuning` : "");
  const o: Options = {
    ...parsed,
    out: parsed.out ?? new URL(`./results/bench-${slug}${suffix}.json`, import.meta.url).pathname,
  };
  console.log(
    `adapter ${meta.adapter}${
      meta.timestamps ? "" : " (no timestamp queries: wall clock only)"
    }; ` +
      `commit ${meta.commit}; ${meta.date}; backbone precision ${o.precision}\n`,
  );

  const runs: ModelRun[] = [];
  let many: ManyResult | null = null;
  const modelSections: Section[] = ["conv", "attention", "dual_softmax", "fine"];
  const models = [...new Set([...o.models, ...(o.sections.has("many") ? [o.manyModel] : [])])];
  for (const model of models) {
    // A fresh device per model, so that memory and pipeline counts are its own.
    const gpu = await Gpu.create({ tuning: o.tuning });
    try {
      const matcher = await Matcher.create({
        weights: syntheticWeights(model),
        gpu,
        precision: o.precision,
      });
      const weightsMiB = gpu.memory().inUse / MiB;
      if (o.models.includes(model) && modelSections.some((s) => o.sections.has(s))) {
        for (const size of o.sizes) {
          const run = await benchSize(matcher, model, size, o, weightsMiB);
          runs.push(run);
          console.log(report(run));
        }
      }
      if (o.sections.has("many") && model === o.manyModel) {
        many = await benchMany(matcher, model, o.sizes[0], Math.max(1, o.warmup));
        console.log(
          `== all ${many.pairs} pairs of ${many.images} images, ${model} model, ${many.size}\n` +
            table(["", "seconds", "pairs/s", "backbone runs"], [
              ["with reuse (matchMany)", ...manyRow(many.withReuse)],
              ["without reuse (match per pair)", ...manyRow(many.withoutReuse)],
            ]) + "\n",
        );
      }
    } finally {
      gpu.destroy();
    }
  }

  const memory: MemoryRow[] = [];
  if (o.sections.has("memory")) {
    for (const model of o.models) {
      for (const size of o.sizes) {
        memory.push(
          await pairMemory(model, size, { precision: o.precision, tuning: o.tuning }),
        );
      }
    }
    console.log(
      `== peak buffer memory of a pair, backbone in ${o.precision}, ${o.tuning ?? "gpu"} ` +
        `kernel tuning (allocations replayed without computing, bench/memory.ts)\n` +
        table(
          ["model", "size", "weights MiB", "after both backbones MiB", "whole pair MiB"],
          memory.map((r) => [
            r.model,
            r.size,
            f(r.weightsMiB),
            f(r.featuresPeakMiB),
            f(r.pairPeakMiB),
          ]),
        ) + "\n",
    );
  }

  let ransac: RansacRun | null = null;
  if (o.sections.has("ransac")) {
    const gpu = await Gpu.create({ tuning: o.tuning });
    try {
      ransac = await benchRansacKernels(gpu, o.reps);
    } finally {
      gpu.destroy();
    }
    console.log(
      `== RANSAC for F (bench/ransac.ts synthetic sets, 10,000 hypotheses, profiler on)\n` +
        table(
          [
            "matches",
            "ms per call",
            "hypotheses/s",
            "GPU ms/call: hypotheses",
            "reduce",
            "screen (per dispatch)",
            "scored matches/s (M)",
          ],
          ransac.sets.map((s) => [
            s.matches,
            f(s.ms),
            f(s.hypothesesPerSecond, 0),
            f(s.hypothesesGpuMs),
            f(s.reduceGpuMs, 2),
            f(s.screenGpuMs, 2),
            // Sampson scores per second in the sampling, solving and scoring kernel.
            s.hypothesesGpuMs ? f(s.hypotheses * s.matches / s.hypothesesGpuMs / 1e3, 1) : null,
          ]),
        ) + "\n",
    );
  }
  await Deno.writeTextFile(
    o.out,
    JSON.stringify({ ...meta, runs, many, memory, ransac }, null, 2) + "\n",
  );
  console.log(`wrote ${o.out}`);
}

function manyRow(r: ManyResult["withReuse"]): string[] {
  return [f(r.seconds, 2)!, f(r.pairsPerSecond, 2)!, String(r.backboneRuns)];
}

if (import.meta.main) await runMain((args) => main(args));
