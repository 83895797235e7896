/**
 * Loading our safetensors weights, platform-neutral: bytes, or a URL fetched
 * (`file:` URLs too, in Deno), so that a web page loads the model as Deno
 * does. A file path is read by read_file.ts, Deno only, loaded on first use
 * (a page never loads it). The checkpoint converter is in weights.ts.
 *
 * @module
 */
import {
  ArchitectureError,
  type ConfigOverrides,
  inferConfig,
  type LoftrConfig,
} from "../model/architecture.ts";
import { readSafetensors, SafetensorsError } from "./safetensors.ts";
import type { HostTensor, ModelWeights } from "../model/parameters.ts";

/**
 * The default model shipped with the package: the distilled coarse LoFTR
 * of Kolkir/Coarse_LoFTR_TRT (see `weights/README.md`).
 */
export const BUNDLED_WEIGHTS: URL = new URL(
  "../../weights/coarse_loftr_teacher.safetensors",
  import.meta.url,
);

/** Metadata key holding the JSON of the {@link LoftrConfig}. */
export const CONFIG_KEY = "loftr_config";

function shapesOf(tensors: Map<string, HostTensor>): Map<string, number[]> {
  return new Map([...tensors].map(([name, t]) => [name, t.shape]));
}

/** `inferConfig` of the tensors' shapes, with the file named in its error. */
export function inferFor(
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

/** The bytes at `url`, by `fetch` (Deno's reads `file:` URLs from disk). */
async function fetchBytes(url: URL): Promise<Uint8Array> {
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    // Deno's file: errors read "Error fetching file '…': No such file or directory (os error 2)".
    const why = (e as Error).message.replace(/^Error fetching file '[^']*': /, "")
      .replace(/ \(os error \d+\).*$/, "");
    throw new SafetensorsError(`${nameOf(url)}: cannot read (${why})`);
  }
}

function nameOf(url: URL): string {
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
}

/**
 * Loads a safetensors file written by `convertCheckpoint`: from a URL
 * (fetched; `file:` URLs read from disk in Deno), a file path (Deno only) or
 * bytes (`name` labels them in errors). The architecture comes from the
 * `loftr_config` metadata, or is inferred from the tensor shapes when that
 * key is absent; either way the tensors must form a supported LoFTR
 * ({@link ArchitectureError} if not; {@link SafetensorsError} for a file
 * that is not safetensors or cannot be read).
 */
export async function loadWeights(
  location: string | URL | Uint8Array,
  name?: string,
): Promise<ModelWeights> {
  let bytes: Uint8Array, source: string;
  if (location instanceof Uint8Array) {
    [bytes, source] = [location, name ?? "<bytes>"];
  } else if (location instanceof URL) {
    [bytes, source] = [await fetchBytes(location), name ?? nameOf(location)];
  } else {
    [bytes, source] = [await (await import("./read_file.ts")).readFile(location), name ?? location];
  }
  const { tensors, metadata } = readSafetensors(bytes, source);
  const inferred = inferFor(tensors, source);
  const json = metadata[CONFIG_KEY];
  const config = json === undefined ? inferred : configFromMetadata(json, inferred, source);
  return { config, tensors, source };
}
