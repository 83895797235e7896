/**
 * RANSAC benchmark: `estimateFundamental` on the relpose_dev SIFT matches
 * (mAA per scene, time per pair) and on synthetic sets of 500 / 2,000 / 10,000
 * matches at 10,000 hypotheses (time per call, hypotheses per second), beside
 * OpenCV's USAC_MAGSAC on the same matches (bench/opencv_ransac.py, one thread)
 * when Debian's python3-opencv is installed. On the synthetic sets it also times
 * the CPU part of the local optimisation alone (plane recovery and final
 * polish), and the GPU screening of the candidates between them (see
 * {@link timeLocalOptimisation}).
 *
 * Run alone: `deno run -A bench/ransac.ts` (writes bench/results/ransac-<adapter>.json/.md).
 * @module
 */
import { Gpu } from "../src/gpu/mod.ts";
import { maa, poseErrors } from "../src/geometry/metric.ts";
import { estimateFundamental, screenCandidatesGpu } from "../src/geometry/ransac_gpu.ts";
import { loadSiftPairs } from "../testing/ransac_data.ts";
import { firstCandidates, syntheticMatches } from "../testing/synthetic_matches.ts";
import { aggregate, profiled } from "./profile.ts";
import { screenCandidates } from "../src/geometry/local_optimization.ts";
import { prepareMatches } from "../src/geometry/matches.ts";
import { finishEstimate, recoverCandidates } from "../src/geometry/ransac.ts";
import { type Points, type RansacOptions, resolveOptions } from "../src/geometry/ransac_options.ts";
import { fundamentalKind } from "../src/geometry/fundamental_solvers.ts";

/** Options of {@link benchRansac}. */
export interface RansacBenchOptions {
  /** relpose_dev-style folder (default ../shared/data/relpose_dev, else tests/fixtures/relpose). */
  devDir?: string;
  /** Synthetic set sizes (default 500, 2000, 10000). */
  sizes?: number[];
  /** Timed repetitions per synthetic set, median reported (default 3). */
  repeats?: number;
  /** Python with cv2 for the comparison, or null to skip (default /usr/bin/python3). */
  python?: string | null;
}

/** One row of the synthetic timing table. */
export interface SyntheticRow {
  matches: number;
  hypotheses: number;
  ms: number;
  hypothesesPerSecond: number;
  /** CPU time of the local optimisation alone, ms per call ({@link timeLocalOptimisation}). */
  localOptimisationMs: number;
  /** Wall clock of the GPU screening, dispatch and read-back, ms per call ({@link timeLocalOptimisation}). */
  screeningMs: number;
  /** CPU time of the float64 screening, ms per call ({@link timeLocalOptimisation}). */
  cpuScreeningMs: number;
  opencvMs: number | null;
}

/** What {@link benchRansac} measures. */
export interface RansacBenchResult {
  adapter: string;
  opencv: string | null;
  dev: {
    pairs: number;
    maa: Record<string, number>;
    opencvMaa: Record<string, number> | null;
    medianMs: number;
    opencvMedianMs: number | null;
  };
  synthetic: SyntheticRow[];
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Hypotheses whose best models are the candidates of {@link timeLocalOptimisation}. */
const LO_HYPOTHESES = 400;
/** Timed calls of {@link timeLocalOptimisation} (milliseconds each), after 5 untimed ones. */
const LO_REPEATS = 50;

/**
 * Median times of the local optimisation `estimateFundamental` runs after its
 * GPU batches, measured alone: `cpuMs`, the float64 CPU work always done
 * (plane recovery of each candidate, then `finishEstimate`: longer
 * optimisation of the best screened one, rank 2, inlier mask), and the
 * screening between them both ways: `screeningMs`, the wall clock of the GPU's
 * (`screenCandidatesGpu`: upload, dispatch, read-back; "gpu" kernel tuning),
 * and `cpuScreeningMs`, the float64 one (`screenCandidates`; "cpu" tuning).
 * The candidates are the best models of the first {@link LO_HYPOTHESES}
 * hypotheses, scored on the CPU.
 */
export async function timeLocalOptimisation(
  gpu: Gpu,
  points0: Points,
  points1: Points,
  options: RansacOptions,
  repeats = LO_REPEATS,
): Promise<{ cpuMs: number; screeningMs: number; cpuScreeningMs: number }> {
  const o = resolveOptions(options);
  const p = prepareMatches(points0, points1, 8);
  if (!("data" in p)) throw new Error(p.message);
  const pool = firstCandidates(p, o, LO_HYPOTHESES);
  const run = { stop: "max-iterations" as const, hypotheses: LO_HYPOTHESES };
  const pts = gpu.tensor([p.n, 4], Float32Array.from(p.data));
  const cpu = [], screening = [], cpuScreening = [];
  try {
    for (let k = -5; k < repeats; k++) {
      const t0 = performance.now();
      const models = recoverCandidates(fundamentalKind(o.solver), pool, p, o);
      const t1 = performance.now();
      const screened = screenCandidates(fundamentalKind(o.solver), models, p, o);
      const t2 = performance.now();
      await screenCandidatesGpu(gpu, pts, p, o, models); // its results agree (tests)
      const t3 = performance.now();
      finishEstimate(fundamentalKind(o.solver), screened, p, o, run);
      const t4 = performance.now();
      if (k < 0) continue;
      cpu.push(t1 - t0 + t4 - t3);
      cpuScreening.push(t2 - t1);
      screening.push(t3 - t2);
    }
  } finally {
    gpu.release(pts);
  }
  return {
    cpuMs: median(cpu),
    screeningMs: median(screening),
    cpuScreeningMs: median(cpuScreening),
  };
}

/** Runs OpenCV's USAC_MAGSAC on match CSVs; null when python/cv2 is unavailable. */
function runOpenCv(
  python: string | null,
  files: Record<string, string>,
  params: { threshold: number; confidence: number; maxIters: number; repeats: number },
): { opencv: string; results: Record<string, { F: number[] | null; ms: number }> } | null {
  if (!python) return null;
  const dir = Deno.makeTempDirSync();
  try {
    const manifest = `${dir}/manifest.json`;
    Deno.writeTextFileSync(manifest, JSON.stringify({ ...params, files }));
    const script = new URL("./opencv_ransac.py", import.meta.url).pathname;
    const out = new Deno.Command(python, { args: [script, manifest], stderr: "piped" })
      .outputSync();
    if (!out.success) return null;
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } catch {
    return null;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function writeCsv(path: string, p0: ArrayLike<number>, p1: ArrayLike<number>) {
  const lines = ["x1,y1,x2,y2"];
  for (let i = 0; i < p0.length / 2; i++) {
    lines.push(`${p0[2 * i]},${p0[2 * i + 1]},${p1[2 * i]},${p1[2 * i + 1]}`);
  }
  Deno.writeTextFileSync(path, lines.join("\n") + "\n");
}

/** Runs the benchmark on `gpu`. */
export async function benchRansac(
  gpu: Gpu,
  options: RansacBenchOptions = {},
): Promise<RansacBenchResult> {
  const shared = new URL("../../shared/data/relpose_dev", import.meta.url).pathname;
  const devDir = options.devDir ??
    (exists(shared) ? shared : new URL("../tests/fixtures/relpose", import.meta.url).pathname);
  const python = options.python === undefined ? "/usr/bin/python3" : options.python;
  const repeats = options.repeats ?? 3;

  // Dev set: IMC settings of BASELINES.md.
  const pairs = (await loadSiftPairs(devDir)).filter((p) => p.points0.length > 0);
  const rows = [], times = [];
  for (const p of pairs) {
    const t0 = performance.now();
    const r = await estimateFundamental(gpu, p.points0, p.points1, { threshold: 0.25 });
    times.push(performance.now() - t0);
    rows.push({ scene: p.scene, ...poseErrors(r.F, p) });
  }
  const files: Record<string, string> = {};
  for (const p of pairs) files[p.id] = p.matchFile;
  const cv = runOpenCv(python, files, {
    threshold: 0.25,
    confidence: 0.99999,
    maxIters: 10000,
    repeats,
  });
  const dev = {
    pairs: pairs.length,
    maa: maa(rows).perScene,
    opencvMaa: cv
      ? maa(pairs.map((p) => ({ scene: p.scene, ...poseErrors(cv.results[p.id].F, p) })))
        .perScene
      : null,
    medianMs: median(times),
    opencvMedianMs: cv ? median(Object.values(cv.results).map((r) => r.ms)) : null,
  };

  // Synthetic: 50% outliers, σ = 0.5 px, threshold 1.5 px, exactly 10,000 hypotheses.
  const synthetic: SyntheticRow[] = [];
  const dir = Deno.makeTempDirSync();
  try {
    for (const n of options.sizes ?? [500, 2000, 10000]) {
      const s = syntheticMatches(n, 0.5, 0.5, n);
      const opts = { threshold: 1.5, confidence: 1, maxIterations: 10000 };
      await estimateFundamental(gpu, s.points0, s.points1, opts); // warm-up: pipelines, buffers
      const ms = [];
      for (let k = 0; k < repeats; k++) {
        const t0 = performance.now();
        await estimateFundamental(gpu, s.points0, s.points1, opts);
        ms.push(performance.now() - t0);
      }
      writeCsv(`${dir}/${n}.csv`, s.points0, s.points1);
      const cvs = runOpenCv(python, { [n]: `${dir}/${n}.csv` }, {
        threshold: 1.5,
        confidence: 1,
        maxIters: 10000,
        repeats,
      });
      const lo = await timeLocalOptimisation(gpu, s.points0, s.points1, opts);
      synthetic.push({
        localOptimisationMs: lo.cpuMs,
        screeningMs: lo.screeningMs,
        cpuScreeningMs: lo.cpuScreeningMs,
        matches: n,
        hypotheses: 10000,
        ms: median(ms),
        hypothesesPerSecond: 10000 / (median(ms) / 1000),
        opencvMs: cvs ? cvs.results[n].ms : null,
      });
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  return { adapter: gpu.adapterName, opencv: cv?.opencv ?? null, dev, synthetic };
}

/** The result as a Markdown report. */
export function ransacReport(r: RansacBenchResult, meta: { date: string; commit: string }): string {
  const f = (v: number | null | undefined, d = 3) => v == null ? "–" : v.toFixed(d);
  const scenes = Object.keys(r.dev.maa);
  return [
    `# RANSAC (fundamental matrix) benchmark`,
    ``,
    `Adapter: ${r.adapter}. OpenCV: ${
      r.opencv ?? "not available"
    } (USAC_MAGSAC, one thread). Date: ${meta.date}. Commit: ${meta.commit}.`,
    ``,
    `## relpose_dev SIFT matches (${r.dev.pairs} pairs; threshold 0.25 px, confidence 0.99999, 10000 iterations)`,
    ``,
    `| estimator | ${scenes.join(" | ")} | median ms per pair |`,
    `|---|${scenes.map(() => "---:").join("|")}|---:|`,
    `| estimateFundamental | ${scenes.map((s) => f(r.dev.maa[s])).join(" | ")} | ${
      f(r.dev.medianMs, 1)
    } |`,
    `| OpenCV USAC_MAGSAC | ${scenes.map((s) => f(r.dev.opencvMaa?.[s])).join(" | ")} | ${
      f(r.dev.opencvMedianMs, 1)
    } |`,
    ``,
    `## Synthetic matches (50% outliers, σ 0.5 px, threshold 1.5 px, 10,000 hypotheses, no early stop)`,
    ``,
    `| matches | ms per call | hypotheses / s | CPU local optimisation alone, ms | screening on the GPU, ms | screening on the CPU, ms | OpenCV ms per call |`,
    `|---:|---:|---:|---:|---:|---:|---:|`,
    ...r.synthetic.map((s) =>
      `| ${s.matches} | ${f(s.ms, 1)} | ${s.hypothesesPerSecond.toFixed(0)} | ${
        f(s.localOptimisationMs, 2)
      } | ${f(s.screeningMs, 2)} | ${f(s.cpuScreeningMs, 2)} | ${f(s.opencvMs, 1)} |`
    ),
    ``,
    `CPU local optimisation: plane recovery of the 8 candidates and \`finishEstimate\` (up to 50`,
    `IRLS steps of the best screened one, rank 2, inlier mask). Screening: 10 IRLS steps of each`,
    `candidate, on the GPU in one dispatch (\`screenCandidatesGpu\`, wall clock with upload and`,
    `read-back; what a call does with the "gpu" kernel tuning) or in float64 on the CPU`,
    `(\`screenCandidates\`; the "cpu" tuning, lavapipe's). Each timed alone, median of`,
    `${LO_REPEATS} calls, on the best candidates of the first ${LO_HYPOTHESES} hypotheses.`,
    ``,
  ].join("\n");
}

if (import.meta.main) {
  const gpu = await Gpu.create();
  try {
    const result = await benchRansac(gpu);
    const commit = new TextDecoder().decode(
      new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"] }).outputSync().stdout,
    ).trim();
    const meta = { date: new Date().toISOString().slice(0, 10), commit };
    const name = gpu.isFallback
      ? "lavapipe"
      : gpu.adapterName.replace(/[^A-Za-z0-9]+/g, "-").toLowerCase();
    const base = new URL(`./results/ransac-${name}`, import.meta.url).pathname;
    Deno.writeTextFileSync(`${base}.json`, JSON.stringify({ ...meta, ...result }, null, 2) + "\n");
    const md = ransacReport(result, meta);
    Deno.writeTextFileSync(`${base}.md`, md);
    console.log(md);
  } finally {
    gpu.destroy();
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
export async function benchRansacKernels(gpu: Gpu, reps: number): Promise<RansacRun> {
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
