/**
 * The user-facing matcher: images in (paths, encoded bytes or grayscale
 * arrays), keypoints in original-image pixels out.
 * @module
 */
import { Gpu, type Precision } from "../gpu/mod.ts";
import { type GrayImage, ImageError } from "../io/image.ts";
import { readMatches } from "../model/coarse_matching.ts";
import { type ImageFeatures, LoFTR } from "../model/loftr.ts";
import { BUNDLED_WEIGHTS, loadWeights } from "../io/load_weights.ts";
import type { ModelWeights } from "../model/parameters.ts";
import {
  checkResizePolicy,
  DEFAULT_RESIZE_POLICY,
  type InputSize,
  inputSize,
  resizeArea,
  type ResizePolicy,
} from "../io/resize.ts";

/** An image to match: a file path, a decoded grayscale image, or encoded bytes (PNG, JPEG, …). */
export type ImageInput = string | GrayImage | Uint8Array;

/** Options of {@link Matcher.create}. */
export interface MatcherOptions {
  /**
   * Weights: a `.safetensors` path or URL written by `deno task convert`, its
   * bytes, or weights already loaded. Default: the bundled distilled coarse
   * LoFTR (`weights/coarse_loftr_teacher.safetensors`).
   */
  weights?: string | URL | Uint8Array | ModelWeights;
  /** A GPU to share with other work. Default: a new one, destroyed by {@link Matcher.destroy}. */
  gpu?: Gpu;
  /**
   * Precision of the backbone, the convolutions that are most of the work
   * (default `"f32"`). `"f16"` stores their filters and feature maps as f16
   * (half the memory and bandwidth; arithmetic stays f32), with nearly the same
   * matches; it needs WebGPU's `shader-f16` feature, and `create` throws a
   * `GpuError` naming it when the adapter lacks it. Every later stage runs
   * in f32 either way.
   */
  precision?: Precision;
}

/** Options of {@link Matcher.match}. */
export interface MatchOptions {
  /**
   * How each image is resized before matching (each independently). Default
   * `{ longSide: 640 }`: long side 640 px, aspect ratio kept, both sides
   * rounded to the nearest multiple of the coarse stride.
   */
  resize?: ResizePolicy;
  /** Confidence threshold (strict). Default: the model's (0.2 official, 0.01 distilled). */
  threshold?: number;
  /** Border removal in coarse cells. Default: the model's (2 official, 0 distilled). */
  borderRemoval?: number;
  /** Largest similarity tile in bytes (default 64 MiB): bounds memory at high resolution. */
  maxTileBytes?: number;
  /** Matches refined per batch by the fine stage (default 512): bounds its memory. */
  fineBatch?: number;
  /** Wait for the GPU after each stage to report per-stage times (default false). */
  profile?: boolean;
}

/** Matches between two images. Keypoints are `(x, y)` pairs in original-image pixels. */
export interface MatchResult {
  /** Number of matches N. */
  count: number;
  /** `[x0, y0, x1, y1, …]` in image 0, length 2N. */
  keypoints0: Float32Array;
  /** Matching points in image 1, length 2N. */
  keypoints1: Float32Array;
  /** Dual-softmax confidence of each match, length N. */
  confidence: Float32Array;
  /**
   * Spread of each match's fine heatmap (refinement uncertainty, on the window
   * grid normalised to [-1, 1]; larger is less certain), or `null` for
   * coarse-only models.
   */
  std: Float32Array | null;
  /** Size each image was resized to for the network. */
  inputSizes: [{ width: number; height: number }, { width: number; height: number }];
  /** Milliseconds per stage (stages overlap on the GPU unless `profile` is set). */
  timings: Record<string, number>;
}

/** An image ready for matching: decoded, network input size (with the scale back), features. */
interface PreparedImage {
  gray: GrayImage;
  input: InputSize;
  features: ImageFeatures;
}

/**
 * The {@link ImageError} of an image that {@link Matcher.matchMany} (or
 * {@link Matcher.match}) cannot use, with the image's index; same message,
 * the original error as `cause`.
 */
export class InputImageError extends ImageError {
  /** Index of the image in the `images` given to {@link Matcher.matchMany} (0 or 1 for `match`). */
  readonly index: number;

  /** Wraps `error`, raised for image `index`. */
  constructor(error: ImageError, index: number) {
    super(error.message, { cause: error });
    this.index = index;
  }
}

/**
 * Decodes an {@link ImageInput} into a grayscale image. Paths and encoded
 * bytes go through io/decode.ts, loaded on first use: a program (or page)
 * that passes decoded images never loads the file decoders.
 */
async function toGray(input: ImageInput, name: string): Promise<GrayImage> {
  if (typeof input === "string") return await (await import("../io/decode.ts")).loadImage(input);
  if (input instanceof Uint8Array) {
    return await (await import("../io/decode.ts")).decodeImage(input, name);
  }
  return input;
}

/** LoFTR image matching on WebGPU. */
export class Matcher {
  /** The network. */
  readonly model: LoFTR;
  /** The GPU it runs on. */
  readonly gpu: Gpu;
  /** Where the weights came from. */
  readonly weightsSource: string;
  #ownsGpu: boolean;

  private constructor(gpu: Gpu, model: LoFTR, source: string, ownsGpu: boolean) {
    this.gpu = gpu;
    this.model = model;
    this.weightsSource = source;
    this.#ownsGpu = ownsGpu;
  }

  /** Loads the weights (default: the bundled model) and opens the GPU. */
  static async create(options: MatcherOptions = {}): Promise<Matcher> {
    const w = options.weights ?? BUNDLED_WEIGHTS;
    const weights = typeof w === "object" && "config" in w ? w : await loadWeights(w);
    const gpu = options.gpu ?? await Gpu.create();
    try {
      const model = LoFTR.create(gpu, weights, { precision: options.precision });
      return new Matcher(gpu, model, weights.source, !options.gpu);
    } catch (e) {
      if (!options.gpu) gpu.destroy();
      throw e;
    }
  }

  /** Name of the WebGPU adapter in use. */
  get adapterName(): string {
    return this.gpu.adapterName;
  }

  /**
   * Finds matches between two images. Throws an {@link InputImageError} when
   * an image cannot be decoded or is smaller than a coarse cell.
   */
  async match(
    image0: ImageInput,
    image1: ImageInput,
    options: MatchOptions = {},
  ): Promise<MatchResult> {
    for await (
      const { pair: _pair, images: _images, ...result } of this.matchMany(
        [image0, image1],
        [[0, 1]],
        options,
      )
    ) {
      return result;
    }
    throw new Error("matchMany yielded no result for one pair");
  }

  /**
   * Matches many pairs of images, computing each image's backbone features
   * once and reusing them for every pair it takes part in (in structure from
   * motion an image is matched against many others, and the backbone is most
   * of the work). Yields one result per entry of `pairs`, in that order;
   * `pair` holds the two indices into `images`, and `images` the two decoded
   * grayscale images (the caller's own object for a {@link GrayImage} input),
   * for work that needs the pixels (e.g. refining the matches) without
   * decoding again.
   *
   * Memory: an image is decoded and its features computed when the first pair
   * that uses it comes up, and both are released right after its last pair
   * (the decoded image stays alive only while the caller keeps it), so what
   * is held at any time is the images whose pairs have started but not
   * finished in the given order: at most every image (e.g. all pairs of n
   * images in row order hold n once `(0, n−1)` is done), and two for a chain
   * such as `(0,1), (1,2), (2,3)`. Order the pairs to bound it. Stopping the
   * iteration early releases everything.
   *
   * Each result's `timings` hold the work done for that pair, including the
   * decoding and backbone of the images it was the first to use.
   *
   * An image that cannot be decoded or is smaller than a coarse cell ends the
   * iteration with an {@link InputImageError} naming its index (the results
   * yielded before it stand); an invalid `resize` policy throws its
   * {@link ImageError} before any work.
   */
  async *matchMany(
    images: readonly ImageInput[],
    pairs: readonly (readonly [number, number])[],
    options: MatchOptions = {},
  ): AsyncGenerator<
    MatchResult & { pair: [number, number]; images: [GrayImage, GrayImage] }
  > {
    const lastUse = new Map<number, number>();
    pairs.forEach((pair, k) => {
      for (const i of pair) {
        if (!Number.isInteger(i) || i < 0 || i >= images.length) {
          throw new RangeError(`pair ${k} [${pair}]: no image ${i} among ${images.length}`);
        }
        lastUse.set(i, k);
      }
    });
    // An invalid resize policy would fail every image: thrown here as itself.
    checkResizePolicy(
      options.resize ?? DEFAULT_RESIZE_POLICY,
      this.model.config.coarseStride,
      "resize policy",
    );
    const live = new Map<number, PreparedImage>();
    try {
      for (const [k, [a, b]] of pairs.entries()) {
        const timings: Record<string, number> = {};
        let t = performance.now();
        const stage = async (name: string) => {
          if (options.profile) await this.gpu.sync();
          const now = performance.now();
          timings[name] = (timings[name] ?? 0) + now - t;
          t = now;
        };
        for (const i of [a, b]) {
          if (!live.has(i)) {
            live.set(i, await this.#prepare(images[i], i, options, stage));
          }
        }
        const [pa, pb] = [live.get(a)!, live.get(b)!];
        const result = await this.#matchPrepared(pa, pb, options, stage);
        for (const i of new Set([a, b])) {
          if (lastUse.get(i) === k) {
            this.model.releaseFeatures(live.get(i)!.features);
            live.delete(i);
          }
        }
        yield { pair: [a, b], images: [pa.gray, pb.gray], ...result, timings };
      }
    } finally {
      for (const p of live.values()) this.model.releaseFeatures(p.features);
    }
  }

  /**
   * Decodes and resizes image `index` and computes its features; an
   * {@link ImageError} becomes an {@link InputImageError}.
   */
  async #prepare(
    input: ImageInput,
    index: number,
    options: MatchOptions,
    stage: (name: string) => Promise<void>,
  ): Promise<PreparedImage> {
    let gray: GrayImage, size: InputSize;
    try {
      gray = await toGray(input, `image${index}`);
      size = inputSize(
        gray.width,
        gray.height,
        options.resize ?? DEFAULT_RESIZE_POLICY,
        this.model.config.coarseStride,
        gray.name,
      );
    } catch (e) {
      throw e instanceof ImageError ? new InputImageError(e, index) : e;
    }
    const img = resizeArea(gray, size.width, size.height);
    await stage("decode + resize");
    const tensor = this.gpu.tensor([1, img.height, img.width], img.data);
    try {
      const features = await this.model.features(tensor);
      await stage("backbone");
      return { gray, input: size, features };
    } finally {
      this.gpu.release(tensor);
    }
  }

  /** Matches two prepared images; the features are not consumed. */
  async #matchPrepared(
    a: PreparedImage,
    b: PreparedImage,
    options: MatchOptions,
    stage: (name: string) => Promise<void>,
  ): Promise<Omit<MatchResult, "timings">> {
    const gpu = this.gpu;
    const list = await this.model.match(a.features, b.features, {
      threshold: options.threshold,
      borderRemoval: options.borderRemoval,
      maxTileBytes: options.maxTileBytes,
      fineBatch: options.fineBatch,
      onStage: stage,
    });
    const m = await readMatches(gpu, list.matches);
    const refined = list.refined ? await gpu.read(list.refined) as Float32Array : null;
    gpu.release(list.matches.buffer, list.refined);
    await stage("read back");
    const n = m.i.length;
    const { fine, fineStride, coarseStride: stride } = this.model.config;
    // Fine offsets of image-1 keypoints: e · (W // 2) fine pixels, in input pixels.
    const reach = fine ? Math.floor(fine.window / 2) * fineStride : 0;
    const keypoints = (ids: Uint32Array, img: PreparedImage, refine: boolean) => {
      const gw = img.features.grid.width;
      const { scaleX: sx, scaleY: sy } = img.input;
      const out = new Float32Array(2 * n);
      for (let r = 0; r < n; r++) {
        // Coarse keypoint: the cell's top-left corner in input pixels (LoFTR's convention).
        let x = (ids[r] % gw) * stride, y = Math.floor(ids[r] / gw) * stride;
        if (refine && refined) {
          x += refined[3 * m.slot![r]] * reach;
          y += refined[3 * m.slot![r] + 1] * reach;
        }
        out[2 * r] = x * sx;
        out[2 * r + 1] = y * sy;
      }
      return out;
    };
    return {
      count: n,
      keypoints0: keypoints(m.i, a, false),
      keypoints1: keypoints(m.j, b, true),
      confidence: m.confidence,
      std: refined ? Float32Array.from(m.slot!, (k) => refined[3 * k + 2]) : null,
      inputSizes: [
        { width: a.input.width, height: a.input.height },
        { width: b.input.width, height: b.input.height },
      ],
    };
  }

  /** Frees GPU memory (and the device, when the matcher created it). */
  destroy(): void {
    if (this.#ownsGpu) this.gpu.destroy();
  }
}
