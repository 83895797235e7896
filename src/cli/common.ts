/**
 * What every command-line entry point shares: one-line errors and exit codes.
 * @module
 */

import type { ResizePolicy } from "../image.ts";

/** An error in the command line itself (bad option, wrong number of arguments). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Stops with a usage error. */
export function fail(message: string): never {
  throw new UsageError(message);
}

/**
 * Runs a command's `main` with `Deno.args`. Any error ends the process with a
 * one-line `error: …` message on stderr and exit code 1 (2 for usage errors);
 * set `DENO_LOFTR_DEBUG=1` to see the stack as well.
 */
export async function runMain(main: (args: string[]) => Promise<void>): Promise<void> {
  try {
    await main(Deno.args);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    console.error(`error: ${err.message.split("\n")[0]}`);
    if (debug()) console.error(err.stack);
    const code = (err as { code?: string }).code ?? "";
    Deno.exit(err instanceof UsageError || code.startsWith("ERR_PARSE_ARGS") ? 2 : 1);
  }
}

function debug(): boolean {
  try {
    return Boolean(Deno.env.get("DENO_LOFTR_DEBUG"));
  } catch {
    return false; // no --allow-env
  }
}

/** Parses `--resize`: `N` (long side), `WxH` (exact) or `original`. */
export function parseResizePolicy(value: string): ResizePolicy {
  if (value === "original") return "original";
  const exact = /^(\d+)x(\d+)$/i.exec(value);
  if (exact) return { width: Number(exact[1]), height: Number(exact[2]) };
  if (/^\d+$/.test(value)) return { longSide: Number(value) };
  fail(`--resize expects N, WxH or original, got "${value}"`);
}
