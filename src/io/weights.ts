/**
 * PyTorch checkpoints converted into our safetensors files (with the
 * architecture in their metadata); loading those files is load_weights.ts's,
 * re-exported here.
 *
 * @module
 */
import type { ConfigOverrides } from "../model/architecture.ts";
import { readTorchCheckpoint } from "./checkpoint/torch.ts";
import { writeSafetensors } from "./safetensors.ts";
import { CONFIG_KEY, inferFor } from "./load_weights.ts";

export { BUNDLED_WEIGHTS, loadWeights } from "./load_weights.ts";

/** Options of {@link convertCheckpoint}. */
export interface ConvertOptions {
  /** Storage type of the tensors in the output. */
  dtype: "f32" | "f16";
  /** Architecture settings the tensors cannot tell (heads, LayerNorm epsilon, …). */
  overrides?: ConfigOverrides;
}

/**
 * Converts the PyTorch checkpoint `bytes` (a `torch.save` zip, see
 * `checkpoint/torch.ts`) into safetensors bytes with metadata `format: "pt"`,
 * `loftr_config` (the inferred architecture as JSON), `source` (the base name
 * of `fileName`) and `converter: "deno-loftr"`. Deterministic: the same input
 * gives the same bytes. Refuses checkpoints of other architectures with an
 * {@link ArchitectureError} naming the file and what was found.
 */
export function convertCheckpoint(
  bytes: Uint8Array,
  fileName: string,
  options: ConvertOptions,
): Uint8Array {
  const tensors = readTorchCheckpoint(bytes, fileName);
  const config = inferFor(tensors, fileName, options.overrides);
  return writeSafetensors(tensors, options.dtype === "f16" ? "F16" : "F32", {
    format: "pt",
    [CONFIG_KEY]: JSON.stringify(config),
    source: fileName.split(/[\\/]/).pop() ?? fileName,
    converter: "deno-loftr",
  });
}
