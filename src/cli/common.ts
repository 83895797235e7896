/**
 * What every command-line entry point shares: one-line errors and exit codes.
 * @module
 */
import type { Precision } from "../gpu/mod.ts";
import { quietMesaWarning } from "../io/mesa.ts";
import type { ResizePolicy } from "../io/resize.ts";

/** An error in the command line itself (bad option, wrong number of arguments). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Stops with a usage error. */
export function fail(message: string): never {
  throw new UsageError(message);
}

/** Where a command writes its report and its errors. */
export interface Output {
  /** Normal output. */
  log(line: string): void;
  /** Error output. */
  error(line: string): void;
}

/** A command: parses `args`, does its work, reports on `out`; throws on failure. */
export type Command = (args: string[], out: Output) => Promise<void>;

/**
 * Runs a command and returns its exit code: 0, 1 for a failure, 2 for a bad
 * command line. A failure is reported as one `error: …` line; set
 * `DENO_LOFTR_DEBUG=1` to see the stack as well.
 */
export async function run(
  command: Command,
  args: string[],
  out: Output = console,
): Promise<number> {
  try {
    await command(args, out);
    return 0;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    // node:util parseArgs errors carry a code and a hint about `--`; keep the first sentence.
    const usage = err instanceof UsageError ||
      ((err as { code?: string }).code ?? "").startsWith("ERR_PARSE_ARGS");
    const message = err.message.split("\n")[0].replace(/\. To specify a positional.*$/, "");
    out.error(`error: ${message}${usage ? " (see --help)" : ""}`);
    if (debug()) out.error(err.stack ?? "");
    return usage ? 2 : 1;
  }
}

/** Runs a command with `Deno.args` (Mesa kept quiet) and exits with its code. */
export async function runMain(command: Command): Promise<void> {
  quietMesaWarning();
  Deno.exit(await run(command, Deno.args));
}

/** Parses `--precision`: `f32` or `f16`. */
export function parsePrecision(value: string): Precision {
  if (value !== "f32" && value !== "f16") fail(`--precision expects f32 or f16, got "${value}"`);
  return value;
}

/** Parses `--resize`: `N` (long side), `WxH` (exact) or `original`. */
export function parseResizePolicy(value: string): ResizePolicy {
  if (value === "original") return "original";
  const exact = /^(\d+)x(\d+)$/i.exec(value);
  if (exact) return { width: Number(exact[1]), height: Number(exact[2]) };
  if (/^\d+$/.test(value)) return { longSide: Number(value) };
  fail(`--resize expects N, WxH or original, got "${value}"`);
}

function debug(): boolean {
  try {
    return Boolean(Deno.env.get("DENO_LOFTR_DEBUG"));
  } catch {
    return false; // no --allow-env
  }
}

/**
 * Refuses (usage error naming the option) an output path that cannot be
 * written: a folder, a missing parent folder, or a place without write
 * permission; checked before the work starts, so that nothing is computed in
 * vain. Leaves no file behind.
 */
export async function checkWritable(path: string, option: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  try {
    if (!(await Deno.stat(dir)).isDirectory) fail(`${option} ${path}: ${dir} is not a folder`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    fail(`${option} ${path}: no folder ${dir}`);
  }
  let existed = true;
  try {
    if ((await Deno.stat(path)).isDirectory) fail(`${option} ${path}: is a folder`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    existed = false;
  }
  try {
    (await Deno.open(path, { write: true, create: true })).close();
    if (!existed) await Deno.remove(path);
  } catch (e) {
    fail(`${option} ${path}: cannot be written (${(e as Error).message.replace(/:.*$/, "")})`);
  }
}
