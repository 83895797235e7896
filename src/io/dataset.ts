/**
 * Evaluation sets with ground-truth relative poses, in either of two layouts,
 * read into one list of pairs:
 *
 * * **relpose** (`../shared/data/relpose_dev`): `pairs.csv` with columns
 *   `pair_id,image1,image2,K1,K2,R,T,scene` (and optionally `covisibility`),
 *   K row-major, R, T the relative pose camera 1 → camera 2; images in
 *   `images/`; `scaling_factors.csv` `scene,scaling_factor`.
 * * **IMC2022 training** (`train/` or its parent): per scene
 *   `<scene>/calibration.csv` `image_id,camera_intrinsics,rotation_matrix,translation_vector`
 *   (world-to-camera R, T), `<scene>/pair_covisibility.csv`
 *   `pair,covisibility,fundamental_matrix` (pair `<id1>-<id2>`), images
 *   `<scene>/images/<id>.jpg`, and `scaling_factors.csv`. The relative pose is
 *   `R = R2 R1ᵀ`, `T = T2 − R T1`.
 *
 * Inside, as everywhere in the library, the images of a pair are 0 and 1
 * (`x1ᵀ F x0 = 0`, `X1 = R X0 + T`): the files' image 1 and 2 become 0 and 1.
 *
 * Rows that cannot be scored (wrong number of fields, a non-numeric or
 * wrongly sized K/R/T, a missing image or scaling factor) are collected with
 * their reason, never dropped silently.
 * @module
 */
import { parseCsv as parse } from "./deps.ts";
import { mul3, mulVec3, transpose3 } from "../geometry/linalg.ts";
import type { PairTruth } from "../geometry/metric.ts";

/** One pair to evaluate: images, intrinsics, relative pose `X1 = R X0 + T`, scene scale. */
export interface EvalPair extends PairTruth {
  /** IMC id `dataset;scene;pair` (relpose: the `pair_id` column; IMC2022: `imc2022;<scene>;<pair>`). */
  id: string;
  /** Scene, the unit of the per-scene mAA. */
  scene: string;
  /** Path of image 0 (the image of x0 in `x1ᵀ F x0 = 0`). */
  image0: string;
  /** Path of image 1. */
  image1: string;
  /** Scene units → metres. */
  scale: number;
  /** The ground-truth F (`x1ᵀ F x0 = 0`) when the file gives one (`F_gt`, `fundamental_matrix`). */
  F?: Float64Array;
}

/** A listed row that cannot be scored, and why. */
export interface BadRow {
  /** The file and line of the row, `path:line`. */
  where: string;
  /** The row's scene, when it names one. */
  scene?: string;
  /** The row's pair id, when it has one. */
  id?: string;
  /** What is wrong, one sentence. */
  reason: string;
}

/** A dataset read by {@link loadDataset}. */
export interface Dataset {
  /** The folder read (for IMC2022, the `train` folder). */
  root: string;
  /** Which layout it is in. */
  layout: "relpose" | "imc2022";
  /** Every scene of the dataset, sorted (before the `scenes` selection). */
  scenes: string[];
  /** The selected pairs that can be scored, in file order (scenes in sorted order for IMC2022). */
  pairs: EvalPair[];
  /** The selected rows that cannot be scored. */
  bad: BadRow[];
  /** Pairs left out because their covisibility is below the threshold. */
  lowCovisibility: number;
}

/** Options of {@link loadDataset}. */
export interface DatasetOptions {
  /** Keep pairs with covisibility ≥ this (default 0.1); rows with an empty covisibility are kept. */
  covisibility?: number;
  /** Scenes to keep (default all); an unknown name is a {@link DatasetError}. */
  scenes?: string[];
  /** At most this many listed rows per scene, the first in file order (default all). */
  limit?: number;
  /**
   * Whether a pair whose image files are absent is a bad row (default true);
   * false lists it anyway, for sets that come with matches instead of images.
   */
  requireImages?: boolean;
}

/** A dataset that cannot be read at all; the one-line message names the file. */
export class DatasetError extends Error {
  /** Always `"DatasetError"`. */
  override name = "DatasetError";
}

/** Reads a dataset folder in either layout (see the module documentation). */
export async function loadDataset(dir: string, options: DatasetOptions = {}): Promise<Dataset> {
  const root = dir.replace(/\/+$/, "") || "/";
  if (!isDirectory(root)) throw new DatasetError(`${root}: no such folder`);
  if (isFile(`${root}/pairs.csv`)) return await loadRelpose(root, options);
  const train = isDirectory(`${root}/train`) ? `${root}/train` : root;
  if (isFile(`${train}/scaling_factors.csv`)) return await loadImc(train, options);
  throw new DatasetError(
    `${root}: neither pairs.csv (relpose layout) nor train/scaling_factors.csv ` +
      `(IMC2022 layout) found`,
  );
}

/** Why one row cannot be scored (caught per row and turned into a {@link BadRow}). */
class RowError extends Error {}

/** A row of a CSV file: its line and its fields by column name. */
/** A data row of a CSV file, by column name. */
export interface Row {
  /** `<file>:<line>`, for messages. */
  where: string;
  /** The row's values by header name ("" where the row is short). */
  fields: Record<string, string>;
  /** Why the row is malformed (wrong number of fields), if it is. */
  error?: string;
}

/**
 * Reads a CSV file with a header that has at least the `required` columns;
 * a {@link DatasetError} naming the file when it is missing, empty, not CSV
 * or lacks a column. Rows with the wrong number of fields carry an `error`.
 */
export async function readCsv(path: string, required: string[]): Promise<Row[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new DatasetError(`${path}: ${e instanceof Deno.errors.NotFound ? "no such file" : e}`);
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
    });
  } catch (e) {
    throw new DatasetError(`${path}: not a valid CSV file (${(e as Error).message})`);
  }
  if (!records.length) throw new DatasetError(`${path}: empty file`);
  const header = records[0].record;
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length) {
    throw new DatasetError(
      `${path}: no column ${missing.join(", ")} (the header is ${header.join(",")})`,
    );
  }
  return records.slice(1).map(({ record, info }) => ({
    where: `${path}:${info.lines}`,
    fields: Object.fromEntries(header.map((c, i) => [c, record[i] ?? ""])),
    error: record.length === header.length
      ? undefined
      : `${record.length} fields where the header has ${header.length}`,
  }));
}

/** `count` space-separated finite numbers; a {@link RowError} otherwise. */
function numbers(text: string, count: number, name: string): Float64Array {
  const parts = text.split(/\s+/).filter(Boolean);
  if (parts.length !== count) {
    throw new RowError(`${name} has ${parts.length} numbers, expected ${count}`);
  }
  const bad = parts.find((p) => !Number.isFinite(Number(p)));
  if (bad !== undefined) throw new RowError(`${name}: "${bad}" is not a number`);
  return Float64Array.from(parts, Number);
}

/** Scaling factors by scene. */
async function readScales(path: string): Promise<Map<string, number>> {
  const scales = new Map<string, number>();
  for (const row of await readCsv(path, ["scene", "scaling_factor"])) {
    const s = Number(row.fields.scaling_factor);
    if (!row.error && row.fields.scene && s > 0 && Number.isFinite(s)) {
      scales.set(row.fields.scene, s);
    }
  }
  return scales;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Throws a {@link RowError} unless both images of `pair` exist (looked up once per path). */
function checkImages(pair: EvalPair, seen: Map<string, boolean>): void {
  for (const image of [pair.image0, pair.image1]) {
    if (!seen.has(image)) seen.set(image, isFile(image));
    if (!seen.get(image)) throw new RowError(`image ${image}: no such file`);
  }
}

/** Throws a {@link DatasetError} when `wanted` names a scene not in `scenes`. */
function checkScenes(root: string, scenes: string[], wanted: string[] = []): void {
  const unknown = wanted.filter((s) => !scenes.includes(s));
  if (unknown.length) {
    throw new DatasetError(
      `${root}: no scene ${unknown.join(", ")} (scenes: ${scenes.join(", ") || "none"})`,
    );
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** A listed row in file order: a scoreable pair or a bad row. */
type Entry = { pair: EvalPair } | { bad: BadRow };

/** Applies the scene selection and the per-scene limit; splits pairs from bad rows. */
function select(
  root: string,
  layout: Dataset["layout"],
  entries: Entry[],
  allScenes: Iterable<string>,
  lowCovisibility: number,
  options: DatasetOptions,
): Dataset {
  const scenes = [...new Set(allScenes)].sort();
  checkScenes(root, scenes, options.scenes);
  const wanted = options.scenes ? new Set(options.scenes) : null;
  const taken = new Map<string, number>();
  const pairs: EvalPair[] = [], bad: BadRow[] = [];
  for (const e of entries) {
    const scene = "pair" in e ? e.pair.scene : e.bad.scene;
    if (scene !== undefined) {
      if (wanted && !wanted.has(scene)) continue;
      const n = taken.get(scene) ?? 0;
      if (options.limit !== undefined && n >= options.limit) continue;
      taken.set(scene, n + 1);
    }
    if ("pair" in e) pairs.push(e.pair);
    else bad.push(e.bad);
  }
  return { root, layout, scenes, pairs, bad, lowCovisibility };
}

/** Whether a covisibility field passes the filter; a {@link RowError} when it is not a number. */
function covisible(value: string | undefined, threshold: number): boolean {
  if (value === undefined || value === "") return true;
  const c = Number(value);
  if (!Number.isFinite(c)) throw new RowError(`covisibility "${value}" is not a number`);
  return c >= threshold;
}

async function loadRelpose(root: string, options: DatasetOptions): Promise<Dataset> {
  const rows = await readCsv(`${root}/pairs.csv`, [
    "pair_id",
    "image1",
    "image2",
    "K1",
    "K2",
    "R",
    "T",
    "scene",
  ]);
  const scales = await readScales(`${root}/scaling_factors.csv`);
  const entries: Entry[] = [], seen = new Map<string, boolean>();
  let low = 0;
  for (const { where, fields: f, error } of rows) {
    try {
      if (error) throw new RowError(error);
      if (!f.scene) throw new RowError("no scene");
      if (!f.pair_id) throw new RowError("no pair_id");
      if (!covisible(f.covisibility, options.covisibility ?? 0.1)) {
        low++;
        continue;
      }
      const pair = {
        id: f.pair_id,
        scene: f.scene,
        image0: `${root}/images/${f.image1}`,
        image1: `${root}/images/${f.image2}`,
        K0: numbers(f.K1, 9, "K1"),
        K1: numbers(f.K2, 9, "K2"),
        R: numbers(f.R, 9, "R"),
        T: numbers(f.T, 3, "T"),
        scale: scaleOf(scales, f.scene, `${root}/scaling_factors.csv`),
        ...(f.F_gt ? { F: numbers(f.F_gt, 9, "F_gt") } : {}),
      };
      if (options.requireImages ?? true) checkImages(pair, seen);
      entries.push({ pair });
    } catch (e) {
      if (!(e instanceof RowError)) throw e;
      entries.push({
        bad: { where, scene: f.scene || undefined, id: f.pair_id || undefined, reason: e.message },
      });
    }
  }
  const scenes = rows.map((r) => r.fields.scene).filter(Boolean);
  return select(root, "relpose", entries, scenes, low, options);
}

function scaleOf(scales: Map<string, number>, scene: string, file: string): number {
  const s = scales.get(scene);
  if (s === undefined) throw new RowError(`scene ${scene} has no valid scaling factor in ${file}`);
  return s;
}

/** One camera of an IMC2022 calibration file, or why its row is unusable. */
type Camera = { K: Float64Array; R: Float64Array; T: Float64Array } | { error: string };

async function loadImc(train: string, options: DatasetOptions): Promise<Dataset> {
  const scales = await readScales(`${train}/scaling_factors.csv`);
  const all: string[] = [];
  for await (const e of Deno.readDir(train)) {
    if (e.isDirectory && isFile(`${train}/${e.name}/calibration.csv`)) all.push(e.name);
  }
  all.sort();
  checkScenes(train, all, options.scenes);
  const entries: Entry[] = [], seen = new Map<string, boolean>();
  let low = 0;
  // Only the selected scenes' files are read (so a broken scene can be left out with --scenes).
  for (const scene of options.scenes ? all.filter((s) => options.scenes!.includes(s)) : all) {
    const dir = `${train}/${scene}`;
    const cameras = new Map<string, Camera>();
    const calibration = await readCsv(`${dir}/calibration.csv`, [
      "image_id",
      "camera_intrinsics",
      "rotation_matrix",
      "translation_vector",
    ]);
    for (const { where, fields: f, error } of calibration) {
      try {
        if (error) throw new RowError(error);
        cameras.set(f.image_id, {
          K: numbers(f.camera_intrinsics, 9, "camera_intrinsics"),
          R: numbers(f.rotation_matrix, 9, "rotation_matrix"),
          T: numbers(f.translation_vector, 3, "translation_vector"),
        });
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        if (f.image_id) cameras.set(f.image_id, { error: `${where}: ${e.message}` });
      }
    }
    const covisibility = await readCsv(`${dir}/pair_covisibility.csv`, ["pair", "covisibility"]);
    for (const { where, fields: f, error } of covisibility) {
      const id = `imc2022;${scene};${f.pair}`;
      try {
        if (error) throw new RowError(error);
        if (!covisible(f.covisibility, options.covisibility ?? 0.1)) {
          low++;
          continue;
        }
        // Image ids may contain '-': take the split whose two halves are both calibrated.
        const splits = [...f.pair.matchAll(/-/g)].map((m) => m.index!).filter((i) =>
          cameras.has(f.pair.slice(0, i)) && cameras.has(f.pair.slice(i + 1))
        );
        if (splits.length !== 1) {
          throw new RowError(
            `pair "${f.pair}" is not <id1>-<id2> with both ids in ${dir}/calibration.csv`,
          );
        }
        const ids = [f.pair.slice(0, splits[0]), f.pair.slice(splits[0] + 1)];
        const [c1, c2] = ids.map((i) => cameras.get(i)!);
        if ("error" in c1) throw new RowError(c1.error);
        if ("error" in c2) throw new RowError(c2.error);
        const R = mul3(c2.R, transpose3(c1.R));
        const RT1 = mulVec3(R, c1.T);
        const pair: EvalPair = {
          id,
          scene,
          image0: `${dir}/images/${ids[0]}.jpg`,
          image1: `${dir}/images/${ids[1]}.jpg`,
          K0: c1.K,
          K1: c2.K,
          R,
          T: Float64Array.from(c2.T, (t, i) => t - RT1[i]),
          scale: scaleOf(scales, scene, `${train}/scaling_factors.csv`),
          ...(f.fundamental_matrix
            ? { F: numbers(f.fundamental_matrix, 9, "fundamental_matrix") }
            : {}),
        };
        if (options.requireImages ?? true) checkImages(pair, seen);
        entries.push({ pair });
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        entries.push({ bad: { where, scene, id, reason: e.message } });
      }
    }
  }
  return select(train, "imc2022", entries, all, low, options);
}
