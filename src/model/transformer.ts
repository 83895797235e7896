/**
 * The LoFTR transformer stage: a stack of linear-attention encoder layers
 * alternating self- and cross-attention, used by the coarse stage (one
 * sequence per image) and the fine stage (one 25-token sequence per match).
 * @module
 */
import type { TransformerConfig } from "./architecture.ts";
import type { Gpu, LiveSlots, Tensor } from "../gpu/mod.ts";
import { layerNorm, type LayerNormWeights } from "../kernels/layer_norm.ts";
import { linear, type LinearWeights } from "../kernels/linear.ts";
import { linearAttention } from "../kernels/linear_attention.ts";
import { type TensorSource, uploadLinear, uploadParameter } from "./parameters.ts";

/** Parameters of one encoder layer. */
interface EncoderLayerWeights {
  q: LinearWeights;
  k: LinearWeights;
  v: LinearWeights;
  merge: LinearWeights;
  mlp1: LinearWeights;
  mlp2: LinearWeights;
  norm1: LayerNormWeights;
  norm2: LayerNormWeights;
}

/** A stack of encoder layers on the GPU. */
export class Transformer {
  /** Its layers, model width and heads. */
  readonly config: TransformerConfig;
  #gpu: Gpu;
  #layers: EncoderLayerWeights[];

  /** Uploads the layers `<prefix>.layers.<n>.*` described by `config`. */
  constructor(gpu: Gpu, tensors: TensorSource, prefix: string, config: TransformerConfig) {
    this.#gpu = gpu;
    this.config = config;
    const C = config.dModel;
    this.#layers = config.layers.map((_, n) => {
      const p = `${prefix}.layers.${n}`;
      const norm = (name: string): LayerNormWeights => ({
        weight: uploadParameter(gpu, tensors, `${p}.${name}.weight`, [C]),
        bias: uploadParameter(gpu, tensors, `${p}.${name}.bias`, [C]),
      });
      return {
        q: uploadLinear(gpu, tensors, `${p}.q_proj`, C, C),
        k: uploadLinear(gpu, tensors, `${p}.k_proj`, C, C),
        v: uploadLinear(gpu, tensors, `${p}.v_proj`, C, C),
        merge: uploadLinear(gpu, tensors, `${p}.merge`, C, C),
        mlp1: uploadLinear(gpu, tensors, `${p}.mlp.0`, 2 * C, 2 * C),
        mlp2: uploadLinear(gpu, tensors, `${p}.mlp.2`, C, 2 * C),
        norm1: norm("norm1"),
        norm2: norm("norm2"),
      };
    });
  }

  /**
   * One encoder layer: `x + norm2(mlp([x, norm1(merge(attention(x, source)))]))`.
   * `x` `[batch·L, C]` attends to `source` `[batch·S, C]`. With `live` (its
   * `slots` = `batch`), only the sequences of live slots are computed.
   */
  async layer(
    n: number,
    x: Tensor,
    source: Tensor,
    batch = 1,
    live?: LiveSlots,
  ): Promise<Tensor> {
    const gpu = this.#gpu;
    const w = this.#layers[n];
    const eps = this.config.layerNormEps;
    const Q = await linear(gpu, x, w.q, { activation: "elu1", live });
    const K = await linear(gpu, source, w.k, { activation: "elu1", live });
    const v = await linear(gpu, source, w.v, { live });
    const attn = await linearAttention(gpu, Q, K, v, this.config.nHeads, batch, live);
    gpu.release(Q, K, v);
    const merged = await linear(gpu, attn, w.merge, { live });
    gpu.release(attn);
    const msg = await layerNorm(gpu, merged, w.norm1, eps, undefined, live);
    gpu.release(merged);
    const hidden = await linear(gpu, x, w.mlp1, { concat: msg, activation: "relu", live });
    gpu.release(msg);
    const out = await linear(gpu, hidden, w.mlp2, { live });
    gpu.release(hidden);
    const y = await layerNorm(gpu, out, w.norm2, eps, x, live);
    gpu.release(out);
    return y;
  }

  /**
   * Runs every layer on the features of both images: `self` updates each from
   * itself, `cross` updates f0 from f1 and then f1 from the updated f0.
   * Returns the transformed pair; the inputs are left as they are. `batch`
   * and `live` as in {@link Transformer.layer}.
   */
  async run(x0: Tensor, x1: Tensor, batch = 1, live?: LiveSlots): Promise<[Tensor, Tensor]> {
    let [f0, f1] = [x0, x1];
    for (let n = 0; n < this.config.layers.length; n++) {
      const cross = this.config.layers[n] === "cross";
      const g0 = await this.layer(n, f0, cross ? f1 : f0, batch, live);
      const g1 = await this.layer(n, f1, cross ? g0 : f1, batch, live);
      if (f0 !== x0) this.#gpu.release(f0);
      if (f1 !== x1) this.#gpu.release(f1);
      [f0, f1] = [g0, g1];
    }
    return [f0, f1];
  }
}
