/**
 * Model weights on the host: loading our safetensors files (with the
 * architecture in their metadata) and converting PyTorch checkpoints into them.
 *
 * @module
 */
import {
  ArchitectureError,
  type ConfigOverrides,
  inferConfig,
  type LoftrConfig,
} from "../model/architecture.ts";
import { readTorchCheckpoint } from "./checkpoint/torch.ts";
import { readSafetensors, SafetensorsError, writeSafetensors } from "./safetensors.ts";
import type { HostTensor, ModelWeights } from "../model/parameters.ts";

/**
 * The default model shipped with the package: the distilled coarse LoFTR
 * of Kolkir/Coarse_LoFTR_TRT (see `weights/README.md`).
 */
export const BUNDLED_WEIGHTS: URL = new URL(
  "../../weights/coarse_loftr_teacher.safetensors",
  import.meta.url,
);

/** Options of {@link convertCheckpoint}. */
export interface ConvertOptions {
  /** Storage type of the tensors in the output. */
  dtype: "f32" | "f16";
  /** Architecture settings the tensors cannot tell (heads, LayerNorm epsilon, …). */
  overrides?: ConfigOverrides;
}

/** Metadata key holding the JSON of the {@link LoftrConfig}. */
const CONFIG_KEY = "loftr_config";

function shapesOf(tensors: Map<string, HostTensor>): Map<string, number[]> {
  return new Map([...tensors].map(([name, t]) => [name, t.shape]));
}

/** `inferConfig`, with the file named in its error. */
function inferFor(
  tensors: Map<string, HostTensor>,
  source: string,
  overrides?: ConfigOverrides,
): LoftrConfig {
  try {
    return inferConfig(shapesOf(tensors), overrides);
  } catch (e) {
    if (e instanceof ArchitectureError) throw new ArchitectureError(`${source}: ${e.message}`);
    throw e;
  }
}

/** Parses the metadata config and checks it describes the same network as the tensors. */
function configFromMetadata(json: string, inferred: LoftrConfig, source: string): LoftrConfig {
  let config: LoftrConfig;
  try {
    config = JSON.parse(json);
  } catch {
    throw new SafetensorsError(`${source}: metadata ${CONFIG_KEY} is not valid JSON`);
  }
  const shape = (c: LoftrConfig) =>
    JSON.stringify([
      c?.backbone,
      c?.initialDim,
      c?.blockDims,
      c?.coarse?.dModel,
      c?.coarse?.layers,
      c?.fine?.dModel ?? null,
      c?.fine?.layers ?? null,
    ]);
  if (shape(config) !== shape(inferred)) {
    throw new ArchitectureError(
      `${source}: metadata ${CONFIG_KEY} ${shape(config)} does not match the tensors ` +
        shape(inferred),
    );
  }
  return config;
}

async function readBytes(location: string | URL): Promise<Uint8Array> {
  const url = location instanceof URL ? location : null;
  try {
    if (url && url.protocol !== "file:") {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      return new Uint8Array(await res.arrayBuffer());
    }
    return await Deno.readFile(location);
  } catch (e) {
    const why = (e as Error).message.replace(/ \(os error \d+\).*$/, "");
    throw new SafetensorsError(`${nameOf(location)}: cannot read (${why})`);
  }
}

function nameOf(location: string | URL): string {
  if (typeof location === "string") return location;
  return location.protocol === "file:" ? decodeURIComponent(location.pathname) : location.href;
}

/**
 * Loads a safetensors file written by {@link convertCheckpoint}: from a path,
 * a URL (`file:` is read from disk, others fetched) or bytes (`name` labels
 * them in errors). The architecture comes from the `loftr_config` metadata,
 * or is inferred from the tensor shapes when that key is absent; either way
 * the tensors must form a supported LoFTR ({@link ArchitectureError} if not).
 */
export async function loadWeights(
  pathOrBytes: string | URL | Uint8Array,
  name?: string,
): Promise<ModelWeights> {
  const source = name ?? (pathOrBytes instanceof Uint8Array ? "<bytes>" : nameOf(pathOrBytes));
  const bytes = pathOrBytes instanceof Uint8Array ? pathOrBytes : await readBytes(pathOrBytes);
  const { tensors, metadata } = readSafetensors(bytes, source);
  const inferred = inferFor(tensors, source);
  const json = metadata[CONFIG_KEY];
  const config = json === undefined ? inferred : configFromMetadata(json, inferred, source);
  return { config, tensors, source };
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
