/**
 * `deno task match [image0 image1] [options]`: LoFTR matches between two
 * images, then their two-view geometry on the GPU (F, or a homography), and
 * the relative pose when the intrinsics are known.
 * @module
 */
import { parseArgs } from "node:util";
import { essentialFromFundamental, recoverPose } from "../geometry/pose.ts";
import { intrinsics } from "../geometry/relative_pose.ts";
import { type Mat3, rotationAngle } from "../geometry/linalg.ts";
import { intrinsicsMatrix, parseIntrinsicsCsv } from "../io/cameras_csv.ts";
import { decodeImage, decodeImageRgb, readImageFile } from "../io/decode.ts";
import { exifFocalLengthPx, readExifFocalFields } from "../io/exif.ts";
import type { GrayImage } from "../io/image.ts";
import { stitch } from "../io/stitch.ts";
import { drawMatches, encodePng } from "../io/viz.ts";
import {
  estimateFromMatches,
  matchPair,
  matchTimings,
  type OrderedMatches,
  type PairEstimate,
  type PipelineConfig,
  type TwoViewModel,
} from "../pipeline/two_view.ts";
import { checkWritable, fail, type Output, runMain } from "./common.ts";
import {
  createPipeline,
  numberOption,
  PIPELINE_HELP,
  PIPELINE_OPTIONS,
} from "./pipeline_options.ts";

const EXAMPLE = [
  new URL("../../tests/fixtures/images/fountain_0001.jpg", import.meta.url).pathname,
  new URL("../../tests/fixtures/images/fountain_0000.jpg", import.meta.url).pathname,
];

const HELP = `Usage: deno task match [IMAGE0 IMAGE1] [options]

Finds LoFTR matches between two images on the GPU (WebGPU), then estimates
their two-view geometry on the GPU: the fundamental matrix F (x1ᵀ F x0 = 0),
or a homography H (x1 ~ H x0), and, for F with known intrinsics, the relative
pose (X1 = R X0 + t). With no images, matches the bundled example pair (two
views of the Strecha fountain). Pixels: x right, y down, (0, 0) at the centre
of the top-left pixel (OpenCV's convention).

Output:
  -o, --out FILE        FILE.json: matches, inlier mask, geometry and pose, each
                        with its convention; or FILE.csv with rows
                        x0,y0,x1,y1,confidence,inlier in original-image pixels
      --viz FILE.png    both images side by side with the matches: RANSAC
                        inliers green, outliers red (coloured by confidence
                        when there is no model)
      --stitch FILE.png with --geometry homography: image 1 warped into image
                        0's frame and blended, on a canvas that holds both

Geometry:
      --geometry MODEL  fundamental (default) or homography (a planar scene,
                        or photos taken from one point: panoramas)
      --K0 fx,fy,cx,cy  intrinsics of image 0, pixels (OpenCV's convention);
                        with --K0 alone, image 1 has the same
      --K1 fx,fy,cx,cy  intrinsics of image 1
      --cameras FILE    intrinsics per image name: a CSV with columns
                        image,fx,fy,cx,cy (others ignored) in COLMAP's pixel
                        convention (0.5 at the top-left pixel's centre), such
                        as the cameras.csv of a COLMAP-style dataset
                        Without these, a JPEG's EXIF focal length is used
                        when both images have one (an estimate; principal
                        point at the image centre); without any, F only.
      --max-tile-mb N   largest similarity tile in MiB (default 64); lower
                        bounds GPU memory at high resolution

${PIPELINE_HELP}
  -h, --help            show this help

Exit codes: 0 when the matching worked, even when the geometry could not be
estimated (the matches are written and the reason printed); 1 on an error
(unreadable image, no GPU, …); 2 for a bad command line.
`;

/** `fx,fy,cx,cy` → K, or a usage error naming the option. */
function parseK(value: string, option: string): Mat3 {
  const parts = value.split(",");
  const v = parts.map((s) => Number(s.trim()));
  if (parts.length !== 4 || v.some((x, i) => parts[i].trim() === "" || !Number.isFinite(x))) {
    fail(`${option} expects four numbers fx,fy,cx,cy, got "${value}"`);
  }
  if (!(v[0] > 0 && v[1] > 0)) fail(`${option}: focal lengths must be positive, got "${value}"`);
  return intrinsics(v[0], v[1], v[2], v[3]);
}

/** The file name of a path (for cameras files and messages). */
function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Intrinsics of both images and where they came from, or why there are none. */
type Intrinsics = { K0: Mat3; K1: Mat3; source: string } | { missing: string };

/** The intrinsics the options give (--K0/--K1, then --cameras, then EXIF). */
async function findIntrinsics(
  values: { K0?: string; K1?: string; cameras?: string },
  paths: string[],
  bytes: Uint8Array[],
  images: GrayImage[],
): Promise<Intrinsics> {
  if (values.K0 || values.K1) {
    const K0 = parseK(values.K0 ?? values.K1!, values.K0 ? "--K0" : "--K1");
    const K1 = values.K1 ? parseK(values.K1, "--K1") : K0;
    return { K0, K1, source: values.K0 && values.K1 ? "--K0, --K1" : "given for both images" };
  }
  if (values.cameras) {
    let text: string;
    try {
      text = await Deno.readTextFile(values.cameras);
    } catch (e) {
      throw new Error(
        `${values.cameras}: cannot read (${(e as Error).message.replace(/:.*$/, "")})`,
      );
    }
    const table = parseIntrinsicsCsv(text, values.cameras);
    const K = paths.map((p) => {
      const c = table.get(baseName(p));
      if (!c) throw new Error(`${values.cameras}: no row for image ${baseName(p)}`);
      return intrinsicsMatrix(c, "engine");
    });
    return { K0: K[0], K1: K[1], source: `${values.cameras} (COLMAP convention, shifted 0.5 px)` };
  }
  const focal = bytes.map((b, k) =>
    exifFocalLengthPx(readExifFocalFields(b), images[k].width, images[k].height)
  );
  const missing = focal.flatMap((f, k) => f === null ? [baseName(paths[k])] : []);
  if (missing.length) return { missing: `no EXIF focal length in ${missing.join(" and ")}` };
  const K = focal.map((f, k) =>
    intrinsics(f!, f!, (images[k].width - 1) / 2, (images[k].height - 1) / 2)
  );
  return {
    K0: K[0],
    K1: K[1],
    source: `EXIF focal length ${focal.map((f) => f!.toFixed(0)).join(", ")} px ` +
      "(an estimate; principal point at the image centre)",
  };
}

const fmt = (v: ArrayLike<number>, digits = 6) =>
  `[${Array.from(v, (x) => +x.toPrecision(digits)).join(", ")}]`;

/** The relative pose of F and the intrinsics, or null without F. */
function poseOf(e: PairEstimate, k: Intrinsics) {
  if (!e.F || !("K0" in k)) return null;
  const E = essentialFromFundamental(e.F, k.K0, k.K1);
  const { R, t, inFront } = recoverPose(E, e.keypoints0, e.keypoints1, k.K0, k.K1, e.inliers);
  return { E, R, t, rotationDegrees: rotationAngle(R), inFront };
}

function toCsv(e: PairEstimate): string {
  const rows = ["x0,y0,x1,y1,confidence,inlier"];
  for (let k = 0; k < e.keypoints0.length / 2; k++) {
    rows.push(
      [
        e.keypoints0[2 * k],
        e.keypoints0[2 * k + 1],
        e.keypoints1[2 * k],
        e.keypoints1[2 * k + 1],
        e.confidence[k],
        e.inliers[k],
      ].join(","),
    );
  }
  return rows.join("\n") + "\n";
}

function toJson(
  paths: string[],
  images: GrayImage[],
  weights: string,
  config: PipelineConfig,
  matches: OrderedMatches,
  e: PairEstimate,
  k: Intrinsics,
  pose: ReturnType<typeof poseOf>,
): string {
  const n = e.keypoints0.length / 2;
  const pairs = (a: ArrayLike<number>) =>
    Array.from({ length: n }, (_, i) => [a[2 * i], a[2 * i + 1]]);
  return JSON.stringify({
    conventions: {
      images: "image 0 is the first image given, image 1 the second",
      pixels: "x right, y down, (0, 0) at the centre of the top-left pixel (OpenCV)",
      fundamental: "x1ᵀ F x0 = 0, row-major, unit Frobenius norm",
      homography: "x1 ~ H x0, row-major, unit Frobenius norm",
      essential: "E = K1ᵀ F K0",
      pose: "X1 = R X0 + t: camera 0 to camera 1, R row-major, t of unit length",
      intrinsics: "K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] row-major, in the pixels above",
    },
    images: paths,
    imageSizes: images.map((g) => ({ width: g.width, height: g.height })),
    weights,
    inputSizes: matches[0].inputSizes,
    refinement: config.refine,
    orders: config.orders,
    matches: e.matches,
    count: n,
    keypoints0: pairs(e.keypoints0),
    keypoints1: pairs(e.keypoints1),
    confidence: Array.from(e.confidence),
    inliers: Array.from(e.inliers),
    geometry: {
      model: e.model,
      [e.model === "homography" ? "H" : "F"]: (e.F ?? e.H) && Array.from((e.F ?? e.H)!),
      inlierCount: e.inlierCount,
      ransacThreshold: e.ransacThreshold,
      stop: e.stop,
      ...(e.message ? { message: e.message } : {}),
    },
    intrinsics: "K0" in k ? { source: k.source, K0: Array.from(k.K0), K1: Array.from(k.K1) } : null,
    pose: pose && {
      E: Array.from(pose.E),
      R: Array.from(pose.R),
      t: pose.t,
      rotationDegrees: pose.rotationDegrees,
      inFront: pose.inFront,
    },
    timings: { ...matchTimings(matches), refine: e.ms.refine, ransac: e.ms.ransac },
  }) + "\n";
}

/** The `match` command. */
export async function main(args: string[], out: Output = console): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...PIPELINE_OPTIONS,
      out: { type: "string", short: "o" },
      viz: { type: "string" },
      stitch: { type: "string" },
      geometry: { type: "string", default: "fundamental" },
      K0: { type: "string" },
      K1: { type: "string" },
      cameras: { type: "string" },
      "max-tile-mb": { type: "string" },
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
  const paths = positionals.length ? positionals : EXAMPLE;
  const geometry = values.geometry as TwoViewModel;
  if (geometry !== "fundamental" && geometry !== "homography") {
    fail(`--geometry expects fundamental or homography, got "${values.geometry}"`);
  }
  if (values.stitch && geometry !== "homography") {
    fail("--stitch needs --geometry homography (a stitch warps by H)");
  }
  if ((values.K0 || values.K1 || values.cameras) && geometry !== "fundamental") {
    fail(
      "--K0, --K1 and --cameras give the relative pose, which comes from F: use --geometry fundamental",
    );
  }
  if ((values.K0 || values.K1) && values.cameras) fail("--cameras and --K0/--K1 are exclusive");
  if (values.K0) parseK(values.K0, "--K0");
  if (values.K1) parseK(values.K1, "--K1");
  const outputs: [string | undefined, string, RegExp, string][] = [
    [values.out, "--out", /\.(json|csv)$/i, ".json or .csv"],
    [values.viz, "--viz", /\.png$/i, ".png"],
    [values.stitch, "--stitch", /\.png$/i, ".png"],
  ];
  for (const [path, option, ext, what] of outputs) {
    if (path && !ext.test(path)) fail(`${option} ${path}: the name must end in ${what}`);
  }
  for (const [path, option] of outputs) if (path) await checkWritable(path, option);
  const tileMb = values["max-tile-mb"] === undefined
    ? undefined
    : numberOption(values["max-tile-mb"], "max-tile-mb", { min: 1 });
  if (!positionals.length) out.log("No images given: matching the bundled example pair.");

  const bytes = await Promise.all(paths.map(readImageFile));
  const images = await Promise.all(bytes.map((b, k) => decodeImage(b, paths[k])));
  const known = await findIntrinsics(values, paths, bytes, images);
  const { matcher, config } = await createPipeline(values);
  try {
    const matches = await matchPair(matcher, [images[0], images[1]], config, {
      maxTileBytes: tileMb ? tileMb * 2 ** 20 : undefined,
      profile: true,
    });
    const e = await estimateFromMatches(matcher, matches, [images[0], images[1]], config, geometry);
    const [s0, s1] = matches[0].inputSizes;
    out.log(`adapter:  ${matcher.adapterName}`);
    out.log(`weights:  ${matcher.weightsSource}`);
    out.log(
      `images:   ${paths[0]} (${s0.width}×${s0.height} in), ${
        paths[1]
      } (${s1.width}×${s1.height} in)`,
    );
    const used = e.keypoints0.length / 2;
    out.log(
      `matches:  ${e.matches}` +
        (matches.length === 2
          ? ` (${matches[0].count} + ${matches[1].count}: 0 → 1 and 1 → 0, put together)`
          : "") +
        (config.refine !== "none" ? `, ${used} kept by the ${config.refine} refinement` : ""),
    );
    const name = geometry === "homography" ? "H" : "F";
    const model = e.F ?? e.H;
    if (model) {
      out.log(
        `${name}:        ${fmt(model)}  (${
          geometry === "homography" ? "x1 ~ H x0" : "x1ᵀ F x0 = 0"
        }, row-major)`,
      );
      out.log(
        `inliers:  ${e.inlierCount} of ${used} (RANSAC ${
          config.ransac.threshold === "auto" ? "auto " : ""
        }` +
          `${+e.ransacThreshold.toFixed(2)} px, stopped: ${e.stop})`,
      );
    } else {
      out.log(`${name}:        none: ${e.message ?? e.stop}; the matches are still written`);
    }
    const pose = poseOf(e, known);
    if (geometry === "fundamental") {
      if (!("K0" in known)) {
        out.log(
          `pose:     not estimated (${known.missing}): give --K0/--K1 or --cameras for the relative pose`,
        );
      } else if (pose) {
        out.log(`intrinsics: ${known.source}`);
        out.log(`K0:       ${fmt(known.K0)}`);
        out.log(`K1:       ${fmt(known.K1)}`);
        out.log(`E:        ${fmt(pose.E)}  (E = K1ᵀ F K0)`);
        out.log(`R:        ${fmt(pose.R)}  (rotation ${pose.rotationDegrees.toFixed(3)}°)`);
        out.log(`t:        ${fmt(pose.t)}  (unit length; X1 = R X0 + t)`);
        out.log(`in front: ${pose.inFront} of ${e.inlierCount} inliers`);
      }
    }
    const times = { ...matchTimings(matches), refine: e.ms.refine, RANSAC: e.ms.ransac };
    const total = Object.values(times).reduce((a, b) => a + b, 0);
    out.log(
      `time:     ${Object.entries(times).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(", ")}` +
        ` (total ${total.toFixed(1)} ms)`,
    );
    if (values.out) {
      await Deno.writeTextFile(
        values.out,
        /\.csv$/i.test(values.out)
          ? toCsv(e)
          : toJson(paths, images, matcher.weightsSource, config, matches, e, known, pose),
      );
      out.log(`wrote ${values.out}`);
    }
    if (values.viz) {
      await Deno.writeFile(
        values.viz,
        drawMatches(
          images[0],
          images[1],
          e.keypoints0,
          e.keypoints1,
          model ? { inliers: e.inliers } : { confidence: e.confidence },
        ),
      );
      out.log(`wrote ${values.viz}`);
    }
    if (values.stitch) {
      if (!e.H) {
        out.log(`no stitch: no homography (${e.message ?? e.stop})`);
      } else {
        const rgb = await Promise.all(bytes.map((b, k) => decodeImageRgb(b, paths[k])));
        try {
          const s = stitch(rgb[0], rgb[1], e.H);
          await Deno.writeFile(values.stitch, encodePng(s.rgba, s.width, s.height));
          out.log(`wrote ${values.stitch} (${s.width}×${s.height})`);
        } catch (err) {
          if (!(err instanceof RangeError)) throw err;
          out.log(`no stitch: ${err.message}`);
        }
      }
    }
  } finally {
    matcher.destroy();
  }
}

if (import.meta.main) await runMain(main);
