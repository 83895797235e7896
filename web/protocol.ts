/**
 * The messages between the page (main.ts) and its worker (worker.ts), which
 * decodes, resizes, matches, estimates F and draws, so that the page stays
 * responsive whatever the size of the photos.
 * @module
 */

/** An image to match: a file the user picked or dropped, or a same-origin URL. */
export type ImageSource = { name: string; blob: Blob } | { name: string; url: string };

/** The model: the bundled one, a `.safetensors` file the user opened, or a same-origin URL. */
export type ModelSource =
  | { kind: "bundled" }
  | { kind: "file"; name: string; blob: Blob }
  | { kind: "url"; url: string };

/** Page → worker: match two images. */
export interface MatchRequest {
  /** Image 0 and image 1. */
  images: [ImageSource, ImageSource];
  /** The model. */
  model: ModelSource;
  /** Precision of the backbone (`"f16"` needs the adapter's `shader-f16`). */
  precision: "f32" | "f16";
}

/**
 * What a finished match gives the page, as plain arrays, for automation
 * (`window.loftrResult`). Keypoints are `[x, y]` in original-image pixels.
 */
export interface LoftrResult {
  /** Number of matches N. */
  count: number;
  /** N `[x, y]` points in image 0. */
  keypoints0: [number, number][];
  /** Their matches in image 1. */
  keypoints1: [number, number][];
  /** Dual-softmax confidence of each match. */
  confidence: number[];
  /** Whether each match is a RANSAC inlier of F (all false when no F was found). */
  inliers: boolean[];
  /** Number of inliers. */
  inlierCount: number;
  /** F, row-major, `x1ᵀ F x0 = 0`, or null with {@link LoftrResult.ransac} saying why. */
  F: number[] | null;
  /** RANSAC's threshold (pixels of the original images) and why it stopped. */
  ransac: { threshold: number; stop: string; message?: string };
  /** The WebGPU adapter. */
  adapter: string;
  /** Where the weights came from. */
  weights: string;
  /** The two images' names and sizes as decoded, and the network input sizes. */
  images: { name: string; width: number; height: number; input: [number, number] }[];
  /** Milliseconds per stage, as `deno task match` prints them, plus RANSAC and the drawing. */
  timings: Record<string, number>;
}

/** Worker → page. */
export type WorkerMessage =
  | { type: "progress"; message: string }
  | {
    type: "result";
    result: LoftrResult;
    /** The drawing: both images side by side, inliers green, outliers red (RGBA). */
    drawing: { width: number; height: number; rgba: Uint8Array };
  }
  | { type: "error"; name: string; message: string };
