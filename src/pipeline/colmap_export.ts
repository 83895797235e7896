/**
 * The step between matching and `colmap mapper`: cameras chosen the way
 * COLMAP's `feature_extractor` (ImageReader) chooses them, and a COLMAP
 * database written from each image's keypoints and each pair's matches and
 * verified inliers (`src/io/colmap_database.ts` does the file format).
 * @module
 */
import {
  cameraModel,
  type CameraModelName,
  DEFAULT_FOCAL_LENGTH_FACTOR,
  defaultCameraParams,
} from "../io/colmap_cameras.ts";
import {
  type CameraSpec,
  ColmapDatabase,
  type PixelConvention,
  TwoViewConfig,
} from "../io/colmap_database.ts";

/** A photo to register. */
export interface ExportImage {
  /** File name relative to the image folder given to `colmap mapper --image_path`. */
  name: string;
  /** Width of the photo in pixels (the keypoints' frame). */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Focal length in pixels from the photo's EXIF, if known (a prior, as COLMAP's). */
  exifFocalPx?: number | null;
}

/** How cameras are set up, as COLMAP's `--ImageReader.*` options. */
export interface CameraSetup {
  /** Camera model (`--ImageReader.camera_model`); COLMAP's default is SIMPLE_RADIAL. */
  model: CameraModelName;
  /**
   * Known parameters for every camera (`--ImageReader.camera_params`, in the
   * model's order and COLMAP's pixel convention: centre of the top-left
   * pixel at (0.5, 0.5)), or null to initialise them from EXIF or COLMAP's guess.
   */
  params: readonly number[] | null;
  /** One camera shared by all photos (`--ImageReader.single_camera`), else one per photo. */
  singleCamera: boolean;
}

/** Cameras for a list of photos, and which camera each photo uses (index into `cameras`). */
export interface CameraAssignment {
  /** The cameras to write. */
  cameras: CameraSpec[];
  /** Per photo, the index of its camera in `cameras`. */
  cameraOfImage: number[];
}

/**
 * Chooses cameras as COLMAP 3.8's ImageReader does: with `params`, those
 * (and `prior_focal_length` 1); else the photo's EXIF focal length (prior 1)
 * with the principal point at the image centre; else COLMAP's guess
 * `1.2 · max(width, height)` (prior 0). With `singleCamera`, the first
 * photo's camera is shared and every photo must have its size (COLMAP's
 * check too). Throws naming the photo on a size mismatch or a wrong
 * parameter count.
 */
export function assignCameras(
  images: readonly ExportImage[],
  setup: CameraSetup,
): CameraAssignment {
  const m = cameraModel(setup.model);
  if (setup.params && setup.params.length !== m.params.length) {
    throw new Error(
      `camera parameters for ${m.name}: ${setup.params.length} given, expected ` +
        `${m.params.length} (${m.params.join(",")})`,
    );
  }
  const make = (im: ExportImage): CameraSpec => {
    if (setup.params) {
      return { ...size(im), model: m.name, params: [...setup.params], priorFocalLength: true };
    }
    const exif = im.exifFocalPx != null && im.exifFocalPx > 0 ? im.exifFocalPx : null;
    const focal = exif ?? DEFAULT_FOCAL_LENGTH_FACTOR * Math.max(im.width, im.height);
    return {
      ...size(im),
      model: m.name,
      params: defaultCameraParams(m.name, im.width, im.height, focal),
      priorFocalLength: exif !== null,
    };
  };
  if (images.length === 0) return { cameras: [], cameraOfImage: [] };
  if (setup.singleCamera) {
    const first = images[0];
    for (const im of images) {
      if (im.width !== first.width || im.height !== first.height) {
        throw new Error(
          `${im.name}: ${im.width}x${im.height}, but a single camera needs every photo at ` +
            `${first.width}x${first.height} (${first.name}); use one camera per photo`,
        );
      }
    }
    return { cameras: [make(first)], cameraOfImage: images.map(() => 0) };
  }
  return { cameras: images.map(make), cameraOfImage: images.map((_, i) => i) };
}

function size(im: ExportImage) {
  return { width: im.width, height: im.height };
}

/** One image pair to write. */
export interface ExportPair {
  /** Index of the first photo in the `images` list. */
  image0: number;
  /** Index of the second photo. */
  image1: number;
  /** Raw matches, rows × 2 keypoint indices (image0, image1), written to `matches`. */
  matches: Uint32Array;
  /**
   * Verified inliers, rows × 2 (image0, image1), written to
   * `two_view_geometries` (what the mapper uses). Null or absent: the pair is
   * not written there (unverified or failed).
   */
  inliers?: Uint32Array | null;
  /** Fundamental matrix, `x1ᵀ F x0 = 0` in the export's pixel convention (optional). */
  F?: ArrayLike<number> | null;
  /** Essential matrix, when the intrinsics were known (optional). */
  E?: ArrayLike<number> | null;
  /** What the inliers verify; default CALIBRATED when E is given, else UNCALIBRATED. */
  config?: TwoViewConfig;
}

/** Options of `writeColmapDatabase`. */
export interface WriteDatabaseOptions {
  /** The cameras (see `assignCameras`). */
  cameras: CameraSetup;
  /**
   * Pixel convention of the keypoints and F: `"engine"` for this engine's
   * output (+0.5 px is added), `"colmap"` if already shifted.
   */
  convention: PixelConvention;
  /** An existing file: refuse (default) or replace; see `ColmapDatabase.create`. */
  ifExists?: "error" | "replace";
}

/** Ids given by `writeColmapDatabase`. */
export interface WrittenDatabase {
  /** Per photo (input order), its COLMAP image id: 1, 2, … in that order. */
  imageIds: number[];
  /** Per photo, its COLMAP camera id. */
  cameraIds: number[];
  /** Pairs written to `two_view_geometries`. */
  verifiedPairs: number;
}

/**
 * Writes a COLMAP database at `path` for `colmap mapper`: the cameras
 * (`assignCameras`), the photos in the given order (ids 1…N; give them sorted
 * by name to number them as COLMAP would), each photo's keypoints
 * (`keypoints[i]`, `[x, y, …]`), each pair's raw matches and, where present,
 * its verified inliers with F/E. One transaction; the file is refused if it
 * exists unless `ifExists: "replace"`. Throws naming the pair when a match
 * refers to a keypoint the photo does not have.
 */
export function writeColmapDatabase(
  path: string,
  images: readonly ExportImage[],
  keypoints: readonly ArrayLike<number>[],
  pairs: readonly ExportPair[],
  options: WriteDatabaseOptions,
): WrittenDatabase {
  if (keypoints.length !== images.length) {
    throw new Error(`${images.length} photos but keypoints for ${keypoints.length}`);
  }
  const { cameras, cameraOfImage } = assignCameras(images, options.cameras);
  const counts = keypoints.map((k) => k.length / 2);
  pairs.forEach((p, i) => {
    const what = `pair ${i} (${images[p.image0]?.name}, ${images[p.image1]?.name})`;
    for (const im of [p.image0, p.image1]) {
      if (!Number.isInteger(im) || im < 0 || im >= images.length) {
        throw new Error(`pair ${i}: no photo ${im}`);
      }
    }
    for (const [name, m] of [["matches", p.matches], ["inliers", p.inliers]] as const) {
      if (!m) continue;
      for (let k = 0; k < m.length; k += 2) {
        if (m[k] >= counts[p.image0] || m[k + 1] >= counts[p.image1]) {
          throw new Error(`${what}: ${name} row ${k / 2} (${m[k]}, ${m[k + 1]}) has no keypoint`);
        }
      }
    }
  });
  const db = ColmapDatabase.create(path, { ifExists: options.ifExists });
  try {
    return db.transaction(() => {
      const camIds = cameras.map((c) => db.addCamera(c));
      const imageIds = images.map((im, i) => db.addImage(im.name, camIds[cameraOfImage[i]]));
      imageIds.forEach((id, i) => db.addKeypoints(id, keypoints[i], options.convention));
      let verifiedPairs = 0;
      for (const p of pairs) {
        const a = imageIds[p.image0], b = imageIds[p.image1];
        db.addMatches(a, b, p.matches);
        if (!p.inliers) continue;
        db.addTwoViewGeometry(a, b, {
          inliers: p.inliers,
          config: p.config ?? (p.E ? TwoViewConfig.CALIBRATED : TwoViewConfig.UNCALIBRATED),
          F: p.F ?? null,
          E: p.E ?? null,
          convention: options.convention,
        });
        verifiedPairs++;
      }
      return {
        imageIds,
        cameraIds: imageIds.map((_, i) => camIds[cameraOfImage[i]]),
        verifiedPairs,
      };
    });
  } finally {
    db.close();
  }
}
