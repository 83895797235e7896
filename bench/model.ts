/**
 * The model benchmarks: one model at one input size (end to end, per stage
 * and per kernel, memory, pipelines, read-backs, bind groups), and pairs per
 * second over all pairs of 10 images with and without feature reuse.
 * @module
 */
import { GpuError, type KernelTiming, type Tensor } from "../src/gpu/mod.ts";
import type { GrayImage } from "../src/io/image.ts";
import { readMatches } from "../src/model/coarse_matching.ts";
import type { Matcher } from "../src/pipeline/matcher.ts";
import type { SyntheticModel } from "../testing/synthetic_weights.ts";
import {
  aggregate,
  type DispatchRecord,
  families,
  type KernelFamilyRow,
  type KernelRow,
  median,
  profiled,
  sum,
} from "./profile.ts";
import { loadImage } from "../src/io/decode.ts";
import { resizeArea } from "../src/io/resize.ts";

const MiB = 2 ** 20;

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
  families?: KernelFamilyRow[];
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

/** What {@link benchSize} measures. */
export interface SizeBenchOptions {
  /** Run the whole pipeline (else the backbone only). */
  whole: boolean;
  /** Stages whose kernels are reported. */
  kernelStages: Set<string>;
  /** Timed repetitions (medians reported). */
  reps: number;
  /** Untimed runs first. */
  warmup: number;
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
export async function benchSize(
  matcher: Matcher,
  model: SyntheticModel,
  [width, height]: [number, number],
  o: SizeBenchOptions,
  weightsMiB: number,
): Promise<ModelRun> {
  const gpu = matcher.gpu;
  const loftr = matcher.model;
  const size = `${width}x${height}`;
  const whole = o.whole;
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
    const kernels = all.filter((r) => o.kernelStages.has(r.stage));
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
export async function benchMany(
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
