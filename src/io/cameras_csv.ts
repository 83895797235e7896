/**
 * Ground-truth cameras in the `cameras.csv` format of ../shared/data/sfm_dev:
 * a header `image,width,height,fx,fy,cx,cy,qw,qx,qy,qz,tx,ty,tz`, one row per
 * photo. Intrinsics are in **COLMAP's pixel convention** (top-left pixel
 * centre at (0.5, 0.5)): subtract 0.5 from cx, cy for this engine's
 * (`intrinsicsMatrix(camera, "engine")`). The pose is world-to-camera,
 * `x_cam = R(q) X + t`, q scalar first, as COLMAP's `images.txt`.
 * Platform neutral except `readCamerasCsv`.
 * @module
 */
import { rotationFromQuaternion } from "../geometry/quaternion.ts";
import type { CameraPose } from "../geometry/sfm_metric.ts";
import type { Mat3 } from "../geometry/linalg.ts";
import type { ColmapModel } from "./colmap_model.ts";
import { COLMAP_PIXEL_SHIFT, type PixelConvention } from "./colmap_database.ts";

/** One row of `cameras.csv`. */
export interface GtCamera {
  /** File name in the scene's `images/`. */
  image: string;
  /** Image width, pixels. */
  width: number;
  /** Image height, pixels. */
  height: number;
  /** Focal length x, pixels. */
  fx: number;
  /** Focal length y, pixels. */
  fy: number;
  /** Principal point x, COLMAP's convention. */
  cx: number;
  /** Principal point y, COLMAP's convention. */
  cy: number;
  /** World-to-camera rotation quaternion (w, x, y, z). */
  q: [number, number, number, number];
  /** World-to-camera translation. */
  t: [number, number, number];
}

const COLUMNS = [
  "image",
  "width",
  "height",
  "fx",
  "fy",
  "cx",
  "cy",
  "qw",
  "qx",
  "qy",
  "qz",
  "tx",
  "ty",
  "tz",
] as const;

/**
 * The rows of CSV `text` as numbers by column, for the named `columns` (found
 * by header name, any order, extra columns ignored) of which the first is the
 * image name; errors name `source` and the line. Rows keep the file's order;
 * a repeated image name is an error.
 */
function csvRows<C extends string>(
  text: string,
  source: string,
  columns: readonly [string, ...C[]],
): { image: string; line: number; values: Record<C, number> }[] {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.split(",").map((s) => s.trim()) ?? [];
  const col = Object.fromEntries(columns.map((c) => [c, header.indexOf(c)]));
  const missing = columns.filter((c) => col[c] < 0);
  if (missing.length) throw new Error(`${source}:1: missing column(s) ${missing.join(", ")}`);
  const out: { image: string; line: number; values: Record<C, number> }[] = [];
  const seen = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const f = lines[i].split(",").map((s) => s.trim());
    if (f.length < header.length) {
      throw new Error(`${source}:${i + 1}: ${f.length} fields, expected ${header.length}`);
    }
    const values = {} as Record<C, number>;
    for (const c of columns.slice(1) as C[]) {
      const v = Number(f[col[c]]);
      if (f[col[c]] === "" || !Number.isFinite(v)) {
        throw new Error(`${source}:${i + 1}: ${c} "${f[col[c]]}" is not a number`);
      }
      values[c] = v;
    }
    const image = f[col[columns[0]]];
    if (seen.has(image)) throw new Error(`${source}:${i + 1}: image ${image} listed twice`);
    seen.add(image);
    out.push({ image, line: i + 1, values });
  }
  return out;
}

/**
 * Parses `cameras.csv` text. Columns are found by header name (any order,
 * extra columns ignored); errors name `source` and the line. Rows keep the
 * file's order; a repeated image name is an error.
 */
export function parseCamerasCsv(text: string, source = "cameras.csv"): GtCamera[] {
  return csvRows(text, source, COLUMNS).map(({ image, values: v }) => ({
    image,
    width: v.width,
    height: v.height,
    fx: v.fx,
    fy: v.fy,
    cx: v.cx,
    cy: v.cy,
    q: [v.qw, v.qx, v.qy, v.qz],
    t: [v.tx, v.ty, v.tz],
  }));
}

/** A pinhole camera's intrinsics, pixels, in COLMAP's convention (as cameras.csv). */
export interface Intrinsics {
  /** Focal length x. */
  fx: number;
  /** Focal length y. */
  fy: number;
  /** Principal point x, top-left pixel centre at 0.5. */
  cx: number;
  /** Principal point y. */
  cy: number;
}

/**
 * Parses a cameras file that may carry intrinsics only: the columns
 * `image,fx,fy,cx,cy` of `cameras.csv` (others ignored), COLMAP's pixel
 * convention. Returns image name → intrinsics; errors name `source` and the
 * line, and an intrinsic that is not positive (focal) or not finite.
 */
export function parseIntrinsicsCsv(text: string, source: string): Map<string, Intrinsics> {
  const rows = csvRows(text, source, ["image", "fx", "fy", "cx", "cy"] as const);
  for (const { line, values } of rows) {
    if (!(values.fx > 0 && values.fy > 0)) {
      throw new Error(`${source}:${line}: focal lengths must be positive`);
    }
  }
  return new Map(rows.map(({ image, values }) => [image, values]));
}

/** Reads and parses a `cameras.csv` file. */
export async function readCamerasCsv(path: string): Promise<GtCamera[]> {
  return parseCamerasCsv(await Deno.readTextFile(path), path);
}

/**
 * The camera matrix `K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]` (row-major) in
 * the asked pixel convention: `"colmap"` as stored, `"engine"` with cx, cy
 * reduced by 0.5 (top-left pixel centre at (0, 0), as this engine's keypoints).
 */
export function intrinsicsMatrix(camera: Intrinsics, convention: PixelConvention): Mat3 {
  const s = convention === "engine" ? COLMAP_PIXEL_SHIFT : 0;
  return Float64Array.of(camera.fx, 0, camera.cx - s, 0, camera.fy, camera.cy - s, 0, 0, 1);
}

/** Name → world-to-camera pose of ground-truth cameras, in file order (for `scoreReconstruction`). */
export function posesFromCamerasCsv(cameras: readonly GtCamera[]): Map<string, CameraPose> {
  return new Map(cameras.map((c) => [c.image, { R: rotationFromQuaternion(c.q), t: c.t }]));
}

/**
 * Name → world-to-camera pose of a COLMAP model's registered images, in
 * image-id order. Throws when two images share a name.
 */
export function posesFromColmapModel(model: ColmapModel): Map<string, CameraPose> {
  const out = new Map<string, CameraPose>();
  for (const im of [...model.images.values()].sort((a, b) => a.imageId - b.imageId)) {
    if (out.has(im.name)) throw new Error(`model: image name ${im.name} appears twice`);
    out.set(im.name, { R: rotationFromQuaternion(im.qvec), t: im.tvec });
  }
  return out;
}
