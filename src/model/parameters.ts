/**
 * The model's parameters: host tensors by state-dict name with the
 * architecture they belong to (what `io/weights.ts` reads from files), and
 * their upload to the GPU, shapes checked.
 * @module
 */
import type { Gpu, Tensor } from "../gpu/mod.ts";
import type { LinearWeights } from "../kernels/linear.ts";
import type { LoftrConfig } from "./architecture.ts";

/** A float32 tensor in host memory, row-major. */
export interface HostTensor {
  /** Shape, outermost first. */
  shape: number[];
  /** Values, `shape` product long. */
  data: Float32Array;
}

/** A LoFTR model's architecture and tensors (state-dict names without `matcher.`). */
export interface ModelWeights {
  /** The architecture the tensors belong to. */
  config: LoftrConfig;
  /** Tensors by state-dict name. */
  tensors: Map<string, HostTensor>;
  /** The file (path or URL) or label the weights were loaded from. */
  source: string;
}

/** Host tensors by state-dict name (the `tensors` of {@link ModelWeights}). */
export type TensorSource = ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;

/** Uploads tensor `name`, checking its shape. */
export function uploadParameter(
  gpu: Gpu,
  tensors: TensorSource,
  name: string,
  shape: readonly number[],
): Tensor {
  const t = tensors.get(name);
  if (!t) throw new Error(`weights: missing tensor ${name}`);
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new Error(`weights: tensor ${name} has shape [${t.shape}], expected [${shape}]`);
  }
  return gpu.tensor(shape, t.data);
}

/** Uploads `<prefix>.weight` `[N, K]` and `<prefix>.bias` `[N]` (zeros when the layer has none). */
export function uploadLinear(
  gpu: Gpu,
  tensors: TensorSource,
  prefix: string,
  n: number,
  k: number,
): LinearWeights {
  const weight = uploadParameter(gpu, tensors, `${prefix}.weight`, [n, k]);
  const bias = tensors.has(`${prefix}.bias`)
    ? uploadParameter(gpu, tensors, `${prefix}.bias`, [n])
    : gpu.tensor([n], new Float32Array(n));
  return { weight, bias };
}
