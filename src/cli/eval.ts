/**
 * `deno task eval --data DIR [options]`: IMC2022 mAA of the matcher + RANSAC
 * pipeline on a dataset with ground-truth poses; resumable.
 * @module
 */
import { parseArgs } from "node:util";
import { barChart, cdfChart } from "../io/chart.ts";
import { type Dataset, loadDataset } from "../io/dataset.ts";
import {
  type EvalSummary,
  evaluate,
  type PairEvent,
  recordsCsv,
  summarize,
} from "../pipeline/evaluate.ts";
import { drawMatches } from "../io/viz.ts";
import { fail, type Output, runMain } from "./common.ts";
import { Progress, stderrSink } from "./progress.ts";
import { openEvalResults } from "../pipeline/evaluate.ts";
import {
  createPipeline,
  describePipeline,
  numberOption,
  PIPELINE_HELP,
  PIPELINE_OPTIONS,
} from "./pipeline_options.ts";

const HELP = `Usage: deno task eval --data DIR [options]

Matches every pair of a dataset with ground-truth poses, estimates F and
prints the IMC2022 mAA per scene and its mean over scenes. Each finished pair
is appended to OUT/pairs.jsonl; a rerun with the same --out skips the pairs
already done (and refuses a file written with other settings). At the end
OUT/pairs.csv (per-pair errors, matches, inliers, times) and OUT/summary.json
(the table) are written.

Datasets: the relpose layout (DIR/pairs.csv, DIR/images/, DIR/scaling_factors.csv)
or the IMC2022 training layout (DIR/train/<scene>/calibration.csv,
pair_covisibility.csv, images/<id>.jpg and DIR/train/scaling_factors.csv).

Options:
      --data DIR            the dataset (required)
  -o, --out DIR             results folder (default out/eval/<name of DIR>)
      --viz-dir DIR         also draw each pair computed in this run (RANSAC
                            inliers green, outliers red) and the charts
                            maa.png, rotation_cdf.png, translation_cdf.png
      --scenes A,B          only these scenes
      --limit N             at most N listed pairs per scene (the first N)
      --covisibility X      IMC2022 layout: keep pairs with covisibility >= X
                            (default 0.1)
  -h, --help                show this help

${PIPELINE_HELP}
`;

/** The `eval` command. */
export async function main(args: string[], out: Output = console): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: "string" },
      out: { type: "string", short: "o" },
      "viz-dir": { type: "string" },
      scenes: { type: "string" },
      limit: { type: "string" },
      covisibility: { type: "string", default: "0.1" },
      help: { type: "boolean", short: "h" },
      ...PIPELINE_OPTIONS,
    },
  });
  if (values.help) {
    out.log(HELP);
    return;
  }
  if (!values.data) fail("--data DIR is required");
  const limit = values.limit === undefined
    ? undefined
    : numberOption(values.limit, "limit", { min: 1, integer: true });
  const scenes = values.scenes?.split(",").map((s) => s.trim()).filter(Boolean);
  if (scenes && !scenes.length) fail("--scenes expects a comma-separated list of scene names");
  const dataset = await loadDataset(values.data, {
    covisibility: numberOption(values.covisibility!, "covisibility"),
    scenes,
    limit,
  });
  report(dataset, out);
  if (!dataset.pairs.length) {
    throw new Error(
      `${dataset.root}: no pair to evaluate` +
        (dataset.bad.length ? ` (${dataset.bad.length} rows could not be read)` : ""),
    );
  }
  const outDir = values.out ?? `out/eval/${dataset.root.split("/").filter(Boolean).at(-1)}`;
  await Deno.mkdir(outDir, { recursive: true });
  if (values["viz-dir"]) await Deno.mkdir(values["viz-dir"], { recursive: true });
  const { matcher, config } = await createPipeline(values);
  try {
    const results = await openEvalResults(`${outDir}/pairs.jsonl`, {
      ...config,
      data: await Deno.realPath(dataset.root),
    });
    const todo = dataset.pairs.filter((p) => !results.done.has(p.id)).length;
    out.log(`adapter:  ${matcher.adapterName}`);
    out.log(`weights:  ${matcher.weightsSource} (${describePipeline(config)})`);
    out.log(
      `results:  ${results.path}` +
        (todo < dataset.pairs.length
          ? ` (${dataset.pairs.length - todo} of ${dataset.pairs.length} pairs already done)`
          : ""),
    );
    const progress = new Progress(todo, stderrSink(out));
    const vizDir = values["viz-dir"];
    const records = await evaluate(matcher, dataset, config, results, async (event) => {
      if (event.record.error) {
        progress.clear();
        out.error(`warning: ${event.pair.id}: ${event.record.error}`);
      }
      if (vizDir && event.images) await drawPair(vizDir, event);
      progress.tick(event.pair.id);
    });
    const summary = summarize(dataset, records);
    for (const line of table(summary)) out.log(line);
    await Deno.writeTextFile(`${outDir}/pairs.csv`, recordsCsv(records));
    await Deno.writeTextFile(
      `${outDir}/summary.json`,
      JSON.stringify({ data: dataset.root, config, ...summary }, null, 1) + "\n",
    );
    out.log(`wrote ${outDir}/pairs.csv, ${outDir}/summary.json`);
    if (vizDir) {
      await writeCharts(vizDir, summary, records);
      out.log(`wrote ${vizDir}/maa.png, rotation_cdf.png, translation_cdf.png`);
    }
  } finally {
    matcher.destroy();
  }
}

/** Prints what was read: pairs, scenes, rows that cannot be scored, pairs filtered out. */
function report(dataset: Dataset, out: Output): void {
  const scenes = new Set(dataset.pairs.map((p) => p.scene));
  out.log(
    `dataset:  ${dataset.root} (${dataset.layout} layout): ${dataset.pairs.length} pairs ` +
      `in ${scenes.size} scenes` +
      (dataset.lowCovisibility ? `, ${dataset.lowCovisibility} below the covisibility` : ""),
  );
  const shown = 10;
  for (const b of dataset.bad.slice(0, shown)) {
    out.error(`warning: ${b.where}: ${b.reason}; not scored`);
  }
  if (dataset.bad.length > shown) {
    out.error(`warning: … and ${dataset.bad.length - shown} more rows not scored (summary.json)`);
  }
}

/** The table printed at the end. */
function table(s: EvalSummary): string[] {
  const f = (v: number | null, digits: number, unit = "") =>
    v === null ? "–" : Number.isFinite(v) ? `${v.toFixed(digits)}${unit}` : "∞";
  const rows = [
    ["scene", "listed", "scored", "mAA", "med err_q", "med err_t", "no F", "matches", "ms/pair"],
    ...s.scenes.map((r) => [
      r.scene,
      String(r.listed),
      String(r.scored),
      f(r.maa, 3),
      f(r.medianErrQ, 2, "°"),
      f(r.medianErrT, 3, " m"),
      String(r.noF),
      f(r.medianMatches, 0),
      f(r.medianMs, 0),
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) =>
    r.map((v, c) => (c ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join("  ")
  );
  const scored = s.scenes.filter((r) => r.maa !== null).length;
  lines.push(`mean mAA over ${scored} scenes: ${f(s.mean, 3)}`);
  lines.push(
    `scored ${s.scored} of ${s.listed} listed pairs` +
      (s.notScored.length ? ` (${s.notScored.length} not scored: see the warnings)` : ""),
  );
  return lines;
}

/** Longest side of the per-pair drawings, pixels. */
const VIZ_SIDE = 800;

/** Draws one pair's matches given to RANSAC, inliers green and outliers red, at most 800 px. */
async function drawPair(dir: string, { pair, images, estimate }: PairEvent): Promise<void> {
  const [g0, g1] = images!, e = estimate!;
  await Deno.writeFile(
    `${dir}/${pair.id.replace(/[^\w.-]+/g, "_")}.png`,
    drawMatches(g0, g1, e.keypoints0, e.keypoints1, {
      inliers: e.inliers,
      radius: 1,
      maxSide: VIZ_SIDE,
    }),
  );
}

/** The per-scene mAA bar chart and the error CDFs. */
async function writeCharts(
  dir: string,
  summary: EvalSummary,
  records: { scene: string; errQ: number | null; errT: number | null; error?: string }[],
): Promise<void> {
  const bars = summary.scenes.map((r) => ({ label: r.scene, value: r.maa }));
  bars.push({ label: "mean", value: summary.mean });
  await Deno.writeFile(`${dir}/maa.png`, barChart(bars, "mAA per scene"));
  const series = (key: "errQ" | "errT") =>
    summary.scenes.map(({ scene }) => ({
      label: scene,
      errors: records.filter((r) => r.scene === scene && !r.error).map((r) => r[key] ?? Infinity),
    }));
  await Deno.writeFile(
    `${dir}/rotation_cdf.png`,
    cdfChart(series("errQ"), 10, "rotation error (degrees): fraction of pairs below"),
  );
  await Deno.writeFile(
    `${dir}/translation_cdf.png`,
    cdfChart(series("errT"), 5, "translation error (m): fraction of pairs below"),
  );
}

if (import.meta.main) await runMain(main);
