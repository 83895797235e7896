/**
 * `deno task match [image0 image1] [options]`: LoFTR matches between two images.
 * @module
 */
import { parseArgs } from "node:util";
import { Matcher, type MatchResult } from "../pipeline/matcher.ts";
import { resolveModel } from "../io/model_zoo.ts";
import { estimateFundamental } from "../geometry/ransac_gpu.ts";
import { drawMatches } from "../io/viz.ts";
import { fail, type Output, parsePrecision, parseResizePolicy, runMain } from "./common.ts";
import { coarseCells, ransacThreshold } from "../pipeline/two_view.ts";
import { loadImage } from "../io/decode.ts";

const EXAMPLE = [
  new URL("../../tests/fixtures/images/fountain_0001.jpg", import.meta.url).pathname,
  new URL("../../tests/fixtures/images/fountain_0000.jpg", import.meta.url).pathname,
];

const HELP = `Usage: deno task match [IMAGE0 IMAGE1] [options]

Finds LoFTR matches between two images on the GPU (WebGPU). With no images,
matches the bundled example pair (two views of the Strecha fountain).

Options:
  -o, --out FILE        write the matches: FILE.json, or FILE.csv with rows
                        x0,y0,x1,y1,confidence in original-image pixels
      --viz FILE.png    draw the two images side by side with the matches:
                        RANSAC inliers of F green, outliers red (coloured by
                        confidence when there are too few matches for F)
      --ransac-threshold PX
                        RANSAC inlier threshold for --viz in original pixels,
                        or auto (default): 1 px for a model with a fine
                        stage, else a third of a coarse cell
      --resize POLICY   how each image is resized for the network (default 640):
                          N          long side N px, aspect ratio kept
                          WxH        exactly W×H (multiples of the coarse stride)
                          original   the image's own size
                        sides are rounded to multiples of the coarse stride
                        (16 for the bundled model, 8 for LoFTR outdoor)
      --threshold X     confidence threshold (default: the model's;
                        0.01 bundled model, 0.2 LoFTR outdoor)
      --border N        drop matches within N coarse cells of the border
                        (default: the model's; 0 bundled, 2 LoFTR outdoor)
      --model NAME      coarse (bundled, the default) or outdoor (after
                        \`deno task weights outdoor\`)
      --weights FILE    .safetensors weights from \`deno task convert\`
                        (default: weights/coarse_loftr_teacher.safetensors)
      --max-tile-mb N   largest similarity tile in MiB (default 64); lower
                        bounds GPU memory at high resolution
      --precision P     f32 (default) or f16: the backbone's feature maps and
                        filters stored as f16 (needs the adapter's shader-f16)
  -h, --help            show this help
`;

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} expects a non-negative number, got "${value}"`);
  return n;
}

function toCsv(r: MatchResult): string {
  const rows = ["x0,y0,x1,y1,confidence"];
  for (let k = 0; k < r.count; k++) {
    rows.push(
      [
        r.keypoints0[2 * k],
        r.keypoints0[2 * k + 1],
        r.keypoints1[2 * k],
        r.keypoints1[2 * k + 1],
        r.confidence[k],
      ]
        .join(","),
    );
  }
  return rows.join("\n") + "\n";
}

function toJson(r: MatchResult, images: string[], weights: string): string {
  return JSON.stringify({
    images,
    weights,
    inputSizes: r.inputSizes,
    count: r.count,
    keypoints0: Array.from(
      { length: r.count },
      (_, k) => [r.keypoints0[2 * k], r.keypoints0[2 * k + 1]],
    ),
    keypoints1: Array.from(
      { length: r.count },
      (_, k) => [r.keypoints1[2 * k], r.keypoints1[2 * k + 1]],
    ),
    confidence: [...r.confidence],
  }) + "\n";
}

/** The `match` command. */
export async function main(args: string[], out: Output = console): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string", short: "o" },
      viz: { type: "string" },
      resize: { type: "string", default: "640" },
      threshold: { type: "string" },
      border: { type: "string" },
      weights: { type: "string" },
      model: { type: "string" },
      "max-tile-mb": { type: "string" },
      precision: { type: "string", default: "f32" },
      "ransac-threshold": { type: "string", default: "auto" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out.log(HELP);
    return;
  }
  if (positionals.length !== 0 && positionals.length !== 2) {
    fail(`expected two images (or none for the example pair), got ${positionals.length}`);
  }
  const images = positionals.length ? positionals : EXAMPLE;
  if (!positionals.length) out.log("No images given: matching the bundled example pair.");
  const outFile = values.out;
  if (outFile && !/\.(json|csv)$/i.test(outFile)) {
    fail(`--out ${outFile}: the name must end in .json or .csv`);
  }
  if (values.viz && !/\.png$/i.test(values.viz)) {
    fail(`--viz ${values.viz}: the name must end in .png`);
  }
  const resize = parseResizePolicy(values.resize!);
  const threshold = number(values.threshold, "threshold");
  const border = number(values.border, "border");
  const tileMb = number(values["max-tile-mb"], "max-tile-mb");
  const precision = parsePrecision(values.precision!);
  const ransacThresholdOption = values["ransac-threshold"] === "auto"
    ? "auto"
    : number(values["ransac-threshold"], "ransac-threshold")!;

  if (values.model && values.weights) fail("--model and --weights are exclusive");
  const weights = values.model ? await resolveModel(values.model) : values.weights;
  const matcher = await Matcher.create({ weights, precision });
  try {
    // The drawing needs the decoded images: decode them once, for both.
    const decoded = values.viz ? await Promise.all(images.map(loadImage)) : null;
    const [in0, in1] = decoded ?? images;
    const result = await matcher.match(in0, in1, {
      resize,
      threshold,
      borderRemoval: border,
      maxTileBytes: tileMb ? tileMb * 2 ** 20 : undefined,
      profile: true,
    });
    const [s0, s1] = result.inputSizes;
    out.log(`adapter:  ${matcher.adapterName}`);
    out.log(`weights:  ${matcher.weightsSource}`);
    out.log(
      `images:   ${images[0]} (${s0.width}×${s0.height} in), ${
        images[1]
      } (${s1.width}×${s1.height} in)`,
    );
    out.log(`matches:  ${result.count}`);
    const total = Object.values(result.timings).reduce((a, b) => a + b, 0);
    out.log(
      `time:     ${
        Object.entries(result.timings).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(", ")
      }` +
        ` (total ${total.toFixed(1)} ms)`,
    );
    if (outFile) {
      await Deno.writeTextFile(
        outFile,
        /\.csv$/i.test(outFile) ? toCsv(result) : toJson(result, images, matcher.weightsSource),
      );
      out.log(`wrote ${outFile}`);
    }
    if (values.viz) {
      const [g0, g1] = decoded!;
      const { coarseStride, fine } = matcher.model.config;
      const threshold = ransacThreshold(
        ransacThresholdOption,
        fine !== null,
        coarseCells([g0, g1], result, coarseStride),
      );
      const f = await estimateFundamental(matcher.gpu, result.keypoints0, result.keypoints1, {
        threshold,
      });
      out.log(
        f.F
          ? `inliers:  ${f.inlierCount} of ${result.count} (RANSAC F, ${+threshold.toFixed(2)} px)`
          : `inliers:  no F (${f.message ?? f.stop}); matches coloured by confidence`,
      );
      await Deno.writeFile(
        values.viz,
        drawMatches(
          g0,
          g1,
          result.keypoints0,
          result.keypoints1,
          f.F ? { inliers: f.inliers } : { confidence: result.confidence },
        ),
      );
      out.log(`wrote ${values.viz}`);
    }
  } finally {
    matcher.destroy();
  }
}

if (import.meta.main) await runMain(main);
