/**
 * `deno task submit --test-csv test.csv --images DIR --out submission.csv`:
 * an IMC2022 submission (`sample_id,fundamental_matrix`) from the matcher +
 * RANSAC pipeline.
 * @module
 */
import { parseArgs } from "node:util";
import { readCsv } from "../io/dataset.ts";
import { fail, type Output, runMain } from "./common.ts";
import { Progress, stderrSink } from "./progress.ts";
import { estimatePairs } from "../pipeline/two_view.ts";
import {
  createPipeline,
  describePipeline,
  PIPELINE_HELP,
  PIPELINE_OPTIONS,
} from "./pipeline_options.ts";

const HELP = `Usage: deno task submit --test-csv FILE --images DIR --out FILE [options]

Writes an IMC2022 submission: for every row of the test CSV (columns
sample_id,batch_id,image_1_id,image_2_id) a row sample_id,fundamental_matrix
with F's nine numbers row-major, space-separated, in the test CSV's order
(x2ᵀ F x1 = 0 for x1 in image_1). A sample whose images cannot be read or
whose pair gives no F gets nine zeros (a failure for the scorer) and a
warning; a row without a sample_id cannot be written and is reported.

Options:
      --test-csv FILE       the test CSV (required)
      --images DIR          images at DIR/<batch_id>/<image_id>.EXT (required)
      --ext EXT             image file extension (default png)
  -o, --out FILE            the submission CSV (required)
  -h, --help                show this help

${PIPELINE_HELP}
`;

/** A failure's row: nine zeros. */
const NO_F = Array(9).fill("0").join(" ");

/** The `submit` command. */
export async function main(args: string[], out: Output = console): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      "test-csv": { type: "string" },
      images: { type: "string" },
      ext: { type: "string", default: "png" },
      out: { type: "string", short: "o" },
      help: { type: "boolean", short: "h" },
      ...PIPELINE_OPTIONS,
    },
  });
  if (values.help) {
    out.log(HELP);
    return;
  }
  for (const name of ["test-csv", "images", "out"] as const) {
    if (!values[name]) fail(`--${name} is required`);
  }
  const testCsv = values["test-csv"]!, imagesDir = values.images!.replace(/\/+$/, "");
  const samples = await readTestCsv(testCsv, out);
  if (!(await Deno.stat(imagesDir).catch(() => null))?.isDirectory) {
    throw new Error(`--images ${imagesDir}: no such folder`);
  }
  const { matcher, config } = await createPipeline(values);
  const rows = ["sample_id,fundamental_matrix"];
  let failed = 0;
  try {
    out.log(`adapter:  ${matcher.adapterName}`);
    out.log(`weights:  ${matcher.weightsSource} (${describePipeline(config)})`);
    const progress = new Progress(samples.length, stderrSink(out));
    const warn = (line: string) => {
      progress.clear();
      out.error(`warning: ${line}`);
    };
    const F: (Float64Array | null)[] = samples.map(() => null);
    const pairs = [];
    for (const [k, s] of samples.entries()) {
      if ("error" in s) {
        warn(`${s.where}: ${s.error}; wrote no F for ${s.sampleId}`);
        progress.tick(s.sampleId);
      } else {
        const path = (id: string) => `${imagesDir}/${s.batch}/${id}.${values.ext}`;
        pairs.push({ sample: k, batch: s.batch, image0: path(s.image0), image1: path(s.image1) });
      }
    }
    // One run per batch (a batch's images are its own): the features held are
    // at most those of one batch's images.
    for (const batch of Map.groupBy(pairs, (p) => p.batch).values()) {
      for await (const outcome of estimatePairs(matcher, batch, config)) {
        const k = batch[outcome.index].sample, id = samples[k].sampleId;
        if ("error" in outcome) {
          warn(`${id}: ${outcome.error.message}; wrote no F`);
        } else {
          F[k] = outcome.estimate.F;
          if (!F[k]) warn(`${id}: no F (${outcome.estimate.message ?? outcome.estimate.stop})`);
        }
        progress.tick(id);
      }
    }
    for (const [k, s] of samples.entries()) {
      const f = F[k];
      if (!f) failed++;
      rows.push(`${s.sampleId},${f ? Array.from(f, (v) => v.toExponential(9)).join(" ") : NO_F}`);
    }
  } finally {
    matcher.destroy();
  }
  await Deno.writeTextFile(values.out!, rows.join("\n") + "\n");
  out.log(
    `wrote ${values.out}: ${samples.length} samples` +
      (failed ? `, ${failed} without F (nine zeros)` : ""),
  );
}

/** A row of the test CSV (its image_1 and image_2 as images 0 and 1): a pair to match, or a sample whose row is malformed. */
type Sample =
  | { sampleId: string; batch: string; image0: string; image1: string }
  | { sampleId: string; where: string; error: string };

/** Reads the test CSV; rows without a sample_id are reported and left out. */
async function readTestCsv(path: string, out: Output): Promise<Sample[]> {
  const rows = await readCsv(path, ["sample_id", "batch_id", "image_1_id", "image_2_id"]);
  const samples: Sample[] = [];
  for (const { where, fields: f, error } of rows) {
    if (!f.sample_id) {
      out.error(`warning: ${where}: no sample_id; the row cannot be written`);
    } else if (error || !f.batch_id || !f.image_1_id || !f.image_2_id) {
      samples.push({
        sampleId: f.sample_id,
        where,
        error: error ?? "an empty batch_id or image id",
      });
    } else {
      samples.push({
        sampleId: f.sample_id,
        batch: f.batch_id,
        image0: f.image_1_id,
        image1: f.image_2_id,
      });
    }
  }
  if (!samples.length) throw new Error(`${path}: no samples`);
  return samples;
}

if (import.meta.main) await runMain(main);
