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
import { Gpu, type KernelTuning, type Precision } from "../src/gpu/mod.ts";
import { Matcher } from "../src/pipeline/matcher.ts";
import { type SyntheticModel, syntheticWeights } from "../testing/synthetic_weights.ts";
import { type MemoryRow, pairMemory } from "../testing/memory_replay.ts";
import { benchMany, benchSize, type ManyResult, type ModelRun } from "./model.ts";
import { benchRansacKernels, type RansacRun } from "./ransac.ts";
import { f, report, table } from "./report.ts";

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

const MiB = 2 ** 20;

function gitCommit(): string {
  const git = (...args: string[]) =>
    new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).outputSync();
  try {
    const head = git("rev-parse", "--short", "HEAD");
    if (!head.success) return "unknown";
    const dirty = !git("diff", "--quiet", "HEAD", "--", "src", "bench", "testing").success;
    return new TextDecoder().decode(head.stdout).trim() + (dirty ? "+uncommitted" : "");
  } catch {
    return "unknown";
  }
}

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
          const run = await benchSize(matcher, model, size, {
            whole: ["attention", "dual_softmax", "fine"].some((s) => o.sections.has(s as Section)),
            kernelStages: new Set(
              Object.keys(STAGE_SECTION).filter((stage) => o.sections.has(STAGE_SECTION[stage])),
            ),
            reps: o.reps,
            warmup: o.warmup,
          }, weightsMiB);
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

/** Seconds, pairs/s and backbone runs of one way of matching the pairs. */
function manyRow(r: ManyResult["withReuse"]): string[] {
  return [f(r.seconds, 2)!, f(r.pairsPerSecond, 2)!, String(r.backboneRuns)];
}

if (import.meta.main) await runMain((args) => main(args));
