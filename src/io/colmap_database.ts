/**
 * COLMAP's feature database (SQLite), written with Deno's built-in
 * `node:sqlite`: exactly the schema of COLMAP 3.8's `colmap database_creator`
 * (tables, index, `PRAGMA user_version = 3800`), and the rows the incremental
 * mapper reads: cameras, images, keypoints, raw matches and verified
 * two-view geometries (../shared/docs/sfm.md).
 *
 * Conventions of the stored data (COLMAP's, whatever the caller's):
 * * pixel coordinates put the top-left *corner* of the image at (0, 0), so the
 *   centre of the top-left pixel is at (0.5, 0.5). This engine (like OpenCV)
 *   puts that pixel centre at (0, 0). Every writer that takes positions or a
 *   matrix acting on positions says which convention its input is in
 *   (`PixelConvention`); `"engine"` input is shifted by +0.5 px;
 * * an image pair is stored once, as `pair_id = id1 · 2147483647 + id2` with
 *   `id1 < id2`; match columns are (keypoint in id1, keypoint in id2) and F is
 *   such that `x2ᵀ F x1 = 0`. A pair given in the other order is stored
 *   swapped: columns exchanged, F and E transposed, H inverted, the relative
 *   pose inverted (what COLMAP itself does);
 * * matrices are float64 row-major blobs, keypoints float32 rows×2, matches
 *   uint32 rows×2, all little-endian.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { cameraModel, cameraModelById, type CameraModelName } from "./colmap_cameras.ts";
import { invertPose, type Quaternion } from "../geometry/quaternion.ts";
import type { Vec3 } from "../geometry/linalg.ts";

/**
 * The coordinate convention of pixel positions given to (or read from) the database:
 * * `"engine"`: the centre of the top-left pixel is (0, 0) (this engine, OpenCV,
 *   array indices); written with +0.5 added;
 * * `"colmap"`: the top-left corner of the image is (0, 0), so that pixel's
 *   centre is (0.5, 0.5) (COLMAP, ../shared/data/sfm_dev); written unchanged.
 */
export type PixelConvention = "engine" | "colmap";

/** What COLMAP adds to a position in this engine's convention to get its own: 0.5 px. */
export const COLMAP_PIXEL_SHIFT = 0.5;

/** COLMAP 3.8's `PRAGMA user_version` of a database with the current schema. */
export const COLMAP_SCHEMA_VERSION = 3800;

/** COLMAP's largest image id + 1: the factor of image pair ids (`kMaxNumImages`, 2³¹ − 1). */
export const MAX_NUM_IMAGES = 2147483647;

/**
 * COLMAP's `TwoViewGeometry::ConfigurationType`, the `config` column of
 * `two_view_geometries`. The mapper uses the inliers of every pair whose
 * config is not DEGENERATE/UNDEFINED (and with enough inliers); CALIBRATED
 * pairs (an essential matrix fitted) are preferred for initialisation.
 */
export const TwoViewConfig = {
  UNDEFINED: 0,
  DEGENERATE: 1,
  CALIBRATED: 2,
  UNCALIBRATED: 3,
  PLANAR: 4,
  PANORAMIC: 5,
  PLANAR_OR_PANORAMIC: 6,
  WATERMARK: 7,
  MULTIPLE: 8,
} as const;

/** One value of `TwoViewConfig`. */
export type TwoViewConfig = typeof TwoViewConfig[keyof typeof TwoViewConfig];

/**
 * The statements of COLMAP 3.8's `Database::CreateTables` (as `sqlite_master`
 * records them after `colmap database_creator`), in order.
 */
export const COLMAP_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS cameras (
    camera_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    model INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    params BLOB,
    prior_focal_length INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS images (
    image_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    camera_id INTEGER NOT NULL,
    prior_qw REAL,
    prior_qx REAL,
    prior_qy REAL,
    prior_qz REAL,
    prior_tx REAL,
    prior_ty REAL,
    prior_tz REAL,
    CONSTRAINT image_id_check CHECK(image_id >= 0 and image_id < ${MAX_NUM_IMAGES}),
    FOREIGN KEY(camera_id) REFERENCES cameras(camera_id))`,
  `CREATE UNIQUE INDEX IF NOT EXISTS index_name ON images(name)`,
  `CREATE TABLE IF NOT EXISTS keypoints (
    image_id INTEGER PRIMARY KEY NOT NULL,
    rows INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    data BLOB,
    FOREIGN KEY(image_id) REFERENCES images(image_id) ON DELETE CASCADE)`,
  `CREATE TABLE IF NOT EXISTS descriptors (
    image_id INTEGER PRIMARY KEY NOT NULL,
    rows INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    data BLOB,
    FOREIGN KEY(image_id) REFERENCES images(image_id) ON DELETE CASCADE)`,
  `CREATE TABLE IF NOT EXISTS matches (
    pair_id INTEGER PRIMARY KEY NOT NULL,
    rows INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    data BLOB)`,
  `CREATE TABLE IF NOT EXISTS two_view_geometries (
    pair_id INTEGER PRIMARY KEY NOT NULL,
    rows INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    data BLOB,
    config INTEGER NOT NULL,
    F BLOB,
    E BLOB,
    H BLOB,
    qvec BLOB,
    tvec BLOB)`,
];

/** COLMAP's `pair_id` of two image ids (either order): `min · 2147483647 + max`, a bigint. */
export function pairId(imageId1: number, imageId2: number): bigint {
  checkImageId(imageId1);
  checkImageId(imageId2);
  if (imageId1 === imageId2) throw new Error(`pair of image ${imageId1} with itself`);
  const [a, b] = imageId1 < imageId2 ? [imageId1, imageId2] : [imageId2, imageId1];
  return BigInt(a) * BigInt(MAX_NUM_IMAGES) + BigInt(b);
}

/** The image ids `[id1, id2]` (`id1 < id2`) of a `pair_id`. */
export function imagesOfPairId(id: bigint | number): [number, number] {
  const p = BigInt(id), m = BigInt(MAX_NUM_IMAGES);
  return [Number(p / m), Number(p % m)];
}

function checkImageId(id: number) {
  if (!Number.isInteger(id) || id < 1 || id >= MAX_NUM_IMAGES) {
    throw new Error(`invalid image id ${id} (COLMAP's ids are 1 … 2147483646)`);
  }
}

/** A camera to write: its model by name, image size, parameters in COLMAP's pixel convention. */
export interface CameraSpec {
  /** COLMAP model name (`PINHOLE`, `SIMPLE_RADIAL`, …). */
  model: CameraModelName;
  /** Image width in pixels. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** Parameters in the model's order; principal point in COLMAP's convention (centre: w/2, h/2). */
  params: ArrayLike<number>;
  /**
   * Whether the focal length is known (given, or from EXIF), COLMAP's
   * `prior_focal_length`: the mapper then trusts it when it initialises.
   * False for COLMAP's default guess.
   */
  priorFocalLength: boolean;
  /** An explicit id (default: the next free one, from 1). */
  cameraId?: number;
}

/** A camera row as read back. */
export interface CameraRow extends Required<CameraSpec> {
  /** The parameters as stored. */
  params: Float64Array;
}

/** An image row as read back. */
export interface ImageRow {
  /** COLMAP's image id. */
  imageId: number;
  /** The file name, relative to the image folder. */
  name: string;
  /** The id of its camera. */
  cameraId: number;
}

/** A verified two-view geometry to write (`two_view_geometries`). */
export interface TwoViewGeometryInput {
  /**
   * Inlier matches, rows × 2 keypoint indices: column 0 in the first image of
   * the call, column 1 in the second. Each keypoint at most once per pair.
   */
  inliers: Uint32Array;
  /** What was fitted: `TwoViewConfig.UNCALIBRATED` for F, `CALIBRATED` for E, … */
  config: TwoViewConfig;
  /**
   * Pixel convention of the keypoints F and H act on (E does not depend on
   * it). Required so that nobody forgets the 0.5 px shift.
   */
  convention: PixelConvention;
  /** Fundamental matrix, row-major, `x2ᵀ F x1 = 0` (x1 in the first image of the call). */
  F?: ArrayLike<number> | null;
  /** Essential matrix, row-major, `x̂2ᵀ E x̂1 = 0` in normalised camera coordinates. */
  E?: ArrayLike<number> | null;
  /** Homography, row-major, `x2 ~ H x1`. */
  H?: ArrayLike<number> | null;
  /** Relative pose from camera 1 to camera 2 (`x2 = R(q) x1 + t`), when known. */
  qvec?: ArrayLike<number> | null;
  /** Its translation. */
  tvec?: ArrayLike<number> | null;
}

/** A two-view geometry as read back, oriented as asked (image of column 0 first). */
export interface TwoViewGeometryRow {
  /** Inlier matches, rows × 2. */
  inliers: Uint32Array;
  /** The `config` column. */
  config: number;
  /** F in COLMAP's pixel convention, row-major, or null when not stored. */
  F: Float64Array | null;
  /** E, or null. */
  E: Float64Array | null;
  /** H in COLMAP's pixel convention, or null. */
  H: Float64Array | null;
  /** Relative pose quaternion, or null. */
  qvec: Float64Array | null;
  /** Relative pose translation, or null. */
  tvec: Float64Array | null;
}

/** Options of `ColmapDatabase.create`. */
export interface CreateDatabaseOptions {
  /**
   * What to do when the file exists: `"error"` (the default) refuses with an
   * error naming the file; `"replace"` deletes it (and its `-wal`, `-shm`,
   * `-journal` companions) first. Only the caller knows whether an existing
   * file is a leftover of its own run.
   */
  ifExists?: "error" | "replace";
}

// Matrices acting on positions, from this engine's pixel convention to COLMAP's:
// x_engine = T x_colmap with T = [[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]].

/** `Tᵀ F T`: F for engine positions → F for COLMAP positions (the +0.5 px shift). */
export function fundamentalToColmapPixels(F: ArrayLike<number>): Float64Array {
  const s = -COLMAP_PIXEL_SHIFT;
  const G = Float64Array.from(F);
  // F T: column 2 += s·(column 0 + column 1)
  for (let r = 0; r < 3; r++) G[3 * r + 2] += s * (G[3 * r] + G[3 * r + 1]);
  // Tᵀ (F T): row 2 += s·(row 0 + row 1)
  for (let c = 0; c < 3; c++) G[6 + c] += s * (G[c] + G[3 + c]);
  return G;
}

/** `T⁻¹ H T`: a homography between engine positions → between COLMAP positions. */
export function homographyToColmapPixels(H: ArrayLike<number>): Float64Array {
  const s = COLMAP_PIXEL_SHIFT;
  const G = Float64Array.from(H);
  // H T: column 2 −= s·(column 0 + column 1)
  for (let r = 0; r < 3; r++) G[3 * r + 2] -= s * (G[3 * r] + G[3 * r + 1]);
  // T⁻¹ (H T): rows 0 and 1 += s·row 2
  for (let c = 0; c < 3; c++) {
    G[c] += s * G[6 + c];
    G[3 + c] += s * G[6 + c];
  }
  return G;
}

/** Keypoints `[x, y, x, y, …]` in `convention` → COLMAP's convention (float32). */
export function keypointsToColmapPixels(
  xy: ArrayLike<number>,
  convention: PixelConvention,
): Float32Array {
  const shift = convention === "engine" ? COLMAP_PIXEL_SHIFT : 0;
  return Float32Array.from(xy, (v) => v + shift);
}

function transpose(m: ArrayLike<number>): Float64Array {
  return Float64Array.of(m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]);
}

function inverse3(m: ArrayLike<number>): Float64Array {
  const [a, b, c, d, e, f, g, h, i] = Array.from(m);
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (det === 0 || !Number.isFinite(det)) throw new Error("singular homography");
  // deno-fmt-ignore
  return Float64Array.of(
    A / det, -(b * i - c * h) / det, (b * f - c * e) / det,
    B / det, (a * i - c * g) / det, -(a * f - c * d) / det,
    C / det, -(a * h - b * g) / det, (a * e - b * d) / det,
  );
}

function swapColumns(m: Uint32Array): Uint32Array {
  const out = new Uint32Array(m.length);
  for (let i = 0; i < m.length; i += 2) {
    out[i] = m[i + 1];
    out[i + 1] = m[i];
  }
  return out;
}

function blob(a: ArrayBufferView): Uint8Array {
  if (!littleEndian) throw new Error("COLMAP databases are little-endian; this machine is not");
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function f64(m: ArrayLike<number> | null | undefined, n: number, what: string) {
  if (m == null) return null;
  if (m.length !== n) throw new Error(`${what}: ${m.length} entries, expected ${n}`);
  return Float64Array.from(m);
}

function fromBlob<T>(
  data: Uint8Array | null | undefined,
  Ctor: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
): T | null {
  if (!data || data.byteLength === 0) return null;
  // copy: the buffer may be unaligned or shared
  return new Ctor(data.slice().buffer as ArrayBuffer);
}

function checkMatches(m: Uint32Array, what: string) {
  if (!(m instanceof Uint32Array)) throw new Error(`${what}: a Uint32Array expected`);
  if (m.length % 2 !== 0) throw new Error(`${what}: odd length ${m.length} (rows × 2 expected)`);
}

function removeFile(path: string) {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * A COLMAP 3.8 database file. `create` makes a new one (COLMAP's schema,
 * refusing to touch an existing file unless told); `open` reads one (made by
 * us or by COLMAP). Writes outside `transaction` commit one by one.
 *
 * ```ts
 * const db = ColmapDatabase.create("out/database.db");
 * const cam = db.addCamera({ model: "PINHOLE", width: 1200, height: 800,
 *   params: [1078, 1080, 594, 393], priorFocalLength: true });
 * db.transaction(() => {
 *   const a = db.addImage("0000.jpg", cam), b = db.addImage("0001.jpg", cam);
 *   db.addKeypoints(a, kpA, "engine"); // +0.5 px
 *   db.addKeypoints(b, kpB, "engine");
 *   db.addTwoViewGeometry(a, b, { inliers, config: TwoViewConfig.UNCALIBRATED, F, convention: "engine" });
 * });
 * db.close();
 * ```
 */
export class ColmapDatabase {
  /** The file. */
  readonly path: string;
  /** The SQLite connection (for queries this class lacks). */
  readonly sqlite: DatabaseSync;

  private constructor(path: string, sqlite: DatabaseSync) {
    this.path = path;
    this.sqlite = sqlite;
    sqlite.exec("PRAGMA foreign_keys = ON");
  }

  /**
   * Creates a new database at `path` with COLMAP 3.8's schema. An existing
   * file is an error ("… already exists …", naming it) unless
   * `ifExists: "replace"`. Needs `--allow-read --allow-write` for the path.
   */
  static create(path: string, options: CreateDatabaseOptions = {}): ColmapDatabase {
    if (exists(path)) {
      if ((options.ifExists ?? "error") === "error") {
        throw new Error(
          `${path}: a file already exists there and was not made by this run; ` +
            `delete it or choose another output folder`,
        );
      }
      for (const suffix of ["", "-wal", "-shm", "-journal"]) removeFile(path + suffix);
    }
    let sqlite: DatabaseSync;
    try {
      sqlite = new DatabaseSync(path);
    } catch (e) {
      throw new Error(`${path}: cannot create the database: ${(e as Error).message}`);
    }
    try {
      sqlite.exec("BEGIN");
      for (const sql of COLMAP_SCHEMA) sqlite.exec(sql);
      sqlite.exec(`PRAGMA user_version = ${COLMAP_SCHEMA_VERSION}`);
      sqlite.exec("COMMIT");
    } catch (e) {
      sqlite.close();
      throw new Error(`${path}: cannot create the database: ${(e as Error).message}`);
    }
    return new ColmapDatabase(path, sqlite);
  }

  /**
   * Opens an existing database (ours or COLMAP's). Throws naming the file when
   * it is missing or lacks COLMAP's tables.
   */
  static open(path: string, options: { readOnly?: boolean } = {}): ColmapDatabase {
    if (!exists(path)) throw new Error(`${path}: no such database`);
    const sqlite = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
    const tables = new Set(
      sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()
        .map((r) => String(r.name)),
    );
    for (const t of ["cameras", "images", "keypoints", "matches", "two_view_geometries"]) {
      if (!tables.has(t)) {
        sqlite.close();
        throw new Error(`${path}: not a COLMAP database (no table ${t})`);
      }
    }
    return new ColmapDatabase(path, sqlite);
  }

  /** Runs `fn` in one SQLite transaction (much faster for many rows); rolls back if it throws. */
  transaction<T>(fn: () => T): T {
    this.sqlite.exec("BEGIN");
    try {
      const r = fn();
      this.sqlite.exec("COMMIT");
      return r;
    } catch (e) {
      this.sqlite.exec("ROLLBACK");
      throw e;
    }
  }

  /**
   * Adds a camera; returns its id. The parameter count must be the model's;
   * the parameters are in COLMAP's pixel convention (see `colmap_cameras.ts`
   * for COLMAP's defaults and its `camera_params` spelling).
   */
  addCamera(camera: CameraSpec): number {
    const m = cameraModel(camera.model);
    if (camera.params.length !== m.params.length) {
      throw new Error(
        `camera ${camera.model}: ${camera.params.length} parameters, expected ` +
          `${m.params.length} (${m.params.join(", ")})`,
      );
    }
    for (const [what, v] of [["width", camera.width], ["height", camera.height]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`camera ${what} ${v}: not a size`);
    }
    const params = Float64Array.from(camera.params);
    if (params.some((v) => !Number.isFinite(v))) {
      throw new Error(`camera ${camera.model}: non-finite parameter in ${Array.from(params)}`);
    }
    const r = this.sqlite.prepare(
      "INSERT INTO cameras (camera_id, model, width, height, params, prior_focal_length) " +
        "VALUES (?, ?, ?, ?, ?, ?)",
    ).run(
      camera.cameraId ?? null,
      m.id,
      camera.width,
      camera.height,
      blob(params),
      camera.priorFocalLength ? 1 : 0,
    );
    return Number(r.lastInsertRowid);
  }

  /**
   * Adds an image (its file name relative to the image folder, unique) seen
   * by camera `cameraId`; returns its id (the next free one from 1, or
   * `options.imageId`). COLMAP numbers images in insertion order; give them
   * in name order to match `feature_extractor` with one thread.
   */
  addImage(name: string, cameraId: number, options: { imageId?: number } = {}): number {
    if (name === "") throw new Error("image name is empty");
    if (options.imageId !== undefined) checkImageId(options.imageId);
    try {
      const r = this.sqlite.prepare(
        "INSERT INTO images (image_id, name, camera_id) VALUES (?, ?, ?)",
      ).run(options.imageId ?? null, name, cameraId);
      return Number(r.lastInsertRowid);
    } catch (e) {
      const msg = (e as Error).message;
      if (/UNIQUE/.test(msg)) throw new Error(`${this.path}: image "${name}" is already there`);
      if (/FOREIGN KEY/.test(msg)) {
        throw new Error(`${this.path}: image "${name}": no camera ${cameraId}`);
      }
      throw e;
    }
  }

  /**
   * Writes the keypoints of an image: `xy = [x0, y0, x1, y1, …]` in
   * `convention`. `"engine"` positions (top-left pixel centre at (0, 0)) are
   * shifted by +0.5 px to COLMAP's convention; stored as float32 rows × 2.
   * Replaces earlier keypoints of the image.
   */
  addKeypoints(imageId: number, xy: ArrayLike<number>, convention: PixelConvention): void {
    if (convention !== "engine" && convention !== "colmap") {
      throw new Error(`unknown pixel convention ${convention}`);
    }
    if (xy.length % 2 !== 0) throw new Error(`keypoints of image ${imageId}: odd length`);
    const data = keypointsToColmapPixels(xy, convention);
    try {
      this.sqlite.prepare(
        "INSERT OR REPLACE INTO keypoints (image_id, rows, cols, data) VALUES (?, ?, 2, ?)",
      ).run(imageId, data.length / 2, blob(data));
    } catch (e) {
      if (/FOREIGN KEY/.test((e as Error).message)) {
        throw new Error(`${this.path}: keypoints of image ${imageId}: no such image`);
      }
      throw e;
    }
  }

  /**
   * Writes the raw (unverified) matches of a pair: `matches` rows × 2,
   * column 0 indexing the keypoints of `imageId1`, column 1 those of
   * `imageId2`. Stored with the smaller id first (columns swapped if needed).
   * The mapper ignores this table; `colmap matches_importer` verifies it.
   */
  addMatches(imageId1: number, imageId2: number, matches: Uint32Array): void {
    checkMatches(matches, `matches ${imageId1}-${imageId2}`);
    const data = imageId1 > imageId2 ? swapColumns(matches) : matches;
    this.sqlite.prepare(
      "INSERT OR REPLACE INTO matches (pair_id, rows, cols, data) VALUES (?, ?, 2, ?)",
    ).run(pairId(imageId1, imageId2), data.length / 2, blob(data));
  }

  /**
   * Writes the verified geometry of a pair (what the mapper reads): the
   * inliers, the config, and F/E/H/relative pose where given (NULL otherwise,
   * which COLMAP 3.8 reads as zeros). F and H are converted from
   * `geometry.convention` to COLMAP's pixels; a pair given as
   * (larger id, smaller id) is stored swapped (columns exchanged, F and E
   * transposed, H inverted, pose inverted).
   */
  addTwoViewGeometry(imageId1: number, imageId2: number, geometry: TwoViewGeometryInput): void {
    const g = geometry;
    checkMatches(g.inliers, `inliers ${imageId1}-${imageId2}`);
    if (g.convention !== "engine" && g.convention !== "colmap") {
      throw new Error(`unknown pixel convention ${g.convention}`);
    }
    if (!Object.values(TwoViewConfig).includes(g.config)) {
      throw new Error(`unknown two-view config ${g.config}`);
    }
    let F: Float64Array | null = f64(g.F, 9, "F");
    let E: Float64Array | null = f64(g.E, 9, "E");
    let H: Float64Array | null = f64(g.H, 9, "H");
    let q: Float64Array | null = f64(g.qvec, 4, "qvec");
    let t: Float64Array | null = f64(g.tvec, 3, "tvec");
    if ((q === null) !== (t === null)) throw new Error("qvec and tvec go together");
    if (g.convention === "engine") {
      if (F) F = fundamentalToColmapPixels(F);
      if (H) H = homographyToColmapPixels(H);
    }
    let inliers = g.inliers;
    if (imageId1 > imageId2) {
      inliers = swapColumns(inliers);
      if (F) F = transpose(F);
      if (E) E = transpose(E);
      if (H) H = inverse3(H);
      if (q && t) {
        const inv = invertPose(q, t);
        q = Float64Array.from(inv.q);
        t = Float64Array.from(inv.t);
      }
    }
    const b = (m: Float64Array | null) => (m ? blob(m) : null);
    this.sqlite.prepare(
      "INSERT OR REPLACE INTO two_view_geometries " +
        "(pair_id, rows, cols, data, config, F, E, H, qvec, tvec) " +
        "VALUES (?, ?, 2, ?, ?, ?, ?, ?, ?, ?)",
    ).run(
      pairId(imageId1, imageId2),
      inliers.length / 2,
      blob(inliers),
      g.config,
      b(F),
      b(E),
      b(H),
      b(q),
      b(t),
    );
  }

  /** Every camera, by id. */
  readCameras(): CameraRow[] {
    return this.sqlite.prepare(
      "SELECT camera_id, model, width, height, params, prior_focal_length FROM cameras " +
        "ORDER BY camera_id",
    ).all().map((r) => ({
      cameraId: Number(r.camera_id),
      model: cameraModelById(Number(r.model)).name,
      width: Number(r.width),
      height: Number(r.height),
      params: fromBlob(r.params as Uint8Array, Float64Array) ?? new Float64Array(0),
      priorFocalLength: Number(r.prior_focal_length) !== 0,
    }));
  }

  /** Every image, by id. */
  readImages(): ImageRow[] {
    return this.sqlite.prepare("SELECT image_id, name, camera_id FROM images ORDER BY image_id")
      .all().map((r) => ({
        imageId: Number(r.image_id),
        name: String(r.name),
        cameraId: Number(r.camera_id),
      }));
  }

  /**
   * The keypoints of an image as stored: `{ rows, cols, data }` (float32,
   * COLMAP's pixel convention; cols 2 for ours, 6 for COLMAP's SIFT: x, y and
   * an affine shape), or null when the image has none.
   */
  readKeypoints(imageId: number): { rows: number; cols: number; data: Float32Array } | null {
    const r = this.sqlite.prepare("SELECT rows, cols, data FROM keypoints WHERE image_id = ?")
      .get(imageId);
    if (!r) return null;
    return {
      rows: Number(r.rows),
      cols: Number(r.cols),
      data: fromBlob(r.data as Uint8Array, Float32Array) ?? new Float32Array(0),
    };
  }

  /** The raw matches of a pair, columns oriented as (imageId1, imageId2), or null. */
  readMatches(imageId1: number, imageId2: number): Uint32Array | null {
    const r = this.sqlite.prepare("SELECT data FROM matches WHERE pair_id = ?")
      .get(pairId(imageId1, imageId2));
    if (!r) return null;
    const m = fromBlob(r.data as Uint8Array, Uint32Array) ?? new Uint32Array(0);
    return imageId1 > imageId2 ? swapColumns(m) : m;
  }

  /**
   * The verified geometry of a pair, oriented as (imageId1, imageId2): for the
   * larger id first, columns swapped, F and E transposed, H inverted, pose
   * inverted. F and H stay in COLMAP's pixel convention. Null when absent.
   */
  readTwoViewGeometry(imageId1: number, imageId2: number): TwoViewGeometryRow | null {
    const r = this.sqlite.prepare(
      "SELECT data, config, F, E, H, qvec, tvec FROM two_view_geometries WHERE pair_id = ?",
    ).get(pairId(imageId1, imageId2));
    if (!r) return null;
    const g: TwoViewGeometryRow = {
      inliers: fromBlob(r.data as Uint8Array, Uint32Array) ?? new Uint32Array(0),
      config: Number(r.config),
      F: fromBlob(r.F as Uint8Array, Float64Array),
      E: fromBlob(r.E as Uint8Array, Float64Array),
      H: fromBlob(r.H as Uint8Array, Float64Array),
      qvec: fromBlob(r.qvec as Uint8Array, Float64Array),
      tvec: fromBlob(r.tvec as Uint8Array, Float64Array),
    };
    if (imageId1 < imageId2) return g;
    const inv = g.qvec && g.tvec ? invertPose(g.qvec, g.tvec) : null;
    return {
      inliers: swapColumns(g.inliers),
      config: g.config,
      F: g.F && transpose(g.F),
      E: g.E && transpose(g.E),
      H: g.H && inverse3(g.H),
      qvec: inv && Float64Array.from(inv.q as Quaternion),
      tvec: inv && Float64Array.from(inv.t as Vec3),
    };
  }

  /** The image-id pairs `[id1, id2]` (id1 < id2) that have a two-view geometry, in pair-id order. */
  twoViewGeometryPairs(): [number, number][] {
    const st = this.sqlite.prepare("SELECT pair_id FROM two_view_geometries ORDER BY pair_id");
    st.setReadBigInts(true);
    return st.all().map((r) => imagesOfPairId(r.pair_id as bigint));
  }

  /** Closes the connection. */
  close(): void {
    this.sqlite.close();
  }
}
