/**
 * The models deno-loftr knows by name, where their weights live, and the
 * downloader that installs the official LoFTR outdoor checkpoint into the
 * user's cache: fetch, verify (checksum where one is recorded, tensor names
 * and shapes always), convert with {@link convertCheckpoint}, write
 * atomically. Nothing is ever written into the installed module.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUNDLED_WEIGHTS, convertCheckpoint, loadWeights } from "./weights.ts";

/** A place a model's checkpoint is published. */
export interface ModelLocation {
  /** Where the file is. */
  url: string;
  /**
   * Git blob id of the file (`git hash-object`: sha1 of `"blob " + size + "\0" + bytes`),
   * where one is recorded; a download that hashes differently is refused.
   */
  gitBlobSha1?: string;
  /** A page or folder to download from by hand: named in errors, never fetched. */
  manual?: boolean;
  /** Who publishes it, for messages. */
  label: string;
}

/** A model shipped inside the package. */
export interface BundledModel {
  /** Discriminant: shipped in the package. */
  kind: "bundled";
  /** Name used by `--model` and `deno task weights`. */
  name: string;
  /** One line for `--list`. */
  description: string;
  /** The safetensors file in the package. */
  weights: URL;
}

/** A model whose checkpoint is downloaded and converted into the cache. */
export interface DownloadableModel {
  /** Discriminant: downloaded into the cache. */
  kind: "download";
  /** Name used by `--model` and `deno task weights`. */
  name: string;
  /** One line for `--list`. */
  description: string;
  /** The checkpoint's usual file name, for the manual instructions. */
  checkpointName: string;
  /** Name of the converted file in the cache directory. */
  fileName: string;
  /** Published locations, tried in order (manual ones are only named). */
  locations: ModelLocation[];
  /**
   * The expected state dict: lines `name<TAB>[shape]<TAB>dtype<TAB>numel`
   * (`#` comments), names with or without the `matcher.` prefix.
   */
  expectedTensors: URL;
  /** Downloads larger than this many bytes are refused. */
  maxBytes: number;
}

/** A known model. */
export type ZooModel = BundledModel | DownloadableModel;

/** The known models: `coarse` (bundled, the default) and `outdoor` (downloaded). */
export const MODELS: readonly ZooModel[] = [
  {
    kind: "bundled",
    name: "coarse",
    description: "distilled coarse-only LoFTR (Kolkir/Coarse_LoFTR_TRT), bundled, the default",
    weights: BUNDLED_WEIGHTS,
  },
  {
    kind: "download",
    name: "outdoor",
    description: "official LoFTR outdoor model (zju3dv, outdoor_ds.ckpt, Apache-2.0)",
    checkpointName: "outdoor_ds.ckpt",
    fileName: "loftr_outdoor.safetensors",
    locations: [
      {
        label: "the LoFTR authors' Google Drive folder",
        url: "https://drive.google.com/drive/folders/1DOcOPZb3-5cWxLqn256AhwUVjBPifhuf",
        manual: true,
      },
      {
        label: "kornia's mirror",
        url: "http://cmp.felk.cvut.cz/~mishkdmy/models/loftr_outdoor.ckpt",
      },
      {
        label: "the MACILLAS/LoFTR fork on GitHub",
        url: "https://raw.githubusercontent.com/MACILLAS/LoFTR/master/weights/outdoor_ds.ckpt",
        gitBlobSha1: "a8c45b0ab725f933c45f001effae25f22a4574dd",
      },
    ],
    expectedTensors: new URL("../../weights/outdoor_expected_keys.txt", import.meta.url),
    maxBytes: 256 * 2 ** 20,
  },
];

/** Any failure of the model registry or the downloader; always one line. */
export class ModelZooError extends Error {
  /** Always `"ModelZooError"`. */
  override name = "ModelZooError";
}

/** The model called `name`, or a {@link ModelZooError} listing the known ones. */
export function getModel(name: string): ZooModel {
  const model = MODELS.find((m) => m.name === name);
  if (!model) {
    throw new ModelZooError(
      `unknown model '${name}' (known: ${MODELS.map((m) => m.name).join(", ")})`,
    );
  }
  return model;
}

/**
 * The cache directory: `$DENO_LOFTR_CACHE` if set, else
 * `$XDG_CACHE_HOME/deno-loftr`, else the platform's user cache
 * (`~/.cache/deno-loftr` on Linux and other Unixes, `~/Library/Caches/deno-loftr`
 * on macOS, `%LOCALAPPDATA%\deno-loftr` on Windows), as Deno resolves its own
 * `DENO_DIR`. Needs `--allow-env`.
 */
export function defaultCacheDir(): string {
  const env = (key: string) => Deno.env.get(key) || undefined;
  const own = env("DENO_LOFTR_CACHE");
  if (own) return own;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "deno-loftr");
  if (Deno.build.os === "windows") {
    const local = env("LOCALAPPDATA");
    if (local) return join(local, "deno-loftr");
  } else {
    const home = env("HOME");
    if (home) {
      const base = Deno.build.os === "darwin"
        ? join(home, "Library", "Caches")
        : join(home, ".cache");
      return join(base, "deno-loftr");
    }
  }
  throw new ModelZooError(
    "cannot tell where the cache directory is (no HOME or LOCALAPPDATA): set DENO_LOFTR_CACHE",
  );
}

/** Where a model's weights are (or would be, once installed). */
function weightsLocation(model: ZooModel, cacheDir: string): string | URL {
  if (model.kind === "download") return join(cacheDir, model.fileName);
  return model.weights.protocol === "file:" ? fileURLToPath(model.weights) : model.weights;
}

async function exists(path: string | URL): Promise<boolean> {
  if (path instanceof URL && path.protocol !== "file:") return true; // shipped with a remote module
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** A model's name, description and weights file, for `deno task weights --list`. */
export interface ModelStatus {
  /** Model name. */
  name: string;
  /** One-line description. */
  description: string;
  /** Bundled with the package, or downloaded into the cache. */
  kind: ZooModel["kind"];
  /** The weights file (a URL only for a bundled model of a remote module). */
  path: string | URL;
  /** Whether the weights file is there. */
  installed: boolean;
}

/** Options naming the cache directory. */
export interface CacheOptions {
  /** Cache directory (default: {@link defaultCacheDir}). */
  cacheDir?: string;
}

/** Every known model with its weights file and whether it is installed. */
export async function listModels(options: CacheOptions = {}): Promise<ModelStatus[]> {
  const dir = options.cacheDir ?? defaultCacheDir();
  return await Promise.all(MODELS.map(async (m) => {
    const path = weightsLocation(m, dir);
    return {
      name: m.name,
      description: m.description,
      kind: m.kind,
      path,
      installed: await exists(path),
    };
  }));
}

/**
 * The weights file of the model called `name`, to pass to `loadWeights` or
 * `Matcher.create({ weights })`: the bundled file for `coarse`, the cached
 * safetensors for a downloaded model. Throws a {@link ModelZooError} when the
 * model is unknown or not installed (saying which command installs it).
 */
export async function resolveModel(
  name: string,
  options: CacheOptions = {},
): Promise<string | URL> {
  const model = getModel(name);
  const path = weightsLocation(model, options.cacheDir ?? defaultCacheDir());
  if (!await exists(path)) {
    throw new ModelZooError(
      model.kind === "download"
        ? `model '${name}' is not installed: run \`deno task weights ${name}\``
        : `model '${name}': bundled weights ${path} are missing from the package`,
    );
  }
  return path;
}

/** The git blob id of `bytes`, as `git hash-object` prints it. */
export function gitBlobSha1(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

/** Reads an expected-tensors list (see {@link DownloadableModel.expectedTensors}). */
export async function readExpectedTensors(url: URL): Promise<Map<string, number[]>> {
  let text: string;
  try {
    const res = await fetch(url); // a file: URL beside this module, or the remote package
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    text = await res.text();
  } catch (e) {
    throw new ModelZooError(`${url.href}: cannot read the expected tensor list (${reason(e)})`);
  }
  const tensors = new Map<string, number[]>();
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [name, shape, dtype] = line.split("\t");
    const dims = /^\[([\d, ]*)\]$/.exec(shape ?? "")?.[1];
    if (!name || dims === undefined || !dtype) {
      throw new ModelZooError(`${url.href}: malformed line '${line}'`);
    }
    // The converter keeps float tensors only (integer BatchNorm counters are unused).
    if (!dtype.startsWith("float")) continue;
    tensors.set(
      name.replace(/^matcher\./, ""),
      dims.split(",").filter((d) => d.trim()).map(Number),
    );
  }
  return tensors;
}

/** What {@link downloadModel} reports while it works. */
export interface DownloadProgress {
  /** The location being tried. */
  url: string;
  /** Receiving bytes, checking and converting them, or giving up on this location. */
  phase: "download" | "verify" | "failed";
  /** Bytes received so far. */
  received: number;
  /** Bytes announced by the server, or `null` when it did not say. */
  total: number | null;
  /** Why the location failed (phase `failed` only). */
  reason?: string;
}

/** Options of {@link downloadModel}. */
export interface DownloadOptions extends CacheOptions {
  /**
   * Locations to try instead of the model's published ones, in order. A URL
   * string that equals a published location keeps that location's checksum.
   */
  locations?: (string | ModelLocation)[];
  /** Download even when the model is already installed (default: false). */
  force?: boolean;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Called as bytes arrive and when a location fails. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Aborts the download; temporary files are removed and no other location is tried. */
  signal?: AbortSignal;
}

/** Where {@link downloadModel} installed a model. */
export interface InstalledModel {
  /** The converted safetensors file in the cache. */
  path: string;
  /** The location it came from, or `null` when it was already installed. */
  from: string | null;
  /** The git blob id verified for that location, or `null` when none is recorded. */
  gitBlobSha1: string | null;
}

/** A location's failure, without the location's URL (the summary adds it). */
class LocationFailure extends Error {}

/** A location that could not be reached at all. */
class ConnectionFailure extends LocationFailure {
  constructor(readonly host: string, readonly why: string) {
    super(`cannot connect (${why})`);
  }
}

function reason(e: unknown): string {
  const err = e as Error;
  const cause = (err.cause as Error | undefined)?.message ?? err.message;
  return cause
    .replace(/^error sending request for url \([^)]*\): /, "")
    .replace(/^client error \(Connect\): /, "")
    .replace(/^Error fetching file '[^']*': /, "")
    .replace(/ \(os error \d+\).*$/, "");
}

/** Names what a file that is not a zip archive seems to be. */
function sniff(bytes: Uint8Array): string {
  const head = new TextDecoder().decode(bytes.subarray(0, 512)).trimStart().toLowerCase();
  if (head.startsWith("<")) return `an HTML/XML page (${bytes.length} bytes), not a checkpoint`;
  if (head.startsWith("version https://git-lfs")) return "a Git LFS pointer, not the checkpoint";
  const hex = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return `not a PyTorch checkpoint (not a zip archive; ${bytes.length} bytes starting ${
    hex || "with nothing"
  })`;
}

/** Streams `res` into `file`; returns the byte count. */
async function receive(
  res: Response,
  file: Deno.FsFile,
  url: string,
  maxBytes: number,
  onProgress: ((p: DownloadProgress) => void) | undefined,
): Promise<number> {
  const encoded = (res.headers.get("content-encoding") ?? "identity") !== "identity";
  const announced = res.headers.get("content-length");
  const total = announced !== null && !encoded ? Number(announced) : null;
  if (total !== null && total > maxBytes) {
    await res.body?.cancel();
    throw new LocationFailure(`announces ${total} bytes, more than the ${maxBytes} allowed`);
  }
  let received = 0;
  const reader = res.body?.getReader();
  try {
    while (reader) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (e) {
        if ((e as Error).name === "AbortError") throw e;
        throw new LocationFailure(
          total === null
            ? `download interrupted after ${received} bytes (${reason(e)})`
            : `truncated download: ${received} of ${total} bytes (${reason(e)})`,
        );
      }
      if (next.done) break;
      const chunk = next.value;
      received += chunk.length;
      if (received > maxBytes) throw new LocationFailure(`sent more than ${maxBytes} bytes`);
      for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
      onProgress?.({ url, phase: "download", received, total });
    }
  } finally {
    await reader?.cancel().catch(() => {});
  }
  if (total !== null && received !== total) {
    throw new LocationFailure(`truncated download: ${received} of ${total} bytes`);
  }
  return received;
}

/** Checks the converted tensors against the expected names and shapes. */
function checkTensors(
  found: ReadonlyMap<string, { shape: number[] }>,
  expected: ReadonlyMap<string, number[]>,
): void {
  const missing = [...expected.keys()].filter((k) => !found.has(k));
  const extra = [...found.keys()].filter((k) => !expected.has(k));
  const reshaped = [...expected].filter(([k, s]) =>
    found.has(k) && `${found.get(k)!.shape}` !== `${s}`
  );
  if (!missing.length && !extra.length && !reshaped.length) return;
  const parts = [];
  if (missing.length) parts.push(`${missing.length} tensors missing (such as ${missing[0]})`);
  if (extra.length) parts.push(`${extra.length} unexpected tensors (such as ${extra[0]})`);
  if (reshaped.length) {
    const [name, shape] = reshaped[0];
    parts.push(
      `${reshaped.length} tensors of another shape (such as ${name} [${
        found.get(name)!.shape
      }], expected [${shape}])`,
    );
  }
  throw new LocationFailure(`not the expected LoFTR state dict: ${parts.join(", ")}`);
}

async function removeQuietly(path: string | null): Promise<void> {
  if (path) await Deno.remove(path).catch(() => {});
}

/** Downloads, verifies and converts one location into `target`; cleans up on failure. */
async function install(
  model: DownloadableModel,
  location: ModelLocation,
  dir: string,
  expected: ReadonlyMap<string, number[]>,
  options: DownloadOptions,
): Promise<void> {
  const { url } = location;
  const fetcher = options.fetch ?? fetch;
  let res: Response;
  try {
    res = await fetcher(url, { signal: options.signal });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    const { protocol, host } = new URL(url);
    if (protocol === "file:") throw new LocationFailure(`cannot read (${reason(e)})`);
    throw new ConnectionFailure(host, reason(e));
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new LocationFailure(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
  }
  const type = res.headers.get("content-type") ?? "";
  if (/^text\/html\b/i.test(type)) {
    await res.body?.cancel();
    throw new LocationFailure(`served an HTML page (content-type ${type}), not the checkpoint`);
  }

  let download: string | null = null;
  let staged: string | null = null;
  try {
    const prefix = `.${model.name}-`;
    download = await Deno.makeTempFile({ dir, prefix, suffix: ".download" });
    const file = await Deno.open(download, { write: true, truncate: true });
    let received: number;
    try {
      received = await receive(res, file, url, model.maxBytes, options.onProgress);
    } finally {
      file.close();
    }
    options.onProgress?.({ url, phase: "verify", received, total: received });
    const bytes = await Deno.readFile(download);
    await removeQuietly(download);
    download = null;
    if (bytes[0] !== 0x50 || bytes[1] !== 0x4b || bytes[2] !== 3 || bytes[3] !== 4) {
      throw new LocationFailure(sniff(bytes));
    }
    if (location.gitBlobSha1) {
      const actual = gitBlobSha1(bytes);
      if (actual !== location.gitBlobSha1) {
        throw new LocationFailure(
          `checksum mismatch: git blob ${actual}, expected ${location.gitBlobSha1}`,
        );
      }
    }
    let converted: Uint8Array;
    try {
      converted = convertCheckpoint(bytes, url, { dtype: "f32" });
      checkTensors((await loadWeights(converted, url)).tensors, expected);
    } catch (e) {
      if (e instanceof LocationFailure) throw e;
      throw new LocationFailure((e as Error).message.replace(`${url}: `, ""));
    }
    staged = await Deno.makeTempFile({ dir, prefix, suffix: ".safetensors.tmp" });
    await Deno.writeFile(staged, converted);
    await Deno.rename(staged, join(dir, model.fileName));
    staged = null;
  } finally {
    await removeQuietly(download);
    await removeQuietly(staged);
  }
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

/** The one-sentence advice for installing `model` by hand. */
function manualAdvice(model: DownloadableModel): string {
  const page = model.locations.find((l) => l.manual) ?? model.locations[0];
  return `download ${model.checkpointName} yourself (from ${page.label}, ${page.url}) and run ` +
    `\`deno task weights ${model.name} --from <file>\`, or convert it with ` +
    "`deno task convert <file>` and pass the result to --weights";
}

/**
 * Installs the model called `name` into the cache directory (default:
 * {@link defaultCacheDir}) as `<fileName>` (e.g. `loftr_outdoor.safetensors`)
 * and returns where. Unless `force` is set, an installed model is kept as is.
 *
 * Each location (the model's published ones, manual ones skipped, or
 * `options.locations`) is tried in order: the body is streamed into a
 * temporary file in the cache directory and refused when the server answers
 * with an error status or an HTML page, when it is shorter than its
 * Content-Length or not a complete zip, when its git blob id differs from the
 * recorded one, when it is not a LoFTR checkpoint (the converter's
 * architecture check names what was found) or when its tensors differ from the
 * expected names and shapes. The converted file is written beside it and
 * renamed into place; every temporary file is removed on every path. When no
 * location works, the {@link ModelZooError} gives each location's reason and
 * how to install the file by hand.
 */
export async function downloadModel(
  name: string,
  options: DownloadOptions = {},
): Promise<InstalledModel> {
  const model = getModel(name);
  if (model.kind !== "download") {
    throw new ModelZooError(`model '${name}' is bundled with the package: nothing to download`);
  }
  const dir = options.cacheDir ?? defaultCacheDir();
  const target = join(dir, model.fileName);
  if (!options.force && await exists(target)) {
    return { path: target, from: null, gitBlobSha1: null };
  }

  const locations = (options.locations ?? model.locations.filter((l) => !l.manual)).map((l) =>
    typeof l === "string" ? model.locations.find((p) => p.url === l) ?? { url: l, label: l } : l
  );
  if (!locations.length) throw new ModelZooError(`model '${name}': no location to download from`);
  const expected = await readExpectedTensors(model.expectedTensors);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new ModelZooError(`${dir}: cannot create the cache directory (${reason(e)})`);
  }

  const failures: LocationFailure[] = [];
  for (const location of locations) {
    try {
      await install(model, location, dir, expected, options);
      return { path: target, from: location.url, gitBlobSha1: location.gitBlobSha1 ?? null };
    } catch (e) {
      if (options.signal?.aborted) {
        throw new ModelZooError(`download of model '${name}' from ${location.url} was interrupted`);
      }
      if (!(e instanceof LocationFailure)) {
        throw new ModelZooError(`${dir}: cannot write into the cache directory (${reason(e)})`);
      }
      options.onProgress?.({
        url: location.url,
        phase: "failed",
        received: 0,
        total: null,
        reason: e.message,
      });
      e.message = `${location.url}: ${e.message}`;
      failures.push(e);
    }
  }
  const offline = failures.filter((f) => f instanceof ConnectionFailure);
  const why = offline.length === failures.length
    ? `no network connection to ${unique(offline.map((f) => f.host)).join(" or ")} (${
      unique(offline.map((f) => f.why)).join("; ")
    })`
    : failures.map((f) => f.message).join("; ");
  throw new ModelZooError(`could not install model '${name}': ${why}; ${manualAdvice(model)}`);
}
