/**
 * COLMAP's camera models (COLMAP 3.8, `src/base/camera_models.h`): the name,
 * the numeric id stored in the database and in `cameras.bin`, and the order
 * of the parameters. Also COLMAP's initial parameters for a camera whose
 * focal length is known or guessed, and the parser of the parameter list as
 * `--ImageReader.camera_params` spells it. Platform neutral.
 *
 * Pixel convention: COLMAP's image coordinates put the top-left corner of the
 * image at (0, 0), so the centre of the top-left pixel is at (0.5, 0.5) and the
 * default principal point is exactly `(width / 2, height / 2)`.
 * @module
 */

/** A COLMAP camera model, by the name COLMAP's command line and text files use. */
export type CameraModelName =
  | "SIMPLE_PINHOLE"
  | "PINHOLE"
  | "SIMPLE_RADIAL"
  | "RADIAL"
  | "OPENCV"
  | "OPENCV_FISHEYE"
  | "FULL_OPENCV"
  | "FOV"
  | "SIMPLE_RADIAL_FISHEYE"
  | "RADIAL_FISHEYE"
  | "THIN_PRISM_FISHEYE";

/** What COLMAP records about one camera model. */
export interface CameraModelInfo {
  /** The model's name. */
  name: CameraModelName;
  /** The id stored in `cameras.model` (database) and in `cameras.bin`. */
  id: number;
  /** Parameter names, in COLMAP's order (`params_info`). */
  params: readonly string[];
  /** Indices of the focal length(s) in `params`. */
  focalIdx: readonly number[];
  /** Indices of the principal point (cx, cy) in `params`. */
  principalIdx: readonly [number, number];
}

const model = (
  name: CameraModelName,
  id: number,
  params: string,
): CameraModelInfo => {
  const p = params.split(", ");
  const focalIdx = p[0] === "f" ? [0] : [0, 1];
  const cx = p.indexOf("cx");
  return { name, id, params: p, focalIdx, principalIdx: [cx, cx + 1] };
};

/** Every camera model of COLMAP 3.8, in id order (index = id). */
export const CAMERA_MODELS: readonly CameraModelInfo[] = [
  model("SIMPLE_PINHOLE", 0, "f, cx, cy"),
  model("PINHOLE", 1, "fx, fy, cx, cy"),
  model("SIMPLE_RADIAL", 2, "f, cx, cy, k"),
  model("RADIAL", 3, "f, cx, cy, k1, k2"),
  model("OPENCV", 4, "fx, fy, cx, cy, k1, k2, p1, p2"),
  model("OPENCV_FISHEYE", 5, "fx, fy, cx, cy, k1, k2, k3, k4"),
  model("FULL_OPENCV", 6, "fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, k5, k6"),
  model("FOV", 7, "fx, fy, cx, cy, omega"),
  model("SIMPLE_RADIAL_FISHEYE", 8, "f, cx, cy, k"),
  model("RADIAL_FISHEYE", 9, "f, cx, cy, k1, k2"),
  model("THIN_PRISM_FISHEYE", 10, "fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, sx1, sy1"),
];

/** The model of a name (case-sensitive, as COLMAP); throws listing the known names otherwise. */
export function cameraModel(name: string): CameraModelInfo {
  const m = CAMERA_MODELS.find((c) => c.name === name);
  if (!m) {
    throw new Error(
      `unknown camera model "${name}" (known: ${CAMERA_MODELS.map((c) => c.name).join(", ")})`,
    );
  }
  return m;
}

/** The model of a numeric id (database, `cameras.bin`); throws for an unknown id. */
export function cameraModelById(id: number): CameraModelInfo {
  const m = CAMERA_MODELS[id];
  if (!Number.isInteger(id) || !m) throw new Error(`unknown camera model id ${id}`);
  return m;
}

/** COLMAP's default focal length factor when nothing is known: `f = 1.2 · max(width, height)`. */
export const DEFAULT_FOCAL_LENGTH_FACTOR = 1.2;

/**
 * COLMAP's initial parameters of a camera (`CameraModelInitializeParams`):
 * every focal length `focal`, the principal point at the image centre
 * `(width / 2, height / 2)` (COLMAP's pixel convention), distortion 0 (FOV's
 * omega 0.01). Without `focal`, COLMAP's default guess
 * `1.2 · max(width, height)`, which is what `feature_extractor` uses for a
 * photo without an EXIF focal length (and then `prior_focal_length` is 0).
 */
export function defaultCameraParams(
  name: CameraModelName,
  width: number,
  height: number,
  focal = DEFAULT_FOCAL_LENGTH_FACTOR * Math.max(width, height),
): number[] {
  const m = cameraModel(name);
  const p = m.params.map(() => 0);
  for (const i of m.focalIdx) p[i] = focal;
  p[m.principalIdx[0]] = width / 2;
  p[m.principalIdx[1]] = height / 2;
  if (name === "FOV") p[4] = 1e-2;
  return p;
}

/**
 * Parses a parameter list as COLMAP's `--ImageReader.camera_params` takes it:
 * comma-separated numbers in the model's order (`fx,fy,cx,cy` for PINHOLE),
 * in COLMAP's pixel convention (top-left pixel centre at (0.5, 0.5)). Spaces
 * around the commas are allowed. Throws naming the model and its expected
 * parameters when the count is wrong or an entry is not a finite number.
 */
export function parseCameraParams(name: CameraModelName, text: string): number[] {
  const m = cameraModel(name);
  const parts = text.split(",").map((s) => s.trim());
  const values = parts.map(Number);
  const bad = parts.findIndex((s, i) => s === "" || !Number.isFinite(values[i]));
  if (parts.length !== m.params.length || bad >= 0) {
    const why = bad >= 0 && parts.length === m.params.length
      ? `"${parts[bad]}" is not a number`
      : `${parts.length} value${parts.length === 1 ? "" : "s"} given`;
    throw new Error(
      `camera parameters "${text}" for ${name}: ${why}; expected ${m.params.length} ` +
        `comma-separated numbers ${m.params.join(",")}`,
    );
  }
  return values;
}
