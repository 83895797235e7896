/**
 * The LoFTR architecture description: what the converter infers from a
 * checkpoint's tensor shapes, writes into the safetensors header, and what the
 * model reads back to build its stages.
 *
 * Supported variants (see `docs` in the README):
 *
 * | variant | backbone | strides (coarse / fine) | coarse d_model, heads, layers | fine stage |
 * |---|---|---|---|---|
 * | LoFTR outdoor / indoor (official `outdoor_ds.ckpt`) | `ResNetFPN_8_2`, dims [128, 196, 256] | 8 / 2 | 256, 8, self/cross × 4 | window 5, d_model 128, 8 heads |
 * | distilled coarse LoFTR (Kolkir/Coarse_LoFTR_TRT) | `ResNetFPN_16_4`, dims [8, 16, 32, 32] | 16 / 4 | 32, 1, self/cross × 2 | none |
 *
 * @module
 */

/** Backbone family: ResNet + FPN with output strides coarse/fine. */
export type BackboneVariant = "ResNetFPN_8_2" | "ResNetFPN_16_4";

/** Transformer layer kind: attend to the same image, or to the other one. */
export type LayerKind = "self" | "cross";

/** Positional-encoding frequencies: the official models use `legacy` (d_k = exp(-2k)). */
export type PosEncoding = "legacy" | "corrected";

/** A stack of linear-attention encoder layers. */
export interface TransformerConfig {
  /** Feature width C. */
  dModel: number;
  /** Number of attention heads H (head width C / H). */
  nHeads: number;
  /** Layer kinds in order, e.g. `["self", "cross", "self", "cross"]`. */
  layers: LayerKind[];
  /** LayerNorm epsilon: 1e-5 in the official model, 1e-7 in the distilled one. */
  layerNormEps: number;
}

/** Everything the engine needs to know about a LoFTR model besides its tensors. */
export interface LoftrConfig {
  /** Backbone family. */
  backbone: BackboneVariant;
  /** Channels of the stem convolution. */
  initialDim: number;
  /** Channels of each residual stage (3 for 8_2, 4 for 16_4). */
  blockDims: number[];
  /** Coarse feature stride in input pixels (8 or 16); input sides must be multiples of it. */
  coarseStride: number;
  /** Fine feature stride in input pixels (2 or 4). */
  fineStride: number;
  /** Positional-encoding variant. */
  posEncoding: PosEncoding;
  /** Coarse transformer. */
  coarse: TransformerConfig;
  /** Fine transformer, or `null` for coarse-only models. */
  fine: (TransformerConfig & { window: number }) | null;
  /** Defaults of the coarse matching. */
  matching: {
    /** Dual-softmax temperature. */
    temperature: number;
    /** Confidence threshold (strict `>`). */
    threshold: number;
    /** Matches within this many coarse cells of the border are dropped. */
    borderRemoval: number;
  };
}

/** Shape of each tensor, by state-dict name (no `matcher.` prefix). */
export type ShapeMap = ReadonlyMap<string, readonly number[]>;

/** Thrown when tensor names/shapes do not describe a LoFTR model we support. */
export class ArchitectureError extends Error {
  /** Always `"ArchitectureError"`. */
  override name = "ArchitectureError";
}

/** Options that the weights cannot tell, with the defaults of the known variants. */
export interface ConfigOverrides {
  /** Coarse attention heads (default: d_model / 32, i.e. 8 for 256, 1 for 32). */
  coarseHeads?: number;
  /** Fine attention heads (default 8). */
  fineHeads?: number;
  /** LayerNorm epsilon (default 1e-5 for ResNetFPN_8_2, 1e-7 for ResNetFPN_16_4). */
  layerNormEps?: number;
  /** Positional-encoding variant (default `legacy`, as both published models). */
  posEncoding?: PosEncoding;
  /** Matching threshold (default 0.2 for ResNetFPN_8_2, 0.01 for ResNetFPN_16_4). */
  threshold?: number;
  /** Border removal in cells (default 2 for ResNetFPN_8_2, 0 for ResNetFPN_16_4). */
  borderRemoval?: number;
}

function need(shapes: ShapeMap, name: string, rank: number): readonly number[] {
  const s = shapes.get(name);
  if (!s) throw new ArchitectureError(`missing tensor ${name}`);
  if (s.length !== rank) {
    throw new ArchitectureError(`tensor ${name} has shape [${s}], expected rank ${rank}`);
  }
  return s;
}

function countLayers(shapes: ShapeMap, prefix: string): number {
  let n = 0;
  while (shapes.has(`${prefix}.layers.${n}.q_proj.weight`)) n++;
  return n;
}

function transformer(
  shapes: ShapeMap,
  prefix: string,
  heads: number,
  eps: number,
): TransformerConfig {
  if (!Number.isInteger(heads) || heads < 1) {
    throw new ArchitectureError(`${prefix}: invalid head count ${heads}`);
  }
  const n = countLayers(shapes, prefix);
  if (n === 0) throw new ArchitectureError(`no ${prefix} transformer layers found`);
  const dModel = need(shapes, `${prefix}.layers.0.q_proj.weight`, 2)[0];
  if (dModel % heads !== 0) {
    throw new ArchitectureError(`${prefix}: d_model ${dModel} is not divisible by ${heads} heads`);
  }
  for (let i = 0; i < n; i++) {
    for (const w of ["q_proj", "k_proj", "v_proj", "merge"]) {
      const s = need(shapes, `${prefix}.layers.${i}.${w}.weight`, 2);
      if (s[0] !== dModel || s[1] !== dModel) {
        throw new ArchitectureError(`${prefix}.layers.${i}.${w}.weight has shape [${s}]`);
      }
    }
    const m0 = need(shapes, `${prefix}.layers.${i}.mlp.0.weight`, 2);
    const m2 = need(shapes, `${prefix}.layers.${i}.mlp.2.weight`, 2);
    if (m0[0] !== 2 * dModel || m0[1] !== 2 * dModel || m2[0] !== dModel || m2[1] !== 2 * dModel) {
      throw new ArchitectureError(
        `${prefix}.layers.${i} MLP shapes [${m0}], [${m2}] are not LoFTR's`,
      );
    }
  }
  const layers: LayerKind[] = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? "self" : "cross"));
  return { dModel, nHeads: heads, layers, layerNormEps: eps };
}

/**
 * Infers the architecture from the state dict's tensor shapes (names without
 * the `matcher.` prefix). Throws {@link ArchitectureError} naming what was
 * found when the tensors are not a supported LoFTR.
 */
export function inferConfig(shapes: ShapeMap, overrides: ConfigOverrides = {}): LoftrConfig {
  const names = [...shapes.keys()];
  if (!shapes.has("backbone.conv1.weight") || !names.some((n) => n.startsWith("loftr_coarse."))) {
    const sample = names.slice(0, 4).join(", ");
    throw new ArchitectureError(
      `not a LoFTR state dict (no backbone.conv1 / loftr_coarse tensors; found ${names.length} ` +
        `tensors such as ${sample || "none"})`,
    );
  }
  const stages = shapes.has("backbone.layer4.0.conv1.weight") ? 4 : 3;
  const backbone: BackboneVariant = stages === 4 ? "ResNetFPN_16_4" : "ResNetFPN_8_2";
  const conv1 = need(shapes, "backbone.conv1.weight", 4);
  if (conv1[1] !== 1 || conv1[2] !== 7 || conv1[3] !== 7) {
    throw new ArchitectureError(
      `backbone.conv1.weight has shape [${conv1}], expected [C, 1, 7, 7]`,
    );
  }
  const blockDims: number[] = [];
  for (let i = 1; i <= stages; i++) {
    blockDims.push(need(shapes, `backbone.layer${i}.0.conv1.weight`, 4)[0]);
  }
  const coarseOut = need(shapes, `backbone.layer${stages}_outconv.weight`, 4)[0];
  const isTiny = backbone === "ResNetFPN_16_4";
  const eps = overrides.layerNormEps ?? (isTiny ? 1e-7 : 1e-5);
  const coarseD = need(shapes, "loftr_coarse.layers.0.q_proj.weight", 2)[0];
  const coarse = transformer(
    shapes,
    "loftr_coarse",
    overrides.coarseHeads ?? Math.max(1, Math.floor(coarseD / 32)),
    eps,
  );
  if (coarse.dModel !== coarseOut) {
    throw new ArchitectureError(
      `backbone coarse output has ${coarseOut} channels but the coarse transformer expects ${coarse.dModel}`,
    );
  }
  let fine: LoftrConfig["fine"] = null;
  if (names.some((n) => n.startsWith("loftr_fine."))) {
    const t = transformer(shapes, "loftr_fine", overrides.fineHeads ?? 8, eps);
    need(shapes, "fine_preprocess.down_proj.weight", 2);
    need(shapes, "fine_preprocess.merge_feat.weight", 2);
    fine = { ...t, window: 5 };
  }
  return {
    backbone,
    initialDim: conv1[0],
    blockDims,
    coarseStride: isTiny ? 16 : 8,
    fineStride: isTiny ? 4 : 2,
    posEncoding: overrides.posEncoding ?? "legacy",
    coarse,
    fine,
    matching: {
      temperature: 0.1,
      threshold: overrides.threshold ?? (isTiny ? 0.01 : 0.2),
      borderRemoval: overrides.borderRemoval ?? (isTiny ? 0 : 2),
    },
  };
}
