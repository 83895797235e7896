/**
 * The fine stage of LoFTR: each coarse match is refined to sub-pixel
 * accuracy inside a W×W window of the fine feature maps.
 *
 * The match list's capacity (min(L, S) slots) is far above the number of
 * matches found, which only the GPU knows. The stage therefore runs over
 * batches of slots, bounding its memory, and every dispatch is sized on the
 * GPU for the batch's live slots (indirect dispatch): a batch past the match
 * count costs a few empty dispatches.
 * @module
 */
import type { LoftrConfig } from "./architecture.ts";
import { type FineExpectation, fineExpectation } from "../kernels/fine_matching.ts";
import {
  fineWindows,
  gatherRows,
  liveSlots,
  type MatchBatch,
  type Side,
} from "../kernels/fine_windows.ts";
import type { Gpu, Tensor } from "../gpu/mod.ts";
import { linear, type LinearWeights } from "../kernels/linear.ts";
import { Transformer } from "./transformer.ts";
import { type TensorSource, uploadLinear } from "./parameters.ts";
import type { GpuMatches } from "../kernels/dual_softmax.ts";

/** Matches refined per batch by default: about 70 MB of work tensors for the full model. */
export const DEFAULT_FINE_BATCH = 512;

/** One image's inputs to the fine stage. */
export interface FineInput {
  /** Coarse tokens after the coarse transformer, `[L, C]`. */
  coarse: Tensor;
  /** Fine feature map `[Cf, Hf, Wf]`. */
  fine: Tensor;
  /** Coarse grid width. */
  coarseWidth: number;
}

/** Options of {@link FineRefinement.run}. */
export interface FineRunOptions {
  /** Match slots per batch (default {@link DEFAULT_FINE_BATCH}); memory grows with it. */
  batch?: number;
  /** Also return the fine transformer's inputs (`merge_feat` outputs), for inspection and tests. */
  keepPre?: boolean;
}

/** What the fine stage produces, per slot of the coarse match list. */
export interface FineOutput extends FineExpectation {
  /** With `keepPre`: the fine-transformer input of each image, `[capacity·W², Cf]`. */
  pre?: [Tensor, Tensor];
}

/** Fine refinement with its weights on the GPU. */
export class FineRefinement {
  #gpu: Gpu;
  #config: LoftrConfig;
  #downProj: LinearWeights;
  #mergeFeat: LinearWeights;
  #transformer: Transformer;

  /** Uploads `fine_preprocess.*` and `loftr_fine.*`. */
  constructor(gpu: Gpu, tensors: TensorSource, config: LoftrConfig) {
    if (!config.fine) throw new Error("this model has no fine stage");
    this.#gpu = gpu;
    this.#config = config;
    const cf = config.fine.dModel;
    this.#downProj = uploadLinear(
      gpu,
      tensors,
      "fine_preprocess.down_proj",
      cf,
      config.coarse.dModel,
    );
    this.#mergeFeat = uploadLinear(gpu, tensors, "fine_preprocess.merge_feat", cf, 2 * cf);
    this.#transformer = new Transformer(gpu, tensors, "loftr_fine", config.fine);
  }

  /**
   * Refines `matches` between two images. The heatmap `[capacity, W²]` and
   * `refined` `[capacity, 3]` = (e_x, e_y, std) are zero past the match count;
   * image-1 keypoints move by `e · (W // 2) · fineStride` input pixels.
   */
  async run(
    matches: GpuMatches,
    a: FineInput,
    b: FineInput,
    options: FineRunOptions = {},
  ): Promise<FineOutput> {
    const gpu = this.#gpu;
    const W = this.#config.fine!.window;
    const size = options.batch ?? DEFAULT_FINE_BATCH;
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`fine batch must be a positive integer, got ${size}`);
    }
    const cap = matches.capacity;
    const out: FineOutput = {
      heatmap: gpu.tensor([cap, W * W]),
      refined: gpu.tensor([cap, 3]),
    };
    gpu.zero(out.heatmap);
    gpu.zero(out.refined);
    const cf = this.#config.fine!.dModel;
    const pre = options.keepPre
      ? [gpu.tensor([cap * W * W, cf]), gpu.tensor([cap * W * W, cf])] as [Tensor, Tensor]
      : undefined;
    for (let first = 0; first < cap; first += size) {
      const batch: MatchBatch = { matches, first, slots: Math.min(size, cap - first) };
      const p0 = await this.#windowFeatures(batch, 0, a);
      const p1 = await this.#windowFeatures(batch, 1, b);
      if (pre) {
        const offset = first * W * W * cf * 4;
        gpu.copy(p0, pre[0], p0.size * 4, 0, offset);
        gpu.copy(p1, pre[1], p1.size * 4, 0, offset);
      }
      const [f0, f1] = await this.#transformer.run(p0, p1, batch.slots, liveSlots(batch));
      gpu.release(p0, p1);
      await fineExpectation(gpu, batch, f0, f1, W, out);
      gpu.release(f0, f1);
    }
    return pre ? { ...out, pre } : out;
  }

  /** `merge_feat([window of the fine map, down_proj(coarse token)])` per position: `[slots·W², Cf]`. */
  async #windowFeatures(batch: MatchBatch, side: Side, x: FineInput): Promise<Tensor> {
    const gpu = this.#gpu;
    const live = liveSlots(batch);
    const rows = await gatherRows(gpu, batch, side, x.coarse);
    const proj = await linear(gpu, rows, this.#downProj, { live });
    const windows = await fineWindows(gpu, batch, side, x.fine, proj, {
      coarseWidth: x.coarseWidth,
      ratio: this.#config.coarseStride / this.#config.fineStride,
      window: this.#config.fine!.window,
    });
    const merged = await linear(gpu, windows, this.#mergeFeat, { live });
    gpu.release(rows, proj, windows);
    return merged;
  }
}
