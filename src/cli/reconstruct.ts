/**
 * `deno task reconstruct IMAGES --out DIR [options]`: from a folder of
 * photos to cameras and a point cloud, with LoFTR as the front end of
 * COLMAP: pairs chosen, matched (resumably, into DIR/pairs.sqlite or, with
 * `--shard`, DIR/shards/), keypoints merged, pairs verified on the GPU, a
 * COLMAP database written and `colmap mapper` run; `--merge` finishes a
 * sharded run. The steps are the library functions of
 * src/pipeline/reconstruct.ts.
 * @module
 */
import { parseArgs } from "node:util";
import { type CameraPose, scoreReconstruction } from "../geometry/sfm_metric.ts";
import { drawCameraTopView } from "../io/camera_plot.ts";
import {
  intrinsicsMatrix,
  posesFromCamerasCsv,
  posesFromColmapModel,
  readCamerasCsv,
} from "../io/cameras_csv.ts";
import { cameraModel, type CameraModelName, parseCameraParams } from "../io/colmap_cameras.ts";
import {
  COLMAP,
  COLMAP_INSTALL_HINT,
  colmapAvailable,
  mapperArgs,
  runColmap,
  shellCommand,
} from "../io/colmap_mapper.ts";
import {
  type ColmapModel,
  modelStats,
  readLargestColmapModel,
  writePly,
} from "../io/colmap_model.ts";
import { decodeImage, readImageFile } from "../io/decode.ts";
import { exifFocalLengthPx, readExifFocalFields } from "../io/exif.ts";
import { PairStore, type PairStoreHeader } from "../io/pair_store.ts";
import {
  assignCameras,
  type CameraSetup,
  type ExportImage,
  writeColmapDatabase,
} from "../pipeline/colmap_export.ts";
import { exhaustivePairs, parsePairList, sequentialPairs } from "../pipeline/pair_selection.ts";
import {
  DEFAULT_CELL_SIZE,
  type MatchedPair,
  matchIntoStore,
  mergeAndVerify,
  type PhotoFile,
} from "../pipeline/reconstruct.ts";
import {
  type Pair,
  parseShardName,
  partitionFigures,
  partitionPairs,
  type Shard,
  ShardError,
  shardFromEnvironment,
  shardName,
} from "../pipeline/shard.ts";
import type { PipelineConfig } from "../pipeline/two_view.ts";
import { fail, type Output, runMain } from "./common.ts";
import {
  createPipeline,
  describePipeline,
  numberOption,
  PIPELINE_HELP,
  PIPELINE_OPTIONS,
} from "./pipeline_options.ts";
import { Progress, stderrSink } from "./progress.ts";
import { sceneName, scoreTable } from "./sfm_eval.ts";

const HELP = `Usage: deno task reconstruct IMAGES --out DIR [options]

Reconstructs cameras and points from the photos (JPEG, PNG) of the folder
IMAGES: matches the chosen pairs (each photo's features computed once),
merges each photo's keypoints across its pairs, verifies every pair on the
GPU, writes the COLMAP database DIR/database.db and runs \`colmap mapper\`
(when colmap is installed; else prints the command). Writes DIR/sparse/0/
(the model, binary), DIR/points.ply, DIR/cameras.png and DIR/colmap.log.

Each matched pair is stored in DIR/pairs.sqlite as it finishes: a rerun skips
the pairs done, and refuses a DIR written with other settings.

Options:
  -o, --out DIR             output folder (required)
      --pairs FILE          the pairs to match: one "name0 name1" per line
                            (default: every pair)
      --sequential K        each photo with its K successors in name order
      --camera-model NAME   COLMAP camera model (default SIMPLE_RADIAL; PINHOLE,
                            SIMPLE_PINHOLE, RADIAL, OPENCV, …)
      --camera-params LIST  known parameters, comma-separated in the model's
                            order, COLMAP's pixel convention (PINHOLE:
                            fx,fy,cx,cy); with a pinhole model the pairs are
                            verified with E
      --single-camera B     true (default): one camera shared by all photos;
                            false: one per photo. Without --camera-params the
                            focal length comes from EXIF, else 1.2 × the
                            longer side (COLMAP's guess)
      --cell-size PX        keypoint merge cell, pixels (default ${DEFAULT_CELL_SIZE})
      --min-inliers N       fewest verified inliers of a pair (default 15)
      --verify-threshold T  verification threshold in pixels, or auto (default:
                            the pair's RANSAC threshold + half a cell)
      --gt FILE             ground-truth cameras.csv: score the model
      --skip-mapper         stop after writing the database
      --shard I/N           match only shard I of N (0-based; auto, auto/N: I
                            from the array job's environment, see
                            deploy/README.md) into DIR/shards/, then stop
      --merge               finish a sharded run: every shard must be
                            complete; then as an unsharded run
  -h, --help                show this help

${PIPELINE_HELP}
`;

/** File names taken as photos (COLMAP reads more; this engine decodes these). */
const PHOTO_NAME = /\.(jpe?g|png)$/i;

/** The default of `--min-inliers`: COLMAP's `SiftMatching.min_num_inliers`. */
const MIN_INLIERS = 15;

/** The `reconstruct` command. */
export async function main(args: string[], out: Output = console): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string", short: "o" },
      pairs: { type: "string" },
      sequential: { type: "string" },
      "camera-model": { type: "string", default: "SIMPLE_RADIAL" },
      "camera-params": { type: "string" },
      "single-camera": { type: "string", default: "true" },
      "cell-size": { type: "string", default: String(DEFAULT_CELL_SIZE) },
      "min-inliers": { type: "string", default: String(MIN_INLIERS) },
      "verify-threshold": { type: "string", default: "auto" },
      gt: { type: "string" },
      "skip-mapper": { type: "boolean", default: false },
      shard: { type: "string" },
      merge: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
      ...PIPELINE_OPTIONS,
    },
  });
  if (values.help) {
    out.log(HELP);
    return;
  }
  if (positionals.length !== 1) fail(`expected one folder of photos, got ${positionals.length}`);
  const imageDir = positionals[0].replace(/(.)\/+$/, "$1");
  const dir = values.out ?? fail("--out DIR is required");
  if (values.pairs && values.sequential) fail("--pairs and --sequential are exclusive");
  if (values.merge && values.shard) fail("--merge and --shard are exclusive");
  const cellSize = numberOption(values["cell-size"]!, "cell-size");
  if (!(cellSize > 0)) fail(`--cell-size expects a number > 0, got "${values["cell-size"]}"`);
  const minInliers = numberOption(values["min-inliers"]!, "min-inliers", { min: 8, integer: true });
  const vt = values["verify-threshold"]!;
  const verifyThreshold = vt === "auto" ? "auto" as const : numberOption(vt, "verify-threshold");
  let modelName: CameraModelName, params: number[] | null = null;
  try {
    modelName = cameraModel(values["camera-model"]!).name;
    if (values["camera-params"] !== undefined) {
      params = parseCameraParams(modelName, values["camera-params"]);
    }
  } catch (e) {
    fail(`--camera-model/--camera-params: ${(e as Error).message}`);
  }
  const singleCamera = booleanOption(values["single-camera"]!, "single-camera");
  const cameras: CameraSetup = { model: modelName, params, singleCamera };
  // Which shard, before any work: a bad --shard or environment is a one-line error.
  let shard: (Shard & { description: string }) | null = null;
  if (!values.merge) {
    try {
      shard = shardFromEnvironment(Deno.env.toObject(), values.shard);
    } catch (e) {
      if (e instanceof ShardError) fail(e.message);
      throw e;
    }
  }

  const t0 = performance.now();
  const photos = await scanPhotos(imageDir, out);
  const names = photos.map((p) => p.name);
  const pairs = choosePairs(names, values, out);
  const gt = values.gt ? await readGt(values.gt, names) : undefined;
  const exportImages: ExportImage[] = photos;
  assignCameras(exportImages, cameras); // size mismatch of a single camera: refused before matching
  await Deno.mkdir(dir, { recursive: true });
  refuseForeignDatabase(dir);
  const { matcher, config } = await createPipeline(values);
  const times: [string, number][] = [["photos + model", performance.now() - t0]];
  try {
    out.log(`adapter:  ${matcher.adapterName}`);
    out.log(`weights:  ${matcher.weightsSource} (${describePipeline(config)})`);
    out.log(`photos:   ${photos.length} in ${imageDir}; ${pairs.length} pairs`);
    const settings: Record<string, unknown> = { ...config };
    const pairList = await fingerprint(names, pairs);
    let t = performance.now();
    let stores: PairStore[];
    if (shard) {
      const partition = partitionPairs(pairs, photos.length, shard.count);
      const mine = partition[shard.index];
      const figures = partitionFigures(pairs, partition);
      await Deno.mkdir(`${dir}/shards`, { recursive: true });
      const store = PairStore.open(`${dir}/shards/${shardName(shard)}.sqlite`, {
        settings,
        images: names,
        shard: { index: shard.index, count: shard.count, pairList, pairs: mine.length },
      });
      try {
        out.log(
          `shard ${shard.index}/${shard.count} (${shard.description}): ${mine.length} of ` +
            `${pairs.length} pairs, backbone on ${figures.shards[shard.index].images} of ` +
            `${photos.length} photos (all shards: ${
              (100 * figures.fraction).toFixed(0)
            }% of the unsharded run's backbone runs)`,
        );
        await matchPairs(matcher, photos, pairs, mine, config, store, out);
        out.log(`${store.path}: ${store.count()} of ${mine.length} pairs done`);
        const missing = mine.length - store.count();
        if (missing > 0) throw new Error(`${store.path}: ${missing} pairs could not be matched`);
      } finally {
        store.close();
      }
      return;
    } else if (values.merge) {
      stores = openShards(dir, settings, names, pairList, pairs.length);
      out.log(`merge:    ${stores.length} shards of ${dir}/shards, all complete`);
    } else {
      const store = PairStore.open(`${dir}/pairs.sqlite`, { settings, images: names, shard: null });
      stores = [store];
      await matchPairs(
        matcher,
        photos,
        pairs,
        pairs.map((_, k) => k),
        config,
        store,
        out,
      );
    }
    times.push(["matching", performance.now() - t]);

    // Merge keypoints, verify, write the database.
    t = performance.now();
    const matched = collectPairs(stores, names, pairs);
    for (const s of stores) s.close();
    const failed = pairs.length - matched.length;
    if (failed) out.error(`warning: ${failed} pairs were not matched (see the warnings above)`);
    const intrinsics = knownIntrinsics(cameras, photos.length);
    out.log(`verify:   ${matched.length} pairs on the merged keypoints`);
    const progress = new Progress(matched.length, stderrSink(out));
    const verified = await mergeAndVerify(matcher.gpu, photos.length, matched, {
      cellSize,
      minInliers,
      threshold: verifyThreshold,
      ransac: config.ransac,
      intrinsics: intrinsics ?? undefined,
    }, (i) => progress.tick(`${names[matched[i].image0]} ${names[matched[i].image1]}`));
    times.push(["merge + verification", performance.now() - t]);
    t = performance.now();
    const database = `${dir}/database.db`;
    writeColmapDatabase(database, exportImages, verified.keypoints, verified.pairs, {
      cameras,
      convention: "engine",
      ifExists: "replace",
    });
    times.push(["database", performance.now() - t]);
    const kps = verified.keypoints.reduce((s, k) => s + k.length / 2, 0);
    out.log(
      `database: ${database}: ${kps} keypoints (${(kps / photos.length).toFixed(0)} per photo), ` +
        `${verified.verified} of ${matched.length} pairs verified (${
          intrinsics ? "E" : "F"
        }, >= ${minInliers} inliers)`,
    );
    if (verified.verified === 0) {
      throw new Error(`no pair verified: nothing for the mapper (${database} written)`);
    }

    // The mapper.
    const sparse = `${dir}/sparse`;
    const args = mapperArgs(database, imageDir, sparse);
    if (values["skip-mapper"]) {
      out.log(`mapper:   skipped; to run it: mkdir -p ${sparse} && ${shellCommand(COLMAP, args)}`);
      report(times, out);
      return;
    }
    if (!(await colmapAvailable())) {
      out.log(`mapper:   colmap is not installed: ${COLMAP_INSTALL_HINT}; then run:`);
      out.log(`  mkdir -p ${sparse} && ${shellCommand(COLMAP, args)}`);
      report(times, out);
      return;
    }
    t = performance.now();
    await Deno.remove(sparse, { recursive: true }).catch(() => {});
    await Deno.mkdir(sparse, { recursive: true });
    const log = `${dir}/colmap.log`;
    out.log(`mapper:   ${shellCommand(COLMAP, args)} (log: ${log})`);
    const code = await runColmap(args, log);
    times.push(["mapper", performance.now() - t]);
    if (code !== 0) throw new Error(`colmap mapper failed (exit code ${code}); see ${log}`);
    let found;
    try {
      found = await readLargestColmapModel(sparse);
    } catch {
      throw new Error(`colmap mapper registered no photos (no model in ${sparse}); see ${log}`);
    }
    const modelDir = await largestFirst(sparse, found.dir);
    const model = found.model;
    t = performance.now();
    await writePly(`${dir}/points.ply`, model.points.values());
    const poses = posesFromColmapModel(model);
    await Deno.writeFile(`${dir}/cameras.png`, drawCameraTopView(poses, xyz(model), { gt }));
    times.push(["outputs", performance.now() - t]);
    summary(model, photos.length, found.subModels, modelDir, dir, out);
    if (gt) score(poses, gt, values.gt!, out);
    report(times, out);
  } finally {
    matcher.destroy();
  }
}

/** A `true`/`false` option, or a usage error naming it. */
function booleanOption(value: string, name: string): boolean {
  if (value !== "true" && value !== "false") {
    fail(`--${name} expects true or false, got "${value}"`);
  }
  return value === "true";
}

/**
 * The photos of `dir` (files with a JPEG or PNG name, sorted by name) that
 * decode, with their size and EXIF focal length; others are skipped with a
 * warning naming them. Fewer than two is an error.
 */
async function scanPhotos(dir: string, out: Output): Promise<(PhotoFile & ExportImage)[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile && !e.isSymlink) continue;
      if (PHOTO_NAME.test(e.name)) names.push(e.name);
      else out.error(`warning: ${dir}/${e.name}: not a .jpg, .jpeg or .png name; skipped`);
    }
  } catch (e) {
    fail(`${dir}: cannot read the folder of photos (${(e as Error).message.replace(/:.*$/, "")})`);
  }
  names.sort();
  const photos: (PhotoFile & ExportImage)[] = [];
  let skipped = 0;
  for (const name of names) {
    const path = `${dir}/${name}`;
    try {
      const bytes = await readImageFile(path);
      const { width, height } = await decodeImage(bytes, path);
      const exifFocalPx = exifFocalLengthPx(readExifFocalFields(bytes), width, height);
      photos.push({ name, path, width, height, exifFocalPx });
    } catch (e) {
      skipped++;
      out.error(`warning: ${(e as Error).message}; skipped`);
    }
  }
  if (skipped) out.error(`warning: ${skipped} of ${names.length} photos skipped`);
  if (photos.length < 2) {
    throw new Error(`${dir}: ${photos.length} usable photos; a reconstruction needs at least 2`);
  }
  return photos;
}

/** The pair list of `--pairs`, `--sequential` or every pair. */
function choosePairs(
  names: string[],
  values: { pairs?: string; sequential?: string },
  out: Output,
): Pair[] {
  if (values.sequential !== undefined) {
    const k = numberOption(values.sequential, "sequential", { min: 1, integer: true });
    return sequentialPairs(names.length, k);
  }
  if (values.pairs === undefined) return exhaustivePairs(names.length);
  let text: string;
  try {
    text = Deno.readTextFileSync(values.pairs);
  } catch (e) {
    fail(`--pairs ${values.pairs}: cannot be read (${(e as Error).message.replace(/:.*$/, "")})`);
  }
  const list = parsePairList(text, names, values.pairs);
  for (const r of list.repeated.slice(0, 5)) out.error(`warning: ${r}; skipped`);
  if (list.repeated.length > 5) out.error(`warning: … ${list.repeated.length} repeated pairs`);
  return list.pairs;
}

/** Refuses a DIR holding a database.db that no run of this command made. */
function refuseForeignDatabase(dir: string): void {
  const exists = (p: string) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  if (exists(`${dir}/database.db`) && !exists(`${dir}/pairs.sqlite`) && !exists(`${dir}/shards`)) {
    throw new Error(
      `${dir}/database.db exists but ${dir} holds no pairs of deno task reconstruct; ` +
        `use another --out, or delete it`,
    );
  }
}

/** A SHA-256 of the pair list (as names), recorded by shards so that --merge can check it. */
async function fingerprint(names: readonly string[], pairs: readonly Pair[]): Promise<string> {
  const text = pairs.map(([a, b]) => `${names[a]}\t${names[b]}`).join("\n");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Matches the pairs at `positions` into `store`, with a progress bar or lines. */
async function matchPairs(
  matcher: Parameters<typeof matchIntoStore>[0],
  photos: readonly PhotoFile[],
  pairs: readonly Pair[],
  positions: readonly number[],
  config: PipelineConfig,
  store: PairStore,
  out: Output,
): Promise<void> {
  const before = store.count();
  const todo = positions.length - before;
  out.log(
    `pairs:    ${store.path}` +
      (before ? ` (${before} of ${positions.length} pairs already done)` : ""),
  );
  if (todo <= 0) return;
  const progress = new Progress(todo, stderrSink(out));
  const r = await matchIntoStore(matcher, photos, pairs, positions, config, store, (e) => {
    const [a, b] = pairs[e.position];
    if (e.error) {
      progress.clear();
      out.error(`warning: ${photos[a].name} ${photos[b].name}: ${e.error.message}`);
    }
    progress.tick(`${photos[a].name} ${photos[b].name}`);
  });
  out.log(`matched:  ${r.matched} pairs, backbone on ${r.images} photos`);
}

/**
 * Opens every shard of `dir/shards/` read-only, checking that they are all
 * there (0…N−1), made with these settings, photos and pair list, and
 * complete; throws naming the missing, foreign or unfinished ones.
 */
function openShards(
  dir: string,
  settings: Record<string, unknown>,
  names: string[],
  pairList: string,
  pairCount: number,
): PairStore[] {
  const folder = `${dir}/shards`;
  const files: string[] = [];
  try {
    for (const e of Deno.readDirSync(folder)) if (e.name.endsWith(".sqlite")) files.push(e.name);
  } catch {
    throw new Error(`${folder}: no such folder: run the shards first (--shard I/N)`);
  }
  if (files.length === 0) throw new Error(`${folder}: no shard results`);
  const counts = new Set(files.map((f) => parseShardName(f)?.count ?? -1));
  if (counts.size !== 1 || counts.has(-1)) {
    throw new Error(
      `${folder}: shard files of different counts or names: ${files.sort().join(", ")}`,
    );
  }
  const count = [...counts][0];
  const missing: string[] = [], problems: string[] = [];
  const stores: PairStore[] = [];
  try {
    for (let index = 0; index < count; index++) {
      const path = `${folder}/${shardName({ index, count })}.sqlite`;
      if (!files.includes(`${shardName({ index, count })}.sqlite`)) {
        missing.push(path);
        continue;
      }
      const store = PairStore.read(path);
      stores.push(store);
      const h: PairStoreHeader = store.header;
      if (JSON.stringify(h.settings) !== JSON.stringify(settings)) {
        problems.push(`${path}: matched with other settings`);
      } else if (JSON.stringify(h.images) !== JSON.stringify(names)) {
        problems.push(`${path}: written for another image list`);
      } else if (h.shard?.pairList !== pairList) {
        problems.push(`${path}: written for another pair list`);
      } else if (store.count() < h.shard.pairs) {
        problems.push(`${path}: unfinished (${store.count()} of ${h.shard.pairs} pairs)`);
      }
    }
    if (missing.length) problems.unshift(`missing shards: ${missing.join(", ")}`);
    if (problems.length) throw new Error(`cannot merge: ${problems.join("; ")}`);
    const total = stores.reduce((s, x) => s + x.header.shard!.pairs, 0);
    if (total !== pairCount) {
      throw new Error(`${folder}: ${total} pairs in shards, ${pairCount} listed`);
    }
    return stores;
  } catch (e) {
    for (const s of stores) s.close();
    throw e;
  }
}

/** The stored results of `pairs`, in list order (pairs that no store holds are left out). */
function collectPairs(
  stores: readonly PairStore[],
  names: readonly string[],
  pairs: readonly Pair[],
): MatchedPair[] {
  const out: MatchedPair[] = [];
  for (const [a, b] of pairs) {
    for (const s of stores) {
      const p = s.get(names[a], names[b]);
      if (!p) continue;
      out.push({ ...p, image0: a, image1: b });
      break;
    }
  }
  return out;
}

/**
 * The ground-truth cameras of `path` for the photos of this run (a scene's
 * cameras.csv may list more); refuses a file naming none of them.
 */
async function readGt(path: string, names: readonly string[]): Promise<Map<string, CameraPose>> {
  const all = posesFromCamerasCsv(await readCamerasCsv(path));
  const gt = new Map(names.filter((n) => all.has(n)).map((n) => [n, all.get(n)!]));
  if (gt.size === 0) throw new Error(`--gt ${path}: names none of the ${names.length} photos`);
  return gt;
}

/** Per photo, K in this engine's convention when `--camera-params` give a pinhole camera. */
function knownIntrinsics(cameras: CameraSetup, n: number): Float64Array[] | null {
  const p = cameras.params;
  if (!p) return null;
  const k = cameras.model === "PINHOLE"
    ? { fx: p[0], fy: p[1], cx: p[2], cy: p[3] }
    : cameras.model === "SIMPLE_PINHOLE"
    ? { fx: p[0], fy: p[0], cx: p[1], cy: p[2] }
    : null;
  if (!k) return null;
  const K = intrinsicsMatrix(k, "engine");
  return Array.from({ length: n }, () => K);
}

/**
 * Makes `sparse/0` the model with the most photos (COLMAP numbers its
 * sub-models in the order it made them); returns its folder.
 */
async function largestFirst(sparse: string, best: string): Promise<string> {
  const zero = `${sparse}/0`;
  if (best === zero || best === sparse) return best;
  await Deno.rename(zero, `${sparse}/swap`);
  await Deno.rename(best, zero);
  await Deno.rename(`${sparse}/swap`, best);
  return zero;
}

function xyz(model: ColmapModel): Float64Array {
  const pts = [...model.points.values()];
  const out = new Float64Array(3 * pts.length);
  pts.forEach((p, i) => out.set(p.xyz, 3 * i));
  return out;
}

function summary(
  model: ColmapModel,
  total: number,
  subModels: number,
  modelDir: string,
  dir: string,
  out: Output,
): void {
  const s = modelStats(model);
  out.log(
    `model:    ${modelDir}: ${s.registeredImages} of ${total} photos registered` +
      (subModels > 1 ? ` (largest of ${subModels} sub-models)` : "") +
      `, ${s.points} points, mean track length ${s.meanTrackLength.toFixed(2)}, ` +
      `mean reprojection error ${s.meanReprojectionError.toFixed(3)} px`,
  );
  out.log(`wrote:    ${dir}/points.ply, ${dir}/cameras.png`);
}

function score(
  poses: Map<string, CameraPose>,
  gt: Map<string, CameraPose>,
  gtPath: string,
  out: Output,
): void {
  const s = scoreReconstruction(poses, gt);
  for (const line of scoreTable([{ scene: sceneName(gtPath), score: s }])) out.log(line);
}

function report(times: [string, number][], out: Output): void {
  const total = times.reduce((s, [, ms]) => s + ms, 0);
  out.log(
    `time:     ${times.map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`).join(", ")} ` +
      `(total ${(total / 1000).toFixed(1)} s)`,
  );
}

if (import.meta.main) await runMain(main);
