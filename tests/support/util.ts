/**
 * Shared helpers of the test suite: error measures and seeded numbers (from
 * the platform-neutral measures.ts and testing/random.ts), fixtures, skips.
 */
import assert from "node:assert/strict";
import { Gpu, type Tensor } from "../../src/gpu/mod.ts";
import type { Matcher } from "../../src/pipeline/matcher.ts";
import { convertCheckpoint, loadWeights } from "../../src/io/weights.ts";
import { quietMesaWarning } from "../../src/io/mesa.ts";
import type { ModelWeights } from "../../src/model/parameters.ts";

export { bitDifference, maxAbs, maxRel, relL2, TUNINGS } from "./measures.ts";
export { seededRandom } from "../../testing/random.ts";

quietMesaWarning();

/** Runs `fn` in a new temporary directory, removed afterwards whatever happens. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts that two float32 arrays are equal bit for bit (signed zeros included). */
export function assertIdentical(a: ArrayLike<number>, b: ArrayLike<number>, what: string) {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i} is ${a[i]}, not ${b[i]}`);
  }
}

/** A tensor read from a NumPy `.npy` file (format 1.0/2.0, little-endian, C order). */
export interface Npy {
  shape: number[];
  data: Float32Array | Int32Array;
}

/** Reads a little-endian float32 or int32 `.npy` file (a path, or the file's bytes). */
export function readNpy(file: string | URL | Uint8Array): Npy {
  const bytes = file instanceof Uint8Array ? file : Deno.readFileSync(file);
  const path = file instanceof Uint8Array ? "<bytes>" : String(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0x93 || new TextDecoder().decode(bytes.subarray(1, 6)) !== "NUMPY") {
    throw new Error(`${path}: not a .npy file`);
  }
  const major = bytes[6];
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? "").split(",").map((s) => s.trim())
    .filter(Boolean).map(Number);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order`);
  const body = bytes.slice(start + headerLen).buffer;
  if (descr === "<f4") return { shape, data: new Float32Array(body) };
  if (descr === "<i4") return { shape, data: new Int32Array(body) };
  throw new Error(`${path}: unsupported dtype ${descr}`);
}

/** Absolute path of `../shared` beside the checkout, or `null` when it is absent (a user's clone). */
export const sharedDir: string | null = (() => {
  const dir = new URL("../../../shared/", import.meta.url).pathname;
  try {
    return Deno.statSync(dir).isDirectory ? dir : null;
  } catch {
    return null;
  }
})();

/** Path of a file under `tests/fixtures/`. */
export function fixture(path: string): string {
  return new URL(`../fixtures/${path}`, import.meta.url).pathname;
}

/** Options for `Deno.test` that skip (with a note) when ../shared is absent. */
export function needsShared(what: string): { ignore: boolean; name: string } {
  return {
    ignore: sharedDir === null,
    name: sharedDir === null ? `${what} [skipped: ../shared not found]` : what,
  };
}

let shaderF16: Promise<boolean> | null = null;

/**
 * Options for `Deno.test` that skip (with a note) when this machine's WebGPU
 * adapter lacks the `shader-f16` feature (the f16 backbone), or, with
 * `shared`, when ../shared is absent. Await it where the test is declared:
 * the first call opens the adapter once to ask.
 */
export async function needsShaderF16(
  what: string,
  options: { shared?: boolean } = {},
): Promise<{ ignore: boolean; name: string }> {
  shaderF16 ??= (async () => {
    const gpu = await Gpu.create();
    const has = gpu.hasShaderF16;
    gpu.destroy();
    return has;
  })();
  if (options.shared && sharedDir === null) return needsShared(what);
  const has = await shaderF16;
  return { ignore: !has, name: has ? what : `${what} [skipped: the adapter lacks shader-f16]` };
}

/** The error a promise rejects with (fails when it resolves), for assertions on its type and text. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

/** What a command-line run printed, and its exit code. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs `deno run <script> …args` from the repository root with the permissions
 * the deno tasks grant (read, write, env), as a user would run the task.
 */
export async function runCli(script: string, args: string[]): Promise<CliRun> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", script, ...args],
    cwd: new URL("../..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, out: text(r.stdout), err: text(r.stderr) };
}

let fullRandom: Promise<ModelWeights> | null = null;

/**
 * The full outdoor architecture with seeded random weights
 * (`../shared/weights/loftr_outdoor_random_seed0.ckpt`), converted once per test run.
 */
export function fullRandomWeights(): Promise<ModelWeights> {
  fullRandom ??= (async () => {
    const path = `${sharedDir}weights/loftr_outdoor_random_seed0.ckpt`;
    return await loadWeights(convertCheckpoint(await Deno.readFile(path), path, { dtype: "f32" }));
  })();
  return fullRandom;
}

/** Counts `matcher`'s backbone runs from now on (wraps its model's `features`). */
export function countBackboneRuns(matcher: Matcher): () => number {
  let runs = 0;
  const features = matcher.model.features.bind(matcher.model);
  matcher.model.features = (image: Tensor) => {
    runs++;
    return features(image);
  };
  return () => runs;
}
