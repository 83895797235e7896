/**
 * `deno task sfm-eval --gt cameras.csv --model DIR/sparse/0 [--gt … --model …]`:
 * scores COLMAP models against ground-truth cameras (images registered,
 * relative-pose AUC at 3°/5°/10° over every pair of photos, camera-centre
 * error after a similarity alignment), one table row per scene.
 * @module
 */
import { parseArgs } from "node:util";
import { scoreReconstruction, type SfmScore } from "../geometry/sfm_metric.ts";
import { posesFromCamerasCsv, posesFromColmapModel, readCamerasCsv } from "../io/cameras_csv.ts";
import { readLargestColmapModel } from "../io/colmap_model.ts";
import { fail, type Output, runMain } from "./common.ts";

const HELP =
  `Usage: deno task sfm-eval --gt FILE --model DIR [--gt FILE --model DIR …] [--json FILE]

Scores reconstructions against ground-truth cameras, one row per scene (the
folder holding the --gt file names it): photos registered of the total; the
AUC of the relative-pose error max(rotation, translation direction) at 3°, 5°
and 10° over every pair of photos (a photo missing from the model fails all
its pairs); the median and largest camera-centre error after a least-squares
similarity alignment of the centres (ground-truth units, metres for sfm_dev).

Options:
      --gt FILE      cameras.csv (image,width,height,fx,fy,cx,cy,qw,qx,qy,qz,tx,ty,tz)
      --model DIR    a COLMAP model (.bin or .txt), or a mapper output folder
                     (its sub-model with the most photos)
      --json FILE    also write the scores as JSON
  -h, --help         show this help`;

/** One scene's score, named. */
export interface SceneScore {
  /** Scene name. */
  scene: string;
  /** Its score. */
  score: SfmScore;
}

/** The table of scores printed by `sfm-eval` and `reconstruct --gt`, as lines. */
export function scoreTable(rows: readonly SceneScore[]): string[] {
  const auc = (s: SfmScore, t: number) =>
    s.auc.find((a) => a.threshold === t)?.value.toFixed(3) ?? "–";
  const m = (v: number | undefined) => (v === undefined ? "–" : `${v.toFixed(4)} m`);
  const table = [
    ["scene", "registered", "AUC@3°", "AUC@5°", "AUC@10°", "median centre err", "max centre err"],
    ...rows.map(({ scene, score: s }) => [
      scene,
      `${s.registered}/${s.total}`,
      auc(s, 3),
      auc(s, 5),
      auc(s, 10),
      m(s.aligned?.medianPosition),
      m(s.aligned?.maxPosition),
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  return table.map((r) =>
    r.map((v, c) => (c ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join("  ")
  );
}

/** Scores the model in `modelDir` against the cameras of `gtPath`. */
export async function scoreModel(gtPath: string, modelDir: string): Promise<SfmScore> {
  const gt = posesFromCamerasCsv(await readCamerasCsv(gtPath));
  const { model } = await readLargestColmapModel(modelDir);
  return scoreReconstruction(posesFromColmapModel(model), gt);
}

/** The scene a ground-truth file belongs to: the name of its folder. */
export function sceneName(gtPath: string): string {
  const parts = gtPath.split("/").filter(Boolean);
  return parts.length > 1 ? parts[parts.length - 2] : gtPath;
}

/** The `sfm-eval` command. */
export async function main(args: string[], out: Output = console): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      gt: { type: "string", multiple: true },
      model: { type: "string", multiple: true },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out.log(HELP);
    return;
  }
  const gts = values.gt ?? [], models = values.model ?? [];
  if (gts.length === 0 || gts.length !== models.length) {
    fail(
      `give --gt FILE and --model DIR once per scene (${gts.length} --gt, ${models.length} --model)`,
    );
  }
  const rows: SceneScore[] = [];
  for (const [k, gt] of gts.entries()) {
    rows.push({ scene: sceneName(gt), score: await scoreModel(gt, models[k]) });
  }
  for (const line of scoreTable(rows)) out.log(line);
  if (values.json) {
    const brief = rows.map(({ scene, score: s }) => ({
      scene,
      registered: s.registered,
      total: s.total,
      auc: s.auc,
      medianRotation: s.medianRotation,
      medianTranslation: s.medianTranslation,
      medianPosition: s.aligned?.medianPosition ?? null,
      maxPosition: s.aligned?.maxPosition ?? null,
    }));
    await Deno.writeTextFile(values.json, JSON.stringify(brief, null, 1) + "\n");
  }
}

if (import.meta.main) await runMain(main);
