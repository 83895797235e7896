/**
 * LoFTR as a plain sequence of stages, each a function from GPU tensors to
 * GPU tensors:
 *
 *   backbone → positional encoding → coarse transformer → coarse matching → fine refinement
 *
 * Nothing is read back to the CPU between stages; {@link LoFTR.match} returns
 * the match list on the GPU and {@link readMatches} brings it back.
 * @module
 */
import type { LoftrConfig } from "./architecture.ts";
import { type Backbone, createBackbone } from "./backbone.ts";
import { coarseMatching, type GridSize } from "./coarse_matching.ts";
import { FineRefinement } from "./fine_refinement.ts";
import type { Gpu, Precision, Tensor } from "../gpu/mod.ts";
import { positionEncoding } from "./position_encoding.ts";
import { Transformer } from "./transformer.ts";
import type { ModelWeights } from "./parameters.ts";
import type { GpuMatches } from "../kernels/dual_softmax.ts";

/** Per-image features: what the backbone and positional encoding produce. */
export interface ImageFeatures {
  /** Coarse tokens with positional encoding, `[Hc·Wc, C]`. */
  tokens: Tensor;
  /** Coarse grid size. */
  grid: GridSize;
  /** Fine feature map `[Cf, Hf, Wf]`, or `null` for coarse-only models. */
  fine: Tensor | null;
}

/** Matching options of {@link LoFTR.match}; defaults come from the model's config. */
export interface LoftrMatchOptions {
  /** Confidence threshold (strict). Default: the model's (0.2 official, 0.01 distilled). */
  threshold?: number;
  /** Border removal in coarse cells. Default: the model's (2 official, 0 distilled). */
  borderRemoval?: number;
  /** Largest similarity tile in bytes (default 64 MiB), bounding memory at high resolution. */
  maxTileBytes?: number;
  /** Matches refined per batch by the fine stage (default 512), bounding its memory. */
  fineBatch?: number;
  /** Called after each stage with its name; used for per-stage timing. */
  onStage?: (stage: string) => Promise<void> | void;
}

/** The output of {@link LoFTR.match}, still on the GPU. */
export interface GpuMatchList {
  /** Coarse matches: count, then (i, j, confidence) per slot. */
  matches: GpuMatches;
  /**
   * Fine refinement per slot, `[capacity, 3]` = (e_x, e_y, std), or `null` for
   * coarse-only models. Image-1 keypoints move by `e · (W // 2) · fineStride` px.
   */
  refined: Tensor | null;
}

/** The LoFTR network on the GPU. */
export class LoFTR {
  /** Architecture of the loaded weights. */
  readonly config: LoftrConfig;
  /** Precision of the backbone (`"f32"` or `"f16"`); every later stage runs in f32. */
  readonly precision: Precision;
  #gpu: Gpu;
  #backbone: Backbone;
  #coarse: Transformer;
  #fine: FineRefinement | null;
  #peCache = new Map<string, Tensor>();

  private constructor(
    gpu: Gpu,
    config: LoftrConfig,
    backbone: Backbone,
    coarse: Transformer,
    fine: FineRefinement | null,
    precision: Precision,
  ) {
    this.#gpu = gpu;
    this.config = config;
    this.precision = precision;
    this.#backbone = backbone;
    this.#coarse = coarse;
    this.#fine = fine;
  }

  /**
   * Uploads the weights and builds every stage. `options.precision` is the
   * backbone's (default `"f32"`): `"f16"` stores its filters and feature maps
   * as f16, computing in f32, and needs WebGPU's `shader-f16` (a `GpuError`
   * names it when the device lacks it); the stages after the backbone run in
   * f32 either way.
   */
  static create(
    gpu: Gpu,
    weights: ModelWeights,
    options: { precision?: Precision } = {},
  ): LoFTR {
    const { config, tensors } = weights;
    const precision = options.precision ?? "f32";
    return new LoFTR(
      gpu,
      config,
      createBackbone(gpu, weights, { precision }),
      new Transformer(gpu, tensors, "loftr_coarse", config.coarse),
      config.fine ? new FineRefinement(gpu, tensors, config) : null,
      precision,
    );
  }

  /**
   * Backbone and positional encoding of one image `[1, H, W]` (sides
   * multiples of the coarse stride). The result can be reused for every pair
   * the image takes part in; release it with {@link LoFTR.releaseFeatures}.
   */
  async features(image: Tensor): Promise<ImageFeatures> {
    const [, H, W] = image.shape;
    const s = this.config.coarseStride;
    if (H % s !== 0 || W % s !== 0 || H < s || W < s) {
      throw new Error(`input ${W}×${H} is not a positive multiple of the coarse stride ${s}`);
    }
    const { coarse, fine } = await this.#backbone.run(image, { fine: this.config.fine !== null });
    const tokens = await positionEncoding(
      this.#gpu,
      coarse,
      this.config.posEncoding,
      this.#peCache,
    );
    this.#gpu.release(coarse);
    return { tokens, grid: { width: W / s, height: H / s }, fine };
  }

  /** Frees the tensors of {@link LoFTR.features}. */
  releaseFeatures(f: ImageFeatures): void {
    this.#gpu.release(f.tokens, f.fine);
  }

  /**
   * Matches two images' features: coarse transformer, dual-softmax coarse
   * matching and, for models with a fine stage, refinement. The features are
   * not consumed. Returns the match list, still on the GPU.
   */
  async match(
    a: ImageFeatures,
    b: ImageFeatures,
    options: LoftrMatchOptions = {},
  ): Promise<GpuMatchList> {
    const gpu = this.#gpu;
    const m = this.config.matching;
    const [f0, f1] = await this.#coarse.run(a.tokens, b.tokens);
    await options.onStage?.("coarse transformer");
    const { matches } = await coarseMatching(gpu, f0, f1, a.grid, b.grid, {
      threshold: options.threshold ?? m.threshold,
      borderRemoval: options.borderRemoval ?? m.borderRemoval,
      temperature: m.temperature,
      maxTileBytes: options.maxTileBytes,
    });
    await options.onStage?.("coarse matching");
    let refined: Tensor | null = null;
    if (this.#fine) {
      const out = await this.#fine.run(
        matches,
        { coarse: f0, fine: a.fine!, coarseWidth: a.grid.width },
        { coarse: f1, fine: b.fine!, coarseWidth: b.grid.width },
        { batch: options.fineBatch },
      );
      gpu.release(out.heatmap);
      refined = out.refined;
      await options.onStage?.("fine refinement");
    }
    gpu.release(f0, f1);
    return { matches, refined };
  }
}
