/**
 * The fine stage of LoFTR: each coarse match is refined to sub-pixel
 * accuracy inside a W×W window of the fine feature maps.
 * @module
 */
import type { LoftrConfig } from "./architecture.ts";
import type { GpuMatches } from "./coarse_matching.ts";
import { fineExpectation } from "./fine_matching.ts";
import { fineWindows, gatherRows, type Side } from "./fine_windows.ts";
import type { Gpu, Tensor } from "./gpu.ts";
import { linear, type LinearWeights } from "./linear.ts";
import { type TensorSource, Transformer, uploadLinear } from "./transformer.ts";

/** One image's inputs to the fine stage. */
export interface FineInput {
  /** Coarse tokens after the coarse transformer, `[L, C]`. */
  coarse: Tensor;
  /** Fine feature map `[Cf, Hf, Wf]`. */
  fine: Tensor;
  /** Coarse grid width. */
  coarseWidth: number;
}

/** What the fine stage produces, per match slot of the coarse list. */
export interface FineOutput {
  /** Fine-transformer input (`merge_feat` output) of each image, `[capacity·W², Cf]`. */
  pre?: [Tensor, Tensor];
  /** Heatmaps `[capacity, W²]`. */
  heatmap: Tensor;
  /**
   * `[capacity, 3]`: (e_x, e_y, std). Image-1 keypoints move by
   * `e · (W // 2) · fineStride` input pixels; image-0 keypoints stay.
   */
  refined: Tensor;
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
   * Refines `matches` between two images. With `keepPre`, also returns the
   * fine transformer's inputs (for inspection and tests).
   */
  async run(matches: GpuMatches, a: FineInput, b: FineInput, keepPre = false): Promise<FineOutput> {
    const gpu = this.#gpu;
    const fine = this.#config.fine!;
    const ratio = this.#config.coarseStride / this.#config.fineStride;
    const pre = async (side: Side, x: FineInput) => {
      const rows = await gatherRows(gpu, matches, side, x.coarse);
      const proj = await linear(gpu, rows, this.#downProj);
      const windows = await fineWindows(gpu, matches, side, x.fine, proj, {
        coarseWidth: x.coarseWidth,
        ratio,
        window: fine.window,
      });
      const merged = await linear(gpu, windows, this.#mergeFeat);
      gpu.release(rows, proj, windows);
      return merged;
    };
    const pre0 = await pre(0, a);
    const pre1 = await pre(1, b);
    const [f0, f1] = await this.#transformer.run(pre0, pre1, matches.capacity);
    const { heatmap, refined } = await fineExpectation(gpu, matches, f0, f1, fine.window);
    gpu.release(f0, f1);
    if (keepPre) return { pre: [pre0, pre1], heatmap, refined };
    gpu.release(pre0, pre1);
    return { heatmap, refined };
  }
}
