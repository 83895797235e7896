/**
 * COLMAP sparse models (`cameras`, `images`, `points3D`), binary (`.bin`) or
 * text (`.txt`), as COLMAP 3.8 writes them, and a PLY writer of the points.
 *
 * Binary layout (little-endian; `Reconstruction::ReadBinary` of COLMAP 3.8):
 * * `cameras.bin`: uint64 count; per camera: uint32 camera_id, int32 model_id,
 *   uint64 width, uint64 height, float64 params[model's count];
 * * `images.bin`: uint64 count (registered images); per image: uint32
 *   image_id, float64 qw, qx, qy, qz, tx, ty, tz (world-to-camera), uint32
 *   camera_id, the name as bytes ending with a NUL, uint64 number of 2D
 *   points, then per point float64 x, y and uint64 point3D_id (2⁶⁴ − 1 when
 *   the point has no 3D point);
 * * `points3D.bin`: uint64 count; per point: uint64 point3D_id, float64 x, y,
 *   z, uint8 r, g, b, float64 error (mean reprojection error, px), uint64
 *   track length, then per element uint32 image_id, uint32 point2D_idx.
 *
 * The text files hold the same fields, one record per line (images: two
 * lines, the second the 2D points `X Y POINT3D_ID …` with −1 for none, maybe
 * empty), `#` comment lines. 2D positions are in COLMAP's pixel convention
 * (top-left pixel centre at (0.5, 0.5)).
 *
 * The parsers take bytes or strings and are platform neutral; `readColmapModel`
 * and `writePly` use Deno's file system.
 * @module
 */
import { cameraModel, cameraModelById, type CameraModelName } from "./colmap_cameras.ts";
import type { Quaternion } from "../geometry/quaternion.ts";
import type { Vec3 } from "../geometry/linalg.ts";

/** A camera of a model. */
export interface ModelCamera {
  /** COLMAP's camera id. */
  cameraId: number;
  /** Model name (`PINHOLE`, `SIMPLE_RADIAL`, …). */
  model: CameraModelName;
  /** Image width in pixels. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** Parameters in the model's order, COLMAP's pixel convention. */
  params: Float64Array;
}

/** A registered image of a model. */
export interface ModelImage {
  /** COLMAP's image id. */
  imageId: number;
  /** The file name, relative to the image folder. */
  name: string;
  /** The id of its camera. */
  cameraId: number;
  /** World-to-camera rotation, unit quaternion (w, x, y, z): `x_cam = R(q) X + t`. */
  qvec: Quaternion;
  /** World-to-camera translation. */
  tvec: Vec3;
  /** Its 2D points (keypoints), `[x0, y0, x1, y1, …]`, COLMAP's pixel convention. */
  xys: Float64Array;
  /** Per 2D point, the id of its 3D point, or −1 (exact for ids below 2⁵³). */
  point3DIds: Float64Array;
}

/** A 3D point of a model. */
export interface ModelPoint {
  /** COLMAP's point id. */
  pointId: number;
  /** Position in world coordinates. */
  xyz: Vec3;
  /** Colour, 0–255. */
  rgb: [number, number, number];
  /** Mean reprojection error of its observations, pixels. */
  error: number;
  /** Observing images (one entry per observation). */
  trackImageIds: Uint32Array;
  /** The index of the observation among that image's 2D points. */
  trackPoint2DIdxs: Uint32Array;
}

/** A COLMAP sparse model. */
export interface ColmapModel {
  /** Cameras by id. */
  cameras: Map<number, ModelCamera>;
  /** Registered images by id. */
  images: Map<number, ModelImage>;
  /** 3D points by id. */
  points: Map<number, ModelPoint>;
}

/** The three files of a binary model. */
export interface BinaryModelFiles {
  /** Bytes of `cameras.bin`. */
  cameras: Uint8Array;
  /** Bytes of `images.bin`. */
  images: Uint8Array;
  /** Bytes of `points3D.bin`. */
  points3D: Uint8Array;
}

/** The three files of a text model. */
export interface TextModelFiles {
  /** Text of `cameras.txt`. */
  cameras: string;
  /** Text of `images.txt`. */
  images: string;
  /** Text of `points3D.txt`. */
  points3D: string;
}

const INVALID_ID = 0xffffffffffffffffn;

/** A little-endian reader over bytes that names the file and offset when it runs out. */
class Reader {
  private view: DataView;
  offset = 0;
  constructor(private bytes: Uint8Array, private file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number) {
    if (this.offset + n > this.bytes.byteLength) {
      throw new Error(
        `${this.file}: truncated (needs ${n} bytes at offset ${this.offset} of ${this.bytes.byteLength})`,
      );
    }
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.offset, true);
    this.offset += 4;
    return v;
  }
  u64big(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }
  /** A uint64 as a number; throws above 2⁵³. */
  u64(what: string): number {
    const v = this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new Error(`${this.file}: ${what} ${v} at offset ${this.offset - 8} is not plausible`);
    }
    return Number(v);
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }
  cstring(): string {
    const end = this.bytes.indexOf(0, this.offset);
    if (end < 0) throw new Error(`${this.file}: unterminated name at offset ${this.offset}`);
    const s = new TextDecoder().decode(this.bytes.subarray(this.offset, end));
    this.offset = end + 1;
    return s;
  }
  /** Checks that a count of records of at least `minBytes` each fits in what is left. */
  count(what: string, minBytes: number): number {
    const n = this.u64(what);
    if (n * minBytes > this.bytes.byteLength - this.offset) {
      throw new Error(`${this.file}: ${what} ${n} does not fit in the file (corrupt or truncated)`);
    }
    return n;
  }
  end() {
    if (this.offset !== this.bytes.byteLength) {
      throw new Error(
        `${this.file}: ${this.bytes.byteLength - this.offset} bytes left after the last record`,
      );
    }
  }
}

/** Parses a binary model (the bytes of `cameras.bin`, `images.bin`, `points3D.bin`). */
export function parseColmapModelBinary(files: BinaryModelFiles): ColmapModel {
  const cameras = new Map<number, ModelCamera>();
  {
    const r = new Reader(files.cameras, "cameras.bin");
    const n = r.count("camera count", 24);
    for (let i = 0; i < n; i++) {
      const cameraId = r.u32();
      const modelId = r.i32();
      const m = cameraModelById(modelId);
      const width = r.u64("width"), height = r.u64("height");
      const params = new Float64Array(m.params.length);
      for (let k = 0; k < params.length; k++) params[k] = r.f64();
      cameras.set(cameraId, { cameraId, model: m.name, width, height, params });
    }
    r.end();
  }
  const images = new Map<number, ModelImage>();
  {
    const r = new Reader(files.images, "images.bin");
    const n = r.count("image count", 73);
    for (let i = 0; i < n; i++) {
      const imageId = r.u32();
      const qvec: Quaternion = [r.f64(), r.f64(), r.f64(), r.f64()];
      const tvec: Vec3 = [r.f64(), r.f64(), r.f64()];
      const cameraId = r.u32();
      const name = r.cstring();
      const np = r.count("2D point count", 24);
      const xys = new Float64Array(2 * np), point3DIds = new Float64Array(np);
      for (let k = 0; k < np; k++) {
        xys[2 * k] = r.f64();
        xys[2 * k + 1] = r.f64();
        const id = r.u64big();
        point3DIds[k] = id === INVALID_ID ? -1 : Number(id);
      }
      images.set(imageId, { imageId, name, cameraId, qvec, tvec, xys, point3DIds });
    }
    r.end();
  }
  const points = new Map<number, ModelPoint>();
  {
    const r = new Reader(files.points3D, "points3D.bin");
    const n = r.count("point count", 51);
    for (let i = 0; i < n; i++) {
      const pointId = r.u64("point id");
      const xyz: Vec3 = [r.f64(), r.f64(), r.f64()];
      const rgb: [number, number, number] = [r.u8(), r.u8(), r.u8()];
      const error = r.f64();
      const len = r.count("track length", 8);
      const trackImageIds = new Uint32Array(len), trackPoint2DIdxs = new Uint32Array(len);
      for (let k = 0; k < len; k++) {
        trackImageIds[k] = r.u32();
        trackPoint2DIdxs[k] = r.u32();
      }
      points.set(pointId, { pointId, xyz, rgb, error, trackImageIds, trackPoint2DIdxs });
    }
    r.end();
  }
  return { cameras, images, points };
}

/** The data lines of a text file: trimmed, `#` comments dropped, with 1-based line numbers. */
function* dataLines(text: string): Generator<[string, number]> {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i].trim();
    if (s !== "" && !s.startsWith("#")) yield [s, i + 1];
  }
}

function numbers(tokens: string[], file: string, line: number): number[] {
  return tokens.map((t) => {
    const v = Number(t);
    if (t === "" || Number.isNaN(v)) throw new Error(`${file}:${line}: "${t}" is not a number`);
    return v;
  });
}

/** Parses a text model (the contents of `cameras.txt`, `images.txt`, `points3D.txt`). */
export function parseColmapModelText(files: TextModelFiles): ColmapModel {
  const cameras = new Map<number, ModelCamera>();
  for (const [s, ln] of dataLines(files.cameras)) {
    const t = s.split(/\s+/);
    const m = cameraModel(t[1]);
    if (t.length !== 4 + m.params.length) {
      throw new Error(
        `cameras.txt:${ln}: ${t.length - 4} parameters for ${m.name}, expected ${m.params.length}`,
      );
    }
    const [cameraId, width, height, ...params] = numbers([t[0], ...t.slice(2)], "cameras.txt", ln);
    cameras.set(cameraId, {
      cameraId,
      model: m.name,
      width,
      height,
      params: Float64Array.from(params),
    });
  }

  const images = new Map<number, ModelImage>();
  // Like COLMAP: an image line, then *the next line* (maybe empty) holds its 2D points.
  const lines = files.images.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i].trim();
    if (s === "" || s.startsWith("#")) continue;
    const t = s.split(/\s+/);
    if (t.length < 10) throw new Error(`images.txt:${i + 1}: ${t.length} fields, expected 10`);
    const v = numbers(t.slice(0, 9), "images.txt", i + 1);
    // the name is the rest of the line (COLMAP itself stops at the first space)
    const name = s.replace(/^(\S+\s+){9}/, "");
    const pts = (lines[i + 1] ?? "").trim();
    const pv = pts === "" ? [] : numbers(pts.split(/\s+/), "images.txt", i + 2);
    if (pv.length % 3 !== 0) {
      throw new Error(`images.txt:${i + 2}: ${pv.length} numbers, not triples X Y POINT3D_ID`);
    }
    const np = pv.length / 3;
    const xys = new Float64Array(2 * np), point3DIds = new Float64Array(np);
    for (let k = 0; k < np; k++) {
      xys[2 * k] = pv[3 * k];
      xys[2 * k + 1] = pv[3 * k + 1];
      point3DIds[k] = pv[3 * k + 2];
    }
    images.set(v[0], {
      imageId: v[0],
      qvec: [v[1], v[2], v[3], v[4]],
      tvec: [v[5], v[6], v[7]],
      cameraId: v[8],
      name,
      xys,
      point3DIds,
    });
    i++;
  }

  const points = new Map<number, ModelPoint>();
  for (const [s, ln] of dataLines(files.points3D)) {
    const v = numbers(s.split(/\s+/), "points3D.txt", ln);
    if (v.length < 8 || (v.length - 8) % 2 !== 0) {
      throw new Error(`points3D.txt:${ln}: ${v.length} fields, expected 8 + 2 per observation`);
    }
    const len = (v.length - 8) / 2;
    const trackImageIds = new Uint32Array(len), trackPoint2DIdxs = new Uint32Array(len);
    for (let k = 0; k < len; k++) {
      trackImageIds[k] = v[8 + 2 * k];
      trackPoint2DIdxs[k] = v[9 + 2 * k];
    }
    points.set(v[0], {
      pointId: v[0],
      xyz: [v[1], v[2], v[3]],
      rgb: [v[4], v[5], v[6]],
      error: v[7],
      trackImageIds,
      trackPoint2DIdxs,
    });
  }
  return { cameras, images, points };
}

function readIfExists(path: string): Uint8Array | null {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Reads the model in folder `dir`: the binary files when `cameras.bin`,
 * `images.bin` and `points3D.bin` are there (COLMAP's preference), else the
 * text files. Errors name the folder and the file.
 */
export async function readColmapModel(
  dir: string,
): Promise<ColmapModel & { format: "binary" | "text" }> {
  const path = (f: string) => `${dir.replace(/\/+$/, "")}/${f}`;
  const withDir = (e: unknown) => new Error(`${dir}: ${(e as Error).message}`);
  const bin = ["cameras.bin", "images.bin", "points3D.bin"].map((f) => readIfExists(path(f)));
  if (bin.every((b) => b !== null)) {
    try {
      const [cameras, images, points3D] = bin as Uint8Array[];
      return { ...parseColmapModelBinary({ cameras, images, points3D }), format: "binary" };
    } catch (e) {
      throw withDir(e);
    }
  }
  const txt = ["cameras.txt", "images.txt", "points3D.txt"].map((f) => readIfExists(path(f)));
  if (txt.every((b) => b !== null)) {
    const [cameras, images, points3D] = txt.map((b) => new TextDecoder().decode(b!));
    try {
      return { ...parseColmapModelText({ cameras, images, points3D }), format: "text" };
    } catch (e) {
      throw withDir(e);
    }
  }
  await Promise.resolve();
  throw new Error(
    `${dir}: no COLMAP model (cameras, images, points3D as .bin or .txt)`,
  );
}

/**
 * The model to score in a mapper output folder: `dir` itself when it holds a
 * model, else the sub-model `dir/0`, `dir/1`, … with the most registered
 * images (the lower number on a tie). Also returns its folder and how many
 * sub-models there were.
 */
export async function readLargestColmapModel(
  dir: string,
): Promise<{ model: ColmapModel; dir: string; subModels: number }> {
  const base = dir.replace(/\/+$/, "");
  const has = (d: string, f: string) => readIfExists(`${d}/${f}`) !== null;
  if (has(base, "cameras.bin") || has(base, "cameras.txt")) {
    return { model: await readColmapModel(base), dir: base, subModels: 1 };
  }
  const subs: number[] = [];
  for (const e of Deno.readDirSync(base)) {
    if (e.isDirectory && /^\d+$/.test(e.name)) subs.push(Number(e.name));
  }
  subs.sort((a, b) => a - b);
  let best: { model: ColmapModel; dir: string } | null = null;
  for (const s of subs) {
    const d = `${base}/${s}`;
    if (!has(d, "cameras.bin") && !has(d, "cameras.txt")) continue;
    const model = await readColmapModel(d);
    if (!best || model.images.size > best.model.images.size) best = { model, dir: d };
  }
  if (!best) throw new Error(`${dir}: no COLMAP model, nor sub-models 0, 1, …`);
  return { ...best, subModels: subs.length };
}

/** Summary figures of a model, as `colmap model_analyzer` prints them. */
export interface ModelStats {
  /** Cameras. */
  cameras: number;
  /** Registered images. */
  registeredImages: number;
  /** 3D points. */
  points: number;
  /** Observations (sum of track lengths). */
  observations: number;
  /** Mean track length: observations / points. */
  meanTrackLength: number;
  /** Mean observations per registered image. */
  meanObservationsPerImage: number;
  /** Mean reprojection error in pixels: the mean of the points' errors (COLMAP's). */
  meanReprojectionError: number;
}

/** The summary figures of a model (0 where a mean has nothing to average). */
export function modelStats(model: ColmapModel): ModelStats {
  let observations = 0, errorSum = 0;
  for (const p of model.points.values()) {
    observations += p.trackImageIds.length;
    errorSum += p.error;
  }
  const n = model.points.size, r = model.images.size;
  return {
    cameras: model.cameras.size,
    registeredImages: r,
    points: n,
    observations,
    meanTrackLength: n ? observations / n : 0,
    meanObservationsPerImage: r ? observations / r : 0,
    meanReprojectionError: n ? errorSum / n : 0,
  };
}

/**
 * A binary little-endian PLY of the model's points (`float x, y, z`,
 * `uchar red, green, blue`), readable by MeshLab, CloudCompare, Blender,
 * Open3D. Points in id order. Float32 positions: fine for scenes of a
 * few km around the origin.
 */
export function encodePly(points: Iterable<ModelPoint>): Uint8Array {
  const list = [...points].sort((a, b) => a.pointId - b.pointId);
  const header = new TextEncoder().encode(
    "ply\nformat binary_little_endian 1.0\ncomment written by deno-loftr\n" +
      `element vertex ${list.length}\n` +
      "property float x\nproperty float y\nproperty float z\n" +
      "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n",
  );
  const out = new Uint8Array(header.length + 15 * list.length);
  out.set(header);
  const view = new DataView(out.buffer);
  let o = header.length;
  for (const p of list) {
    view.setFloat32(o, p.xyz[0], true);
    view.setFloat32(o + 4, p.xyz[1], true);
    view.setFloat32(o + 8, p.xyz[2], true);
    out[o + 12] = p.rgb[0];
    out[o + 13] = p.rgb[1];
    out[o + 14] = p.rgb[2];
    o += 15;
  }
  return out;
}

/** Writes `encodePly(points)` to `path`. */
export async function writePly(path: string, points: Iterable<ModelPoint>): Promise<void> {
  await Deno.writeFile(path, encodePly(points));
}
